#!/usr/bin/env bash
# One-time setup on a fresh Debian/Ubuntu machine with Node 20+: system packages, pnpm, workspace dependencies.
# Safe to rerun. Python environments are created on demand by scripts/python-env.sh and scripts/trainer-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # socat: virtual serial pairs (emulated arms); ffmpeg: cameras and stand-in cameras; python3-venv: the
  # openpi-client compatibility venv; python3-torch/onnx/numpy/sentencepiece + sentencepiece (spm_train) + pytest:
  # the trainer/ export path and its tests (Debian's CPU torch: ~1 min and ~0.8 GB, against ~5.5 GB for PyPI's).
  # libopenblas0-pthread: Debian's torch otherwise runs on the reference BLAS (3.4 vs 131 GFLOP/s measured here).
  # cmake + build-essential: rclnodejs's addon and the message packages of scripts/ros2-env.sh / ros2-msgs.sh;
  # iproute2 + util-linux: the private network namespace of the real-DDS tests (scripts/ros2-netns.sh).
  # chromium: the browser client test (test/browser/, headless through playwright-core, which downloads nothing).
  # libegl1 + libgl1-mesa-dri + libopengl0: headless MuJoCo rendering (MUJOCO_GL=egl on Mesa's llvmpipe) for .venv-sim.
  # patchelf: scripts/ort-gpu.sh sets RUNPATH $ORIGIN on onnxruntime's GPU provider libraries.
  $SUDO apt-get install -y -qq --no-install-recommends \
    socat ffmpeg python3-venv \
    python3-torch python3-onnx python3-numpy python3-sentencepiece sentencepiece python3-pytest \
    libopenblas0-pthread cmake build-essential iproute2 util-linux chromium \
    libegl1 libgl1-mesa-dri libopengl0 patchelf >/dev/null
fi
command -v pnpm >/dev/null || npm install -g pnpm@12.21.0
if [ "${CI:-}" = "true" ]; then pnpm install --frozen-lockfile; else pnpm install; fi
