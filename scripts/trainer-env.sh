#!/usr/bin/env bash
# Creates trainer/.venv for trainer/'s tests: a venv over an interpreter that already imports torch, onnx, numpy and
# sentencepiece (CI: Debian's python3-torch 1.13 etc. for /usr/bin/python3; or $PYTHON, e.g. an openpi training
# env with torch 2.x), plus onnxruntime, safetensors and pytest from PyPI. `spm_train` (Debian `sentencepiece`)
# must be on PATH for the demo tokenizer.
# Idempotent: a marker records the interpreter and requirement list, so reruns are instant.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=trainer/.venv
reqs="onnxruntime safetensors pytest"
pick() {
  for py in ${PYTHON:-} /usr/bin/python3 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import torch, onnx, numpy, sentencepiece' 2>/dev/null; then
      command -v "$py"; return 0
    fi
  done
  echo "trainer-env: no interpreter imports torch+onnx+numpy+sentencepiece; on Debian/Ubuntu:" >&2
  echo "  apt-get install -y python3-torch python3-onnx python3-numpy python3-sentencepiece sentencepiece python3-pytest python3-venv" >&2
  echo "  or set PYTHON to an interpreter that has them" >&2
  return 1
}
py=$(pick)
want="$py|$reqs"
marker=$venv/.trainer-env
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x $venv/bin/python ]; then exit 0; fi
rm -rf "$venv"
"$py" -m venv --system-site-packages "$venv"
$venv/bin/python -m pip install --quiet --disable-pip-version-check $reqs
echo "$want" > "$marker"
