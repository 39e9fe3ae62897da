"""scripts/gpu_smoke.sh's logic on the CPU: the runs it composes pass every check for a GPU
machine (the GPU count is the only thing faked), it refuses without GPUs, and its result
checker finds what a run failed to write (a real tiny run's output passes it:
tests/e2e/test_dynamic_e2e.py)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from persuasion_rl.assets.tiny import build_tiny_models
from persuasion_rl.train import checks, smoke
from persuasion_rl.train.runner import plan_run
from persuasion_rl.train.tiny_data import TinyDataSpec, build_tiny_data, real_path
from persuasion_rl.verl_ext.agent_loop_manager import MANAGER_CLASS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def four_gpus(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(checks, "node_gpus", lambda config: ([4], "this machine"))


def test_the_trainer_pool_leaves_the_receiver_a_gpu_and_divides_the_step():
    assert [smoke.trainer_gpus(n) for n in (2, 3, 4, 5, 8)] == [1, 2, 2, 4, 4]
    with pytest.raises(smoke.SmokeError, match="needs 2, one for the trainer and one for the Receiver"):
        smoke.trainer_gpus(1)


def test_dry_run_composes_and_checks_both_paper_runs(tmp_path, capsys):
    assert smoke.main(["--dry-run", "--gpus", "4", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "# static: persuasion-rl train paper_grpo " in out and "# dynamic: persuasion-rl train paper_grpo_dynamic " in out
    assert "every run passes the checks" in out


def test_the_runs_are_the_paper_recipes_on_the_small_model(tmp_path):
    runs = smoke.plan_smoke("smollm2", None, 4, 2, tmp_path)
    for run in runs:
        config = plan_run(run.recipe, run.overrides).config
        smol = smoke.model_overrides("smollm2", None, run.setting)[0].split("=", 1)[1]
        assert config.actor_rollout_ref.model.path == config.reward.reward_model.model_path == smol
        assert config.actor_rollout_ref.rollout.name == config.reward.reward_model.rollout.name == "vllm"
        assert config.reward.reward_model.enable and config.reward.reward_model.enable_resource_pool
        assert (config.trainer.n_gpus_per_node, config.reward.reward_model.n_gpus_per_node) == (2, 1)
        assert config.trainer.total_training_steps == config.trainer.save_freq == config.trainer.test_freq == 2
        assert config.persuasion.receiver_prompt == config.persuasion.sender_prompt == "small-v1"
        assert config.run.prepare_real == "smollm2"
        game = config.persuasion  # the files train's preparation builds for these settings (runner._prepare_real)
        assert config.data.train_files == real_path("train", "smollm2", game.setting, game.sender_word_limit, game.receiver_word_limit,
                                                    game.min_digit_mass, game.receiver_prompt, game.sender_prompt)
        assert Path(config.run.dir) == run.run_dir
    dynamic = plan_run(runs[1].recipe, runs[1].overrides).config
    assert dynamic.persuasion.setting == "dynamic" and dynamic.actor_rollout_ref.rollout.agent.agent_loop_manager_class == MANAGER_CLASS


def test_a_model_folder_brings_data_exported_for_it(tmp_path):
    with pytest.raises(smoke.SmokeError, match="give --data DIR with static/ and dynamic/"):
        smoke.plan_smoke(str(tmp_path), None, 2, 2, tmp_path)
    sender = build_tiny_models().sender
    data = tmp_path / "data"
    for setting in ("static", "dynamic"):  # what `data export --out DIR/SETTING` writes: train.parquet, test.parquet
        files = build_tiny_data(TinyDataSpec(setting))
        (data / setting).mkdir(parents=True)
        shutil.copy(files["train"], data / setting / "train.parquet")
        shutil.copy(files["val"], data / setting / "test.parquet")
    for run in smoke.plan_smoke(str(sender), data, 2, 2, tmp_path / "runs"):
        plan = plan_run(run.recipe, run.overrides)
        assert plan.report.ok, plan.report.errors
        assert plan.config.data.train_files == str(data / run.setting / "train.parquet")
        # no measured defaults for an unnamed folder: the paper's prompts
        assert plan.config.persuasion.receiver_prompt == plan.config.persuasion.sender_prompt == "paper-v1"


def test_without_a_gpu_it_refuses_before_anything_starts():
    if smoke.gpu_problem() is None:
        pytest.skip("this machine has a CUDA GPU and vLLM")
    result = subprocess.run(["bash", str(REPO / "scripts/gpu_smoke.sh")], capture_output=True, text=True, cwd=REPO,
                            env={**__import__("os").environ, "PYTHON": __import__("sys").executable}, timeout=300)
    assert result.returncode == 2 and result.stderr.startswith("gpu_smoke: refused: no CUDA GPU is visible"), result.stderr


def _write_run(run_dir: Path, steps: dict[int, dict], checkpoint: int | None, validation: int | None) -> Path:
    (run_dir / "metrics").mkdir(parents=True)
    lines = [json.dumps({"step": step, "data": data}) for step, data in steps.items()]
    (run_dir / "metrics" / "launch-001.jsonl").write_text("\n".join(lines) + "\n")
    if checkpoint:
        (run_dir / "checkpoints" / f"global_step_{checkpoint}" / "actor").mkdir(parents=True)
        (run_dir / "checkpoints" / "latest_checkpointed_iteration.txt").write_text(str(checkpoint))
    if validation:
        (run_dir / "validation").mkdir()
        (run_dir / "validation" / f"{validation}.jsonl").write_text("{}\n")
    return run_dir


GOOD = {"timing_s/step": 3.0, "persuasion/gain/mean": 0.4, "persuasion/receiver_score/mean": 4.1,
        "persuasion/scored_samples": 16, "persuasion/turns_completed/mean": 3.0}


def test_the_checker_passes_a_complete_run_and_names_what_a_broken_one_lacks(tmp_path):
    assert smoke.check_run(_write_run(tmp_path / "good", {1: GOOD, 2: GOOD}, 2, 2), 2, "dynamic") == []
    broken = {1: {**GOOD, "persuasion/gain/mean": math.nan}, 2: {**GOOD, "persuasion/scored_samples": 0,
                                                                   "persuasion/turns_completed/mean": 0.0}}
    problems = smoke.check_run(_write_run(tmp_path / "bad", broken, None, None), 2, "dynamic")
    assert any(p.startswith("step 1: no real reward (persuasion/gain/mean=nan") for p in problems), problems
    assert any(p.startswith("step 2: no sample scored") for p in problems) and any("step 2: no Receiver turn" in p for p in problems)
    assert any("validation/2.jsonl is missing" in p for p in problems)
    assert any("no committed checkpoint of step 2" in p for p in problems) and any("global_step_2/actor is missing" in p for p in problems)
    short = smoke.check_run(_write_run(tmp_path / "short", {1: GOOD}, 1, 1), 2, "static")
    assert any("training steps [1], expected 1..2" in p for p in short), short
