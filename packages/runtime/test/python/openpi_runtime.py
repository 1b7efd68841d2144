"""Drives openpi's own Runtime (openpi_client.runtime) for the compatibility test and the loop benchmark.

Modes (argv[1]):
  trace '<json spec>'  spec = {"num_episodes", "max_episode_steps", "complete_after": int|null,
                        "mark_after": int|null, "subscribers": int}. Prints {"log": [...]}: every environment, agent
                        and subscriber call in order ("env.reset", "agent.reset", "sub0.start", "env.obs:e:s",
                        "agent.act:e:s", "env.apply:e:s", "sub0.step:e:s", "env.complete:e:s", "sub0.end", ...).
  timing <hz> <seconds>  runs a trivial environment at max_hz=<hz> for about <seconds> and prints
                        {"starts_ms": [...]}: time.perf_counter() (ms) at every get_observation.
"""

import json
import sys
import time

try:
    import typing_extensions  # noqa: F401  (openpi-client imports it without declaring it)
except ImportError:  # pragma: no cover - only when the venv predates the requirement
    import types

    _shim = types.ModuleType("typing_extensions")
    _shim.override = lambda f: f  # the real `override` is a no-op decorator at runtime
    sys.modules["typing_extensions"] = _shim

from openpi_client.runtime import agent as _agent
from openpi_client.runtime import environment as _environment
from openpi_client.runtime import runtime as _runtime
from openpi_client.runtime import subscriber as _subscriber


class TraceEnv(_environment.Environment):
    def __init__(self, log, complete_after):
        self.log = log
        self.complete_after = complete_after
        self.episode = -1
        self.step = 0

    def reset(self):
        self.log.append("env.reset")
        self.episode += 1
        self.step = 0

    def is_episode_complete(self):
        self.log.append(f"env.complete:{self.episode}:{self.step - 1}")
        return self.complete_after is not None and self.step >= self.complete_after

    def get_observation(self):
        self.log.append(f"env.obs:{self.episode}:{self.step}")
        return {"episode": self.episode, "step": self.step}

    def apply_action(self, action):
        self.log.append(f"env.apply:{action['episode']}:{action['step']}")
        self.step += 1


class TraceAgent(_agent.Agent):
    def __init__(self, log):
        self.log = log

    def get_action(self, observation):
        self.log.append(f"agent.act:{observation['episode']}:{observation['step']}")
        return dict(observation)

    def reset(self):
        self.log.append("agent.reset")


class TraceSub(_subscriber.Subscriber):
    def __init__(self, log, name, on_step=None):
        self.log = log
        self.name = name
        self.on_step_hook = on_step

    def on_episode_start(self):
        self.log.append(f"{self.name}.start")

    def on_step(self, observation, action):
        self.log.append(f"{self.name}.step:{observation['episode']}:{observation['step']}")
        if self.on_step_hook:
            self.on_step_hook(observation)

    def on_episode_end(self):
        self.log.append(f"{self.name}.end")


def trace(spec):
    log = []
    env = TraceEnv(log, spec.get("complete_after"))
    holder = {}
    mark_after = spec.get("mark_after")

    def hook(obs):
        if mark_after is not None and obs["step"] + 1 >= mark_after:
            holder["rt"].mark_episode_complete()

    subs = [TraceSub(log, f"sub{i}", hook if i == 0 else None) for i in range(spec.get("subscribers", 1))]
    rt = _runtime.Runtime(
        env,
        TraceAgent(log),
        subs,
        max_hz=0,
        num_episodes=spec["num_episodes"],
        max_episode_steps=spec["max_episode_steps"],
    )
    holder["rt"] = rt
    rt.run()
    print(json.dumps({"log": log}))


class TimingEnv(_environment.Environment):
    def __init__(self, seconds):
        self.starts = []
        self.seconds = seconds

    def reset(self):
        pass

    def is_episode_complete(self):
        return (self.starts[-1] - self.starts[0]) / 1000.0 >= self.seconds

    def get_observation(self):
        self.starts.append(time.perf_counter() * 1000.0)
        return {"x": 0}

    def apply_action(self, action):
        pass


class EchoAgent(_agent.Agent):
    def get_action(self, observation):
        return observation

    def reset(self):
        pass


def timing(hz, seconds):
    env = TimingEnv(seconds)
    _runtime.Runtime(env, EchoAgent(), [], max_hz=hz, num_episodes=1).run()
    print(json.dumps({"starts_ms": env.starts}))


if __name__ == "__main__":
    if sys.argv[1] == "trace":
        trace(json.loads(sys.argv[2]))
    elif sys.argv[1] == "timing":
        timing(float(sys.argv[2]), float(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {sys.argv[1]}")
