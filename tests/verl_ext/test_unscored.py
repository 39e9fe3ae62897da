"""parse_failure=skip in the trainer: unscored samples masked out of the update, and the
advantages recomputed by verl's own functions over the scored samples only (a small
DataProto, no Ray)."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.ppo import core_algos
from verl.trainer.ppo.ray_trainer import compute_advantage

from persuasion_rl.receivers.base import ReceiverError
from persuasion_rl.verl_ext.trainer import PersuasionPPOTrainer
from persuasion_rl.verl_ext.unscored import exclude_unscored, lone_survivors

NAN = math.nan
RESPONSE = 5
LENGTHS = [5, 3, 4, 2, 5, 5, 1, 4, 3, 5, 2, 4]


def make_batch(scores, receiver_ok, n=4, values=False) -> DataProto:
    """len(scores) replies, n per prompt, each score on its reply's last token (as verl places it)."""
    rows = len(scores)
    mask = torch.zeros(rows, RESPONSE)
    rewards = torch.zeros(rows, RESPONSE)
    for i, (length, score) in enumerate(zip(LENGTHS, scores)):
        mask[i, :length] = 1
        rewards[i, length - 1] = score
    tensors = {"response_mask": mask, "token_level_rewards": rewards, "token_level_scores": rewards.clone(),
               "advantages": torch.full((rows, RESPONSE), NAN), "returns": torch.full((rows, RESPONSE), NAN)}
    if values:
        tensors["values"] = torch.linspace(-0.5, 0.5, rows * RESPONSE).reshape(rows, RESPONSE)
    uids = np.array([f"prompt-{i // n}" for i in range(rows)], dtype=object)
    return DataProto.from_dict(tensors=tensors, non_tensors={"uid": uids, "receiver_ok": np.array(receiver_ok, dtype=object)})


GRPO = partial(compute_advantage, adv_estimator="grpo", num_repeat=4, norm_adv_by_std_in_grpo=True)
SCORES = [1.0, NAN, 0.5, 2.0, 0.0, 1.0, -1.0, 0.3, 1.5, 1.5, 0.2, -0.4]
OK = [1.0, 0.0, 1.0, 1.0, 1.0, 1.0, NAN, 1.0, 1.0, 1.0, 1.0, 1.0]  # row 1 unscored; row 6 penalised (not asked)


def grpo_reference(rows: list[int]) -> torch.Tensor:
    """verl's own GRPO advantages for the given rows alone."""
    batch = make_batch(SCORES, OK)
    subset = batch.select_idxs(np.array(rows))
    advantages, _ = core_algos.compute_grpo_outcome_advantage(
        subset.batch["token_level_rewards"], subset.batch["response_mask"], np.asarray(subset.non_tensor_batch["uid"]))
    return advantages


def test_an_unscored_reply_is_masked_and_left_out_of_its_groups_statistics():
    batch = make_batch(SCORES, OK)
    assert exclude_unscored(batch, GRPO, grouped=True) == 1
    mask, advantages = batch.batch["response_mask"], batch.batch["advantages"]
    assert mask[1].sum() == 0 and advantages[1].abs().sum() == 0 and batch.batch["returns"][1].abs().sum() == 0
    assert torch.isfinite(advantages).all()
    # group 0 normalised over its three scored replies only
    torch.testing.assert_close(advantages[[0, 2, 3]], grpo_reference([0, 2, 3]))
    # the other groups as verl computes them; the penalised reply (not asked) is a real reward
    torch.testing.assert_close(advantages[4:], grpo_reference(list(range(4, 12))))
    assert mask[6].sum() == LENGTHS[6]
    # every other mask untouched; the NaN score stays (never replaced by a plausible number)
    assert [int(mask[i].sum()) for i in range(12) if i != 1] == [LENGTHS[i] for i in range(12) if i != 1]
    assert math.isnan(batch.batch["token_level_scores"][1].sum())


def test_a_batch_without_skips_is_left_exactly_as_verl_made_it():
    scores = [s if not math.isnan(s) else 0.7 for s in SCORES]
    batch = GRPO(make_batch(scores, [1.0] * 12))
    before = {k: batch.batch[k].clone() for k in ("advantages", "returns", "response_mask")}
    assert exclude_unscored(batch, GRPO, grouped=True) == 0
    assert all(torch.equal(before[k], batch.batch[k]) for k in before)


def test_a_reply_left_alone_in_its_group_gets_no_advantage():
    """verl gives a group of one mean 0, std 1: its raw score would be its advantage."""
    ok = [1.0, 0.0, 0.0, 0.0, *[1.0] * 8]
    batch = make_batch([2.0, NAN, NAN, NAN, *SCORES[4:]], ok)
    assert exclude_unscored(batch, GRPO, grouped=True) == 3
    assert batch.batch["advantages"][0].abs().sum() == 0 and batch.batch["response_mask"][0].sum() == LENGTHS[0]
    uids = np.array(["a", "a", "b", "b", "c"], dtype=object)
    assert lone_survivors(uids, np.array([False, True, False, False, False])).tolist() == [True, False, False, False, False]


def test_a_step_with_no_score_at_all_fails():
    with pytest.raises(ReceiverError, match="none of the step's 12 samples"):
        exclude_unscored(make_batch([NAN] * 12, [0.0] * 12), GRPO, grouped=True)


def test_gae_is_recomputed_over_the_scored_replies():
    """PPO: GAE is per reply, but its whitening spans the batch; a NaN reward must not reach it."""
    gae = partial(compute_advantage, adv_estimator="gae", gamma=1.0, lam=1.0, config=OmegaConf.create({}))
    batch = gae(make_batch(SCORES, OK, values=True))
    assert torch.isnan(batch.batch["advantages"]).all()  # what verl's fit hands the update
    exclude_unscored(batch, gae, grouped=False)
    keep = [i for i in range(12) if i != 1]
    reference = gae(make_batch(SCORES, OK, values=True).select_idxs(np.array(keep)))
    torch.testing.assert_close(batch.batch["advantages"][keep], reference.batch["advantages"])
    torch.testing.assert_close(batch.batch["returns"][keep], reference.batch["returns"])
    assert torch.isfinite(batch.batch["advantages"]).all() and batch.batch["response_mask"][1].sum() == 0


def trainer(estimator: str) -> PersuasionPPOTrainer:
    """The trainer's hook alone, with the config fields it reads (no workers, no Ray)."""
    stub = object.__new__(PersuasionPPOTrainer)
    stub.config = OmegaConf.create({"algorithm": {"adv_estimator": estimator, "gamma": 1.0, "lam": 1.0,
                                                  "norm_adv_by_std_in_grpo": True},
                                    "actor_rollout_ref": {"rollout": {"n": 4}}})
    stub.global_steps = 7
    return stub


def test_the_trainer_excludes_once_per_step_with_verls_settings():
    stub = trainer("grpo")
    batch = GRPO(make_batch(SCORES, OK))
    stub._exclude_unscored(batch)  # the critic's update (PPO) ...
    first = batch.batch["advantages"].clone()
    batch.batch["advantages"][0] = 99.0
    stub._exclude_unscored(batch)  # ... then the actor's: the same step, not redone
    assert batch.batch["advantages"][0, 0] == 99.0
    torch.testing.assert_close(first[[0, 2, 3]], grpo_reference([0, 2, 3]))
    stub.global_steps = 8
    stub._exclude_unscored(make_batch(SCORES, OK))  # the next step is handled again
