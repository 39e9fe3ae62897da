"""The dynamic game's Receiver is the one verl's reward loop serves (``receiver=vllm``, or
``tiny_cpu`` / ``hf`` on the CPU): the agent-loop manager hands its router's address to the
agent loop.

verl 0.9.1 gives agent loops no handle to its reward-model servers, but it builds the
reward loop (its reward-model replicas on their own resource pool, behind a router) before
the agent-loop manager, and creates that manager from a class named in the config
(``actor_rollout_ref.rollout.agent.agent_loop_manager_class``, read in
``RayPPOTrainer.init_workers``, ``verl/trainer/ppo/ray_trainer.py``). The manager gets the
reward-loop workers' handles (``reward_loop_worker_handles``: verl streams rewards through
them while the Sender generates, which it does when the reward model has its own pool),
and each of those workers holds the router's address (``RewardLoopWorker.reward_router_address``).

:class:`PersuasionAgentLoopManager` reads that address from one of them and writes it into
the config its agent-loop workers get, as ``persuasion.receiver.endpoint``; the agent loop
then asks the Receiver there under the name verl's replicas serve it by
(``persuasion_rl.verl_ext.agent_loop.loop_receiver``), exactly as the static reward does.
One config and one GPU layout serve both games, and nobody starts a server by hand. A
Receiver behind an external endpoint (``receiver=openai``) is left as configured.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import ray
from omegaconf import DictConfig, OmegaConf, open_dict
from verl.experimental.agent_loop.agent_loop import AgentLoopManager

logger = logging.getLogger(__name__)

MANAGER_CLASS = f"{__name__}.PersuasionAgentLoopManager"


class ServedReceiverError(RuntimeError):
    """The dynamic game's Receiver is verl's reward model, but its router cannot be reached."""


def serves_receiver(config: DictConfig) -> bool:
    """True when the dynamic game's Receiver is verl's reward model (not an external endpoint)."""
    return bool(OmegaConf.select(config, "reward.reward_model.enable", default=False)) and \
        OmegaConf.select(config, "persuasion.receiver.kind", default=None) != "openai"


def served_receiver_name(config: DictConfig) -> str:
    """The model name verl's reward-model replicas answer to: the static reward's
    ``receiver_model`` when set, else the reward model's path (vLLM's default served name)."""
    kwargs = OmegaConf.select(config, "reward.custom_reward_function.reward_kwargs", default=None) or {}
    return kwargs.get("receiver_model") or str(config.reward.reward_model.model_path)


def _router_address(worker: Any) -> str | None:
    return worker.reward_router_address  # run inside the RewardLoopWorker actor (Ray's __ray_call__)


def router_address(reward_loop_worker_handles: list | None) -> str:
    """verl's reward-model router, as one of the reward-loop workers knows it (``ip:port``)."""
    if not reward_loop_worker_handles:
        raise ServedReceiverError(
            "the dynamic game's Receiver is verl's reward model, but verl handed the agent loop no reward-loop workers: "
            "it does so only when the reward model has its own pool (reward.reward_model.enable_resource_pool=true)")
    address = ray.get(reward_loop_worker_handles[0].__ray_call__.remote(_router_address))
    if not address:
        raise ServedReceiverError("verl's reward loop started no reward-model router (reward.reward_model.enable=false?)")
    return address


def with_receiver_endpoint(config: DictConfig, address: str) -> DictConfig:
    """A copy of ``config`` whose ``persuasion.receiver.endpoint`` is the router's OpenAI base URL."""
    workers_config = copy.deepcopy(config)  # the trainer's own config stays as composed
    with open_dict(workers_config):
        workers_config.persuasion.receiver.endpoint = f"http://{address}/v1"
    return workers_config


class PersuasionAgentLoopManager(AgentLoopManager):
    """verl's ``AgentLoopManager`` whose workers reach the Receiver verl's reward loop serves."""

    def __init__(self, config: DictConfig, llm_client, teacher_client=None, reward_loop_worker_handles=None):
        if serves_receiver(config):
            address = router_address(reward_loop_worker_handles)
            config = with_receiver_endpoint(config, address)
            logger.info("dynamic game: the Receiver is verl's reward model %r behind its router at %s",
                        served_receiver_name(config), config.persuasion.receiver.endpoint)
        super().__init__(config, llm_client, teacher_client=teacher_client, reward_loop_worker_handles=reward_loop_worker_handles)
