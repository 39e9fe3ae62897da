#!/usr/bin/env bash
# Run a recipe on a Ray cluster spanning several nodes.
#
#   launch/ray_cluster.sh head                      # on the head node: start Ray
#   launch/ray_cluster.sh worker HEAD_IP            # on every other node: join it
#   launch/ray_cluster.sh train RECIPE [overrides]  # on the head node: train on the cluster
#   launch/ray_cluster.sh stop                      # on each node: stop the Ray it started
#   DRY_RUN=1 launch/ray_cluster.sh ...             # print the commands only
#
# Environment:
#   RAY_PORT     head's GCS port (default 6379)
#   NUM_GPUS     GPUs this node offers to Ray (default: all visible)
#   NNODES       trainer nodes (trainer.nnodes, default 1); the trainer pool takes
#                trainer.n_gpus_per_node GPUs on each, the Receiver pool
#                reward.reward_model.n_gpus_per_node x reward.reward_model.nnodes more
#   PYTHON, PERSUASION_RL_RUNS, PERSUASION_RL_DATA, WANDB_API_KEY: as launch/single_node.sh
# Checkpoints go to trainer.default_local_dir on the head: point PERSUASION_RL_RUNS at a
# shared filesystem so workers' shards land in the same folder.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RAY_PORT=${RAY_PORT:-6379}
NNODES=${NNODES:-1}
gpu_flag=()
[ -n "${NUM_GPUS:-}" ] && gpu_flag=(--num-gpus "$NUM_GPUS")

case "${1:-}" in
    head)
        run ray start --head --port "$RAY_PORT" "${gpu_flag[@]}" --dashboard-host 0.0.0.0 ;;
    worker)
        [ $# -ge 2 ] || { echo "usage: $0 worker HEAD_IP[:PORT]" >&2; exit 2; }
        address=$2; [[ "$address" == *:* ]] || address="$address:$RAY_PORT"
        run ray start --address "$address" "${gpu_flag[@]}" ;;
    train)
        shift; [ $# -ge 1 ] || { echo "usage: $0 train RECIPE [overrides...]" >&2; exit 2; }
        recipe=$1; shift
        # RAY_ADDRESS: verl's ray.init joins the cluster; GPU counts are then Ray's to check
        RAY_ADDRESS=${RAY_ADDRESS:-auto} train "$recipe" ++ray_kwargs.ray_init.address=auto trainer.nnodes="$NNODES" "$@" ;;
    stop)
        run ray stop ;;
    *)
        sed -n '2,20p' "$0"; exit 2 ;;
esac
