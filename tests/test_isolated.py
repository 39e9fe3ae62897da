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
