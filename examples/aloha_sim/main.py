"""openpi's aloha_sim client loop on gym-aloha (MuJoCo), against any openpi-protocol server: `edge-agent serve`
with an ALOHA bundle, or openpi's own `serve_policy.py --env ALOHA_SIM`.

The loop is openpi_client's own: `Runtime(AlohaSimEnvironment, PolicyAgent(ActionChunkBroker(
WebsocketClientPolicy, action_horizon)), subscribers, max_hz, num_episodes, max_episode_steps)`; one request every
`action_horizon` steps, each step executes the next row of the last chunk.

Output on stdout: one human-readable line per episode, then one JSON line (the last line) with every figure, for
scripts and test/aloha-sim.test.ts. Times are wall-clock (time.perf_counter); ms per step / per request are means.

    MUJOCO_GL=egl .venv-sim/bin/python examples/aloha_sim/main.py --port 8000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import pathlib
import sys
import time
from typing import Any

# dm_control picks its OpenGL backend at import; headless EGL unless the caller chose one (see README).
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from openpi_client import action_chunk_broker, websocket_client_policy  # noqa: E402
from openpi_client import base_policy as _base_policy  # noqa: E402
from openpi_client.runtime import runtime as _runtime  # noqa: E402
from openpi_client.runtime import subscriber as _subscriber  # noqa: E402
from openpi_client.runtime.agents import policy_agent as _policy_agent  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from env import AlohaSimEnvironment, Cameras, EnvCounters  # noqa: E402


@dataclasses.dataclass
class Args:
    host: str
    port: int
    api_key: str | None
    task: str
    seed: int
    num_episodes: int
    max_episode_steps: int
    max_hz: float
    action_horizon: int
    cameras: Cameras
    prompt: str | None
    video_out: pathlib.Path | None
    log_requests: bool


def parse_args(argv: list[str] | None = None) -> Args:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="policy server host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="policy server port (default 8000)")
    p.add_argument("--api-key", default=None, help="sent as 'Authorization: Api-Key <key>' (default none)")
    p.add_argument(
        "--task",
        default="gym_aloha/AlohaTransferCube-v0",
        choices=["gym_aloha/AlohaTransferCube-v0", "gym_aloha/AlohaInsertion-v0"],
        help="gym-aloha environment id (default gym_aloha/AlohaTransferCube-v0, as openpi's example)",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the per-episode env seeds (default 0)")
    p.add_argument("--num-episodes", type=int, default=1, help="episodes to run (default 1)")
    p.add_argument(
        "--max-episode-steps", "--steps", type=int, default=300, help="steps per episode, 0.02 s each (default 300)"
    )
    p.add_argument(
        "--max-hz", type=float, default=50.0, help="control rate cap in Hz; 0 = as fast as possible (default 50)"
    )
    p.add_argument("--action-horizon", type=int, default=10, help="chunk rows executed per request (default 10)")
    p.add_argument(
        "--cameras",
        choices=["top", "all"],
        default="top",
        help="top: render only the top camera, the one observed (default; same image, ~3x faster); "
        "all: gym-aloha as shipped (renders top, angle and front_close every step)",
    )
    p.add_argument("--prompt", default=None, help="sent as `prompt` (default: none; the server's default prompt)")
    p.add_argument("--video-out", type=pathlib.Path, default=None, help="write <dir>/episode_<n>.mp4 of cam_high")
    p.add_argument(
        "--log-requests",
        action="store_true",
        help="add every request's state and first action row to the JSON line (for tests)",
    )
    a = p.parse_args(argv)
    if a.max_episode_steps <= 0 or a.num_episodes <= 0 or a.action_horizon <= 0 or a.max_hz < 0:
        p.error("--steps, --num-episodes and --action-horizon must be positive, --max-hz >= 0")
    return Args(
        host=a.host,
        port=a.port,
        api_key=a.api_key,
        task=a.task,
        seed=a.seed,
        num_episodes=a.num_episodes,
        max_episode_steps=a.max_episode_steps,
        max_hz=a.max_hz,
        action_horizon=a.action_horizon,
        cameras=a.cameras,
        prompt=a.prompt,
        video_out=a.video_out,
        log_requests=a.log_requests,
    )


@dataclasses.dataclass
class PolicyCounters:
    """Cumulative over the connection; the reporter diffs snapshots per episode."""

    requests: int = 0
    #: Seconds from sending a request to holding its decoded reply (network + server queue + inference).
    wait_s: float = 0.0
    max_wait_s: float = 0.0
    #: Sum of the replies' `server_timing.infer_ms` (the server's own inference time), ms.
    server_infer_ms: float = 0.0
    #: Replies whose `actions` were a finite float array of shape [H, 14] with H >= action_horizon.
    good_chunks: int = 0


class TimedPolicy(_base_policy.BasePolicy):
    """Wraps the websocket policy: times every round trip and checks every chunk (shape, finiteness)."""

    def __init__(
        self, inner: _base_policy.BasePolicy, action_horizon: int, prompt: str | None, log: bool
    ) -> None:
        self._inner = inner
        self._horizon = action_horizon
        self._prompt = prompt
        self._log = log
        self.counters = PolicyCounters()
        self.chunk_shapes: set[tuple[int, ...]] = set()
        self.request_log: list[dict[str, Any]] = []

    def infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        if self._prompt is not None:
            obs = {**obs, "prompt": self._prompt}
        t0 = time.perf_counter()
        reply: dict[str, Any] = self._inner.infer(obs)
        dt = time.perf_counter() - t0
        c = self.counters
        c.requests += 1
        c.wait_s += dt
        c.max_wait_s = max(c.max_wait_s, dt)
        infer_ms = reply.get("server_timing", {}).get("infer_ms")
        if isinstance(infer_ms, (int, float)):
            c.server_infer_ms += float(infer_ms)
        actions = reply.get("actions")
        if not isinstance(actions, np.ndarray):
            raise RuntimeError(f"reply without an `actions` array: keys {sorted(reply)}")
        self.chunk_shapes.add(tuple(actions.shape))
        if (
            actions.ndim == 2
            and actions.shape[0] >= self._horizon
            and actions.shape[1] == 14
            and np.issubdtype(actions.dtype, np.floating)
            and bool(np.all(np.isfinite(actions)))
        ):
            c.good_chunks += 1
        if self._log:
            cam = obs["images"]["cam_high"]
            self.request_log.append(
                {
                    "state": [float(x) for x in obs["state"]],
                    "state_dtype": obs["state"].dtype.str,
                    "cam_high": {"dtype": cam.dtype.str, "shape": list(cam.shape)},
                    "cameras": sorted(obs["images"]),
                    "first_action": [float(x) for x in actions[0]],
                    "wait_ms": dt * 1e3,
                }
            )
        return reply

    def reset(self) -> None:
        self._inner.reset()


class EpisodeReporter(_subscriber.Subscriber):
    """Per episode: steps, success, wall time and where it went (env.step vs waiting for the policy)."""

    def __init__(self, env: AlohaSimEnvironment, policy: TimedPolicy, num_episodes: int) -> None:
        self._env = env
        self._policy = policy
        self._num = num_episodes
        self._t0 = 0.0
        self._env0 = EnvCounters()
        self._pol0 = PolicyCounters()
        self._agent_s = 0.0
        self._last = 0.0
        self._start_pos: npt.NDArray[np.float64] = np.zeros(14)
        self.episodes: list[dict[str, Any]] = []

    def on_episode_start(self) -> None:
        self._env0 = dataclasses.replace(self._env.counters)
        self._pol0 = dataclasses.replace(self._policy.counters)
        self._start_pos = self._env.agent_pos.copy()
        self._t0 = time.perf_counter()

    def on_step(self, observation: dict[str, Any], action: dict[str, Any]) -> None:
        pass

    def on_episode_end(self) -> None:
        wall = time.perf_counter() - self._t0
        e, e0 = self._env.counters, self._env0
        p, p0 = self._policy.counters, self._pol0
        steps = e.steps - e0.steps
        requests = p.requests - p0.requests
        step_s = e.step_s - e0.step_s
        wait_s = p.wait_s - p0.wait_s
        convert_s = e.convert_s - e0.convert_s
        end_pos = self._env.agent_pos
        ep = {
            "episode": len(self.episodes) + 1,
            "seed": self._env.episode_seed,
            "steps": steps,
            "success": self._env.success,
            "max_reward": self._env.max_reward,
            "wall_s": wall,
            "steps_per_s": steps / wall if wall > 0 else math.inf,
            "env_step_s": step_s,
            "env_step_ms_per_step": 1e3 * step_s / max(steps, 1),
            "obs_convert_ms_per_step": 1e3 * convert_s / max(steps, 1),
            "requests": requests,
            "policy_wait_s": wait_s,
            "policy_wait_ms_per_request": 1e3 * wait_s / max(requests, 1),
            "policy_wait_max_ms": 1e3 * p.max_wait_s,
            "server_infer_ms_per_request": (p.server_infer_ms - p0.server_infer_ms) / max(requests, 1),
            # What remains of the wall time: the max_hz sleep, the runtime, subscribers (video).
            "other_s": wall - step_s - wait_s - convert_s,
            "good_chunks": p.good_chunks - p0.good_chunks,
            "finite_action_rows": e.finite_actions - e0.finite_actions,
            "action_values": 14 * steps,
            "in_action_space_values": e.in_action_space_values - e0.in_action_space_values,
            "in_ctrlrange_values": e.in_ctrlrange_values - e0.in_ctrlrange_values,
            "ctrl_matched_steps": e.ctrl_matched_steps - e0.ctrl_matched_steps,
            "action_min": [float(x) for x in self._env.action_min],
            "action_max": [float(x) for x in self._env.action_max],
            "state_start": [float(x) for x in self._start_pos],
            "state_end": [float(x) for x in end_pos],
            "state_finite": bool(np.all(np.isfinite(end_pos))),
        }
        self.episodes.append(ep)
        print(
            f"episode {ep['episode']}/{self._num} seed={ep['seed']}: steps={steps} success={ep['success']} "
            f"max_reward={ep['max_reward']:g} wall={wall:.1f} s steps/s={ep['steps_per_s']:.2f} | "
            f"env.step {ep['env_step_ms_per_step']:.1f} ms/step ({step_s:.1f} s) | "
            f"policy wait {ep['policy_wait_ms_per_request']:.1f} ms/request x {requests} ({wait_s:.2f} s; "
            f"server infer {ep['server_infer_ms_per_request']:.1f} ms) | "
            f"obs convert {ep['obs_convert_ms_per_step']:.2f} ms/step | other {ep['other_s']:.1f} s",
            flush=True,
        )


class VideoSaver(_subscriber.Subscriber):
    """Writes `<dir>/episode_<n>.mp4` of the `cam_high` image the policy saw (224 x 224), at 50 fps (sim time)."""

    def __init__(self, out_dir: pathlib.Path) -> None:
        import imageio.v2 as imageio  # only needed with --video-out

        self._imageio = imageio
        self._dir = out_dir
        self._dir.mkdir(parents=True, exist_ok=True)
        self._writer: Any = None
        self._n = 0

    def on_episode_start(self) -> None:
        self._n += 1
        self._writer = self._imageio.get_writer(self._dir / f"episode_{self._n}.mp4", fps=50)

    def on_step(self, observation: dict[str, Any], action: dict[str, Any]) -> None:
        self._writer.append_data(np.transpose(observation["images"]["cam_high"], (1, 2, 0)))

    def on_episode_end(self) -> None:
        self._writer.close()
        self._writer = None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    env = AlohaSimEnvironment(
        args.task, seed=args.seed, cameras=args.cameras, max_episode_steps=args.max_episode_steps
    )
    ws = websocket_client_policy.WebsocketClientPolicy(host=args.host, port=args.port, api_key=args.api_key)
    metadata = ws.get_server_metadata()
    policy = TimedPolicy(ws, args.action_horizon, args.prompt, args.log_requests)
    broker = action_chunk_broker.ActionChunkBroker(policy=policy, action_horizon=args.action_horizon)
    reporter = EpisodeReporter(env, policy, args.num_episodes)
    subscribers: list[_subscriber.Subscriber] = [reporter]
    if args.video_out is not None:
        subscribers.append(VideoSaver(args.video_out))
    print(
        f"aloha_sim: {args.task} ({args.cameras} cameras) -> ws://{args.host}:{args.port}, "
        f"{args.num_episodes} x {args.max_episode_steps} steps, action_horizon={args.action_horizon}, "
        f"max_hz={args.max_hz:g}",
        flush=True,
    )
    t0 = time.perf_counter()
    # The environment ends each episode (TimeLimit at max_episode_steps, or success). Runtime's own cap is checked
    # before it counts the step, so it would allow one step more; it is passed only as a backstop.
    _runtime.Runtime(
        environment=env,
        agent=_policy_agent.PolicyAgent(policy=broker),
        subscribers=subscribers,
        max_hz=args.max_hz,
        num_episodes=args.num_episodes,
        max_episode_steps=args.max_episode_steps,
    ).run()
    total = time.perf_counter() - t0
    env.close()
    episodes = reporter.episodes
    summary: dict[str, Any] = {
        "task": args.task,
        "cameras": args.cameras,
        "max_hz": args.max_hz,
        "action_horizon": args.action_horizon,
        "max_episode_steps": args.max_episode_steps,
        "metadata": {k: (list(v) if isinstance(v, (tuple, np.ndarray)) else v) for k, v in metadata.items()},
        "requests": policy.counters.requests,
        "chunk_shapes": sorted(list(s) for s in policy.chunk_shapes),
        "steps": sum(int(e["steps"]) for e in episodes),
        "successes": sum(1 for e in episodes if e["success"]),
        "run_s": total,
        "episodes": episodes,
    }
    if args.log_requests:
        summary["request_log"] = policy.request_log
    print(json.dumps(summary, default=_json_default), flush=True)
    return 0


def _json_default(v: object) -> object:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


if __name__ == "__main__":
    sys.exit(main())
