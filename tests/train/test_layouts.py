"""Every GPU layout the README, launch/README.md and the launch scripts document composes
and passes the project's checks and verl's own validate_config, on the machine it is
documented for; and the layouts verl would reject are caught before anything starts."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from persuasion_rl.assets.tiny import build_tiny_models
from persuasion_rl.train import checks
from persuasion_rl.train.cluster import Pool, placement_problem
from persuasion_rl.train.runner import plan_run

REPO = Path(__file__).resolve().parents[2]
DOCS = {name: (REPO / name).read_text() for name in ("README.md", "launch/README.md", "launch/slurm.sbatch")}

# (document, the command's text in it, recipe, overrides, GPUs per node of the machine it is for)
LAYOUTS = [
    ("README.md", "launch/single_node.sh paper_grpo", "paper_grpo", "", [4]),
    ("README.md", "RECIPE=paper_ppo sbatch launch/slurm.sbatch", "paper_ppo", "trainer.nnodes=1", [4]),
    ("README.md", "train paper_grpo trainer.nnodes=2", "paper_grpo", "trainer.nnodes=2", [4, 4]),
    ("launch/README.md", "launch/single_node.sh paper_grpo_dynamic      # 4 GPUs", "paper_grpo_dynamic", "", [4]),
    ("launch/README.md", "CUDA_VISIBLE_DEVICES=0,1,2,3 launch/single_node.sh\npaper_grpo_dynamic receiver=openai "
     "persuasion.receiver.endpoint=http://localhost:8001/v1\npersuasion.receiver.name=meta-llama/Llama-3.1-8B-Instruct "
     "trainer.n_gpus_per_node=4", "paper_grpo_dynamic", "receiver=openai persuasion.receiver.endpoint=http://localhost:8001/v1 "
     "persuasion.receiver.name=meta-llama/Llama-3.1-8B-Instruct trainer.n_gpus_per_node=4", [4]),
    ("launch/slurm.sbatch", "RECIPE=paper_grpo sbatch --nodes=2 launch/slurm.sbatch trainer.n_gpus_per_node=2 reward.reward_model.nnodes=2",
     "paper_grpo", "trainer.nnodes=2 trainer.n_gpus_per_node=2 reward.reward_model.nnodes=2", [4, 4]),
    ("launch/slurm.sbatch", "RECIPE=paper_grpo sbatch --nodes=2 launch/slurm.sbatch trainer.n_gpus_per_node=2 reward.reward_model.nnodes=2",
     "paper_ppo", "trainer.nnodes=2 trainer.n_gpus_per_node=2 reward.reward_model.nnodes=2", [4, 4]),
]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSUASION_RL_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def _machine(monkeypatch, gpus: list[int]) -> None:
    where = "this machine" if len(gpus) == 1 else "the Ray cluster"
    monkeypatch.setattr(checks, "node_gpus", lambda config: (list(gpus), where))


def _local_models_and_data(tmp_path, setting: str = "static") -> list[str]:
    """Models verl can read here (validate_config loads the critic's config) and the tiny
    RL rows of the setting: the layout is what is under test."""
    from persuasion_rl.train.tiny_data import TinyDataSpec, build_tiny_data, tiny_path

    sender = build_tiny_models().sender
    build_tiny_data(TinyDataSpec(setting, 250, 250))
    return [f"actor_rollout_ref.model.path={sender}", f"reward.reward_model.model_path={sender}",
            f"data.train_files={tiny_path('train', setting)}", f"data.val_files={tiny_path('val', setting)}"]


@pytest.mark.parametrize("document,text,recipe,overrides,gpus", LAYOUTS, ids=[f"{r}-{g}" for _, _, r, _, g in LAYOUTS])
def test_documented_layouts_pass_every_check(document, text, recipe, overrides, gpus, monkeypatch, tmp_path):
    assert text in DOCS[document], f"{document} no longer documents {text!r}: update LAYOUTS"
    _machine(monkeypatch, gpus)
    setting = "dynamic" if "dynamic" in recipe else "static"
    plan = plan_run(recipe, [*shlex.split(overrides), *_local_models_and_data(tmp_path, setting)])
    assert plan.report.ok, plan.report.errors


def test_a_layout_verl_rejects_is_caught_before_ray(monkeypatch, tmp_path):
    _machine(monkeypatch, [8])  # the old 8-GPU dynamic example: 16 samples over 6 trainer GPUs (+ 2 Receiver GPUs)
    plan = plan_run("paper_grpo_dynamic", ["trainer.n_gpus_per_node=6", *_local_models_and_data(tmp_path, "dynamic")])
    assert any("verl's validate_config rejects the config: real_train_batch_size (16) must be divisible" in e
               for e in plan.report.errors), plan.report.errors


def test_pools_that_do_not_fit_the_nodes_are_named(monkeypatch, tmp_path):
    _machine(monkeypatch, [4, 4])  # the old slurm example: 2 x 4 trainer GPUs + 2 Receiver GPUs
    plan = plan_run("paper_grpo", ["trainer.nnodes=2", "trainer.n_gpus_per_node=4", *_local_models_and_data(tmp_path)])
    assert any("has 8 GPU(s) (per node: [4, 4]) but the run needs 10" in e for e in plan.report.errors), plan.report.errors


def test_placement_follows_verls_one_bundle_per_node():
    trainer, receiver = Pool("trainer", 2, 2), Pool("receiver", 1, 2)
    assert placement_problem([4, 4], [trainer, receiver]) is None
    assert placement_problem([4], [Pool("trainer", 2, 1)]) == "trainer 2x1 needs 2 node(s) with GPUs, there are 1"
    assert "does not fit" in placement_problem([4, 2], [Pool("trainer", 2, 3)])
    assert placement_problem([8], [Pool("trainer", 1, 6), Pool("receiver", 1, 2)]) is None
    assert "does not fit" in placement_problem([8], [Pool("trainer", 1, 6), Pool("receiver", 1, 4)])


def test_use_v1_is_one_line_naming_the_trainer():
    plan = plan_run("tiny_cpu_grpo", ["trainer.use_v1=true"])
    [error] = [e for e in plan.report.errors if "use_v1" in e]
    assert "legacy trainer (RayPPOTrainer" in error and "\n" not in error


def test_the_senders_rollout_context_is_prompt_plus_response():
    config = plan_run("paper_grpo").config
    assert config.actor_rollout_ref.rollout.max_model_len == 2048 + 512
    dynamic = plan_run("paper_grpo_dynamic").config
    assert dynamic.actor_rollout_ref.rollout.max_model_len == 2048 + 3072
    plan = plan_run("paper_grpo", ["actor_rollout_ref.rollout.max_model_len=1024"])
    assert any("max_model_len=1024 is below prompt_length + response_length (2560)" in e for e in plan.report.errors)


def test_receiver_names_follow_absolute_and_home_paths(monkeypatch, tmp_path):
    home = tmp_path / "home"
    (home / "models" / "receiver").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    for given in ("models/receiver", "~/models/receiver"):
        config = plan_run("paper_grpo", [f"reward.reward_model.model_path='{given}'"]).config  # quoted: ~ is Hydra's delete
        absolute = str(home / "models" / "receiver")
        assert config.reward.reward_model.model_path == absolute
        # vLLM serves the model under its path: the name the reward function sends must be the same
        assert config.persuasion.receiver.name == absolute
        assert config.reward.custom_reward_function.reward_kwargs.receiver_model == absolute


@pytest.mark.parametrize("overrides,error", [
    (["reward.reward_model.enable=false"], "persuasion=dynamic has no Receiver: receiver=vllm is served by verl's reward loop"),
    (["reward.reward_model.enable_resource_pool=false"], "needs the Receiver on its own pool"),
    (["actor_rollout_ref.rollout.agent.agent_loop_manager_class=null"], "hands the agent loop the Receiver's router address"),
])
def test_a_dynamic_game_without_a_receiver_stops_before_any_gpu(overrides, error, monkeypatch, tmp_path):
    _machine(monkeypatch, [4])
    plan = plan_run("paper_grpo_dynamic", [*overrides, *_local_models_and_data(tmp_path, "dynamic")])
    assert any(error in e for e in plan.report.errors), plan.report.errors


def test_train_refuses_a_dynamic_game_without_its_receiver_before_ray(capsys):
    from persuasion_rl.cli import main

    assert main(["train", "tiny_cpu_grpo_dynamic", "actor_rollout_ref.rollout.agent.agent_loop_manager_class=null"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("persuasion-rl: error: the training config has") and "agent_loop_manager_class=" in err
