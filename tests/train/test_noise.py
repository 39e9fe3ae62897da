"""verl's irrelevant import-time warnings are filtered from a run's processes; ours stay."""

from __future__ import annotations

import subprocess
import sys

import pytest

from persuasion_rl.train import noise
from persuasion_rl.train.runner import plan_run


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSUASION_RL_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)


def _warnings_of(env_value: str) -> str:
    """stderr of a fresh process with the run's PYTHONWARNINGS that imports verl's engines
    and then warns in this project's name."""
    code = ("import warnings, verl.workers.engine\n"
            "warnings.warn('persuasion_rl: our own warning', UserWarning)\n")
    env = {"PYTHONWARNINGS": env_value, "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300).stderr


@pytest.mark.slow
def test_a_runs_processes_drop_verls_engine_warnings_but_not_ours():
    """issue 15.9: verl's log repeated torchtitan/veomni/megatron warnings per worker."""
    env = plan_run("tiny_cpu_grpo").env
    assert "ignore:torchtitan engine is not available" in env["PYTHONWARNINGS"]
    unfiltered = _warnings_of("")
    assert "engine is not available" in unfiltered  # verl still warns (else this test proves nothing)
    filtered = _warnings_of(env["PYTHONWARNINGS"])
    assert "engine is not available" not in filtered
    assert "persuasion_rl: our own warning" in filtered


def test_users_own_warning_filters_are_kept(monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "error::DeprecationWarning")
    assert noise.run_env()["PYTHONWARNINGS"].startswith("error::DeprecationWarning,ignore:")


def test_in_process_filter_matches_only_verls_messages():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        noise.silence_in_process()
        warnings.warn("megatron engine is not available: ImportError('x')")
        warnings.warn("the Receiver answered nothing")
    assert [str(w.message) for w in caught] == ["the Receiver answered nothing"]


@pytest.mark.parametrize("loggers", ["[console,wandb]", "[console]", "console"])
def test_the_metrics_file_is_written_with_any_logger_list(loggers):
    """issue 15.6: trainer.logger=[console,wandb] dropped the metrics file the banner announces."""
    plan = plan_run("tiny_cpu_grpo", [f"trainer.logger={loggers}"])
    assert "file" in list(plan.config.trainer.logger)
    assert any("added 'file'" in n for n in plan.notices)
    assert "file" in plan.locations()["metrics"]


def test_the_banner_says_cpu_ray_gpus_are_virtual():
    """issue 15.9: verl's `num_gpus: 2` on a CPU-only machine, explained up front."""
    assert "no GPU is used" in plan_run("tiny_cpu_grpo").locations()["ray gpus"]
