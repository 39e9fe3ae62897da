"""The driver's progress bar follows the metrics file verl's file logger appends to."""

from __future__ import annotations

import json

from persuasion_rl.train.progress import MetricsProgress


def _line(step: int, data: dict) -> str:
    return json.dumps({"step": step, "data": data}) + "\n"


def test_the_bar_counts_global_steps_and_shows_gain_and_validation(tmp_path, capsys):
    metrics = tmp_path / "launch-001.jsonl"
    progress = MetricsProgress(metrics, total_steps=8, poll_s=60)
    with progress:
        progress.refresh()  # no file yet: nothing to show, no error
        assert progress._bar.n == 0
        metrics.write_text(_line(0, {"val-core/project/reward/mean@1": 0.125})
                           + _line(3, {"persuasion/gain/mean": 0.5, "persuasion/argument_missing_rate": 0.25})
                           + '{"step": 4, "da')  # a line being written
        progress.refresh()
        assert progress._bar.n == 3  # a resumed run's global step, not the lines of this launch
        shown = progress._bar.postfix
        assert "gain=+0.500" in shown and "no_arg=25%" in shown and "val_reward=+0.125@0" in shown
    assert "training steps" in capsys.readouterr().err


def test_without_a_step_count_the_bar_only_counts(tmp_path):
    metrics = tmp_path / "m.jsonl"
    metrics.write_text(_line(12, {"persuasion/gain/mean": 0.0}))
    with MetricsProgress(metrics, total_steps=None, poll_s=60) as progress:
        progress.refresh()
        assert progress._bar.n == 12 and progress._bar.total is None


def test_a_validation_with_no_scored_sample_shows_na_instead_of_crashing(tmp_path):
    # verl logs the mean over no scored sample as null (the first try of smol_cpu_grpo died here)
    metrics = tmp_path / "m.jsonl"
    metrics.write_text('{"step": 0, "data": {"val-core/project/reward/mean@1": null}}\n')
    with MetricsProgress(metrics, total_steps=8, poll_s=60) as progress:
        progress.refresh()
        assert "val_reward=n/a@0" in progress._bar.postfix
