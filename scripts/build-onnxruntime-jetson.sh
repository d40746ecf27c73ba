#!/usr/bin/env bash
# Builds onnxruntime from source with the CUDA and TensorRT execution providers and its Node.js
# binding, on a Jetson (JetPack 5 or 6: aarch64, CUDA, cuDNN and TensorRT from JetPack), and
# installs the binding into this checkout's node_modules/onnxruntime-node so that
# `myostream run` gets the tensorrt/cuda providers it asks for (runtime.execution_providers).
#
# The prebuilt onnxruntime-node for linux-arm64 is CPU-only: without this build a Jetson runs
# every graph on its CPU cores (the daemon says so at start-up with one WARN line and reports
# `provider_mismatch` in health/meta).
#
# Usage (on the Jetson, from the repository root):
#   scripts/build-onnxruntime-jetson.sh [--version v1.30.0] [--src DIR] [--arch 87] [--jobs N]
#     --version  onnxruntime git tag (default: the onnxruntime-node version in package-lock.json)
#     --src      where to clone/build (default: ~/src/onnxruntime)
#     --arch     CMAKE_CUDA_ARCHITECTURES (default: 87 = Orin; 72 = Xavier)
#     --jobs     parallel build jobs (default: nproc, capped at 4 below 16 GB of RAM)
#
# It checks its prerequisites first and stops with one line naming the first one missing.
# Expect 1-3 hours on an Orin; the build needs about 20 GB of disk.
set -euo pipefail

die() { echo "build-onnxruntime-jetson: $*" >&2; exit 2; }

VERSION=""
SRC="${HOME}/src/onnxruntime"
ARCH="87"
JOBS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --version) VERSION="${2:?--version needs a tag}"; shift 2 ;;
    --src) SRC="${2:?--src needs a folder}"; shift 2 ;;
    --arch) ARCH="${2:?--arch needs a number}"; shift 2 ;;
    --jobs) JOBS="${2:?--jobs needs a number}"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

REPO_ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# --- prerequisites -------------------------------------------------------------------------
[ "$(uname -s)" = Linux ] || die "not Linux ($(uname -s)): this script builds on a Jetson (JetPack, aarch64) only"
[ "$(uname -m)" = aarch64 ] || die "not aarch64 ($(uname -m)): this script builds on a Jetson (JetPack, aarch64) only"
[ -f /etc/nv_tegra_release ] || dpkg -s nvidia-jetpack >/dev/null 2>&1 || die "no /etc/nv_tegra_release and no nvidia-jetpack package: not a JetPack system"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
[ -x "${CUDA_HOME}/bin/nvcc" ] || die "${CUDA_HOME}/bin/nvcc not found: install JetPack's CUDA toolkit (sudo apt install nvidia-jetpack) or set CUDA_HOME"
CUDNN_HOME="${CUDNN_HOME:-/usr/lib/aarch64-linux-gnu}"
ls "${CUDNN_HOME}"/libcudnn.so* >/dev/null 2>&1 || die "libcudnn.so not in ${CUDNN_HOME}: install JetPack's cuDNN (libcudnn8-dev or libcudnn9-dev) or set CUDNN_HOME"
TENSORRT_HOME="${TENSORRT_HOME:-/usr/lib/aarch64-linux-gnu}"
ls "${TENSORRT_HOME}"/libnvinfer.so* >/dev/null 2>&1 || die "libnvinfer.so not in ${TENSORRT_HOME}: install JetPack's TensorRT (libnvinfer-dev) or set TENSORRT_HOME"
for tool in git cmake python3 node npm g++; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found: sudo apt install git cmake python3 g++ (node 20 from NodeSource)"
done
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "node $(node -v) is older than 20"
cmake_major=$(cmake --version | sed -n 's/^cmake version \([0-9]*\)\.\([0-9]*\).*/\1\2/p' | head -1)
[ "${cmake_major:-0}" -ge 326 ] || die "cmake $(cmake --version | head -1 | awk '{print $3}') is older than 3.26 (pip install cmake, then put ~/.local/bin first on PATH)"
if [ -z "$VERSION" ]; then
  VERSION="v$(node -p 'require(process.argv[1]).packages["node_modules/onnxruntime-node"].version' "${REPO_ROOT}/package-lock.json" 2>/dev/null)" \
    || die "cannot read the onnxruntime-node version from package-lock.json; pass --version"
fi
if [ -z "$JOBS" ]; then
  JOBS=$(nproc)
  mem_gb=$(awk '/MemTotal/ {print int($2 / 1048576)}' /proc/meminfo)
  [ "$mem_gb" -ge 16 ] || JOBS=$(( JOBS < 4 ? JOBS : 4 ))
fi
free_gb=$(df -Pk "$(dirname "$SRC")" 2>/dev/null | awk 'NR==2 {print int($4 / 1048576)}')
[ "${free_gb:-0}" -ge 20 ] || die "less than 20 GB free under $(dirname "$SRC") (${free_gb:-?} GB): pass --src on a bigger disk"

echo "building onnxruntime ${VERSION} (CUDA ${CUDA_HOME}, TensorRT ${TENSORRT_HOME}, CUDA arch ${ARCH}, ${JOBS} jobs) in ${SRC}"

# --- source --------------------------------------------------------------------------------
if [ ! -d "${SRC}/.git" ]; then
  mkdir -p "$(dirname "$SRC")"
  git clone --recursive --branch "$VERSION" --depth 1 https://github.com/microsoft/onnxruntime "$SRC"
else
  git -C "$SRC" fetch --depth 1 origin "refs/tags/${VERSION}:refs/tags/${VERSION}"
  git -C "$SRC" checkout -f "$VERSION"
  git -C "$SRC" submodule update --init --recursive
fi

# --- build: the shared library with CUDA + TensorRT, and the Node.js binding -----------------
cd "$SRC"
./build.sh --config Release --update --build --parallel "$JOBS" --skip_tests \
  --build_shared_lib --use_cuda --cuda_home "$CUDA_HOME" --cudnn_home "$CUDNN_HOME" \
  --use_tensorrt --tensorrt_home "$TENSORRT_HOME" --build_nodejs \
  --cmake_extra_defines "CMAKE_CUDA_ARCHITECTURES=${ARCH}" onnxruntime_BUILD_UNIT_TESTS=OFF

# --- install into this checkout ------------------------------------------------------------
# The Node binding's build leaves its native part under js/node/bin/napi-v*/linux/arm64 next to
# libonnxruntime.so and the provider libraries; onnxruntime-node loads them from there.
built="$(ls -d "${SRC}"/js/node/bin/napi-v*/linux/arm64 2>/dev/null | tail -1)"
[ -n "$built" ] && [ -f "${built}/onnxruntime_binding.node" ] || die "the build finished without js/node/bin/napi-v*/linux/arm64/onnxruntime_binding.node"
target_root="${REPO_ROOT}/node_modules/onnxruntime-node/bin"
[ -d "$target_root" ] || die "${target_root} not found: run npm ci in ${REPO_ROOT} first"
napi="$(basename "$(dirname "$(dirname "$built")")")"
target="${target_root}/${napi}/linux/arm64"
mkdir -p "$target"
cp -a "${built}"/. "$target"/
for lib in libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so libonnxruntime_providers_tensorrt.so; do
  src_lib="$(find "${SRC}/build/Linux/Release" -maxdepth 1 -name "$lib" | head -1)"
  [ -n "$src_lib" ] || die "$lib was not built (is TensorRT/CUDA detection in the build log?)"
  cp -a "$src_lib" "$target/"
done

# --- check ---------------------------------------------------------------------------------
cd "$REPO_ROOT"
node -e '
const ort = require("onnxruntime-node");
const names = ort.listSupportedBackends().map((b) => b.name);
if (!names.includes("tensorrt") || !names.includes("cuda")) { console.error("installed binding lists " + names.join(", ") + ": no tensorrt/cuda"); process.exit(1); }
console.log("onnxruntime-node backends: " + names.join(", "));
' || die "the installed binding does not list tensorrt and cuda"
echo "done: run 'node dist/src/main.js run --duration 10 --speed 1' and look for provider=tensorrt in the 'model loaded' lines"
