#!/usr/bin/env bash
# Python tests: trainer/ (the export path) in its own venv over an interpreter with torch (scripts/trainer-env.sh).
# The Python peers under test/python (openpi-client, dynamixel-sdk) are driven by the TypeScript tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-trainer.sh
