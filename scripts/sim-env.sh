#!/usr/bin/env bash
# Creates .venv-sim: gym-aloha + MuJoCo + openpi-client for the simulator loops (scripts/requirements-sim.txt).
# ~650 MB, ~35 s. Rendering is headless (MUJOCO_GL=egl with Mesa's llvmpipe; no GPU or display needed).
# Idempotent: a marker file records the requirements hash so reruns are instant.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON_FOR_VENV:-python3}
req=scripts/requirements-sim.txt
venv=.venv-sim
marker=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then exit 0; fi
[ -x $venv/bin/python ] || "$PY" -m venv $venv
$venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$marker"
