"""Drives openpi's real Python client (openpi_client.websocket_client_policy.WebsocketClientPolicy) against
`edge-agent serve` and prints one JSON object on stdout. Used by test/compat-edge-serve.test.ts.

Modes:
  golden --bundle DIR --n N     the bundle's golden raw observation (golden.json, rebuilt with numpy) N times on
                                one connection; prints metadata, every reply's actions (dtype, shape, values) and
                                the timing keys
  layout --layout L --n N       openpi-example-shaped random observations: aloha (make_aloha_example: 4 CHW
                                cameras, 14-dim state), aloha_sim (cam_high only, like examples/aloha_sim),
                                libero (make_libero_example), droid (make_droid_example); prints reply shapes
  bad --case C                  one malformed ALOHA observation (missing-camera, wrong-dtype, wrong-shape,
                                no-state); prints what openpi's client raises
"""

import argparse
import base64
import json
import sys

import numpy as np
from openpi_client import websocket_client_policy

ALOHA_CAMERAS = ("cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist")


def golden_array(a: dict) -> np.ndarray:
    dtype = np.dtype({"bool": "bool", "uint8": "uint8", "int32": "int32", "int64": "int64", "float32": "float32", "float64": "float64"}[a["dtype"]])
    if "base64" in a:
        flat = np.frombuffer(base64.b64decode(a["base64"]), dtype=np.uint8)
    else:
        flat = np.array(a["data"], dtype=dtype)
    return flat.reshape(a["shape"])


def golden_observation(bundle: str) -> dict:
    with open(f"{bundle}/golden.json") as f:
        g = json.load(f)["raw_observation"]

    def conv(v):
        if isinstance(v, dict) and "dtype" in v and "shape" in v:
            return golden_array(v)
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(g)


def aloha_example(rng: np.random.Generator, cameras=ALOHA_CAMERAS) -> dict:
    return {
        "state": np.ones((14,)),  # openpi's make_aloha_example sends float64 ones
        "images": {c: rng.integers(256, size=(3, 224, 224), dtype=np.uint8) for c in cameras},
        "prompt": "do something",
    }


def libero_example(rng: np.random.Generator) -> dict:
    return {
        "observation/state": rng.random(8),
        "observation/image": rng.integers(256, size=(224, 224, 3), dtype=np.uint8),
        "observation/wrist_image": rng.integers(256, size=(224, 224, 3), dtype=np.uint8),
        "prompt": "do something",
    }


def droid_example(rng: np.random.Generator) -> dict:
    return {
        "observation/exterior_image_1_left": rng.integers(256, size=(224, 224, 3), dtype=np.uint8),
        "observation/wrist_image_left": rng.integers(256, size=(224, 224, 3), dtype=np.uint8),
        "observation/joint_position": rng.random(7),
        "observation/gripper_position": rng.random(1),
        "prompt": "do something",
    }


def describe(reply: dict, values: bool) -> dict:
    a = reply.get("actions")
    out = {
        "keys": sorted(reply.keys()),
        "actions_type": type(a).__name__,
        "dtype": a.dtype.str if isinstance(a, np.ndarray) else None,
        "shape": list(a.shape) if isinstance(a, np.ndarray) else None,
        "finite": bool(isinstance(a, np.ndarray) and np.all(np.isfinite(a))),
        "policy_timing": {k: type(v).__name__ for k, v in reply.get("policy_timing", {}).items()},
        "server_timing": {k: type(v).__name__ for k, v in reply.get("server_timing", {}).items()},
    }
    if values and isinstance(a, np.ndarray):
        out["values"] = [float(x) for x in a.reshape(-1)]
    return out


def bad_observation(case: str, rng: np.random.Generator) -> dict:
    obs = aloha_example(rng)
    if case == "missing-camera":
        del obs["images"]["cam_high"]
    elif case == "wrong-dtype":
        obs["state"] = np.array(["a"] * 14)
    elif case == "wrong-shape":
        obs["images"]["cam_high"] = rng.integers(256, size=(3, 10), dtype=np.uint8)
    elif case == "no-state":
        del obs["state"]
    else:
        raise SystemExit(f"unknown case {case}")
    return obs


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["golden", "layout", "bad"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--bundle")
    p.add_argument("--layout", default="aloha")
    p.add_argument("--case", default="missing-camera")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    policy = websocket_client_policy.WebsocketClientPolicy(host=args.host, port=args.port)
    meta = policy.get_server_metadata()
    out: dict = {"metadata": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in meta.items()}}
    if args.mode == "golden":
        obs = golden_observation(args.bundle)
        out["replies"] = [describe(policy.infer(obs), True) for _ in range(args.n)]
    elif args.mode == "layout":
        make = {
            "aloha": lambda: aloha_example(rng),
            "aloha_sim": lambda: aloha_example(rng, ("cam_high",)),
            "libero": lambda: libero_example(rng),
            "droid": lambda: droid_example(rng),
        }[args.layout]
        replies = []
        for _ in range(args.n):
            try:
                replies.append(describe(policy.infer(make()), False))
            except RuntimeError as e:
                replies.append({"raised": True, "message": str(e)})
                break
        out["replies"] = replies
    else:
        try:
            reply = policy.infer(bad_observation(args.case, rng))
            out["raised"] = False
            out["keys"] = sorted(reply.keys())
        except Exception as e:  # noqa: BLE001 - the test wants whatever openpi's client raises
            out["raised"] = True
            out["type"] = type(e).__name__
            out["message"] = str(e)
    json.dump(out, sys.stdout, allow_nan=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
