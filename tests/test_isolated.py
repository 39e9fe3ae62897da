"""The isolated-run helper's watcher, crash and timeout (on a plain `sleep`, no verl)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from benchmarks.isolated import RunHandle, _supervise, read_steps


def sleeper(tmp_path) -> RunHandle:
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    return RunHandle(tmp_path, process, temp_dir=str(tmp_path / "no-ray-here"), launches_before=0)


def test_a_watcher_crashes_the_run_with_sigkill(tmp_path):
    handle, calls = sleeper(tmp_path), []

    def crash_on_second_look(h: RunHandle) -> bool:
        calls.append(1)
        if len(calls) == 2:
            h.crash()
            return True
        return False

    _supervise(handle, crash_on_second_look, deadline=time.monotonic() + 30)
    assert handle.process.returncode == -signal.SIGKILL and handle.crashed and not handle.timed_out
    assert len(calls) == 2


def test_the_deadline_kills_a_run_that_hangs(tmp_path):
    handle = sleeper(tmp_path)
    started = time.monotonic()
    _supervise(handle, None, deadline=started + 0.3)
    assert handle.process.returncode == -signal.SIGKILL and handle.timed_out and not handle.crashed
    assert time.monotonic() - started < 5


def test_metrics_read_while_a_line_is_being_written(tmp_path):
    path = tmp_path / "launch-001.jsonl"
    path.write_text(json.dumps({"step": 1, "data": {"a": 1.0}}) + "\n" + '{"step": 2, "da')
    assert read_steps(path) == {1: {"a": 1.0}}  # the torn last line is left out (persuasion_rl.files)
    path.write_text(path.read_text() + "\n" + json.dumps({"step": 3, "data": {}}) + "\n")
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        read_steps(path)  # a bad line that is not the last is an error
    path.write_text(json.dumps({"step": 1, "data": {"a": 1.0}}) + "\n")
    (tmp_path / "metrics").mkdir()
    path.rename(tmp_path / "metrics" / path.name)
    handle = RunHandle(tmp_path, None, "", launches_before=0)
    assert handle.steps() == {1: {"a": 1.0}}
    assert RunHandle(tmp_path, None, "", launches_before=1).steps() == {}  # this launch has logged nothing yet


def test_the_run_folder_follows_an_experiment_name_override():
    from benchmarks.isolated import experiment_name

    assert experiment_name("smol_cpu_grpo", ["trainer.total_training_steps=2"]) == "smol_cpu_grpo"
    assert experiment_name("smol_cpu_grpo", ["trainer.experiment_name=pol_grpo", "x=1"]) == "pol_grpo"
    assert experiment_name("smol_cpu_grpo", ["trainer.experiment_name=a", "++trainer.experiment_name=b"]) == "b"


def test_run_train_says_when_it_killed_a_run_at_its_timeout(tmp_path):
    from benchmarks.isolated import run_train

    run = run_train(tmp_path, "tiny_cpu_grpo", [], timeout_s=0.5)  # killed while Python still imports
    assert run.timed_out and run.returncode == -signal.SIGKILL


def test_bench_train_step_reports_a_timed_out_run(tmp_path, monkeypatch, caplog):
    """A run past --timeout-s is named as timed out (it once printed only the run's last output)."""
    from benchmarks import bench_train_step
    from benchmarks.isolated import IsolatedRun

    passed = {}

    def fake_run_train(root, recipe, overrides, timeout_s):
        passed["timeout_s"] = timeout_s
        return IsolatedRun(tmp_path, "training steps: 3/5", -signal.SIGKILL, timeout_s, timed_out=True)

    monkeypatch.setattr(bench_train_step, "run_train", fake_run_train)
    with caplog.at_level("ERROR"):
        assert bench_train_step.main(["--models", "real", "--timeout-s", "120"]) == 1
    assert passed["timeout_s"] == 120
    assert "the receiver run (smol_cpu_grpo) timed out after 120 s (--timeout-s)" in caplog.text
