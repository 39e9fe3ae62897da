"""The dynamic game (3 rounds) through verl's real GRPO trainer on this CPU: the project's
agent loop plays Sender turns through verl's rollout server and asks the tiny Receiver
between turns — verl's reward model, served under Ray on its own pool behind verl's router
(the code path of vLLM replicas on GPUs) — and returns the final gain as the reward."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest

from persuasion_rl.train.smoke import check_run

from .conftest import finite, train

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def dynamic_run(tiny_assets):
    workdir = Path(tempfile.mkdtemp(prefix="prl-e2e-dyn-"))
    run = train(workdir / "dyn", "tiny_cpu_grpo_dynamic",
                ["data.train_max_samples=8", "trainer.total_training_steps=2", "trainer.save_freq=2", "trainer.test_freq=2",
                 f"trainer.rollout_data_dir={workdir / 'rollouts'}"])  # verl's per-sample dump: one file per step
    run.extra["rollouts"] = [json.loads(line) for path in sorted((workdir / "rollouts").glob("*.jsonl"))
                             for line in path.read_text().splitlines()]
    yield run
    shutil.rmtree(workdir, ignore_errors=True)


def _ended_by_the_sender(sample: dict) -> bool:
    """A Sender turn with no argument ends the game (under missing_argument raw: a reply with
    nothing left to score, e.g. only whitespace); its last round then has no words."""
    words = sample["argument_words"]
    return words is None or math.isnan(words)


def test_two_grpo_steps_of_the_dynamic_game(dynamic_run):
    steps = dynamic_run.steps(0)
    assert sorted(steps) == [1, 2]
    for step, metrics in steps.items():
        keys = ["persuasion/gain/mean", "persuasion/turns_completed/mean", "persuasion/truncated_rate",
                "sender/injection_flags", *(f"persuasion/gain_round_{i}/mean" for i in (1, 2, 3))]
        assert all(k in metrics and finite(metrics[k]) for k in keys), {k: metrics.get(k) for k in keys}
        # the budget fits three rounds: no game is cut by it
        assert metrics["persuasion/truncated_rate"] == 0.0
        # the final gain is the last round's
        assert metrics["persuasion/gain/mean"] == pytest.approx(metrics["persuasion/gain_round_3/mean"])
        # Sender tokens carry rollout log-probs and Receiver tokens are masked: a wrong mask
        # pushes this metric towards 1 (docs/cpu_support.md)
        assert metrics["training/rollout_probs_diff_max"] < 1e-3
        # the Receiver's costs are counted per sample, as in the static game: re-asks for an
        # unreadable score, and the HTTP client's retries (none: the served Receiver is healthy)
        calls = ["persuasion/parse_failure_rate", "receiver/retries", "receiver/timeouts", "receiver/errors"]
        assert all(k in metrics and finite(metrics[k]) for k in calls), {k: metrics.get(k) for k in calls}
        assert 0.0 <= metrics["persuasion/parse_failure_rate"] <= 1.0
        assert metrics["receiver/retries"] == metrics["receiver/timeouts"] == metrics["receiver/errors"] == 0.0
    # every game is played to its end unless the Sender ended it with an empty turn (rare with a
    # sampled Sender: none in 1,792 sampled first turns); per sample, so a failure names the game
    samples = dynamic_run.extra["rollouts"]
    assert len(samples) == 16, len(samples)
    summary = [{k: sample[k] for k in ("step", "turns_completed", "truncated", "argument_words")} for sample in samples]
    assert all(sample["truncated"] == 0.0 for sample in samples), summary
    assert all(sample["turns_completed"] == 3.0 or _ended_by_the_sender(sample) for sample in samples), summary
    assert sum(map(_ended_by_the_sender, samples)) <= 1, summary
    assert (dynamic_run.run_dir / "checkpoints" / "global_step_2" / "actor").is_dir()
    assert check_run(dynamic_run.run_dir, 2, "dynamic") == []  # what scripts/gpu_smoke.sh checks on GPUs


def test_the_receiver_is_the_reward_model_verl_serves_under_ray(dynamic_run):
    """No server started by hand and none loaded in the agent loop: the manager found verl's
    reward-model router, and the Receiver's replica answered there."""
    [line] = [line for line in dynamic_run.stdout.splitlines() if "dynamic game: the Receiver is verl's reward model" in line]
    assert "behind its router at http://" in line and "tiny" in line
