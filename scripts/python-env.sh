#!/usr/bin/env bash
# Creates .venv with the real openpi peers the compatibility tests and benchmarks run against:
# openpi-client (openpi's own codec, client, image tools, broker), websockets, pytest.
# Idempotent: a marker file records the requirements hash so reruns are instant.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON_FOR_VENV:-python3}
req=scripts/requirements-compat.txt
marker=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$marker"
