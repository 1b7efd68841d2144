#!/usr/bin/env bash
# Assembles an onnxruntime Node package with the CUDA and TensorRT execution providers from PyPI wheels, for
# `edge-agent serve --ort-path .ort-gpu` / OPENPI_EDGE_ORT_PATH=.ort-gpu (docs/execution-providers.md).
#
#   bash scripts/ort-gpu.sh [--out DIR] [--tensorrt-lib DIR]
#
# Result (default .ort-gpu/): the workspace's onnxruntime-node package (its JS, onnxruntime-common, the linux/x64
# binding and libonnxruntime.so.1) with, beside the binding in bin/napi-v6/linux/x64/:
#   - libonnxruntime_providers_{shared,cuda,tensorrt}.so from onnxruntime-gpu (same version as onnxruntime-node);
#   - the CUDA 13 / cuDNN 9 libraries the providers need, from NVIDIA's PyPI wheels
#     (scripts/requirements-ort-gpu.txt, pinned by version and sha256).
# The provider libraries get RUNPATH $ORIGIN (patchelf), and NVIDIA's libraries already carry it, so the loader finds
# everything without LD_LIBRARY_PATH. Not included: the driver's libcuda.so.1 (comes with the GPU machine's NVIDIA
# driver; deliberately no stub, see the docs) and TensorRT's libnvinfer.so.10 / libnvonnxparser.so.10 (TensorRT 10
# is not on PyPI as wheels, only as stubs that fetch from pypi.nvidia.com): give an installed TensorRT 10 lib
# directory with --tensorrt-lib DIR (or ORT_GPU_TENSORRT_LIB) to copy it in.
#
# linux/x86_64 only (onnxruntime-gpu's wheel); a Jetson builds onnxruntime from source (docs). Needs python3 with pip
# (or a venv), patchelf (scripts/setup.sh installs it) and ~1.2 GB of downloads, ~1.6 GB of disk; the wheels are
# deleted after extraction (ORT_GPU_KEEP_WHEELS=1 keeps them in .cache/ort-gpu/wheels).
# Idempotent: a marker records the inputs (requirements, this script, onnxruntime-node's version, the TensorRT dir),
# so a rerun with the same inputs is instant.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${ORT_GPU_DIR:-.ort-gpu}
trt_lib=${ORT_GPU_TENSORRT_LIB:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --tensorrt-lib) trt_lib=$2; shift 2 ;;
    -h | --help) sed -n '2,24p' scripts/ort-gpu.sh | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ort-gpu: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

req=scripts/requirements-ort-gpu.txt
cache=.cache/ort-gpu
wheels=$cache/wheels
marker=$out/.ort-gpu.inputs
bin_rel=bin/napi-v6/linux/x64
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]; then
  echo "ort-gpu: onnxruntime-gpu's PyPI wheels are linux/x86_64; this is $(uname -s)/$(uname -m)." >&2
  echo "  On a Jetson, build onnxruntime with --use_cuda --use_tensorrt --build_nodejs (docs/execution-providers.md)." >&2
  exit 1
fi

# The workspace's onnxruntime-node (pnpm keeps it under packages/edge-agent/node_modules as a link).
ort_src=$(node -e "process.stdout.write(require('path').dirname(require.resolve('onnxruntime-node/package.json', { paths: ['packages/edge-agent'] })))")
ort_version=$(node -p "require('$ort_src/package.json').version")
# onnxruntime-common's exports map hides package.json: walk up from its resolved entry file instead.
common_src=$(node -e "let d = require('path').dirname(require.resolve('onnxruntime-common', { paths: ['$ort_src'] }));
  while (!require('fs').existsSync(d + '/package.json')) d = require('path').dirname(d);
  process.stdout.write(d)")
gpu_version=$(sed -n 's/^onnxruntime-gpu==\([^ ]*\).*/\1/p' "$req")
if [ "$ort_version" != "$gpu_version" ]; then
  echo "ort-gpu: onnxruntime-node is $ort_version but $req pins onnxruntime-gpu==$gpu_version;" >&2
  echo "  the provider libraries must come from the same onnxruntime version: update $req (version and hash)." >&2
  exit 1
fi

trt_key=none
if [ -n "$trt_lib" ]; then
  [ -f "$trt_lib/libnvinfer.so.10" ] || { echo "ort-gpu: --tensorrt-lib $trt_lib has no libnvinfer.so.10 (TensorRT 10)" >&2; exit 1; }
  trt_key=$(cd "$trt_lib" && pwd)
fi
want=$(printf '%s\n' "$(sha256sum "$req" scripts/ort-gpu.sh | cut -d' ' -f1)" "$ort_version" "$trt_key" | sha256sum | cut -d' ' -f1)
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then exit 0; fi

command -v patchelf >/dev/null || {
  echo "ort-gpu: patchelf not found (apt-get install patchelf; scripts/setup.sh installs it)" >&2
  exit 1
}
# Any interpreter with pip will do: pip only downloads (for a fixed platform/ABI), nothing is installed.
pick_pip() {
  for py in ${PYTHON:-} python3 .venv/bin/python; do
    if command -v "$py" >/dev/null && "$py" -m pip --version >/dev/null 2>&1; then command -v "$py"; return 0; fi
  done
  python3 -m venv "$cache/pip-venv" >&2 && echo "$cache/pip-venv/bin/python"
}
py=$(pick_pip)

t0=$(date +%s.%N)
rm -rf "$wheels" "$out.tmp"
mkdir -p "$wheels"
echo "ort-gpu: downloading $(grep -c '==' "$req") wheels from PyPI ($req)"
# Explicit platform/ABI: the same files whatever the local Python; --no-deps + hashes: exactly the pinned files.
"$py" -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: \
  --python-version 3.12 --implementation cp --abi cp312 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
  -r "$req" -d "$wheels"
t1=$(date +%s.%N)
dl_bytes=$(du -cb "$wheels"/*.whl | tail -1 | cut -f1)

# The package: JS + the linux/x64 binding only (the other platforms' binaries are ~240 MB of dead weight here).
pkg=$out.tmp
mkdir -p "$pkg/$bin_rel" "$pkg/node_modules"
cp "$ort_src/package.json" "$pkg/"
cp -r "$ort_src/dist" "$pkg/"
cp "$ort_src/$bin_rel/onnxruntime_binding.node" "$ort_src/$bin_rel/libonnxruntime.so.1" "$pkg/$bin_rel/"
cp -rL "$common_src" "$pkg/node_modules/onnxruntime-common"

# Extract the listed members (basename only) of each wheel into the binding directory.
"$py" - "$wheels" "$pkg/$bin_rel" <<'PY'
import glob, os, shutil, sys, zipfile
wheels, dest = sys.argv[1], sys.argv[2]
# wheel name prefix -> the library files it must contribute (all of them, or the assembly is incomplete).
want = {
    "onnxruntime_gpu-": ["onnxruntime/capi/libonnxruntime_providers_shared.so",
                         "onnxruntime/capi/libonnxruntime_providers_cuda.so",
                         "onnxruntime/capi/libonnxruntime_providers_tensorrt.so"],
    "nvidia_cuda_runtime-": ["nvidia/cu13/lib/libcudart.so.13"],
    "nvidia_cublas-": ["nvidia/cu13/lib/libcublas.so.13", "nvidia/cu13/lib/libcublasLt.so.13"],
    "nvidia_curand-": ["nvidia/cu13/lib/libcurand.so.10"],
    "nvidia_cuda_nvrtc-": ["nvidia/cu13/lib/libnvrtc.so.13", "nvidia/cu13/lib/libnvrtc-builtins.so.13.0"],
    "nvidia_cudnn_cu13-": ["nvidia/cudnn/lib/" + n for n in (
        "libcudnn.so.9", "libcudnn_adv.so.9", "libcudnn_cnn.so.9", "libcudnn_engines_precompiled.so.9",
        "libcudnn_engines_runtime_compiled.so.9", "libcudnn_graph.so.9", "libcudnn_heuristic.so.9",
        "libcudnn_ops.so.9")],
}
for prefix, members in want.items():
    [whl] = glob.glob(os.path.join(wheels, prefix + "*.whl"))
    with zipfile.ZipFile(whl) as z:
        for m in members:
            target = os.path.join(dest, os.path.basename(m))
            with z.open(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 16 << 20)
            os.chmod(target, 0o755)
PY

# dlopen'ed by libonnxruntime.so.1 by absolute path; their own NEEDED libraries are then searched in their RUNPATH.
patchelf --set-rpath '$ORIGIN' "$pkg/$bin_rel/libonnxruntime_providers_cuda.so" "$pkg/$bin_rel/libonnxruntime_providers_tensorrt.so"

if [ -n "$trt_lib" ]; then
  for f in "$trt_lib"/libnvinfer.so.10* "$trt_lib"/libnvinfer_plugin.so.10* "$trt_lib"/libnvonnxparser.so.10* \
    "$trt_lib"/libnvinfer_builder_resource*.so*; do
    [ -e "$f" ] && cp -L "$f" "$pkg/$bin_rel/"
  done
fi

# Check: the module loads, and each provider library fails to load at most for libcuda.so.1 (the driver) or, without
# --tensorrt-lib, TensorRT's own libraries. Anything else missing means the assembly is incomplete.
node - "$pkg" "$bin_rel" "$trt_lib" <<'JS'
const [pkg, binRel, trtLib] = process.argv.slice(2);
const path = require('node:path');
const os = require('node:os');
const ort = require(path.resolve(pkg));
if (typeof ort.InferenceSession?.create !== 'function') throw new Error(`${pkg} does not load as onnxruntime`);
const allowed = { cuda: ['libcuda.so.1'], tensorrt: trtLib ? ['libcuda.so.1'] : ['libnvinfer.so.10', 'libnvonnxparser.so.10', 'libcuda.so.1'] };
for (const [ep, ok] of Object.entries(allowed)) {
  const lib = path.resolve(pkg, binRel, `libonnxruntime_providers_${ep}.so`);
  try {
    process.dlopen({ exports: {} }, lib, os.constants.dlopen.RTLD_LAZY);
  } catch (e) {
    const missing = /^([^:]+): cannot open shared object file/.exec(e.message)?.[1];
    if (/did not self-register/.test(e.message)) continue; // loaded completely (a GPU machine)
    if (missing === undefined || !ok.includes(missing)) {
      console.error(`ort-gpu: ${lib} does not load: ${e.message}`);
      process.exit(1);
    }
    console.log(`ort-gpu: ${ep} provider: every library found except ${missing}${missing === 'libcuda.so.1' ? ' (the NVIDIA driver: none on this machine)' : ''}`);
  }
}
JS

t2=$(date +%s.%N)
cat >"$pkg/ort-gpu.json" <<EOF
{
  "onnxruntime": "$ort_version",
  "requirements": "$req",
  "tensorrt_lib": $( [ -n "$trt_lib" ] && printf '"%s"' "$trt_key" || echo null ),
  "download_bytes": $dl_bytes,
  "download_s": $(secs "$t0" "$t1"),
  "assemble_s": $(secs "$t1" "$t2")
}
EOF
rm -rf "$out"
mv "$pkg" "$out"
echo "$want" >"$marker"
[ "${ORT_GPU_KEEP_WHEELS:-0}" = 1 ] || rm -rf "$wheels"
disk_bytes=$(du -sb "$out" | cut -f1)
printf 'ort-gpu: %s ready: onnxruntime %s + CUDA/TensorRT providers; downloaded %d MB in %s s, assembled in %s s, %d MB on disk\n' \
  "$out" "$ort_version" $((dl_bytes / 1000000)) "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" $((disk_bytes / 1000000))
echo "ort-gpu: use it with: edge-agent serve --ort-path $out ... (or OPENPI_EDGE_ORT_PATH=$(cd "$out" && pwd))"
