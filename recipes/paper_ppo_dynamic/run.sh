#!/usr/bin/env bash
# Launch paper_ppo_dynamic (extra arguments are Hydra overrides; DRY_RUN=1 prints only). Needs a
# Receiver endpoint: persuasion.receiver.endpoint=http://HOST:8001/v1 (see the config's header).
exec "$(dirname "${BASH_SOURCE[0]}")/../../launch/single_node.sh" paper_ppo_dynamic "$@"
