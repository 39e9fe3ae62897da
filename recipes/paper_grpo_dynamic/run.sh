#!/usr/bin/env bash
# Launch paper_grpo_dynamic (extra arguments are Hydra overrides; DRY_RUN=1 prints only).
exec "$(dirname "${BASH_SOURCE[0]}")/../../launch/single_node.sh" paper_grpo_dynamic "$@"
