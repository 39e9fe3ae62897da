"""Config checks that catch an empty dataloader before verl does (issue 15.3, 15.10)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from persuasion_rl.train.checks import check_config
from persuasion_rl.train.runner import plan_run


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSUASION_RL_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def write_prompts(path: Path, words: list[int]) -> Path:
    rows = [{"prompt": [{"role": "user", "content": " ".join(["persuade"] * n)}], "data_source": "t"} for n in words]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def plan_with(tmp_path: Path, tiny_assets, train_words: list[int], *extra: str):
    train = write_prompts(tmp_path / "train.parquet", train_words)
    val = write_prompts(tmp_path / "val.parquet", [5, 5])
    return plan_run("tiny_cpu_grpo", [f"data.train_files={train}", f"data.val_files={val}",
                                      f"actor_rollout_ref.model.path={tiny_assets.sender}", *extra])


def test_prompts_over_the_limit_that_empty_the_dataloader_are_an_error_with_the_fix(tmp_path, tiny_assets):
    """16 of 18 prompts over data.max_prompt_length left verl with batch_size=0."""
    plan = plan_with(tmp_path, tiny_assets, [5, 5] + [900] * 16)
    report = check_config(plan.config, data_ready=True)
    errors = "\n".join(report.errors)
    assert "data.train_files: 16 of 18 prompts are longer than data.max_prompt_length=512 Sender tokens" in errors
    assert "leaving 2, fewer than one batch of 4" in errors
    longest = int(errors.split("(longest ")[1].split(")")[0])
    assert longest > 512 and f"set data.max_prompt_length={longest}" in errors
    # the override it names fixes it
    fixed = check_config(plan_with(tmp_path, tiny_assets, [5, 5] + [900] * 16, f"data.max_prompt_length={longest}").config,
                         data_ready=True)
    assert not [e for e in fixed.errors if "prompts" in e], fixed.errors


def test_a_few_long_prompts_are_a_warning(tmp_path, tiny_assets):
    report = check_config(plan_with(tmp_path, tiny_assets, [5] * 6 + [900]).config, data_ready=True)
    assert not [e for e in report.errors if "prompts" in e]
    assert any("1 of 7 prompts are longer" in w and "trains on 6" in w for w in report.warnings)


def test_too_few_rows_for_one_batch_is_an_error(tmp_path, tiny_assets):
    report = check_config(plan_with(tmp_path, tiny_assets, [5, 5]).config, data_ready=True)
    assert any("it holds 2 prompts, fewer than one batch of 4" in e for e in report.errors)


@pytest.mark.parametrize("value", ["null", "[]"])
def test_dry_run_names_an_unset_train_files(value, capsys):
    """`train --dry-run` missed an unset data.train_files (the tiny recipes build their data later)."""
    from persuasion_rl.cli import main

    assert main(["train", "tiny_cpu_grpo", f"data.train_files={value}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "# problems (a real run stops here)" in out and "data.train_files is not set" in out
