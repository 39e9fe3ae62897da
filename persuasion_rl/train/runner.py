"""From a recipe name to a running verl trainer.

``plan_run`` composes and resolves the config, decides the environment every Ray process
needs (the CPU platform's variables, W&B mode, the metrics file) and records it in the
config itself (``run.env``), so that ``RUN_DIR/config.yaml`` alone reproduces the launch:
``python -m persuasion_rl.train.entry RUN_DIR/config.yaml`` is what ``persuasion-rl
train`` runs (in-process) and what the cluster launch scripts run.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from .checks import CheckReport, ConfigCheckError, check_config, required_gpus
from . import noise
from .compose import compose_recipe, resolve, save
from .paths import CONFIGS_ENV, configs_dir, package_parent

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
ENTRY_MODULE = "persuasion_rl.train.entry"


@dataclass
class LaunchPlan:
    recipe: str
    overrides: tuple[str, ...]
    config: DictConfig  # resolved
    run_dir: Path
    notices: list[str] = field(default_factory=list)
    report: CheckReport = field(default_factory=CheckReport)

    @property
    def env(self) -> dict[str, str]:
        return dict(self.config.run.env)

    @property
    def config_path(self) -> Path:
        return self.run_dir / CONFIG_FILE

    def command(self) -> str:
        """The shell command that runs this plan (what `train` does in-process)."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        return f"env {exports} {shlex.quote(sys.executable)} -m {ENTRY_MODULE} {shlex.quote(str(self.config_path))}"

    def locations(self) -> dict[str, str]:
        trainer = self.config.trainer
        places = {
            "run directory": str(self.run_dir),
            "config": str(self.config_path),
            "checkpoints": f"{trainer.default_local_dir} (resume_mode={trainer.resume_mode}, save_freq={trainer.save_freq})",
            "metrics": f"{self.env['VERL_FILE_LOGGER_PATH']} (loggers: {', '.join(trainer.logger)})",
            "validation": str(trainer.validation_data_dir),
            "ray logs": "/tmp/ray/session_latest/logs (on each node)",
        }
        if self.config.persuasion.platform == "cpu" and OmegaConf.select(self.config, "ray_kwargs.ray_init.num_gpus"):
            # verl logs `num_gpus: N` in its ray init line; on this platform they are not GPUs
            places["ray gpus"] = (f"{self.config.ray_kwargs.ray_init.num_gpus} virtual slots (verl places every rank on a "
                                  "GPU bundle; the CPU platform declares them to Ray, no GPU is used)")
        if "wandb" in trainer.logger:
            places["wandb"] = f"{self.env.get('WANDB_DIR')} (mode {self.env.get('WANDB_MODE', 'online')})"
        return places


def _absolute_run_root(config: DictConfig) -> None:
    """Ray workers do not share the driver's working directory: pin the run root."""
    root = Path(os.path.expanduser(str(OmegaConf.select(config, "run.root")))).resolve()
    with open_dict(config):
        config.run.root = str(root)


PATH_FIELDS = ("data.train_files", "data.val_files", "actor_rollout_ref.model.path", "critic.model.path",
               "critic.model.tokenizer_path", "reward.reward_model.model_path",
               "actor_rollout_ref.rollout.agent.agent_loop_config_path", "persuasion.agent_loop_config",
               "persuasion.receiver.path")


def _absolute(value: str) -> str:
    """``~`` expanded; a relative path that exists here made absolute (a hub id stays as is)."""
    if "://" in value:
        return value
    path = Path(value).expanduser()
    return str(path.resolve()) if not path.is_absolute() and path.exists() else str(path)


def _absolute_paths(config: DictConfig) -> None:
    """Paths become absolute (Ray workers run elsewhere) BEFORE the config is resolved, so
    that what interpolates them (the Receiver's model name is its path: vLLM serves it
    under that name) gets the absolute value too. A path field that is an interpolation
    is replaced by its absolute value."""
    for key in PATH_FIELDS:
        try:
            value = OmegaConf.select(config, key, throw_on_missing=False)
        except OmegaConfBaseException:
            continue  # resolve() names what is wrong with it
        values = [value] if isinstance(value, str) else list(value) if isinstance(value, ListConfig) else []
        fixed = [_absolute(v) if isinstance(v, str) else v for v in values]
        if fixed != values:
            OmegaConf.update(config, key, fixed[0] if isinstance(value, str) else fixed, force_add=False)


def _bound_rollout_length(config: DictConfig) -> None:
    """verl sizes the Sender's vLLM context by the model's maximum when ``max_model_len`` is
    unset (131072 for Llama 3.2: ~14 GiB of KV cache); a sample never needs more than its
    prompt and response lengths (all turns of the dynamic game share the response)."""
    rollout = config.actor_rollout_ref.rollout
    if rollout.get("max_model_len") is None:
        rollout.max_model_len = int(rollout.prompt_length) + int(rollout.response_length)


def _metrics_file(run_dir: Path) -> Path:
    """A new file per launch: verl's file logger truncates its file, and a resumed run
    must not erase the steps before it."""
    folder = run_dir / "metrics"
    launches = sorted(folder.glob("launch-*.jsonl")) if folder.is_dir() else []
    return folder / f"launch-{len(launches) + 1:03d}.jsonl"


def wandb_has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def _wandb_env(config: DictConfig, run_dir: Path, notices: list[str]) -> dict[str, str]:
    if "wandb" not in config.trainer.logger:
        return {}
    env = {"WANDB_DIR": str(run_dir)}
    # verl's Tracking passes no run id (verl #2783): a stable id lets a resumed run continue the W&B run
    id_file = run_dir / "wandb_run_id"
    env["WANDB_RUN_ID"] = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:12]
    env["WANDB_RESUME"] = "allow"
    mode = os.environ.get("WANDB_MODE")
    if mode:
        env["WANDB_MODE"] = mode
    elif not wandb_has_credentials():
        env["WANDB_MODE"] = "offline"
        notices.append(f"W&B: no API key (WANDB_API_KEY or ~/.netrc) - logging offline to {run_dir}/wandb; "
                       "`wandb sync` uploads it later")
    return env


def _platform_env(config: DictConfig) -> dict[str, str]:
    from persuasion_rl.verl_ext.bootstrap import CPU_ENV, MODULE
    from persuasion_rl.verl_ext.patches import VLLM_CPU_ENV

    if config.persuasion.platform != "cpu":
        return {"VERL_USE_EXTERNAL_MODULES": MODULE}  # the GPU patches (bootstrap.py), in every Ray process
    if config.actor_rollout_ref.rollout.name == "vllm":  # vllm-cpu: its patch, and the smallest KV cache (GiB)
        return {**CPU_ENV, VLLM_CPU_ENV: "1", "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
                "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}

    return {**CPU_ENV, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}


def _run_env(config: DictConfig, run_dir: Path, notices: list[str]) -> dict[str, str]:
    python_path = [str(package_parent()), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {
        CONFIGS_ENV: os.environ.get(CONFIGS_ENV, str(configs_dir())),
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(python_path)),
        "VERL_FILE_LOGGER_PATH": str(_metrics_file(run_dir)),
        "TOKENIZERS_PARALLELISM": "false",
        **noise.run_env(),
    }
    env.update(_platform_env(config))
    env.update(_wandb_env(config, run_dir, notices))
    return env


def _record_env(config: DictConfig, env: dict[str, str]) -> None:
    """Into ``run.env`` (read back by the entry point) and Ray's runtime env."""
    with open_dict(config):
        config.run.env = env
        ray_init = config.ray_kwargs.ray_init
        runtime_env = ray_init.get("runtime_env") or {}
        env_vars = dict(runtime_env.get("env_vars") or {})
        env_vars.update(env)
        ray_init.runtime_env = {**OmegaConf.to_container(OmegaConf.create(runtime_env)), "env_vars": env_vars}
        if config.persuasion.platform == "cpu" and not ray_init.get("address"):
            # verl schedules every rank on a GPU bundle: declare as many as the pools ask for
            ray_init.num_gpus = required_gpus(config)


def _keep_file_logger(config: DictConfig, notices: list[str]) -> None:
    """The metrics file is the run's record (the banner announces it; ``eval`` and the
    benchmarks read it): a logger list without verl's ``file`` logger gets it added."""
    value = config.trainer.logger
    loggers = [value] if isinstance(value, str) else list(value)
    if "file" not in loggers:
        with open_dict(config):
            config.trainer.logger = [*loggers, "file"]
        notices.append(f"trainer.logger={loggers}: added 'file', the run's metrics file")


def plan_run(recipe: str, overrides: list[str] | tuple[str, ...] = ()) -> LaunchPlan:
    config = compose_recipe(recipe, overrides)
    _absolute_run_root(config)
    _absolute_paths(config)
    resolve(config)
    _bound_rollout_length(config)
    run_dir = Path(config.run.dir)
    notices: list[str] = []
    _keep_file_logger(config, notices)
    _record_env(config, _run_env(config, run_dir, notices))
    report = check_config(config, data_ready=not (config.run.prepare_tiny or config.run.get("prepare_real")))
    return LaunchPlan(recipe, tuple(overrides), config, run_dir, notices, report)


def prepare(plan: LaunchPlan) -> None:
    """Build what the recipe asks to be built (tiny models and data), then re-check."""
    if plan.config.run.prepare_tiny:
        from persuasion_rl.assets.tiny import build_tiny_models

        from .tiny_data import TinyDataSpec, build_tiny_data

        persuasion = plan.config.persuasion
        build_tiny_models()
        if plan.config.actor_rollout_ref.rollout.name == "vllm":
            from persuasion_rl.assets.tiny import VLLM_TINY

            build_tiny_models(spec=VLLM_TINY)  # the Sender vLLM can serve (tiny_cpu_grpo_vllm)
        build_tiny_data(TinyDataSpec(persuasion.setting, persuasion.sender_word_limit, persuasion.receiver_word_limit))
    if plan.config.run.get("prepare_real"):
        _prepare_real(plan.config)
    plan.report = check_config(plan.config, data_ready=True)
    if not plan.report.ok:
        raise ConfigCheckError(plan.report)


def _prepare_real(config: DictConfig) -> None:
    """Convert the real models the run uses (once) and build its claims data with the
    Receiver's priors (once)."""
    from persuasion_rl.assets.models import named_model_path
    from persuasion_rl.assets.real import REAL_MODELS, model_dir

    from .tiny_data import TinyDataSpec, build_real_data

    receiver = config.run.prepare_real
    receiver_path = named_model_path(receiver, "receiver")
    for name in REAL_MODELS:  # the Sender (and a critic) when it is a real model too
        if str(model_dir(REAL_MODELS[name])) in (config.actor_rollout_ref.model.path, OmegaConf.select(config, "critic.model.path")):
            named_model_path(name, "sender")
    persuasion = config.persuasion
    spec = TinyDataSpec(persuasion.setting, persuasion.sender_word_limit, persuasion.receiver_word_limit, persuasion.sender_prompt)
    build_real_data(receiver, receiver_path, spec,
                    min_digit_mass=persuasion.min_digit_mass, receiver_prompt=persuasion.get("receiver_prompt"))


def write(plan: LaunchPlan) -> Path:
    Path(plan.env["VERL_FILE_LOGGER_PATH"]).parent.mkdir(parents=True, exist_ok=True)
    if plan.config.run.env.get("WANDB_RUN_ID"):
        (plan.run_dir / "wandb_run_id").write_text(plan.config.run.env["WANDB_RUN_ID"])
    return save(plan.config, plan.config_path)


def execute(plan: LaunchPlan, progress: bool = True) -> None:
    from .entry import run_config
    from .progress import MetricsProgress

    write(plan)
    if not progress:
        run_config(plan.config)
        return
    with MetricsProgress(Path(plan.env["VERL_FILE_LOGGER_PATH"]), plan.config.trainer.total_training_steps):
        run_config(plan.config)
