"""gym-aloha (MuJoCo bimanual ViperX, via dm_control) as an openpi_client runtime `Environment`, shaped like
openpi's examples/aloha_sim environment: the observation is `{"state": float64 [14], "images": {"cam_high": uint8
[3, 224, 224]}}` and the action is the `actions` row (14 absolute targets) of the policy's reply.

Every figure the driver prints about the simulator (time in `env.step`, the action range, whether the physics
received the commands) is measured here.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from typing import Any, Literal

import gym_aloha  # noqa: F401 - registers the gym_aloha/* environment ids
import gymnasium as gym
import numpy as np
import numpy.typing as npt
from dm_control.rl import control
from gym_aloha.constants import unnormalize_puppet_gripper_position
from gym_aloha.env import AlohaEnv
from gym_aloha.tasks.sim import BimanualViperXTask, InsertionTask, TransferCubeTask
from openpi_client import image_tools
from openpi_client.runtime import environment as _environment

Cameras = Literal["top", "all"]

#: Image side the policy receives (openpi's aloha_sim example: resize-with-pad to 224 x 224, then CHW).
IMAGE_SIZE = 224
#: The top camera as gym-aloha 0.1.5 renders it for the observation (tasks/sim.py `get_observation`), pixels.
TOP_HEIGHT = 480
TOP_WIDTH = 640
#: Indices of the two normalized gripper values in the 14-dim action (0 = closed, 1 = open).
GRIPPER_DIMS = (6, 13)
#: The 14 action dims -> the 16 MuJoCo actuators gym-aloha drives (tasks/sim.py `before_step`): arm joints map
#: one to one, each gripper value drives the left finger (+) and the mirrored right finger (-).
ACTION_TO_ACTUATOR = (0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14)


def _top_camera_observation(task: BimanualViperXTask, physics: Any) -> collections.OrderedDict[str, Any]:
    """gym-aloha's `BimanualViperXTask.get_observation` without the two cameras nobody reads.

    The stock method renders `top`, `angle` and `front_close` at 480 x 640 every step, and `AlohaEnv` returns only
    `top` (env.py `_format_raw_obs`). Under Mesa's llvmpipe each render costs ~0.2-0.3 s, so skipping the other
    two triples the step rate; `top` itself is rendered with the same call and size, so the observation is the same.
    """
    obs: collections.OrderedDict[str, Any] = collections.OrderedDict()
    obs["qpos"] = task.get_qpos(physics)
    obs["qvel"] = task.get_qvel(physics)
    obs["env_state"] = task.get_env_state(physics)
    obs["images"] = {"top": physics.render(height=TOP_HEIGHT, width=TOP_WIDTH, camera_id="top")}
    return obs


class TopCameraTransferCubeTask(TransferCubeTask):
    def get_observation(self, physics: Any) -> collections.OrderedDict[str, Any]:
        return _top_camera_observation(self, physics)


class TopCameraInsertionTask(InsertionTask):
    def get_observation(self, physics: Any) -> collections.OrderedDict[str, Any]:
        return _top_camera_observation(self, physics)


_TOP_CAMERA_TASKS: dict[str, type[BimanualViperXTask]] = {
    "transfer_cube": TopCameraTransferCubeTask,
    "insertion": TopCameraInsertionTask,
}


class TopCameraAlohaEnv(AlohaEnv):
    """`AlohaEnv` whose dm_control task renders only the `top` camera (see `_top_camera_observation`).

    It keeps gym-aloha's physics (the same XML) and control settings (control timestep, no time limit) and swaps
    only the task object; the package itself is not modified.
    """

    def _make_env_task(self, task_name: str) -> control.Environment:
        stock = super()._make_env_task(task_name)
        return control.Environment(
            stock.physics,
            _TOP_CAMERA_TASKS[task_name](),
            float("inf"),
            control_timestep=stock.control_timestep(),
            n_sub_steps=None,
            flat_observation=False,
        )


def make_gym_env(task_id: str, cameras: Cameras, max_episode_steps: int) -> gym.Env:
    """`gym.make(task_id, obs_type="pixels_agent_pos")` with the episode cut at `max_episode_steps` (TimeLimit).

    `cameras="top"` builds the same registered spec (kwargs, wrappers) with `TopCameraAlohaEnv` as entry point;
    `"all"` is gym-aloha exactly as shipped (what openpi's example runs).
    """
    spec = gym.spec(task_id)
    if cameras == "top":
        spec = dataclasses.replace(spec, entry_point=TopCameraAlohaEnv)
    return gym.make(spec, obs_type="pixels_agent_pos", max_episode_steps=max_episode_steps)


@dataclasses.dataclass
class EnvCounters:
    """Cumulative over the environment's life; the driver diffs snapshots per episode."""

    steps: int = 0
    #: Seconds inside `gym.Env.step` (physics + rendering).
    step_s: float = 0.0
    #: Seconds inside `gym.Env.reset`.
    reset_s: float = 0.0
    #: Seconds converting a gym observation to the policy layout (resize-with-pad + CHW).
    convert_s: float = 0.0
    #: Action rows whose 14 values were all finite.
    finite_actions: int = 0
    #: Action values inside the declared `action_space` ([-1, 1]; absolute joint targets need not be).
    in_action_space_values: int = 0
    #: Action values inside the MuJoCo actuator `ctrlrange` (grippers compared after gym-aloha's unnormalization).
    in_ctrlrange_values: int = 0
    #: Steps where the actuator commands MuJoCo held after the step equal the action (proof the physics got it).
    ctrl_matched_steps: int = 0


class AlohaSimEnvironment(_environment.Environment):
    """openpi_client `Environment` over one gym-aloha env.

    - `reset()` seeds each episode from a generator seeded with `seed` (like openpi's example), so a run is
      reproducible up to rendering noise.
    - `apply_action(action)` sends `action["actions"]` (float [14]: 6 absolute joint targets in rad + normalized
      gripper, per arm) to `gym.Env.step` unchanged.
    - The episode is complete on success (`terminated`) or at `max_episode_steps` (`truncated`).
    """

    def __init__(self, task_id: str, *, seed: int, cameras: Cameras, max_episode_steps: int) -> None:
        self._gym = make_gym_env(task_id, cameras, max_episode_steps)
        self._rng = np.random.default_rng(seed)
        self._physics: Any = self._gym.unwrapped._env.physics  # type: ignore[attr-defined]
        low = np.asarray(self._gym.action_space.low, dtype=np.float64)  # type: ignore[attr-defined]
        high = np.asarray(self._gym.action_space.high, dtype=np.float64)  # type: ignore[attr-defined]
        self._space = (low, high)
        ctrl = np.asarray(self._physics.model.actuator_ctrlrange, dtype=np.float64)[list(ACTION_TO_ACTUATOR)]
        self._ctrlrange = (ctrl[:, 0], ctrl[:, 1])
        self.counters = EnvCounters()
        self.episode_seed: int | None = None
        self.success = False
        self.max_reward = 0.0
        self.action_min = np.full(14, np.inf)
        self.action_max = np.full(14, -np.inf)
        self._done = True
        self._obs: dict[str, Any] = {}

    @property
    def agent_pos(self) -> npt.NDArray[np.float64]:
        return np.asarray(self._obs["state"], dtype=np.float64)

    def reset(self) -> None:
        self.episode_seed = int(self._rng.integers(2**32 - 1))
        t0 = time.perf_counter()
        gym_obs, _info = self._gym.reset(seed=self.episode_seed)
        self.counters.reset_s += time.perf_counter() - t0
        self._obs = self._convert(gym_obs)
        self._done = False
        self.success = False
        self.max_reward = 0.0
        self.action_min = np.full(14, np.inf)
        self.action_max = np.full(14, -np.inf)

    def is_episode_complete(self) -> bool:
        return self._done

    def get_observation(self) -> dict[str, Any]:
        if not self._obs:
            raise RuntimeError("get_observation before reset")
        return self._obs

    def apply_action(self, action: dict[str, Any]) -> None:
        a = np.asarray(action["actions"])
        if a.shape != (14,):
            raise ValueError(f"expected one action row of 14 values, got shape {a.shape}")
        a64 = a.astype(np.float64)
        self._account(a64)
        t0 = time.perf_counter()
        gym_obs, reward, terminated, truncated, info = self._gym.step(a)
        self.counters.step_s += time.perf_counter() - t0
        self.counters.steps += 1
        # gym-aloha writes the (unclamped) command into data.ctrl in before_step; MuJoCo clamps when it integrates.
        ctrl = np.asarray(self._physics.data.ctrl, dtype=np.float64)[list(ACTION_TO_ACTUATOR)]
        if np.array_equal(ctrl, self._to_actuator_units(a)):
            self.counters.ctrl_matched_steps += 1
        self._obs = self._convert(gym_obs)
        self.max_reward = max(self.max_reward, float(reward))
        self.success = self.success or bool(info.get("is_success", False))
        self._done = bool(terminated or truncated)

    def close(self) -> None:
        self._gym.close()

    @staticmethod
    def _to_actuator_units(a: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """The 14 actuator commands gym-aloha derives from an action (grippers to finger position in metres),
        computed in the action's own dtype as gym-aloha does, then as MuJoCo stores them (float64)."""
        out = a.astype(np.float64)
        for g in GRIPPER_DIMS:
            out[g] = unnormalize_puppet_gripper_position(a[g])
        return out

    def _account(self, a: npt.NDArray[np.float64]) -> None:
        if np.all(np.isfinite(a)):
            self.counters.finite_actions += 1
        low, high = self._space
        self.counters.in_action_space_values += int(np.count_nonzero((a >= low) & (a <= high)))
        u = self._to_actuator_units(a)
        lo, hi = self._ctrlrange
        self.counters.in_ctrlrange_values += int(np.count_nonzero((u >= lo) & (u <= hi)))
        self.action_min = np.minimum(self.action_min, a)
        self.action_max = np.maximum(self.action_max, a)

    def _convert(self, gym_obs: dict[str, Any]) -> dict[str, Any]:
        """gym-aloha `pixels_agent_pos` -> openpi's aloha_sim request layout (HWC 480x640 -> CHW 224x224)."""
        t0 = time.perf_counter()
        top = np.asarray(gym_obs["pixels"]["top"])
        img = image_tools.convert_to_uint8(image_tools.resize_with_pad(top, IMAGE_SIZE, IMAGE_SIZE))
        obs = {
            "state": np.asarray(gym_obs["agent_pos"], dtype=np.float64),
            "images": {"cam_high": np.ascontiguousarray(np.transpose(img, (2, 0, 1)))},
        }
        self.counters.convert_s += time.perf_counter() - t0
        return obs
