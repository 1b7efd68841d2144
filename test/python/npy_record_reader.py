"""Reads recording files (`step_<n>.npy`, written by PolicyRecorder / `edge-agent serve --record`) with numpy the
way openpi users do, `np.load(path, allow_pickle=True).item()`, and prints one JSON object on stdout.
Used by packages/edge-agent/test/server/npy-pickle.test.ts and policy-recorder.test.ts.

Modes:
  describe FILE...              every file: the loaded array's type/dtype/shape and its item, described
                                exactly (ints as decimal strings, non-finite floats as "nan"/"inf"/"-inf",
                                bytes as hex, ndarrays with dtype.str, shape, flags and flat values)
  pickle FILE...                a bare pickle (pickleValue's output) loaded with pickle.load, described as above
  aloha --dir D --n N --seed S  step_0..step_{N-1}.npy in D against the observations
                                openpi_edge_serve_driver.py's `layout --layout aloha --seed S` sent (rebuilt with
                                the same generator): key lists, equality of every input, the outputs' shapes
"""

import argparse
import json
import math
import os
import pickle
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def scalar_json(x):
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(x, (str, np.str_)):
        return str(x)
    raise TypeError(f"unexpected element {type(x).__name__}")


def describe(v):
    if v is None:
        return {"type": "None"}
    if isinstance(v, np.ndarray):
        return {
            "type": "ndarray",
            "dtype": v.dtype.str,
            "shape": list(v.shape),
            "c_contiguous": bool(v.flags["C_CONTIGUOUS"]),
            "writeable": bool(v.flags["WRITEABLE"]),
            "values": [scalar_json(x) for x in v.reshape(-1).tolist()] if v.dtype.kind != "U" else [str(x) for x in v.reshape(-1)],
        }
    if isinstance(v, np.generic):
        return {"type": "npscalar", "class": type(v).__name__, "dtype": v.dtype.str, "value": scalar_json(v)}
    if isinstance(v, bool):
        return {"type": "bool", "value": v}
    if isinstance(v, int):
        return {"type": "int", "value": str(v)}
    if isinstance(v, float):
        return {"type": "float", "value": scalar_json(v)}
    if isinstance(v, str):
        return {"type": "str", "value": v}
    if isinstance(v, bytes):
        return {"type": "bytes", "hex": v.hex()}
    if isinstance(v, list):
        return {"type": "list", "items": [describe(x) for x in v]}
    if isinstance(v, dict):
        return {"type": "dict", "keys": list(v.keys()), "items": {k: describe(x) for k, x in v.items()}}
    raise TypeError(f"unexpected value {type(v).__name__}")


def load(path):
    arr = np.load(path, allow_pickle=True)
    return arr, arr.item()


def mode_describe(files):
    out = []
    for f in files:
        arr, item = load(f)
        out.append(
            {
                "file": f,
                "array": {"type": type(arr).__name__, "dtype": arr.dtype.str, "shape": list(arr.shape)},
                "item": describe(item),
            }
        )
    return {"numpy": np.__version__, "files": out}


def mode_pickle(files):
    out = []
    for f in files:
        with open(f, "rb") as fp:
            out.append({"file": f, "item": describe(pickle.load(fp))})
    return {"numpy": np.__version__, "files": out}


def mode_aloha(directory, n, seed):
    from openpi_edge_serve_driver import aloha_example

    rng = np.random.default_rng(seed)
    steps = []
    for i in range(n):
        sent = aloha_example(rng)
        _, item = load(os.path.join(directory, f"step_{i}.npy"))
        inputs = {
            "inputs/state": sent["state"],
            "inputs/prompt": sent["prompt"],
            **{f"inputs/images/{c}": img for c, img in sent["images"].items()},
        }
        equal = {}
        for k, want in inputs.items():
            got = item.get(k)
            if isinstance(want, np.ndarray):
                equal[k] = bool(
                    isinstance(got, np.ndarray) and got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
                )
            else:
                equal[k] = bool(got == want and type(got) is type(want))
        actions = item.get("outputs/actions")
        steps.append(
            {
                "keys": sorted(item.keys()),
                "inputs_equal": equal,
                "actions": {
                    "dtype": actions.dtype.str,
                    "shape": list(actions.shape),
                    "finite": bool(np.all(np.isfinite(actions))),
                }
                if isinstance(actions, np.ndarray)
                else None,
                "policy_timing_types": {
                    k[len("outputs/policy_timing/") :]: type(v).__name__
                    for k, v in item.items()
                    if k.startswith("outputs/policy_timing/")
                },
            }
        )
    return {"numpy": np.__version__, "steps": steps}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["describe", "pickle", "aloha"])
    p.add_argument("files", nargs="*")
    p.add_argument("--dir")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.mode == "describe":
        out = mode_describe(args.files)
    elif args.mode == "pickle":
        out = mode_pickle(args.files)
    else:
        out = mode_aloha(args.dir, args.n, args.seed)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
