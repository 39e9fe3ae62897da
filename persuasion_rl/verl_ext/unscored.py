"""Samples without a Receiver score (``persuasion.parse_failure=skip``), left out of the update.

The reward function returns such a sample with ``receiver_ok = 0`` and a NaN score, never a
number that could pass for a reward (``persuasion_rl.verl_ext.reward``). verl's fit loop has
by then computed the step's advantages over the whole batch, NaN included
(``compute_advantage`` in ``RayPPOTrainer.fit``), and verl's custom advantage estimators are
not given the reward's columns (``non_tensor_batch``), so the trainer
(``PersuasionPPOTrainer``) calls :func:`exclude_unscored` before the step's first update
(the critic's for PPO, else the actor's):

* the sample's ``response_mask`` is zeroed: no policy, KL, entropy or value loss term;
* advantages and returns are recomputed with verl's own ``compute_advantage`` over the
  scored samples only, so a GRPO group's mean and std come from its scored replies; the
  skipped sample's advantage and return are 0;
* a scored reply left alone in its GRPO group gets advantage 0: verl gives a group of one
  mean 0 and std 1, i.e. its raw score as advantage, which compares it with nothing;
* a step with no scored sample fails: the Receiver is down, not flaky.

A skipped sample keeps its NaN in ``token_level_scores``, so verl's own ``critic/score/*``
and ``critic/rewards/*`` means are NaN on a step that skipped one; the project's
``persuasion/*`` metrics leave NaN out and ``receiver/skipped`` counts the samples.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Callable

import numpy as np
import torch
from verl import DataProto

from persuasion_rl.receivers.base import ReceiverError

from .metrics import RECEIVER_OK, float_column

logger = logging.getLogger(__name__)

# estimators that normalise within the group of a prompt's replies (uid) and treat a group
# of one as mean 0, std 1 (verl.trainer.ppo.core_algos)
GROUP_ESTIMATORS = ("grpo", "grpo_vectorized")


def log_skipped(claim: str, reason: object) -> None:
    """The one warning of a sample left without a score, static reward and dynamic game alike."""
    logger.warning("no Receiver score for claim %r: %s; parse_failure=skip: the sample is left out of the update",
                   claim[:60], reason)


def unscored_rows(batch: DataProto) -> np.ndarray:
    """True where the reward flagged no Receiver score. NaN (the Receiver was not asked:
    a missing-argument penalty) is a real reward, not a skip."""
    column = batch.non_tensor_batch.get(RECEIVER_OK)
    if column is None:
        return np.zeros(len(batch), dtype=bool)
    return float_column(column) == 0.0


def lone_survivors(uids: np.ndarray, skipped: np.ndarray) -> np.ndarray:
    """Scored rows whose group had company before skipping and has none after."""
    sizes, kept = Counter(uids), Counter(uids[~skipped])
    return np.array([not gone and kept[uid] == 1 and sizes[uid] > 1 for uid, gone in zip(uids, skipped)], dtype=bool)


def exclude_unscored(batch: DataProto, advantage: Callable[[DataProto], DataProto], grouped: bool) -> int:
    """Leave the unscored samples of ``batch`` out of the update, in place; return how many.

    ``advantage`` is verl's ``compute_advantage`` with the step's settings; ``grouped``
    says whether the estimator is group-relative (GRPO)."""
    skipped = unscored_rows(batch)
    if not skipped.any():
        return 0
    if skipped.all():
        raise ReceiverError(f"none of the step's {len(skipped)} samples has a Receiver score (parse_failure=skip "
                            "skips a flaky sample, not a dead Receiver): check the Receiver server")
    keep = torch.from_numpy(np.flatnonzero(~skipped))
    scored = advantage(batch.select_idxs(keep.numpy()))
    if len(scored) != len(keep):  # e.g. algorithm.use_pf_ppo resamples the rows
        raise ValueError("the advantage estimator changed the number of samples: parse_failure=skip cannot map its "
                         "advantages back (use parse_failure=fail with this estimator)")
    for key in ("advantages", "returns"):
        values = torch.zeros_like(batch.batch[key])
        values[keep] = scored.batch[key].to(values.dtype)
        batch.batch[key] = values
    if grouped and "uid" in batch.non_tensor_batch:
        alone = torch.from_numpy(lone_survivors(np.asarray(batch.non_tensor_batch["uid"]), skipped))
        batch.batch["advantages"][alone] = 0.0
        batch.batch["returns"][alone] = 0.0
    mask = batch.batch["response_mask"]
    batch.batch["response_mask"] = mask.masked_fill(torch.from_numpy(skipped).unsqueeze(-1), 0)
    logger.warning("%d of %d samples have no Receiver score: left out of this step's update", int(skipped.sum()), len(skipped))
    return int(skipped.sum())
