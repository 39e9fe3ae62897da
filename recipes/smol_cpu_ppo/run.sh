#!/usr/bin/env bash
# Launch the smol_cpu_ppo recipe on this machine (extra arguments are Hydra overrides; DRY_RUN=1 prints only).
# Other launchers: launch/ray_cluster.sh (several nodes), launch/slurm.sbatch (SLURM).
exec "$(dirname "${BASH_SOURCE[0]}")/../../launch/single_node.sh" smol_cpu_ppo "$@"
