"""The GPUs a run can get: this machine's, or a Ray cluster's, and whether verl's pools fit.

verl places each resource pool as ``nnodes`` bundles of ``n_gpus_per_node`` GPUs, one per
node (``verl/single_controller/ray/base.py``, ``RayResourcePool``), and finds out that they
do not fit only after Ray has started and the workers wait for placement groups. Here the
same arithmetic runs before anything is allocated, on the GPUs of this machine or, when the
run joins a Ray cluster (``RAY_ADDRESS`` or ``ray_kwargs.ray_init.address``), on the GPUs
that Ray reports per alive node.

``python -m persuasion_rl.train.cluster --address HOST:PORT --nodes N --gpus-per-node G``
waits until a cluster shows N nodes with G GPUs each (``launch/slurm.sbatch`` runs it
between starting Ray and training).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from persuasion_rl.errors import UserError

logger = logging.getLogger(__name__)


class ClusterError(UserError, RuntimeError):
    pass


@dataclass(frozen=True)
class Pool:
    """One of verl's resource pools: ``nnodes`` bundles of ``gpus_per_node`` GPUs."""

    name: str
    nnodes: int
    gpus_per_node: int

    @property
    def gpus(self) -> int:
        return self.nnodes * self.gpus_per_node

    def describe(self) -> str:
        return f"{self.name} {self.nnodes}x{self.gpus_per_node}"


def pools(config: DictConfig) -> list[Pool]:
    """The pools verl creates for this config (``main_ppo_v0.py``: ``global_pool`` for the
    trainer, ``reward_pool`` when ``reward.reward_model.enable_resource_pool``)."""
    trainer = config.trainer
    result = [Pool("trainer pool (trainer.nnodes x trainer.n_gpus_per_node)", int(trainer.nnodes), int(trainer.n_gpus_per_node))]
    reward = config.reward.reward_model
    if reward.enable_resource_pool:
        result.append(Pool("Receiver pool (reward.reward_model.nnodes x n_gpus_per_node)", int(reward.nnodes), int(reward.n_gpus_per_node)))
    return result


def placement_problem(node_gpus: list[int], wanted: list[Pool]) -> str | None:
    """Why ``wanted`` cannot be placed on nodes with ``node_gpus`` GPUs each, or None.

    Bundles go to the node with the most GPUs left, largest bundles first, each pool's
    bundles on distinct nodes (verl packs one bundle per node).
    """
    free = sorted((g for g in node_gpus if g > 0), reverse=True)
    for pool in sorted(wanted, key=lambda p: -p.gpus_per_node):
        if pool.nnodes > len(free):
            return f"{pool.describe()} needs {pool.nnodes} node(s) with GPUs, there are {len(free)}"
        order = sorted(range(len(free)), key=lambda i: -free[i])[: pool.nnodes]
        if any(free[i] < pool.gpus_per_node for i in order):
            return f"{pool.describe()} does not fit beside the other pools (GPUs left per node: {sorted(free, reverse=True)})"
        for i in order:
            free[i] -= pool.gpus_per_node
    return None


def cluster_address(config: DictConfig) -> str | None:
    """The Ray cluster the run joins: ``RAY_ADDRESS`` wins, as in ``ray.init``."""
    address = os.environ.get("RAY_ADDRESS") or OmegaConf.select(config, "ray_kwargs.ray_init.address")
    return str(address) if address else None


def _reachable(address: str, timeout_s: float = 3.0) -> bool:
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return True  # "auto" or a URL: Ray resolves it
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def ray_node_gpus(address: str) -> list[int]:
    """GPUs of each alive node of the Ray cluster at ``address`` (nothing is allocated)."""
    if not _reachable(address):
        raise ClusterError(f"no Ray cluster answers at {address}: start it first (launch/ray_cluster.sh head) "
                           "or unset RAY_ADDRESS / ray_kwargs.ray_init.address")
    import ray

    if ray.is_initialized():
        raise ClusterError("Ray is already initialised in this process; count the cluster's GPUs from a fresh one")
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterError(f"cannot join the Ray cluster at {address}: {error}") from error
    try:
        return [int(node["Resources"].get("GPU", 0)) for node in ray.nodes() if node.get("Alive")]
    finally:
        ray.shutdown()  # verl's own ray.init must start from scratch, with its runtime env


def local_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no usable CUDA runtime: no GPU
        return 0


def node_gpus(config: DictConfig) -> tuple[list[int], str]:
    """The GPUs per node the run can use, and where they were counted."""
    address = cluster_address(config)
    if address:
        return ray_node_gpus(address), f"the Ray cluster at {address}"
    return [local_gpus()], "this machine"


def wait_for_cluster(address: str, nodes: int, gpus_per_node: int, timeout_s: float, poll_s: float = 5.0) -> list[int]:
    """Block until Ray at ``address`` has ``nodes`` alive nodes with ``gpus_per_node`` GPUs each."""
    deadline = time.monotonic() + timeout_s
    seen: list[int] = []
    while True:
        try:
            seen = ray_node_gpus(address)
        except ClusterError as error:
            logger.info("waiting for Ray at %s: %s", address, error)
        ready = [g for g in seen if g >= gpus_per_node]
        if len(ready) >= nodes:
            return seen
        if time.monotonic() > deadline:
            raise ClusterError(f"Ray at {address} shows GPUs per node {seen} after {timeout_s:.0f}s; "
                               f"waited for {nodes} node(s) with {gpus_per_node} GPU(s)")
        logger.info("Ray at %s: GPUs per node %s; waiting for %d node(s) with %d", address, seen, nodes, gpus_per_node)
        time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m persuasion_rl.train.cluster",
                                     description="Wait until a Ray cluster shows every node and GPU.")
    parser.add_argument("--address", required=True, help="the Ray head, HOST:PORT")
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--gpus-per-node", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        seen = wait_for_cluster(args.address, args.nodes, args.gpus_per_node, args.timeout)
    except ClusterError as error:
        print(f"cluster: {error}", file=sys.stderr)
        return 1
    print(f"Ray at {args.address}: {len(seen)} node(s), GPUs per node {seen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
