#!/usr/bin/env bash
# The first run on a GPU machine: 2 steps each of the static and the dynamic paper recipes
# (paper_grpo, paper_grpo_dynamic) with a small model as Sender and Receiver, then a check
# of their rewards, metrics, validation file and checkpoint (persuasion_rl/train/smoke.py).
#
#   scripts/gpu_smoke.sh                                  # SmolLM2-135M-Instruct (converted on first use)
#   scripts/gpu_smoke.sh --model /path/to/hf_model --data DIR   # any HF folder; DIR/static, DIR/dynamic from `data export`
#   scripts/gpu_smoke.sh --dry-run --gpus 4               # compose and check the runs, print their commands
#
# Needs 2 or more CUDA GPUs (one for the Receiver's own pool) and the GPU stack
# (`pip install -e ".[vllm]"`); refuses before anything starts otherwise.
# Environment: PYTHON (default: .venv-gpu/bin/python if present, else python3),
# CUDA_VISIBLE_DEVICES, PERSUASION_RL_HOME (model and data cache).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv-gpu/bin/python ]; then PYTHON=.venv-gpu/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" -m persuasion_rl.train.smoke "$@"
