#!/usr/bin/env bash
# Launch the tiny_cpu_ppo_dynamic recipe on this machine (extra arguments are Hydra overrides; DRY_RUN=1 prints only).
exec "$(dirname "${BASH_SOURCE[0]}")/../../launch/single_node.sh" tiny_cpu_ppo_dynamic "$@"
