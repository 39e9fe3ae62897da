"""Running `persuasion-rl train` as a user would, in a fresh process, with clean-up
(see benchmarks/isolated.py: a private Ray temp dir per run, ended by pid)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.isolated import IsolatedRun, run_train

RUN_TIMEOUT_S = 600
# what every training step must log, finite (persuasion_rl.verl_ext.metrics)
PERSUASION_KEYS = (
    "persuasion/gain/mean", "persuasion/receiver_score/mean", "persuasion/prior_score/mean",
    "persuasion/argument_missing_rate", "persuasion/parse_failure_rate", "persuasion/argument_words/mean",
    "persuasion/scored_samples", *(f"persuasion/receiver_score/share_{p}" for p in range(1, 8)),
    *(f"persuasion/prior_score/share_{p}" for p in range(1, 8)),
)


def train(runs_root: Path, recipe: str, overrides: list[str], env: dict | None = None, watch=None) -> IsolatedRun:
    run = run_train(runs_root, recipe, overrides, env=env, timeout_s=RUN_TIMEOUT_S, watch=watch)
    if run.returncode != 0:
        pytest.fail(f"`persuasion-rl train {recipe}` exited with {run.returncode}:\n{run.stdout[-6000:]}")
    return run


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
