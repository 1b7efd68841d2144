#!/usr/bin/env bash
# GPU latency check of a π0-sized model: vision, prefix, one denoise step and a 10-step chunk, in fp32/bf16/fp16,
# PyTorch eager and CUDA graphs (scripts/gpu-check/gpu_check.py; --help for its options). Made for a lent GPU
# machine without internet (python3 with torch + CUDA; nothing to install), finishing within 8 minutes; also runs on
# CPU with --tiny --device cpu (what the test does). The command for the device machine is in
# docs/execution-providers.md ("GPU check").
#   bash scripts/gpu-check.sh [--out report.json] [--dtypes fp32,bf16,fp16] [--model pi0|pi05] [--tiny --device cpu]
# Interpreter: $PYTHON, else python3 (with --tiny: trainer/.venv/bin/python when it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-}
if [ -z "$py" ]; then
  py=python3
  case " $* " in *" --tiny "*) [ -x trainer/.venv/bin/python ] && py=trainer/.venv/bin/python ;; esac
fi
export PYTHONPATH=trainer${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# 470 s: the 8-minute limit less a margin; the script itself stops starting new stages after --budget-s (400 s).
exec timeout --signal=INT --kill-after=10 470 "$py" scripts/gpu-check/gpu_check.py "$@"
