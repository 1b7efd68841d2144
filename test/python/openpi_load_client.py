"""One openpi-client WebsocketClientPolicy in a loop, for bench/server-throughput.bench.ts (its Python-client
scenario: several of these processes at once against one server).

  .venv/bin/python test/python/openpi_load_client.py --port P --start-at T0 --end-at T1

Connects (openpi's client reads the metadata frame), then calls `infer` on one make_aloha_example-shaped
observation (4 uint8 CHW 224x224 images, float32[14] state, prompt) back to back until wall time --end-at
(seconds since the epoch, time.time()). Replies completed within [--start-at, --end-at] are counted; earlier
ones are warm-up. Every reply is checked to carry float32 actions [50, 14]. Prints one JSON line:
{"requests": n, "seconds": window actually covered, "cpu_s": this process's CPU time in the window}.
"""

import argparse
import json
import time

import numpy as np
from openpi_client import websocket_client_policy

CAMERAS = ("cam_high", "cam_low", "cam_left_wrist", "cam_right_wrist")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--start-at", type=float, required=True)
    ap.add_argument("--end-at", type=float, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    obs = {
        "state": rng.random(14, dtype=np.float32) * 2 - 1,
        "images": {c: rng.integers(0, 256, size=(3, 224, 224), dtype=np.uint8) for c in CAMERAS},
        "prompt": "do something",
    }
    policy = websocket_client_policy.WebsocketClientPolicy(host=args.host, port=args.port)
    count = 0
    t_first = None
    cpu_first = None
    t_last = time.time()
    cpu_last = time.process_time()
    while True:
        now = time.time()
        if now >= args.end_at:
            break
        if t_first is None and now >= args.start_at:
            t_first, cpu_first = now, time.process_time()
        reply = policy.infer(obs)
        actions = reply["actions"]
        if actions.dtype != np.float32 or actions.shape != (50, 14):
            raise SystemExit(f"unexpected actions {actions.dtype} {actions.shape}")
        t_last, cpu_last = time.time(), time.process_time()
        if t_first is not None and t_last <= args.end_at:
            count += 1
    seconds = 0.0 if t_first is None else min(t_last, args.end_at) - t_first
    cpu = 0.0 if cpu_first is None else cpu_last - cpu_first
    print(json.dumps({"requests": count, "seconds": seconds, "cpu_s": cpu}), flush=True)


if __name__ == "__main__":
    main()
