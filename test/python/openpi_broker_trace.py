"""Runs openpi's own ActionChunkBroker over a deterministic fake policy and prints a per-step trace as JSON.

Usage: openpi_broker_trace.py '<json spec>' where spec = {"horizon": int, "chunk_len": int, "dim": int,
"ops": ["step" | "reset", ...]}. Observation of step i is {"t": i} (i counts steps across resets).
Output: {"trace": [{"op": "step", "t": i, "inferred": bool, "out": tree}, {"op": "reset"}, ...],
"policy_resets": int}. NDArray leaves are written as {"nd": dtype, "shape": [...], "v": nested list}.
"""

import json
import sys

import numpy as np

try:
    import typing_extensions  # noqa: F401  (openpi-client imports it without declaring it)
except ImportError:  # pragma: no cover - only when the venv predates the requirement
    import types

    _shim = types.ModuleType("typing_extensions")
    _shim.override = lambda f: f  # the real `override` is a no-op decorator at runtime
    sys.modules["typing_extensions"] = _shim

from openpi_client import action_chunk_broker, base_policy


class FakePolicy(base_policy.BasePolicy):
    def __init__(self, chunk_len: int, dim: int) -> None:
        self.chunk_len = chunk_len
        self.dim = dim
        self.calls = 0
        self.resets = 0
        self.inferred_on: list[int] = []

    def infer(self, obs: dict) -> dict:
        c = self.calls
        self.calls += 1
        t = obs["t"]
        self.inferred_on.append(t)
        n, d = self.chunk_len, self.dim
        return {
            "actions": np.arange(n * d, dtype=np.float64).reshape(n, d) + 1000.0 * c + 0.5 * t,
            "extra": {
                "ids": np.arange(n, dtype=np.int32) * 10 + c,
                "list": [np.full((n, 2), c, dtype=np.float32), 7.5, "text"],
            },
            "policy_timing": {"infer_ms": 12.5 + c},
            "name": "fake",
        }

    def reset(self) -> None:
        self.resets += 1


def to_json(x):
    if isinstance(x, np.ndarray):
        return {"nd": str(x.dtype), "shape": list(x.shape), "v": x.tolist()}
    if isinstance(x, dict):
        return {k: to_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_json(v) for v in x]
    return x


def main() -> None:
    spec = json.loads(sys.argv[1])
    policy = FakePolicy(spec["chunk_len"], spec["dim"])
    broker = action_chunk_broker.ActionChunkBroker(policy, spec["horizon"])
    trace = []
    t = 0
    for op in spec["ops"]:
        if op == "reset":
            broker.reset()
            trace.append({"op": "reset"})
            continue
        before = len(policy.inferred_on)
        out = broker.infer({"t": t})
        trace.append({"op": "step", "t": t, "inferred": len(policy.inferred_on) > before, "out": to_json(out)})
        t += 1
    print(json.dumps({"trace": trace, "policy_resets": policy.resets}))


if __name__ == "__main__":
    main()
