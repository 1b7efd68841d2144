"""Drives openpi's real Python client (openpi_client.websocket_client_policy.WebsocketClientPolicy) against a
server at --host/--port and prints one JSON object on stdout. Used by test/compat-server.test.ts and
bench/infer.bench.ts to check our TypeScript WebsocketPolicyServer from the Python side.

Observations are shaped like openpi's make_aloha_example (4 uint8 CHW 224x224 images, 14-dim state, prompt),
drawn from numpy's default_rng(--seed). The server under test is expected to serve the "sum policy":

    sums[c]       = sum of all bytes of image c, for c in CAMERAS
    frac[j]       = (sums[CAMERAS[j % 4]] % 1000) / 1000                       (float64)
    actions[t, j] = float32(float64(state[j]) * (t + 1) + frac[j]),  t < 50, j < 14
    plus echoes: state_seen (the float32 state), image_sums (ints), prompt_seen (str)

Modes:
  metadata                  print the metadata frame read by the client's constructor
  infer --n N               N infers; each reply is checked here against the sum policy
  error --prompt P          one infer expected to fail; print the RuntimeError openpi's client raises
  connect-fail              constructing the client is expected to fail (e.g. a wrong --api-key)
  healthz                   GET /healthz with urllib
  bench --n N --warmup W    time N infers of one ALOHA observation; print the samples in ms
"""

import argparse
import json
import sys
import time
import urllib.request

import numpy as np
from openpi_client import websocket_client_policy

CAMERAS = ("cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist")
HORIZON = 50
ACTION_DIM = 14


def make_observation(rng: np.random.Generator, prompt: str) -> dict:
    return {
        "state": rng.random(ACTION_DIM, dtype=np.float32) * 2 - 1,
        "images": {c: rng.integers(0, 256, size=(3, 224, 224), dtype=np.uint8) for c in CAMERAS},
        "prompt": prompt,
    }


def image_sums(obs: dict) -> dict:
    return {c: int(obs["images"][c].sum(dtype=np.uint64)) for c in CAMERAS}


def expected_actions(obs: dict) -> np.ndarray:
    sums = image_sums(obs)
    frac = np.array([(sums[CAMERAS[j % 4]] % 1000) / 1000.0 for j in range(ACTION_DIM)], dtype=np.float64)
    steps = np.arange(1, HORIZON + 1, dtype=np.float64)
    return (obs["state"].astype(np.float64)[None, :] * steps[:, None] + frac[None, :]).astype(np.float32)


def jsonable(v):
    """JSON form of a decoded msgpack-numpy value; arrays keep their dtype string and shape."""
    if isinstance(v, np.ndarray):
        return {"ndarray": v.dtype.str, "shape": list(v.shape), "data": v.tolist()}
    if isinstance(v, np.generic):
        return {"npgeneric": v.dtype.str, "value": v.item()}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def check_reply(obs: dict, reply: dict) -> dict:
    """What the reply looks like and whether it matches the sum policy (checked here, in Python)."""
    actions = reply.get("actions")
    want = expected_actions(obs)
    state_seen = reply.get("state_seen")
    timing = reply.get("server_timing", {})
    return {
        "keys": sorted(reply.keys()),
        "actions_type": type(actions).__name__,
        "actions_dtype": actions.dtype.str if isinstance(actions, np.ndarray) else None,
        "actions_shape": list(actions.shape) if isinstance(actions, np.ndarray) else None,
        "actions_equal": bool(isinstance(actions, np.ndarray) and np.array_equal(actions, want)),
        "state_echo_equal": bool(
            isinstance(state_seen, np.ndarray)
            and state_seen.dtype == np.float32
            and np.array_equal(state_seen, obs["state"])
        ),
        "image_sums_equal": reply.get("image_sums") == image_sums(obs),
        "prompt_seen": reply.get("prompt_seen"),
        "server_timing": {k: type(x).__name__ for k, x in timing.items()},
        "server_timing_nonnegative": all(isinstance(x, float) and x >= 0 for x in timing.values()),
        # What Python sent, so the TypeScript side can compare with what its policy received.
        "sent_state": [float(x) for x in obs["state"]],
        "sent_image_sums": image_sums(obs),
    }


def client(args) -> websocket_client_policy.WebsocketClientPolicy:
    return websocket_client_policy.WebsocketClientPolicy(host=args.host, port=args.port, api_key=args.api_key)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["metadata", "infer", "error", "connect-fail", "healthz", "bench"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None)  # None: --host is a full ws:// URI
    p.add_argument("--api-key", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=3)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--prompt", default="do something")
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    out: dict

    if args.mode == "metadata":
        out = {"metadata": jsonable(client(args).get_server_metadata())}
    elif args.mode == "infer":
        policy = client(args)
        results = []
        for _ in range(args.n):
            obs = make_observation(rng, args.prompt)
            results.append(check_reply(obs, policy.infer(obs)))
        out = {"metadata": jsonable(policy.get_server_metadata()), "results": results}
    elif args.mode == "error":
        policy = client(args)
        try:
            reply = policy.infer(make_observation(rng, args.prompt))
            out = {"raised": False, "keys": sorted(reply.keys())}
        except Exception as e:  # noqa: BLE001 - the test wants whatever openpi's client raises
            out = {"raised": True, "type": type(e).__name__, "message": str(e)}
    elif args.mode == "connect-fail":
        try:
            client(args)
            out = {"raised": False}
        except Exception as e:  # noqa: BLE001
            status = getattr(getattr(e, "response", None), "status_code", None)
            out = {"raised": True, "type": type(e).__name__, "message": str(e), "status": status}
    elif args.mode == "healthz":
        with urllib.request.urlopen(f"http://{args.host}:{args.port}/healthz", timeout=10) as r:
            out = {"status": r.status, "body": r.read().decode(), "content_type": r.headers.get("Content-Type")}
    else:
        policy = client(args)
        obs = make_observation(rng, args.prompt)
        for _ in range(args.warmup):
            policy.infer(obs)
        samples = []
        for _ in range(args.n):
            t0 = time.perf_counter()
            reply = policy.infer(obs)
            samples.append((time.perf_counter() - t0) * 1000.0)
        out = {"samples_ms": samples, "actions_shape": list(reply["actions"].shape)}

    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
