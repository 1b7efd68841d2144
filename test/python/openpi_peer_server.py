"""A websocket policy server that behaves exactly like openpi's WebsocketPolicyServer (reference section 1),
assembled from openpi_client.msgpack_numpy and websockets, for testing our TypeScript client against a real peer.

  .venv/bin/python test/python/openpi_peer_server.py [--port 0] [--mode echo|fixed|raise|slow]
                                                     [--metadata JSON] [--slow-ms 200]

Prints the bound port on stdout (one line, the number) when ready; runs until killed.

Behaviour, as openpi's server: compression off, no size cap, `/healthz` answers HTTP 200 "OK\\n"; after the
handshake one binary metadata frame; then lock-step recv -> infer -> send; `server_timing.infer_ms` on every
reply and `prev_total_ms` from the second reply on (t0 taken before awaiting recv); on any exception the
traceback goes out as a text frame, then close 1011 with openpi's reason, and the handler ends (server keeps
running).

Policies (--mode):
  echo   (default) reply {"actions": fixed chunk, "echo": obs, "summary": per-leaf dtype/shape/sum,
         "authorization": the upgrade request's Authorization header or None}; an observation with key "raise"
         raises RuntimeError(obs["raise"]); with key "sleep_ms" blocks that long (openpi's infer is synchronous).
  fixed  reply {"actions": fixed [50, 14] float32 chunk, "policy_timing": {"infer_ms": 1.5}}
  raise  every infer raises ValueError("policy exploded")
  slow   like fixed after sleeping --slow-ms
"""

import argparse
import asyncio
import http
import json
import logging
import time
import traceback

import numpy as np
import websockets.asyncio.server as _server
import websockets.frames
from openpi_client import msgpack_numpy


def fixed_actions():
    return (np.arange(50 * 14, dtype=np.float32) * np.float32(0.01)).reshape(50, 14)


def summarize(v, path="", out=None):
    """Per-leaf facts computed in Python, so the test checks values on the Python side too."""
    out = {} if out is None else out
    if isinstance(v, dict):
        for k, x in v.items():
            summarize(x, f"{path}.{k}" if path else str(k), out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            summarize(x, f"{path}[{i}]", out)
    elif isinstance(v, np.ndarray):
        s = float(v.astype(np.float64).sum()) if v.dtype.kind in "biuf" else None
        out[path] = {"dtype": v.dtype.str, "shape": list(v.shape), "sum": s}
    else:
        out[path] = {"type": type(v).__name__, "repr": repr(v)}
    return out


class Policy:
    def __init__(self, mode, slow_ms):
        self.mode = mode
        self.slow_ms = slow_ms

    def infer(self, obs, authorization):
        if self.mode == "raise":
            raise ValueError("policy exploded")
        if self.mode == "slow":
            time.sleep(self.slow_ms / 1000)
        if self.mode in ("fixed", "slow"):
            return {"actions": fixed_actions(), "policy_timing": {"infer_ms": 1.5}}
        if not isinstance(obs, dict):
            raise TypeError(f"observation must be a dict, got {type(obs).__name__}")
        if "raise" in obs:
            raise RuntimeError(str(obs["raise"]))
        if "sleep_ms" in obs:
            time.sleep(float(obs["sleep_ms"]) / 1000)
        return {"actions": fixed_actions(), "echo": obs, "summary": summarize(obs), "authorization": authorization}


def health_check(connection, request):
    if request.path == "/healthz":
        return connection.respond(http.HTTPStatus.OK, "OK\n")
    return None


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="echo", choices=["echo", "fixed", "raise", "slow"])
    ap.add_argument("--metadata", default="{}")
    ap.add_argument("--slow-ms", type=float, default=200)
    args = ap.parse_args()
    policy = Policy(args.mode, args.slow_ms)
    metadata = json.loads(args.metadata)
    packer = msgpack_numpy.Packer()

    async def handler(websocket):
        authorization = websocket.request.headers.get("Authorization")
        await websocket.send(packer.pack(metadata))
        prev_total_time = None
        while True:
            try:
                start_time = time.monotonic()
                obs = msgpack_numpy.unpackb(await websocket.recv())
                infer_time = time.monotonic()
                action = policy.infer(obs, authorization)
                infer_time = time.monotonic() - infer_time
                action["server_timing"] = {"infer_ms": infer_time * 1000}
                if prev_total_time is not None:
                    action["server_timing"]["prev_total_ms"] = prev_total_time * 1000
                await websocket.send(packer.pack(action))
                prev_total_time = time.monotonic() - start_time
            except websockets.ConnectionClosed:
                break
            except Exception:
                await websocket.send(traceback.format_exc())
                await websocket.close(
                    code=websockets.frames.CloseCode.INTERNAL_ERROR,
                    reason="Internal server error. Traceback included in previous frame.",
                )
                raise

    async with _server.serve(
        handler,
        args.host,
        args.port,
        compression=None,
        max_size=None,
        process_request=health_check,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main())
