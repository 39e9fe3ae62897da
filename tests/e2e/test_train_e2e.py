"""verl's real trainer on this CPU, end to end: GRPO and PPO on the tiny Sender against the
tiny Receiver served as verl's reward model.

Per algorithm, two launches share a run directory (4 Ray start-ups in all, ~4-5 min):
1. 2 steps with validation and a checkpoint at step 2; 8 training claims at batch 4, so
   step 2 ends an epoch (verl PR #5725: a checkpoint saved at an epoch boundary resumed
   into 0 steps);
2. the same recipe with total_training_steps=3: it must resume from step 2 and run step 3.
Then the step-3 checkpoint is exported with verl's merger and compared with the actor.
PPO runs on two ranks (world size 2 over gloo), GRPO on one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from persuasion_rl.train.export import ExportError, export_checkpoint

from .conftest import PERSUASION_KEYS, finite, train

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIRST = ["data.train_max_samples=8", "trainer.total_training_steps=2", "trainer.save_freq=2", "trainer.test_freq=2"]
RESUME = ["data.train_max_samples=8", "trainer.total_training_steps=3", "trainer.save_freq=1", "trainer.test_freq=-1"]


@pytest.fixture(scope="module")
def workdir():
    # not pytest's tmp_path: other pytest sessions on the machine rotate those away
    path = Path(tempfile.mkdtemp(prefix="prl-e2e-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _two_launches(workdir: Path, recipe: str, first_extra=(), env=None, resume_extra=()):
    runs = workdir / recipe
    first = train(runs, recipe, [*FIRST, *first_extra], env=env)
    second = train(runs, recipe, [*RESUME, *resume_extra])
    return first, second


@pytest.fixture(scope="module")
def grpo(workdir, tiny_assets):
    # W&B with no key: must fall back to offline, not fail
    return _two_launches(workdir, "tiny_cpu_grpo", ["trainer.logger=[console,file,wandb]"],
                         env={"NETRC": "/nonexistent-netrc"})


# PPO runs on two (gloo) ranks: two rollout replicas, sharded checkpoints, a 2-shard export
TWO_RANKS = ["trainer.n_gpus_per_node=2", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
             "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
             "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4", "critic.ppo_micro_batch_size_per_gpu=4"]


# verl also saves the whole model at each checkpoint (float32, gathered from both ranks):
# the export takes it instead of the merger's bfloat16 (persuasion_rl.train.export.merge)
FULL_SAVE = ["actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]"]


@pytest.fixture(scope="module")
def ppo(workdir, tiny_assets):
    return _two_launches(workdir, "tiny_cpu_ppo", [*TWO_RANKS, *FULL_SAVE], resume_extra=[*TWO_RANKS, *FULL_SAVE])


def _check_training(first, second, roles=("actor",)):
    steps = first.steps(0)
    assert sorted(steps) == [1, 2]
    for step, metrics in steps.items():
        missing = [k for k in PERSUASION_KEYS if k not in metrics]
        assert not missing, f"step {step} lacks {missing}"
        bad = {k: metrics[k] for k in PERSUASION_KEYS if not finite(metrics[k])}
        assert not bad, f"step {step}: non-finite persuasion metrics {bad}"
        assert sum(metrics[f"persuasion/receiver_score/share_{p}"] for p in range(1, 8)) == pytest.approx(1.0)
        assert 1.0 <= metrics["persuasion/receiver_score/mean"] <= 7.0
        # the rollout server samples with the actor's weights (pushed after every update)
        assert metrics["training/rollout_probs_diff_mean"] < 1e-3
    # validation at the last step, scored by the Receiver through verl's reward loop
    assert "val-core/tiny/reward/mean@1" in steps[2]
    checkpoints = first.run_dir / "checkpoints"
    for role in roles:
        assert (checkpoints / "global_step_2" / role).is_dir()
    # the resumed launch continues from the step-2 checkpoint, at the epoch boundary
    resumed = second.steps(-1)
    assert sorted(resumed) == [3], "resume must run exactly the one remaining step"
    assert resumed[3]["training/epoch"] == steps[2]["training/epoch"] + 1  # a new epoch, not 0 steps
    assert all(finite(resumed[3][k]) for k in PERSUASION_KEYS)
    assert "Resuming from" in second.stdout or "Load from checkpoint" in second.stdout
    assert (checkpoints / "latest_checkpointed_iteration.txt").read_text().strip() == "3"
    for role in roles:
        assert (checkpoints / "global_step_3" / role).is_dir()


def _check_export(run_dir, out_dir):
    result = export_checkpoint(run_dir, out_dir)
    assert result.step == 3 and result.tied_embeddings  # the tiny Sender ties its embeddings, as Llama-3.2-3B does
    assert result.max_logit_diff <= 1e-4
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(result.out_dir)
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    return result


def test_grpo_trains_resumes_and_logs_persuasion_metrics(grpo):
    first, second = grpo
    _check_training(first, second)
    assert "W&B: no API key" in first.stdout
    # the closing summary read the step-2 validation back (persuasion_rl/train/summary.py)
    assert "=== persuasion summary" in first.stdout and "first validation (step 2, 4 replies)" in first.stdout
    offline_runs = list((first.run_dir / "wandb").glob("offline-run-*"))
    assert offline_runs, "W&B must log offline without a key"
    # the validation transcripts (prompt, Sender reply, reward) went to W&B as a table
    tables = [t for run in offline_runs for t in run.glob("files/media/table/val/generations_*.table.json")]
    assert tables and json.loads(tables[0].read_text())["columns"][:4] == ["step", "input_1", "output_1", "score_1"]


def test_grpo_export_matches_the_trained_actor(grpo, workdir):
    first, _ = grpo
    result = _check_export(first.run_dir, workdir / "grpo-export")
    # no full save in this checkpoint: verl's merger, which stores bfloat16
    assert result.stored_dtype == "bfloat16" and result.rounding_diff > result.max_logit_diff
    older = export_checkpoint(first.run_dir, workdir / "grpo-export-step2", step=2)
    assert older.step == 2


def test_export_check_catches_an_untied_head(grpo, workdir):
    """What verl PR #6334 fixed: an export whose head is not tied to its embeddings."""
    first, _ = grpo
    good = _check_export(first.run_dir, workdir / "grpo-export-2")
    from persuasion_rl.train.export import actor_dir, check_export

    broken = workdir / "broken"
    shutil.copytree(good.out_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["tie_word_embeddings"] = False
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError):
        check_export(actor_dir(first.run_dir)[1], broken)


def test_ppo_trains_resumes_and_exports(ppo, workdir):
    first, second = ppo
    _check_training(first, second, roles=("actor", "critic"))
    steps = first.steps(0)
    assert all(finite(steps[s]["critic/vf_loss"]) for s in steps)
    assert (first.run_dir / "checkpoints" / "global_step_2" / "actor" / "model_world_size_2_rank_1.pt").is_file()
    result = _check_export(first.run_dir, workdir / "ppo-export")
    # verl's float32 save, not the merger's bfloat16: the export is the actor itself
    assert result.stored_dtype == "float32" and result.rounding_diff <= 1e-4

