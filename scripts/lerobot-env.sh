#!/usr/bin/env bash
# Creates .venv-lerobot: PyPI lerobot 0.3.3 and the packages its dataset reader needs, plus HF transformers 4.53.2
# (scripts/requirements-lerobot.txt), for the checks of `start --record` datasets. ~5.7 GB, ~2 min.
# Idempotent: a marker records the requirements hash, so reruns are instant.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-lerobot
req=scripts/requirements-lerobot.txt
marker=$venv/.requirements.sha256
want=$( (cat "$req"; echo lerobot==0.3.3) | sha256sum | cut -d' ' -f1)
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x $venv/bin/python ]; then exit 0; fi
rm -rf "$venv"
"${PYTHON_FOR_VENV:-python3}" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-cache-dir --quiet)
"${pip[@]}" install --upgrade pip
"${pip[@]}" install --only-binary :all: -r "$req"
"${pip[@]}" install --no-deps lerobot==0.3.3
echo "$want" > "$marker"
