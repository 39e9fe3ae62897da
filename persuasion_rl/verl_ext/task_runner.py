"""The TaskRunner the project hands to verl's ``run_ppo(config, task_runner_class=...)``.

verl 0.9.1's recipe hook: ``verl.trainer.main_ppo.run_ppo`` starts Ray and runs
``task_runner_class.remote().run(config)``. Ours is verl's legacy (v0) TaskRunner with
two changes:

* the trainer is :class:`~persuasion_rl.verl_ext.trainer.PersuasionPPOTrainer`
  (per-step persuasion metrics), at every scale;
* on the CPU platform, the workers open a plain ``gloo`` process group first. verl's
  ``initialize_global_process_group_ray`` (``verl/utils/distributed.py:89``) builds
  ``"cpu:gloo,{device}:{backend}"``, i.e. ``"cpu:gloo,cpu:gloo"`` on a CPU, which torch
  rejects ("Duplicate device type cpu"); once a group exists that call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

import ray

from verl.trainer.main_ppo_v0 import BaseTaskRunner
from verl.trainer.ppo.ray_trainer import Role
from verl.utils.distributed import initialize_global_process_group_ray
from verl.workers.engine_workers import ActorRolloutRefWorker, TrainingWorker

logger = logging.getLogger(__name__)


def on_cpu_platform() -> bool:
    from verl.utils.device import get_device_name

    return get_device_name() == "cpu"


class GlooTrainingWorker(TrainingWorker):
    def __init__(self, config):
        initialize_global_process_group_ray(timeout_second=None, backend="gloo")
        super().__init__(config)


class GlooActorRolloutRefWorker(ActorRolloutRefWorker):
    # verl builds the actor and reference engines from these class attributes
    actor_worker_cls = GlooTrainingWorker
    ref_worker_cls = GlooTrainingWorker


class PersuasionTaskRunnerImpl(BaseTaskRunner):
    def add_actor_rollout_worker(self, config):
        actor_rollout_cls, worker_group_cls = super().add_actor_rollout_worker(config)
        if on_cpu_platform():
            for role in (Role.ActorRollout, Role.ActorRolloutRef):
                if role in self.role_worker_mapping:
                    self.role_worker_mapping[role] = ray.remote(GlooActorRolloutRefWorker)
            actor_rollout_cls = GlooActorRolloutRefWorker
        return actor_rollout_cls, worker_group_cls

    def add_critic_worker(self, config):
        super().add_critic_worker(config)
        if on_cpu_platform():
            self.role_worker_mapping[Role.Critic] = ray.remote(GlooTrainingWorker)

    def run(self, config):
        """verl's TaskRunner.run (``verl/trainer/main_ppo_v0.py``) with our trainer class."""
        from omegaconf import OmegaConf

        from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler, need_critic, need_reference_policy
        from verl.utils.config import omega_conf_to_dataclass, validate_config
        from verl.utils.dataset.rl_dataset import collate_fn

        from .trainer import PersuasionPPOTrainer

        logger.info("TaskRunner on %s (pid %d), platform %s", socket.gethostname(), os.getpid(),
                    "cpu" if on_cpu_platform() else "accelerator")
        OmegaConf.resolve(config)
        _, worker_group_cls = self.add_actor_rollout_worker(config)
        self.add_critic_worker(config)
        self.add_reward_model_resource_pool(config)
        self.add_teacher_model_resource_pool(config)
        validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))

        model_config = omega_conf_to_dataclass(config.actor_rollout_ref.model)
        tokenizer, processor = model_config.tokenizer, model_config.processor
        resource_pool_manager = self.init_resource_pool_mgr(config)
        train_dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, processor, is_train=True,
                                          max_samples=config.data.get("train_max_samples", -1))
        val_dataset = create_rl_dataset(config.data.val_files, config.data, tokenizer, processor, is_train=False,
                                        max_samples=config.data.get("val_max_samples", -1))
        trainer = PersuasionPPOTrainer(
            config=config,
            tokenizer=tokenizer,
            processor=processor,
            role_worker_mapping=self.role_worker_mapping,
            resource_pool_manager=resource_pool_manager,
            ray_worker_group_cls=worker_group_cls,
            train_dataset=train_dataset,
            val_dataset=val_dataset,
            collate_fn=collate_fn,
            train_sampler=create_rl_sampler(config.data, train_dataset),
        )
        trainer.init_workers()
        trainer.fit()


PersuasionTaskRunner = ray.remote(PersuasionTaskRunnerImpl)
