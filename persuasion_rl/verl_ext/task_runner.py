"""The TaskRunner the project hands to verl's ``run_ppo(config, task_runner_class=...)``.

verl 0.9.1's recipe hook: ``verl.trainer.main_ppo.run_ppo`` starts Ray and runs
``task_runner_class.remote().run(config)``. Ours is verl's legacy (v0) TaskRunner whose
trainer is :class:`~persuasion_rl.verl_ext.trainer.PersuasionPPOTrainer` (per-step
persuasion metrics, unscored samples left out of the update), at every scale. The CPU
platform needs nothing here: its gloo process groups come from ``patches.py``.
"""

from __future__ import annotations

import logging
import os
import socket

import ray

from verl.trainer.main_ppo_v0 import BaseTaskRunner

from .bootstrap import cpu_selected

logger = logging.getLogger(__name__)


def log_to_console() -> None:
    """Ray starts this process with no logging set up, so the project's INFO lines (the
    platform, where the dynamic game's Receiver is served) would be dropped: they go to
    stderr, which Ray forwards to the driver's console."""
    project = logging.getLogger("persuasion_rl")
    if not project.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        project.addHandler(handler)
        project.setLevel(logging.INFO)
        project.propagate = False  # once, whatever the root logger has


class PersuasionTaskRunnerImpl(BaseTaskRunner):
    def run(self, config):
        """verl's TaskRunner.run (``verl/trainer/main_ppo_v0.py``) with our trainer class."""
        log_to_console()
        from omegaconf import OmegaConf

        from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler, need_critic, need_reference_policy
        from verl.utils.config import omega_conf_to_dataclass, validate_config
        from verl.utils.dataset.rl_dataset import collate_fn

        from .patches import patch_router_client_errors
        from .trainer import PersuasionPPOTrainer

        patch_router_client_errors()  # before verl's reward loop forks its router here

        logger.info("TaskRunner on %s (pid %d), platform %s", socket.gethostname(), os.getpid(),
                    "cpu" if cpu_selected() else "accelerator")
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
