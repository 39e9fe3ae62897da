#!/usr/bin/env bash
# The test command: makes sure everything is installed (quick when it is), then runs the
# whole suite on the CPU. Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not e2e"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The annotation platform's browser test drives Debian's headless Chromium; install it when
# we can (root or sudo), otherwise that one test skips and says why.
bash scripts/install_browser.sh || echo "test: chromium not installed; the browser test will skip"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest "$@"
