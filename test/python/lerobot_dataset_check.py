"""Reads a dataset written by `edge-agent start --record` with PyPI lerobot 0.3.3, offline, and reports what lerobot
sees, for the TypeScript tests to compare with what the agent recorded.

usage: lerobot_dataset_check.py ROOT OUT_JSON [--frames OUT_BIN] [--backend pyav]

OUT_JSON: {"episodes", "frames", "fps", "codebase_version", "lengths", "tasks", "cameras", "camera_shapes",
"rows": [{"episode_index", "frame_index", "index", "task", "timestamp", "state", "action"}, ...]}.
With --frames, every row's decoded camera images (lerobot's own `dataset[i]` video decoding) are written to OUT_BIN
as uint8 HWC, row by row, cameras in the order of "cameras".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("out_json")
    p.add_argument("--frames", default=None)
    p.add_argument("--backend", default="pyav")
    a = p.parse_args()

    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("local/openpi-edge-check", root=a.root, video_backend=a.backend)
    meta = ds.meta
    cameras = list(meta.video_keys)
    out: dict[str, object] = {
        "episodes": ds.num_episodes,
        "frames": ds.num_frames,
        "fps": ds.fps,
        "codebase_version": meta.info["codebase_version"],
        "lengths": [meta.episodes[i]["length"] for i in sorted(meta.episodes)],
        "tasks": dict(meta.tasks),
        "cameras": cameras,
        "camera_shapes": {k: list(meta.features[k]["shape"]) for k in cameras},
        "stats_keys": sorted(meta.stats.keys()),
    }
    rows = []
    frames_out = open(a.frames, "wb") if a.frames else None
    try:
        for i in range(len(ds)):
            item = ds[i]
            rows.append(
                {
                    "episode_index": int(item["episode_index"]),
                    "frame_index": int(item["frame_index"]),
                    "index": int(item["index"]),
                    "task": item["task"],
                    "timestamp": float(item["timestamp"]),
                    "state": item["observation.state"].tolist(),
                    "action": item["action"].tolist(),
                }
            )
            if frames_out is not None:
                for k in cameras:
                    # lerobot returns float CHW in [0, 1]
                    chw = item[k].numpy()
                    hwc = np.clip(np.round(chw.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
                    frames_out.write(hwc.tobytes())
    finally:
        if frames_out is not None:
            frames_out.close()
    out["rows"] = rows
    Path(a.out_json).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
