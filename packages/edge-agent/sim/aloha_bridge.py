#!/usr/bin/env python3
"""gym-aloha (MuJoCo through dm_control) behind a pipe, for the ALOHA plugin's `sim` transport.

Spawned by packages/edge-agent/src/robots/aloha/sim-transport.ts with the interpreter of `.venv-sim`
(`bash scripts/sim-env.sh`). One process = one simulated bimanual ViperX scene (transfer_cube or insertion).

Threads:
  * main: reads commands from stdin, steps the physics, answers every command at once with a STATE on stdout.
  * render: its own MjModel copy, MjData and EGL context (one GL context per thread); renders the newest physics
    snapshot (qpos/qvel/act/mocap copied under a lock after each step) for each configured camera, at most `--fps`
    sets per wall-clock second, and writes FRAMEs to the frames fd (3). It runs at niceness `--render-nice` (10),
    so on a small machine the renderer yields the CPU to the physics, the agent's loop and its policy. MuJoCo releases the GIL while it renders,
    so a frame (tens of ms on a software renderer) never delays a STATE reply; frames and states use separate pipes
    so a 900 KB frame never sits in front of a state either.

Time: the simulation advances by exactly DT = 0.02 s (n_sub_steps physics steps) per STEP received, and never on
its own: sim time is locked to the agent's control ticks. STATE and RESET do not advance it.

Wire format, both directions: messages `[u32 payload length][u8 type][payload]`, little endian.
  stdin (agent -> bridge)
    0x01 STEP   u32 seq, f64[14] action: gym-aloha's action (arms: absolute joint targets rad; grippers: finger
                position normalised with PUPPET_GRIPPER_POSITION_CLOSE/OPEN, 0 closed, 1 open). Advances DT.
    0x02 RESET  u32 seq, u8 has_seed, u32 seed: the task's episode reset (gym-aloha `reset(seed)`: arms at
                START_ARM_POSE, objects at `sample_box_pose(seed)` / `sample_insertion_pose(seed)`).
    0x03 STATE  u32 seq: the current state, nothing advances.
    0x04 CLOSE  (empty): exit 0.
  stdout (bridge -> agent)
    0x10 HELLO  UTF-8 JSON: protocol, task, dt, physics timestep, n_sub_steps, episode_steps, cameras, versions.
    0x11 STATE  u32 seq (of the command answered), u32 steps (since the last reset), f64 sim time (s),
                f64[14] qpos (gym-aloha `agent_pos`), f64[14] qvel (arms rad/s, grippers normalised/s),
                f64 reward, u8 is_success (reward == max_reward), f32 step ms (physics + task of this command),
                u64 sent (CLOCK_MONOTONIC ns when written).
    0x1F ERROR  UTF-8 JSON {kind, message}: written before a non-zero exit.
  frames fd (bridge -> agent)
    0x20 FRAME  u8 camera index (HELLO order), u32 frame seq (per camera), u32 steps and f64 sim time of the
                rendered snapshot, u16 width, u16 height, f32 render ms (this camera), u64 sent (CLOCK_MONOTONIC ns),
                then height rows of width x 3 bytes RGB, top row first.

Exit codes: 0 closed (CLOSE or stdin EOF), 2 a module is missing (gym_aloha, mujoco, dm_control: run
`bash scripts/sim-env.sh`), 3 the renderer failed, 4 a protocol error, 1 anything else (traceback on stderr).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import IO, Any, NoReturn

PROTOCOL = 1
T_STEP, T_RESET, T_STATE, T_CLOSE = 0x01, 0x02, 0x03, 0x04
T_HELLO, T_STATE_REPLY, T_ERROR, T_FRAME = 0x10, 0x11, 0x1F, 0x20
HEADER = struct.Struct("<IB")
STATE_REPLY = struct.Struct("<IId14d14ddBfQ")
FRAME_HEADER = struct.Struct("<BIIdHHfQ")

# Simulator camera behind each openpi ALOHA camera name (gym-aloha's scene.xml / vx300s_*.xml).
CAMERA_MAP: dict[str, str] = {
    "cam_high": "top",
    "cam_low": "angle",
    "cam_left_wrist": "left_wrist",
    "cam_right_wrist": "right_wrist",
}


# Rendering through EGL (headless); must be set before mujoco is imported.
os.environ.setdefault("MUJOCO_GL", "egl")
_stdout_lock = threading.Lock()  # STATE replies (main thread) and an ERROR from the render thread


def write_message(out: IO[bytes], kind: int, payload: bytes) -> None:
    with _stdout_lock:
        out.write(HEADER.pack(len(payload), kind) + payload)
        out.flush()


def fail(kind: str, message: str, code: int) -> NoReturn:
    """Reports `message` as an ERROR message (stdout) and on stderr, then exits with `code`."""
    sys.stderr.write(f"aloha_bridge: {message}\n")
    sys.stderr.flush()
    try:
        write_message(sys.stdout.buffer, T_ERROR, json.dumps({"kind": kind, "message": message}).encode())
    except OSError:
        pass
    os._exit(code)


try:
    import numpy as np
    import mujoco
    from dm_control import mujoco as dm_mujoco
    from gym_aloha.constants import ASSETS_DIR, DT
    from gym_aloha.tasks import sim as aloha_sim
    from gym_aloha.utils import sample_box_pose, sample_insertion_pose
except ImportError as e:  # the venv is missing or incomplete
    fail(
        "missing_module",
        f"cannot import {getattr(e, 'name', None) or e}: {e} (interpreter {sys.executable}); "
        "create the simulator venv with `bash scripts/sim-env.sh`",
        2,
    )


@dataclass
class CameraSpec:
    name: str
    mj_camera: str
    width: int
    height: int


@dataclass
class Snapshot:
    """The physics state the renderer draws, copied after every step (a few hundred bytes)."""

    qpos: Any
    qvel: Any
    act: Any
    mocap_pos: Any
    mocap_quat: Any
    time: float
    steps: int
    version: int = 0


@dataclass
class RenderStats:
    frames: int = 0
    render_ms_total: float = 0.0
    failures: list[str] = field(default_factory=list)


def parse_camera(arg: str) -> CameraSpec:
    """`cam_high=640x480` or `cam_high=top:640x480` (openpi name = [simulator camera:]WIDTHxHEIGHT)."""
    name, _, rest = arg.partition("=")
    mj_camera, _, size = rest.rpartition(":")
    w, _, h = size.partition("x")
    if not name or not w.isdigit() or not h.isdigit():
        raise argparse.ArgumentTypeError(f"--camera {arg}: expected name=[mjcamera:]WIDTHxHEIGHT")
    mj = mj_camera or CAMERA_MAP.get(name)
    if mj is None:
        raise argparse.ArgumentTypeError(f"--camera {arg}: no simulator camera for {name}; name one (name=cam:WxH)")
    return CameraSpec(name, mj, int(w), int(h))


class Simulation:
    """The task's physics, stepped like dm_control's control.Environment.step but without its three renders."""

    def __init__(self, task: str) -> None:
        if task == "transfer_cube":
            xml, self.task = "bimanual_viperx_transfer_cube.xml", aloha_sim.TransferCubeTask()
        elif task == "insertion":
            xml, self.task = "bimanual_viperx_insertion.xml", aloha_sim.InsertionTask()
        else:
            fail("bad_argument", f"unknown task {task} (transfer_cube | insertion)", 4)
        self.task_name = task
        self.physics = dm_mujoco.Physics.from_xml_path(str(ASSETS_DIR / xml))
        self.physics.legacy_step = True  # as control.Environment does
        self.n_sub_steps = int(round(DT / self.physics.timestep()))
        self.steps = 0
        self.reward = 0.0

    def reset(self, seed: int | None) -> None:
        """gym-aloha's AlohaEnv.reset(seed) + control.Environment.reset, minus the observation's renders."""
        if seed is not None:
            self.task.random.seed(seed)
            self.task._random = np.random.RandomState(seed)
        if self.task_name == "transfer_cube":
            aloha_sim.BOX_POSE[0] = sample_box_pose(seed)
        else:
            aloha_sim.BOX_POSE[0] = np.concatenate(sample_insertion_pose(seed))
        with self.physics.reset_context():
            self.task.initialize_episode(self.physics)
        self.steps = 0
        self.reward = float(self.task.get_reward(self.physics))

    def step(self, action: Any) -> None:
        self.task.before_step(action, self.physics)
        self.physics.step(self.n_sub_steps)
        self.task.after_step(self.physics)
        self.reward = float(self.task.get_reward(self.physics))
        self.steps += 1

    @property
    def success(self) -> bool:
        return self.reward >= float(self.task.max_reward)

    def snapshot(self, version: int) -> Snapshot:
        d = self.physics.data
        return Snapshot(
            d.qpos.copy(), d.qvel.copy(), d.act.copy(), d.mocap_pos.copy(), d.mocap_quat.copy(), float(d.time),
            self.steps, version,
        )


class Renderer(threading.Thread):
    """Renders the newest snapshot for every camera, at most `fps` sets per second, on its own GL context."""

    def __init__(
        self,
        model: Any,
        cameras: list[CameraSpec],
        fps: float,
        out: IO[bytes],
        shadow_size: int,
        msaa: int,
        nice: int,
    ) -> None:
        super().__init__(name="aloha-bridge-render", daemon=True)
        self.model = copy.copy(model)  # own copy: visual settings below change nothing in the physics
        self.model.vis.quality.shadowsize = shadow_size
        self.model.vis.quality.offsamples = msaa
        self.cameras = cameras
        self.period = 1.0 / fps
        self.nice = nice
        self.out = out
        self.cond = threading.Condition()
        self.latest: Snapshot | None = None
        self.stopped = False
        self.stats = RenderStats()

    def offer(self, snap: Snapshot) -> None:
        with self.cond:
            self.latest = snap
            self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify()

    def run(self) -> None:
        try:
            self._run()
        except BrokenPipeError:
            os._exit(0)  # the agent closed its end: it is shutting down
        except Exception as e:  # a GL or MuJoCo failure: the agent sees the exit code and this stderr
            traceback.print_exc()
            fail("render_failed", f"renderer failed: {e}", 3)

    def _run(self) -> None:
        if self.nice > 0:
            # Linux: niceness is per thread and inherited by the threads created from here (llvmpipe's rasterizer
            # threads come with the GL context below), so physics, the agent's loop and its policy win the CPU.
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            except OSError:
                pass
        data = mujoco.MjData(self.model)
        renderers: dict[tuple[int, int], Any] = {}
        for c in self.cameras:
            key = (c.height, c.width)
            if key not in renderers:
                renderers[key] = mujoco.Renderer(self.model, height=c.height, width=c.width)
        seqs = [0] * len(self.cameras)
        drawn = -1
        next_at = 0.0
        while True:
            with self.cond:
                while not self.stopped and (self.latest is None or self.latest.version == drawn):
                    self.cond.wait()
                if self.stopped:
                    return
                snap = self.latest
            assert snap is not None
            wait = next_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
                with self.cond:  # the newest snapshot after the wait
                    snap = self.latest or snap
            next_at = time.monotonic() + self.period
            drawn = snap.version
            data.qpos[:] = snap.qpos
            data.qvel[:] = snap.qvel
            if snap.act.size:
                data.act[:] = snap.act
            data.mocap_pos[:] = snap.mocap_pos
            data.mocap_quat[:] = snap.mocap_quat
            data.time = snap.time
            mujoco.mj_forward(self.model, data)
            for i, c in enumerate(self.cameras):
                r = renderers[(c.height, c.width)]
                t0 = time.perf_counter()
                r.update_scene(data, camera=c.mj_camera)
                pixels = r.render()  # uint8 [h, w, 3], top row first
                ms = (time.perf_counter() - t0) * 1e3
                self.stats.frames += 1
                self.stats.render_ms_total += ms
                header = FRAME_HEADER.pack(
                    i, seqs[i], snap.steps, snap.time, c.width, c.height, ms, time.monotonic_ns()
                )
                seqs[i] += 1
                payload = header + np.ascontiguousarray(pixels).tobytes()
                self.out.write(HEADER.pack(len(payload), T_FRAME))
                self.out.write(payload)
                self.out.flush()


def read_exact(fd: int, n: int) -> bytes | None:
    """n bytes from fd, or None at EOF before the first byte (EOF inside a message is a protocol error)."""
    chunks: list[bytes] = []
    got = 0
    while got < n:
        b = os.read(fd, n - got)
        if not b:
            if got == 0:
                return None
            fail("protocol", f"stdin closed inside a message ({got}/{n} bytes)", 4)
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="transfer_cube", choices=["transfer_cube", "insertion"])
    ap.add_argument("--camera", type=parse_camera, action="append", default=[], help="name=[mjcamera:]WxH")
    ap.add_argument("--fps", type=float, default=30.0, help="most camera sets rendered per wall-clock second")
    ap.add_argument("--frames-fd", type=int, default=3, help="fd the frames go to (-1: no cameras)")
    ap.add_argument("--shadow-size", type=int, default=1024, help="shadow map px (gym-aloha: 4096)")
    ap.add_argument("--msaa", type=int, default=0, help="multisamples (gym-aloha: 4)")
    ap.add_argument("--render-nice", type=int, default=10, help="niceness of the render thread (0: as the process)")
    args = ap.parse_args()

    out = sys.stdout.buffer
    sim = Simulation(args.task)
    cameras: list[CameraSpec] = args.camera if args.frames_fd >= 0 else []
    renderer: Renderer | None = None
    if cameras:
        names = {mujoco.mj_id2name(sim.physics.model.ptr, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(sim.physics.model.ncam)}
        for c in cameras:
            if c.mj_camera not in names:
                fail("bad_argument", f"camera {c.name}: the scene has no camera {c.mj_camera} ({sorted(names)})", 4)
        frames_out = os.fdopen(args.frames_fd, "wb", buffering=0)
        renderer = Renderer(
            sim.physics.model.ptr, cameras, args.fps, frames_out, args.shadow_size, args.msaa, args.render_nice
        )
    hello = {
        "protocol": PROTOCOL,
        "task": args.task,
        "dt": DT,
        "physics_timestep": sim.physics.timestep(),
        "n_sub_steps": sim.n_sub_steps,
        "episode_steps": 300,
        "max_reward": float(sim.task.max_reward),
        "cameras": [{"name": c.name, "mj_camera": c.mj_camera, "width": c.width, "height": c.height} for c in cameras],
        "fps": args.fps,
        "versions": {"python": sys.version.split()[0], "mujoco": mujoco.__version__, "numpy": np.__version__},
    }
    sim.reset(None)
    version = 0
    if renderer is not None:
        renderer.start()
        renderer.offer(sim.snapshot(version))
    write_message(out, T_HELLO, json.dumps(hello).encode())

    def reply(seq: int, step_ms: float) -> None:
        agent = sim.task.get_qpos(sim.physics)
        vel = sim.task.get_qvel(sim.physics)
        payload = STATE_REPLY.pack(
            seq, sim.steps, float(sim.physics.data.time), *agent, *vel, sim.reward, 1 if sim.success else 0,
            step_ms, time.monotonic_ns(),
        )
        write_message(out, T_STATE_REPLY, payload)

    action = np.zeros(14, dtype=np.float64)
    try:
        while True:
            head = read_exact(0, HEADER.size)
            if head is None:
                break
            length, kind = HEADER.unpack(head)
            body = read_exact(0, length) if length > 0 else b""
            if body is None:
                fail("protocol", "stdin closed inside a message", 4)
            t0 = time.perf_counter()
            if kind == T_STEP and length == 4 + 14 * 8:
                (seq,) = struct.unpack_from("<I", body)
                action[:] = struct.unpack_from("<14d", body, 4)
                sim.step(action)
            elif kind == T_RESET and length == 9:
                seq, has_seed, seed = struct.unpack("<IBI", body)
                sim.reset(seed if has_seed else None)
            elif kind == T_STATE and length == 4:
                (seq,) = struct.unpack("<I", body)
            elif kind == T_CLOSE:
                break
            else:
                fail("protocol", f"unknown message type 0x{kind:02x} with {length} payload bytes", 4)
            step_ms = (time.perf_counter() - t0) * 1e3
            reply(seq, step_ms)
            if renderer is not None and kind != T_STATE:
                version += 1
                renderer.offer(sim.snapshot(version))
    except BrokenPipeError:
        pass
    if renderer is not None:
        renderer.stop()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - report anything, with its traceback, and exit 1
        traceback.print_exc()
        fail("internal", f"{type(e).__name__}: {e}", 1)
