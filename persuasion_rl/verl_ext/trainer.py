"""verl's PPO trainer with the project's per-step persuasion metrics.

``RayPPOTrainer.fit`` builds each step's metrics in a local dict; the only overridable
methods that see both the scored batch and a path into that dict are the update calls,
whose returned ``meta_info["metrics"]`` verl reduces into the step's metrics
(``verl/trainer/ppo/ray_trainer.py``, ``fit``: ``reduce_metrics(actor_output...)``).
So the metrics ride along with the actor update (every step after critic warm-up).
"""

from __future__ import annotations

import logging

from verl import DataProto
from verl.trainer.ppo.ray_trainer import RayPPOTrainer

from .metrics import persuasion_metrics

logger = logging.getLogger(__name__)


class PersuasionPPOTrainer(RayPPOTrainer):
    def _update_actor(self, batch: DataProto) -> DataProto:
        output = super()._update_actor(batch)
        metrics = persuasion_metrics(batch.non_tensor_batch)
        if not metrics:
            logger.debug("batch has no persuasion reward columns; no persuasion metrics this step")
        output.meta_info.setdefault("metrics", {}).update(metrics)
        return output
