#!/usr/bin/env bash
# trainer/ tests (export path: model math, ONNX parity, checkpoint formats, demo bundles) in trainer/.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/trainer-env.sh
command -v spm_train >/dev/null || { echo "test-trainer: spm_train missing (apt-get install sentencepiece)" >&2; exit 1; }
trainer/.venv/bin/python -m pytest -q trainer/tests "$@"
