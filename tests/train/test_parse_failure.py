"""persuasion.parse_failure: `fail` and `skip` reach the reward; `skip` is for the static game."""

from __future__ import annotations

import pytest

from persuasion_rl.train.runner import plan_run
from persuasion_rl.verl_ext.reward import RewardSettings


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSUASION_RL_RUNS", str(tmp_path / "runs"))


def test_skip_reaches_the_reward_function():
    plan = plan_run("tiny_cpu_grpo", ["persuasion.parse_failure=skip"])
    kwargs = dict(plan.config.reward.custom_reward_function.reward_kwargs)
    assert RewardSettings.from_kwargs(kwargs).parse_failure == "skip"
    assert not [e for e in plan.report.errors if "parse_failure" in e]


def test_skip_in_the_dynamic_game_is_accepted_and_unknown_policies_are_clear_errors():
    dynamic = plan_run("tiny_cpu_grpo_dynamic", ["persuasion.parse_failure=skip"])
    assert not any("parse_failure" in e for e in dynamic.report.errors), dynamic.report.errors
    typo = plan_run("tiny_cpu_grpo", ["persuasion.parse_failure=zero"])
    assert any("persuasion.parse_failure='zero': expected one of fail, skip" in e for e in typo.report.errors)
