#!/usr/bin/env bash
# Train a recipe on this machine: the CPU (tiny_cpu_*) or one GPU node (paper_*).
#
#   launch/single_node.sh RECIPE [hydra overrides...]
#   DRY_RUN=1 launch/single_node.sh paper_grpo      # print the composed config and command only
#
# Environment:
#   PYTHON               interpreter with persuasion-rl installed (default: python)
#   PERSUASION_RL_RUNS   where runs go (default: ./runs): <runs>/<experiment>/{checkpoints,metrics,...}
#   PERSUASION_RL_HOME   tiny models and data cache (default: ~/.cache/persuasion-rl)
#   PERSUASION_RL_DATA   the exported RL parquet folder for paper_* (default: data/rl/static)
#   CUDA_VISIBLE_DEVICES GPUs to use (paper_*: 2 trainer + 2 Receiver, see configs/paper.yaml)
#   WANDB_API_KEY        W&B online logging (without it: offline, one-line notice)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ $# -lt 1 ]; then
    sed -n '2,15p' "$0"; exit 2
fi
train "$@"
