"""verl's PPO trainer with the project's per-step persuasion metrics, and samples without
a Receiver score left out of the update.

``RayPPOTrainer.fit`` builds each step's metrics in a local dict; the only overridable
methods that see both the scored batch and a path into that dict are the update calls,
whose returned ``meta_info["metrics"]`` verl reduces into the step's metrics
(``verl/trainer/ppo/ray_trainer.py``, ``fit``: ``reduce_metrics(actor_output...)``).
So the metrics ride along with the actor update (every step after critic warm-up).

The update calls are also the first place after the advantages where the batch can still
be changed: samples the reward flagged ``receiver_ok = 0`` (``parse_failure=skip``) are
masked out and the advantages recomputed there, before the critic's or the actor's update,
whichever comes first (``persuasion_rl.verl_ext.unscored``).
"""

from __future__ import annotations

import logging
from functools import partial

from verl import DataProto
from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_advantage

from .metrics import persuasion_metrics
from .unscored import GROUP_ESTIMATORS, exclude_unscored

logger = logging.getLogger(__name__)


class PersuasionPPOTrainer(RayPPOTrainer):
    _unscored_handled_step = None  # the global step whose batch was already handled

    def _update_critic(self, batch: DataProto) -> DataProto:
        self._exclude_unscored(batch)
        return super()._update_critic(batch)

    def _update_actor(self, batch: DataProto) -> DataProto:
        self._exclude_unscored(batch)
        output = super()._update_actor(batch)
        metrics = persuasion_metrics(batch.non_tensor_batch)
        if not metrics:
            logger.debug("batch has no persuasion reward columns; no persuasion metrics this step")
        output.meta_info.setdefault("metrics", {}).update(metrics)
        return output

    def _exclude_unscored(self, batch: DataProto) -> None:
        """Once per step, with the advantage settings verl's fit used for this batch."""
        if self._unscored_handled_step == self.global_steps:
            return
        self._unscored_handled_step = self.global_steps
        algorithm = self.config.algorithm
        estimator = getattr(algorithm.adv_estimator, "value", algorithm.adv_estimator)
        advantage = partial(compute_advantage, adv_estimator=algorithm.adv_estimator, gamma=algorithm.gamma,
                            lam=algorithm.lam, num_repeat=self.config.actor_rollout_ref.rollout.n,
                            norm_adv_by_std_in_grpo=algorithm.get("norm_adv_by_std_in_grpo", True), config=algorithm)
        exclude_unscored(batch, advantage, grouped=estimator in GROUP_ESTIMATORS)
