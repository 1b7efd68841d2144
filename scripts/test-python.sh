#!/usr/bin/env bash
# Python tests: the compatibility helpers under test/python (and trainer/ once it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh
.venv/bin/python -m pytest -q test/python
