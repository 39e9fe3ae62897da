"""The closing summary of a run, from files in the layout verl writes them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from persuasion_rl.train.summary import SummaryError, example_samples, format_summary, summarize_run

NAN = float("nan")


def _sample(claim: str, gain: float, prior: float = 3.0, missing: bool = False, retries: float = 0.0) -> dict:
    """One validation line as verl's _write_generations dumps it (reward extra info included)."""
    reply = "<thinking>t</thinking><argument>no tag here" if missing else f"<argument>Because {claim.lower()}</argument>"
    return {"input": f"user: convince them that {claim}", "output": reply, "gts": claim,
            "score": -1.0 if missing else gain, "step": 0, "gain": NAN if missing else gain,
            "receiver_score": NAN if missing else prior + gain, "prior_score": prior,
            "argument_missing": 1.0 if missing else 0.0, "receiver_ok": NAN if missing else 1.0,
            "receiver_parse_retries": retries, "argument_words": 0.0 if missing else 3.0}


def _write_run(run_dir: Path, validations: dict[int, list[dict]], train_gains: list[float]) -> Path:
    (run_dir / "validation").mkdir(parents=True)
    for step, samples in validations.items():
        # json.dumps writes NaN as verl's dump does (json.dumps default allow_nan)
        (run_dir / "validation" / f"{step}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (run_dir / "metrics").mkdir()
    lines = [json.dumps({"step": 0, "data": {"val-core/project/reward/mean@1": 0.0}})]  # val_before_train's line
    lines += [json.dumps({"step": step, "data": {"persuasion/gain/mean": gain}}) for step, gain in enumerate(train_gains, 1)]
    (run_dir / "metrics" / "launch-001.jsonl").write_text("\n".join(lines) + "\n")
    return run_dir


CLAIMS = ["Buses should be free.", "Museums should be free.", "Homework should be optional.", "Zoos do good."]


@pytest.fixture
def run_dir(tmp_path):
    first = [_sample(c, 0.0) for c in CLAIMS] + [_sample(CLAIMS[0], 0.0, missing=True)]
    last = [_sample(c, g, retries=1.0 if i == 3 else 0.0) for i, (c, g) in enumerate(zip(CLAIMS, [1.0, 0.5, 0.25, 0.5]))]
    return _write_run(tmp_path / "run", {0: first, 4: last, 2: first}, [0.0, 0.1, 0.3, 0.6])


def test_first_and_last_validation_with_cluster_intervals(run_dir):
    summary = summarize_run(run_dir)
    assert (summary.first.step, summary.last.step, summary.steps) == (0, 4, 4)
    assert summary.first.gain.mean == pytest.approx(0.0)
    assert summary.last.gain.mean == pytest.approx(0.5625) and summary.last.gain.n_clusters == 4
    assert summary.last.gain.low <= 0.5625 <= summary.last.gain.high and summary.last.gain.low > 0
    # the penalty reply counts in the reward (its claim's mean is (0 - 1) / 2), not in the gain
    assert summary.first.reward.mean == pytest.approx(-0.125)
    assert summary.first.rate("argument_missing") == (1, 5)
    assert summary.first.rate("readable", among="asked") == (4, 4)
    assert summary.last.rate("first_try", among="asked") == (3, 4)
    assert summary.train_gain == (0.0, 0.6)


def test_examples_are_the_most_median_and_least_persuasive(run_dir):
    examples = example_samples(summarize_run(run_dir).last)
    assert [e.gain for e in examples] == [1.0, 0.5, 0.25]
    assert examples[0].argument == "Because buses should be free."


def test_summary_text_names_what_a_researcher_reads(run_dir):
    text = format_summary(summarize_run(run_dir))
    assert "first validation (step 0, 5 replies)" in text and "last validation (step 4, 4 replies)" in text
    assert "95% CI [" in text and "+0.562" in text
    assert "readable Receiver scores                   4/4 (100%)   (first try 3/4 (75%))" in text
    assert "replies without an argument              1/5 (20%)" in text
    assert "claim: Buses should be free." in text and "Receiver: 3.00 -> 4.00 (gain +1.00)" in text


def test_a_run_without_validation_or_with_foreign_files_is_one_clear_error(tmp_path):
    with pytest.raises(SummaryError, match="no STEP.jsonl"):
        summarize_run(tmp_path)
    run = _write_run(tmp_path / "r", {0: [{"input": "x", "output": "y", "score": 1.0}]}, [])
    with pytest.raises(SummaryError, match=r"0.jsonl:1: validation sample lacks \['gts'"):
        summarize_run(run)


def test_an_unreadable_score_is_counted_not_hidden(tmp_path):
    unreadable = {**_sample(CLAIMS[0], 0.0), "receiver_score": NAN, "gain": NAN, "score": NAN, "receiver_ok": 0.0}
    run = _write_run(tmp_path / "r", {0: [unreadable, _sample(CLAIMS[1], 1.0)]}, [0.2])
    summary = summarize_run(run)
    assert summary.first.rate("readable", among="asked") == (1, 2)
    assert summary.first.gain.mean == 1.0 and not summary.first.gain.has_ci  # one scored claim: no interval
    assert math.isnan(summary.first.samples[0].gain)
    assert "one validation only" in format_summary(summary)


def test_summary_reports_reward_integrity_rising_over_the_run(tmp_path):
    run = _write_run(tmp_path / "run", {0: [_sample(c, 0.0) for c in CLAIMS], 4: [_sample(c, 0.5) for c in CLAIMS]},
                     [0.0, 0.1, 0.3, 0.6])
    echo = [0.0, 0.0, 0.25, 0.5]  # the Receiver echoing a score the Sender wrote, more each step
    lines = [json.dumps({"step": 0, "data": {"val-core/project/reward/mean@1": 0.0}})]
    lines += [json.dumps({"step": step, "data": {"persuasion/gain/mean": 0.1, "sender/receiver_echo_rate": rate,
                                                 "sender/injection_flagged_rate": 0.0}})
              for step, rate in enumerate(echo, 1)]
    (run / "metrics" / "launch-001.jsonl").write_text("\n".join(lines) + "\n")
    text = format_summary(summarize_run(run))
    assert "reward integrity over" in text
    echo_line = next(line for line in text.splitlines() if "echoing the Sender" in line)
    assert "0.0% ->  50.0%" in echo_line and "rising" in echo_line
    flagged_line = next(line for line in text.splitlines() if "flagged by the guard" in line)
    assert "rising" not in flagged_line


def test_summary_reports_the_reward_spread_grpo_learns_from(tmp_path):
    run = _write_run(tmp_path / "run", {0: [_sample(c, 0.0) for c in CLAIMS], 4: [_sample(c, 0.5) for c in CLAIMS]},
                     [0.0, 0.1])
    rows = [{"persuasion/gain/mean": 0.0, "persuasion/group/within_std": 0.02, "persuasion/group/between_std": 0.3,
             "persuasion/group/flat_share": 0.5},
            {"persuasion/gain/mean": 0.1, "persuasion/group/within_std": 0.04, "persuasion/group/between_std": 0.1,
             "persuasion/group/flat_share": 0.0}]
    lines = [json.dumps({"step": step, "data": row}) for step, row in enumerate(rows, 1)]
    (run / "metrics" / "launch-001.jsonl").write_text("\n".join(lines) + "\n")
    summary = summarize_run(run)
    assert summary.groups == pytest.approx({"within_std": 0.03, "between_std": 0.2, "flat_share": 0.25})
    line = next(line for line in format_summary(summary).splitlines() if line.startswith("reward spread"))
    assert "one claim's replies 0.030" in line and "between claims 0.200" in line and "one reward for all 25%" in line


def test_no_spread_line_without_group_metrics(run_dir):
    assert "reward spread" not in format_summary(summarize_run(run_dir))
