"""Fails loudly when a verl upgrade breaks one of the CPU workarounds or extension hooks.

Each test names the verl symbol the project relies on and checks that it still exists
with the signature and behaviour ``persuasion_rl.verl_ext`` assumes. These are verl's
internal contracts (private registry, rollout server method set, TokenOutput, TaskRunner
hooks): expect small edits here on verl minor releases, and review the matching module
of ``persuasion_rl/verl_ext`` when one fails.
"""

from __future__ import annotations

import inspect
import re

import pytest
import verl

VERL = f"verl {verl.__version__}"


def params(func) -> list[str]:
    # Ray adds _ray_trace_ctx to the methods of classes it makes actors of
    return [p for p in inspect.signature(func).parameters if p not in ("self", "cls", "_ray_trace_ctx")]


def source(obj) -> str:
    return inspect.getsource(obj)


def test_verl_version_is_the_pinned_one():
    # not a contract in itself: it says which verl the checks below were written against
    assert verl.__version__ == "0.9.1", f"{VERL}: review persuasion_rl/verl_ext against this release"


# ---- platform (cpu_platform.py, bootstrap.py) -----------------------------------------


def test_platform_registry_and_base_class():
    from verl.plugin.platform import PlatformBase, PlatformRegistry, get_platform

    from persuasion_rl.verl_ext.cpu_platform import PlatformCPU

    assert params(PlatformRegistry.register) == ["platform"], VERL
    assert callable(PlatformRegistry.get) and callable(get_platform)
    missing = sorted(PlatformBase.__abstractmethods__ - set(vars(PlatformCPU)))
    assert not missing, f"{VERL}: PlatformBase gained abstract methods PlatformCPU lacks: {missing}"
    PlatformCPU()  # instantiable: no abstract method left


def test_platform_selected_by_env_and_external_modules_imported_by_verl_init():
    import verl.plugin.platform.platform_manager as manager

    assert 'os.environ.get("VERL_PLATFORM"' in source(manager._detect_platform_name), VERL
    init_source = open(verl.__file__).read()
    assert 'os.getenv("VERL_USE_EXTERNAL_MODULES"' in init_source and "import_external_libs" in init_source, VERL


def test_device_helpers_delegate_to_the_platform():
    from verl.utils import device

    for name, call in (("get_device_id", "current_device()"), ("get_nccl_backend", "communication_backend_name()"),
                       ("get_resource_name", "ray_resource_name()"), ("get_torch_device", "device_module")):
        assert call in source(getattr(device, name)), f"{VERL}: verl.utils.device.{name} no longer uses the platform"


def test_engine_device_override_picks_the_fsdp_engine():
    from verl.workers.engine.base import EngineRegistry

    assert 'os.getenv("VERL_ENGINE_DEVICE")' in source(EngineRegistry.get_engine_cls), VERL
    import verl.workers.engine  # noqa: F401  (registers the engines)

    for model_type in ("language_model", "value_model"):
        assert "cuda" in EngineRegistry._engines[model_type]["fsdp2"] or ("cuda", "nvidia") in EngineRegistry._engines[model_type]["fsdp2"]


# ---- process group (patches.patch_gloo_process_group) ---------------------------------


def test_process_group_helper_is_what_every_trainers_workers_call():
    import importlib

    import verl.utils.distributed as distributed
    from verl.workers.engine_workers import TrainingWorker

    from persuasion_rl.verl_ext.patches import PROCESS_GROUP_CALLERS, PROCESS_GROUP_SIGNATURE

    helper = inspect.unwrap(distributed.initialize_global_process_group_ray)  # this process may hold the patch
    assert tuple(params(helper)) == PROCESS_GROUP_SIGNATURE, VERL
    # the default backend string the patch replaces, and the no-op once a group exists
    assert 'backend = backend or f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"' in source(helper), VERL
    assert "is_initialized()" in source(helper), VERL
    # the wrapped symbol: imported by name into the module whose workers call it
    for name in PROCESS_GROUP_CALLERS:
        module = importlib.import_module(name)
        assert inspect.unwrap(module.initialize_global_process_group_ray) is helper, f"{VERL}: {name} lost the helper"
    assert "initialize_global_process_group_ray(timeout_second=None)" in source(TrainingWorker.__init__), VERL
    callers = [path for path in _verl_sources() if "initialize_global_process_group_ray(" in path.read_text(encoding="utf-8")
               and path.name != "distributed.py"]
    unpatched = [str(path) for path in callers if _module_name(path) not in PROCESS_GROUP_CALLERS
                 and 'backend="cpu:gloo"' not in path.read_text(encoding="utf-8")]
    assert not unpatched, f"{VERL}: new callers of initialize_global_process_group_ray: add them to PROCESS_GROUP_CALLERS"


def _verl_sources():
    from pathlib import Path

    return sorted(Path(verl.__file__).parent.rglob("*.py"))


def _module_name(path) -> str:
    from pathlib import Path

    relative = path.relative_to(Path(verl.__file__).parent.parent).with_suffix("")
    return ".".join(relative.parts)


def test_task_runner_hooks():
    from verl.trainer.main_ppo import run_ppo
    from verl.trainer.main_ppo_v0 import BaseTaskRunner
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer, Role

    assert params(run_ppo) == ["config", "task_runner_class"], VERL
    for method in ("add_actor_rollout_worker", "add_critic_worker", "add_reward_model_resource_pool",
                   "add_teacher_model_resource_pool", "init_resource_pool_mgr"):
        assert params(getattr(BaseTaskRunner, method)) == ["config"], f"{VERL}: BaseTaskRunner.{method}"
    assert {"ActorRollout", "ActorRolloutRef", "Critic"} <= set(Role.__members__), VERL
    trainer_args = params(RayPPOTrainer.__init__)
    for name in ("config", "tokenizer", "processor", "role_worker_mapping", "resource_pool_manager",
                 "ray_worker_group_cls", "train_dataset", "val_dataset", "collate_fn", "train_sampler"):
        assert name in trainer_args, f"{VERL}: RayPPOTrainer.__init__ lost {name}"
    # per-step persuasion metrics ride on the actor update's reduced metrics (trainer.py)
    assert params(RayPPOTrainer._update_actor) == ["batch"], VERL
    fit = source(RayPPOTrainer.fit)
    assert 'actor_output = self._update_actor(batch)' in fit and 'reduce_metrics(actor_output.meta_info["metrics"])' in fit, VERL


def test_unscored_samples_can_be_excluded_between_advantages_and_updates():
    """parse_failure=skip (unscored.py): fit computes the advantages, puts the reward's columns
    in non_tensor_batch, then hands the same batch to _update_critic / _update_actor."""
    from verl import DataProto
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer, compute_advantage

    assert params(RayPPOTrainer._update_critic) == ["batch"], VERL
    assert params(compute_advantage)[:7] == ["data", "adv_estimator", "gamma", "lam", "num_repeat",
                                             "norm_adv_by_std_in_grpo", "config"], VERL
    assert "select_idxs" in vars(DataProto), VERL
    fit = source(RayPPOTrainer.fit)
    order = [fit.index(s) for s in ("batch.non_tensor_batch.update({k: np.array(v) for k, v in reward_extra_infos_dict",
                                     "batch = compute_advantage(", "self._update_critic(batch)", "self._update_actor(batch)")]
    assert order == sorted(order), VERL


# ---- rollout backend (hf_rollout.py) ----------------------------------------------------


def test_rollout_replica_registry_and_replica_base():
    from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry, get_rollout_replica_class

    assert params(RolloutReplicaRegistry.register) == ["name", "loader"], VERL
    assert params(get_rollout_replica_class)[0] == "rollout", VERL
    assert RolloutReplica.__abstractmethods__ == frozenset({"launch_servers"}), VERL
    assert params(RolloutReplica.__init__) == ["replica_rank", "config", "model_config", "gpus_per_node",
                                               "is_reward_model", "is_teacher_model", "name_suffix"], VERL
    for attribute in ("_server_handle", "_server_address", "servers", "workers"):
        assert f"self.{attribute}" in source(RolloutReplica.__init__), f"{VERL}: RolloutReplica.{attribute}"


def _server_calls(*objects) -> set[str]:
    """Methods verl calls on rollout server actors: ``server(s)...X.remote(``."""
    calls = set()
    for obj in objects:
        calls |= set(re.findall(r"(?:server|servers\[0\]|server_handle|_server_handle)\.(\w+)\.remote\(", source(obj)))
    return calls


def test_hf_server_implements_every_method_verl_calls():
    from verl.checkpoint_engine.base import CheckpointEngineManager
    from verl.workers.rollout import llm_server, replica

    from persuasion_rl.verl_ext.hf_rollout import HFRolloutServer

    called = _server_calls(replica.RolloutReplica, llm_server.LLMServerClient, CheckpointEngineManager)
    assert "generate" in called, VERL
    missing = sorted(name for name in called if not hasattr(HFRolloutServer, name))
    assert not missing, f"{VERL}: verl now calls {missing} on rollout servers; add them to HFRolloutServer"


def test_generate_call_and_token_output():
    from verl.workers.rollout.llm_server import LLMServerClient
    from verl.workers.rollout.replica import TokenOutput

    from persuasion_rl.verl_ext.hf_rollout import HFRolloutServer

    call = source(LLMServerClient.generate)
    for keyword in ("request_id=", "prompt_ids=prompt_ids", "sampling_params=sampling_params", "image_data=", "video_data="):
        assert keyword in call, f"{VERL}: LLMServerClient.generate no longer passes {keyword}"
    ours = inspect.signature(HFRolloutServer.generate).parameters
    assert {"prompt_ids", "sampling_params", "request_id", "image_data", "video_data"} <= set(ours)
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours.values())
    fields = set(TokenOutput.model_fields)
    assert {"token_ids", "log_probs", "stop_reason", "extra_fields"} <= fields, VERL
    assert 'output.extra_fields.get("global_steps")' in call, VERL


def test_worker_side_adapter_registry_is_still_the_private_dict():
    from verl.workers.rollout import base

    from persuasion_rl.verl_ext import bootstrap
    from persuasion_rl.verl_ext.hf_rollout import HFServerAdapter

    assert isinstance(base._ROLLOUT_REGISTRY, dict) and ("vllm", "async") in base._ROLLOUT_REGISTRY, VERL
    assert "_ROLLOUT_REGISTRY[(rollout_name, mode)]" in source(base.get_rollout_class), VERL
    assert base.BaseRollout.__abstractmethods__ == frozenset({"resume", "update_weights", "release"}), VERL
    assert not HFServerAdapter.__abstractmethods__
    bootstrap.register_hf_rollout()
    assert base.get_rollout_class("hf", "async") is HFServerAdapter


def test_weight_push_and_adapter_construction_calls():
    from verl.checkpoint_engine.base import CheckpointEngineWorker
    from verl.workers.engine_workers import ActorRolloutRefWorker

    push = source(ActorRolloutRefWorker.update_weights)
    assert "await self.rollout.update_weights(" in push and "get_per_tensor_param(" in push, VERL
    built = source(ActorRolloutRefWorker.init_model)
    assert "rollout_cls(\n                config=rollout_config, model_config=model_config, device_mesh=rollout_device_mesh" in built, VERL
    assert "device_mesh=None" in source(CheckpointEngineWorker.__init__), VERL


def test_uvicorn_helper_and_reward_model_router():
    from verl.experimental.reward_loop.reward_model import RewardModelManager
    from verl.workers.rollout.utils import run_uvicorn

    assert params(run_uvicorn) == ["app", "server_args", "server_address"], VERL
    manager = source(RewardModelManager)
    assert "server._server_address" in manager and "is_reward_model=True" in manager, VERL


# ---- reward function hook (configs: reward.custom_reward_function) ----------------------


def test_custom_reward_function_gets_router_address_and_reward_kwargs():
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.trainer.ppo.reward import get_custom_reward_fn

    assert 'reward_fn_config.get("reward_kwargs"' in source(get_custom_reward_fn), VERL
    run_single = source(NaiveRewardManager.run_single)
    for keyword in ('"reward_router_address"', '"reward_model_tokenizer"', "solution_str=", "extra_info=", "ground_truth="):
        assert keyword in run_single, f"{VERL}: the reward function is no longer called with {keyword}"


# ---- the dynamic game's Receiver (agent_loop_manager.py) --------------------------------


def test_agent_loop_manager_class_gets_the_reward_workers_that_know_the_router():
    """verl builds the reward loop (and its router) before the agent-loop manager, creates the
    manager from actor_rollout_ref.rollout.agent.agent_loop_manager_class, and hands it the
    reward-loop workers exactly when the reward model has its own pool; each worker holds
    the router's address, read through Ray's ``__ray_call__``."""
    import ray
    from verl.experimental.agent_loop.agent_loop import AgentLoopManager, AgentLoopWorker
    from verl.experimental.reward_loop.reward_loop import RewardLoopManager, RewardLoopWorker
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer
    from verl.workers.config.rollout import AgentLoopConfig

    init = source(RayPPOTrainer.init_workers)
    assert '.get("agent", {}).get("agent_loop_manager_class")' in init, VERL
    assert 'load_class_from_fqn(manager_class_fqn, "AgentLoopManager")' in init, VERL
    assert init.index("RewardLoopManager(") < init.index("AgentLoopManager.create("), VERL
    assert "reward_loop_worker_handles=reward_loop_worker_handles" in init, VERL
    assert "self.reward_loop_manager.reward_loop_workers if enable_agent_reward_loop else None" in init, VERL
    assert "enable_agent_reward_loop = not self.use_rm or self.config.reward.reward_model.enable_resource_pool" in init, VERL
    assert "agent_loop_manager_class" in AgentLoopConfig.__dataclass_fields__, VERL
    assert params(AgentLoopManager.__init__) == ["config", "llm_client", "teacher_client", "reward_loop_worker_handles"], VERL
    assert "self.config,\n" in source(AgentLoopManager._init_agent_loop_workers), f"{VERL}: workers no longer get the manager's config"
    assert "self.reward_router_address = reward_router_address" in source(RewardLoopWorker.__init__), VERL
    assert ".remote(self.config, self.reward_router_address)" in source(RewardLoopManager._init_reward_loop_workers), VERL
    assert "self.reward_router_address = self.reward_model_manager.get_router_address()" in source(RewardLoopManager.__init__), VERL
    # the agent loop's own reward_score keeps verl from scoring the row again
    assert "if final_output.reward_score is None and enable_async_reward" in source(AgentLoopWorker._compute_score), VERL
    assert "def __ray_call__(" in source(ray.actor._modify_class), f"ray {ray.__version__}: actors lost __ray_call__"


# ---- monkeypatch (patches.py) and config-only workarounds -----------------------------


def test_valuehead_loader_still_hardcodes_flash_attention_and_is_imported_at_call_time():
    import verl.utils.model as verl_model
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngine

    from persuasion_rl.verl_ext.patches import VALUEHEAD_SIGNATURE

    loader = getattr(verl_model.load_valuehead_model, "__wrapped__", verl_model.load_valuehead_model)
    assert tuple(params(loader)) == VALUEHEAD_SIGNATURE, VERL
    if 'attn_implementation="flash_attention_2"' not in source(loader):
        pytest.fail(f"{VERL} no longer hard-codes flash_attention_2 in load_valuehead_model: drop patches.patch_valuehead_attention")
    build = source(FSDPEngine._build_module)
    assert "from verl.utils.model import load_valuehead_model" in build, f"{VERL}: the patch would not be seen"


def test_forward_only_models_still_pin_memory():
    """configs/platform/cpu.yaml sets ref.fsdp_config.forward_only=false for this reason."""
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngine

    wrap = source(FSDPEngine)
    assert "CPUOffloadPolicy(pin_memory=True)" in wrap and "self.engine_config.forward_only" in wrap, VERL


def test_fsdp_engines_compute_in_bfloat16_unless_mixed_precision_says_otherwise():
    """configs/platform/cpu.yaml sets mixed_precision to fp32 for this reason."""
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngine

    build = source(FSDPEngine._build_fsdp_module)
    assert "self.engine_config.mixed_precision" in build and 'get("param_dtype", "bf16")' in build, VERL
    assert "param_dtype = torch.bfloat16" in build, VERL


def test_file_logger_and_tracking_backends():
    from verl.utils.tracking import FileLogger, Tracking

    assert {"console", "file", "wandb"} <= set(Tracking.supported_backend), VERL
    assert 'os.getenv("VERL_FILE_LOGGER_PATH"' in source(FileLogger.__init__), VERL


def test_model_merger_api():
    from verl.model_merger.base_model_merger import ModelMergerConfig
    from verl.model_merger.fsdp_model_merger import FSDPModelMerger

    config = inspect.signature(ModelMergerConfig).parameters
    assert {"operation", "backend", "local_dir", "target_dir", "hf_model_config_path"} <= set(config), VERL
    assert callable(FSDPModelMerger.merge_and_save) and callable(FSDPModelMerger.cleanup)
