"""The README's main recipe on the real small models, end to end and short: two GRPO steps
of the static game (SmolLM2-135M-Instruct against itself as verl's reward model) and two
of the dynamic game (the agent loop running the real Receiver between turns). What the
tiny models cannot show is asserted here: the Sender writes real arguments, the Receiver's
scores are readable, and the closing summary reads the run back.

Kept as short as verl allows (one launch each, 2 steps of 2 claims x 2 replies, the
validation of 4 claims only in the static run) because the whole CI must stay well under
45 minutes on 2 cores.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from .conftest import finite, train

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHORT = ["trainer.total_training_steps=2", "trainer.save_freq=-1", "actor_rollout_ref.rollout.n=2",
         "data.train_batch_size=2", "actor_rollout_ref.actor.ppo_mini_batch_size=2"]
STATIC = [*SHORT, "data.max_response_length=48", "trainer.test_freq=2", "trainer.val_before_train=false",
          "data.val_max_samples=4"]
# a budget that holds all three rounds with room: each Sender turn is cut at 32 tokens and each
# follow-up carrying the Receiver's 32-token reply back is ~110, so three rounds measured 274-316
# tokens (192 ended every game after round 2: truncated_rate 1.0, turns_completed 2.0, and one
# skipped game then failed the check at 1.75)
DYNAMIC = [*SHORT, "trainer.test_freq=-1", "trainer.val_before_train=false", "persuasion.sender_turn_tokens=32",
           "persuasion.receiver_reply_tokens=32", "data.max_response_length=384"]


@pytest.fixture(scope="module")
def real_models():
    from persuasion_rl.assets.models import named_model_path

    return named_model_path("smollm2")  # converted once from the installed wheel (cached)


@pytest.fixture(scope="module")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="prl-e2e-real-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _check_real_text(steps: dict[int, dict], samples_per_step: int, max_skipped: int = 0) -> None:
    assert sorted(steps) == [1, 2]
    for step, metrics in steps.items():
        # every reply was read by the Receiver and got a readable score on the first try (the
        # dynamic game: all but ``max_skipped`` of them; a skipped one is counted, never scored)
        skipped = metrics.get("receiver/skipped", 0.0)
        assert skipped <= max_skipped, (step, skipped)
        assert metrics["persuasion/scored_samples"] == samples_per_step - skipped, (step, metrics["persuasion/scored_samples"])
        assert metrics.get("persuasion/parse_failure_rate", 0.0) <= max_skipped / samples_per_step
        assert 1.0 <= metrics["persuasion/receiver_score/mean"] <= 7.0
        # a real Sender writes words (the random tiny one wrote byte noise), and every reply is an argument
        assert metrics["persuasion/argument_words/mean"] >= 5, metrics["persuasion/argument_words/mean"]
        assert metrics["persuasion/argument_missing_rate"] == 0.0
        assert finite(metrics["persuasion/gain/mean"])


def test_static_grpo_on_real_models_writes_arguments_with_readable_scores(real_models, workdir):
    run = train(workdir / "static", "smol_cpu_grpo", STATIC)
    _check_real_text(run.steps(0), samples_per_step=4)
    assert "=== persuasion summary" in run.stdout
    from persuasion_rl.train.summary import summarize_run

    last = summarize_run(run.run_dir).last
    assert last.step == 2 and last.n == 4
    readable, asked = last.rate("readable", among="asked")
    assert asked == 4 and readable == 4
    assert all(len(sample.argument.split()) >= 5 for sample in last.samples)


def test_dynamic_grpo_on_real_models_plays_every_round(real_models, workdir):
    run = train(workdir / "dynamic", "smol_cpu_grpo_dynamic", DYNAMIC)
    steps = run.steps(0)
    _check_real_text(steps, samples_per_step=4, max_skipped=1)  # 12 Receiver turns a step: one may dip under 0.5
    for step, metrics in steps.items():
        # every scored game played all three rounds, the Receiver answering between turns (a
        # skipped game stopped at its unreadable turn and counts what it scored before)
        assert metrics["persuasion/truncated_rate"] == 0.0, (step, metrics["persuasion/truncated_rate"])
        scored = metrics["persuasion/scored_samples"]
        assert 4 * metrics["persuasion/turns_completed/mean"] >= 3 * scored, (step, metrics["persuasion/turns_completed/mean"], scored)
        assert all(finite(metrics.get(f"persuasion/gain_round_{i}/mean")) for i in (1, 2, 3)), step
