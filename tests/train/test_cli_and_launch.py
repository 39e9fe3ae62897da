"""`persuasion-rl train --dry-run`, its errors, and the launch scripts' dry-run modes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from persuasion_rl.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSUASION_RL_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def _config_part(out: str) -> dict:
    return yaml.safe_load(out.split("# ---")[0])


def test_dry_run_prints_config_locations_and_command(capsys, tmp_path):
    assert main(["train", "tiny_cpu_grpo", "trainer.total_training_steps=3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    config = _config_part(out)
    assert config["trainer"]["total_training_steps"] == 3
    assert config["actor_rollout_ref"]["rollout"]["name"] == "hf"
    for place in ("run directory", "checkpoints", "metrics", "validation"):
        assert place in out
    command = out.split("# command\n")[1].splitlines()[0]
    assert command.startswith("env ") and "VERL_PLATFORM=cpu" in command and "-m persuasion_rl.train.entry" in command
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing


def test_dry_run_of_a_paper_recipe_lists_what_a_real_run_would_stop_on(capsys):
    assert main(["train", "paper_ppo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    config = _config_part(out)
    assert config["critic"]["model"]["path"] == "meta-llama/Llama-3.2-3B-Instruct"
    assert "# problems (a real run stops here)" in out and "GPU(s) but the run needs 4" in out


def test_a_real_run_stops_before_ray_on_a_bad_config(capsys):
    assert main(["train", "paper_grpo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("persuasion-rl: error: the training config has") and "GPU(s)" in err


def test_unknown_recipe(capsys):
    assert main(["train", "no_such_recipe"]) == 2
    assert "unknown recipe 'no_such_recipe'" in capsys.readouterr().err


def _launch(args: list[str], **env) -> str:
    full_env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    full_env.update({"DRY_RUN": "1", "PYTHON": sys.executable, **env})
    out = subprocess.run(args, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_single_node_and_recipe_scripts_dry_run():
    out = _launch(["launch/single_node.sh", "tiny_cpu_ppo", "trainer.total_training_steps=1"])
    assert _config_part(out)["algorithm"]["adv_estimator"] == "gae" and "# command" in out
    out = _launch(["recipes/paper_grpo/run.sh"])
    assert _config_part(out)["trainer"]["experiment_name"] == "paper_grpo"


def test_ray_cluster_script_dry_run():
    assert _launch(["launch/ray_cluster.sh", "head"], NUM_GPUS="4").strip() == "+ ray start --head --port 6379 --num-gpus 4 --dashboard-host 0.0.0.0"
    assert _launch(["launch/ray_cluster.sh", "worker", "10.0.0.1"]).strip() == "+ ray start --address 10.0.0.1:6379"
    # a loopback address where no Ray runs ("auto" would find any cluster started on this machine)
    out = _launch(["launch/ray_cluster.sh", "train", "paper_grpo"], NNODES="2", RAY_ADDRESS="127.0.0.1:1")
    config = _config_part(out)
    assert config["trainer"]["nnodes"] == 2 and config["ray_kwargs"]["ray_init"]["address"] == "auto"
    # the cluster's GPUs are Ray's to count: the dry run asks Ray (none runs here)
    assert "GPU(s) but the run needs" not in out and "no Ray cluster answers at 127.0.0.1:1" in out


def test_slurm_script_dry_run():
    # a loopback head on a closed port: the dry run's GPU count asks it and hears nothing
    out = _launch(["bash", "launch/slurm.sbatch", "trainer.total_training_steps=10"], RECIPE="paper_grpo",
                  DRY_RUN_NODES="n1 n2 n3", DRY_RUN_HEAD_IP="127.0.0.1", RAY_PORT="1")
    lines = [line for line in out.splitlines() if line.startswith("+ ")]
    assert lines[0].startswith("+ srun --nodes=1 --ntasks=1 -w n1 ray start --head --node-ip-address=127.0.0.1")
    assert "--num-cpus=32" in lines[0]
    assert sum("ray start --address=127.0.0.1:1" in line for line in lines) == 2  # n2, n3
    waits = [line for line in lines if "-m persuasion_rl.train.cluster" in line]
    assert [w.split("--nodes ")[1].split()[0] for w in waits] == ["1", "3"]  # the head, then every node
    assert lines.index(waits[1]) == len(lines) - 1  # training starts only after the last wait
    config = _config_part(out[out.index("actor_rollout_ref:"):]) if "actor_rollout_ref:" in out else {}
    assert config["trainer"]["nnodes"] == 3 and config["trainer"]["total_training_steps"] == 10
    assert config["ray_kwargs"]["ray_init"]["address"] == "127.0.0.1:1"
    assert "no Ray cluster answers at 127.0.0.1:1" in out


def test_export_of_a_folder_without_checkpoints_is_a_clear_error(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no checkpoints found" in capsys.readouterr().err


@pytest.mark.parametrize("full_save, says", [(False, "bfloat16"), (True, "float32 save of the whole model")])
def test_export_says_up_front_which_dtype_it_stores(monkeypatch, capsys, tmp_path, full_save, says):
    """issue 15.10: exports are bf16 from a float32 actor, said only after the merge; issue 12:
    a checkpoint with verl's hf_model save exports float32, and says so."""
    from types import SimpleNamespace

    from persuasion_rl.cli import main
    from persuasion_rl.train import export

    saved = tmp_path / "run" / "checkpoints" / "global_step_3" / "actor" / "huggingface"
    saved.mkdir(parents=True)
    if full_save:
        (saved / "model.safetensors").write_bytes(b"")
    order = []

    def fake_export(run_dir, out, step=None, verify=True):
        order.append(capsys.readouterr().out)  # what was printed before the merge started
        return SimpleNamespace(step=3, out_dir=out, max_logit_diff=None)

    monkeypatch.setattr(export, "export_checkpoint", fake_export)
    assert main(["export", str(tmp_path / "run"), "--out", "/tmp/never-written"]) == 0
    assert says in order[0] and "float32" in order[0]


def test_tiny_model_build_shows_progress(capsys):
    from persuasion_rl.assets.tiny import TinyModelSpec, build_model, build_tokenizer, format_prime

    tokenizer = build_tokenizer(512)
    format_prime(build_model(tokenizer, TinyModelSpec(), 0), tokenizer, 2, 0)
    assert "priming the tiny Receiver" in capsys.readouterr().err
