"""Running `persuasion-rl train` as a user would, in a fresh process, with clean-up
(see persuasion_rl.train.isolated: a private Ray temp dir per run, ended by pid)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from persuasion_rl.train.isolated import IsolatedRun, run_train

RUN_TIMEOUT_S = 600


def train(runs_root: Path, recipe: str, overrides: list[str], env: dict | None = None) -> IsolatedRun:
    run = run_train(runs_root, recipe, overrides, env=env, timeout_s=RUN_TIMEOUT_S)
    if run.returncode != 0:
        pytest.fail(f"`persuasion-rl train {recipe}` exited with {run.returncode}:\n{run.stdout[-6000:]}")
    return run


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
