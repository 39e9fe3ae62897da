"""``persuasion-rl export RUN_DIR [--step N] --out DIR``: a checkpoint as a Hugging Face model.

The merge is verl's own model merger (``verl.model_merger``, FSDP backend). The check is
independent of it: the trained actor is rebuilt from the raw checkpoint shards (each
rank's DTensor pieces joined along their shard dimension) into a model made from the
checkpoint's config, and the exported folder, loaded with ``from_pretrained`` as any user
would, must give the same logits on a probe prompt. That catches a head that was not
re-tied on load (verl PR #6334: tied-embedding models exported both ``lm_head`` and
``embed_tokens``, and transformers >= 5 silently refused to re-tie them).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from persuasion_rl.errors import UserError

from .checkpoints import TRACKER, step_folders

logger = logging.getLogger(__name__)

PROBE_MESSAGES = [
    {"role": "user", "content": "Here is a claim.\nCities should make public buses free to ride.\n\nPlease restate your position."},
]
# the reference is rounded to the export's stored dtype (bfloat16 from verl's merger), so the
# two must agree to float32 noise; a mis-tied or misplaced tensor is off by O(0.1-1)
ATOL = 1e-4


class ExportError(UserError):
    pass


@dataclass(frozen=True)
class ExportResult:
    step: int
    out_dir: Path
    max_logit_diff: Optional[float]
    tied_embeddings: bool
    stored_dtype: Optional[str] = None
    rounding_diff: Optional[float] = None  # vs the float32 actor: the cost of the stored dtype


def checkpoints_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    for candidate in (run_dir / "checkpoints", run_dir):
        if (candidate / TRACKER).is_file() or step_folders(candidate):
            return candidate
    raise ExportError(f"{run_dir}: no checkpoints found (expected {run_dir}/checkpoints/global_step_N)")


def actor_dir(run_dir: str | Path, step: Optional[int] = None) -> tuple[int, Path]:
    folder = checkpoints_dir(run_dir)
    if step is None:
        tracker = folder / TRACKER
        if tracker.is_file():
            step = int(tracker.read_text().strip())
        else:
            step = max(step_folders(folder))
    actor = folder / f"global_step_{step}" / "actor"
    if not actor.is_dir():
        available = sorted(step_folders(folder))
        raise ExportError(f"no actor checkpoint for step {step} in {folder}; available steps: {available}")
    return step, actor


def saved_full_model(actor: Path) -> bool:
    """Whether verl saved the whole model at checkpoint time (``hf_model`` in
    ``actor_rollout_ref.actor.checkpoint.save_contents``): the actor's own float32 weights,
    where the merger would round them to bfloat16."""
    return any((actor / "huggingface").glob("model*.safetensors"))


def merge(actor: Path, out_dir: Path) -> str:
    """The checkpoint as a Hugging Face folder, made by verl: its float32 save of the whole
    model where the checkpoint has one (copied, with config.json's dtype set to what the
    weights are: verl writes bfloat16 there), else its FSDP model merger, as ``python -m
    verl.model_merger merge`` runs it (bfloat16). Returns which of the two it used."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if saved_full_model(actor):
        _copy_saved_model(actor / "huggingface", out_dir)
        return "verl's hf_model save"
    from verl.model_merger.base_model_merger import ModelMergerConfig
    from verl.model_merger.fsdp_model_merger import FSDPModelMerger

    config = ModelMergerConfig(operation="merge", backend="fsdp", local_dir=str(actor), target_dir=str(out_dir),
                               hf_model_config_path=str(actor / "huggingface"))
    merger = FSDPModelMerger(config)
    merger.merge_and_save()
    merger.cleanup()
    return "verl's model merger"


def _copy_saved_model(saved: Path, out_dir: Path) -> None:
    import shutil

    from safetensors import safe_open

    for path in saved.iterdir():
        if path.is_file():
            shutil.copy2(path, out_dir / path.name)
    with safe_open(str(next(saved.glob("model*.safetensors"))), framework="pt") as weights:
        dtype = str(weights.get_slice(next(iter(weights.keys()))).get_dtype())
    config = json.loads((out_dir / "config.json").read_text())
    config["dtype"] = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}.get(dtype, config.get("dtype"))
    config.pop("torch_dtype", None)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def actor_state_dict(actor: Path) -> dict:
    """The trained weights from the raw shards (FSDP2 shards every tensor on dim 0)."""
    import torch
    from torch.distributed.tensor import DTensor, Replicate, Shard

    world_size = json.loads((actor / "fsdp_config.json").read_text())["world_size"]
    shards = [torch.load(actor / f"model_world_size_{world_size}_rank_{rank}.pt", map_location="cpu", weights_only=False)
              for rank in range(world_size)]
    merged = {}
    for key, first in shards[0].items():
        if not isinstance(first, DTensor):
            merged[key] = first
            continue
        placement = first.placements[0]
        pieces = [shard[key].to_local() for shard in shards]
        if isinstance(placement, Replicate):
            merged[key] = pieces[0]
        elif isinstance(placement, Shard):
            merged[key] = torch.cat(pieces, dim=placement.dim)
        else:
            raise ExportError(f"{key}: unsupported placement {placement} in the checkpoint")
    return merged


def _probe_logits(model, tokenizer):
    import torch

    ids = tokenizer.apply_chat_template(PROBE_MESSAGES, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        return model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits.float()


def _tied(model) -> bool:
    output = model.get_output_embeddings()
    return output is not None and output.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def _round_parameters(model, dtype):
    """The model with its weights rounded to ``dtype`` (as the export stores them) and its
    buffers untouched: ``model.to(bfloat16)`` would round the rotary ``inv_freq`` buffer too,
    which the export recomputes in float32 (a 0.07 logit difference on SmolLM2)."""
    import torch

    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.to(dtype).to(parameter.dtype))
    return model


@dataclass(frozen=True)
class Verification:
    max_logit_diff: float
    tied: bool
    stored_dtype: str
    rounding_diff: float


def check_export(actor: Path, out_dir: Path) -> Verification:
    """Compare the export's logits with the trained actor's (weights rounded to the
    export's stored dtype), and its embedding tie with the training config's."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(actor / "huggingface")
    reference = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = reference.load_state_dict(actor_state_dict(actor), strict=False)
    if [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")] or unexpected:
        raise ExportError(f"checkpoint does not fit its own config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    exported = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    if bool(config.tie_word_embeddings) != _tied(exported):
        raise ExportError(f"tie_word_embeddings={config.tie_word_embeddings} in training but the export loads "
                          f"{'tied' if _tied(exported) else 'untied'} embeddings")
    saved = json.loads((out_dir / "config.json").read_text())
    stored = getattr(torch, str(saved.get("dtype") or saved.get("torch_dtype") or "float32"))
    full = _probe_logits(reference.eval(), tokenizer)
    rounded = _probe_logits(_round_parameters(reference, stored), tokenizer)
    got = _probe_logits(exported.eval(), tokenizer)
    diff = (rounded - got).abs().max().item()
    if not diff <= ATOL:
        raise ExportError(f"the export does not reproduce the trained actor: max |logit diff| {diff:.3e} > {ATOL}")
    return Verification(diff, bool(config.tie_word_embeddings), str(stored).removeprefix("torch."),
                        (full - got).abs().max().item())


def export_checkpoint(run_dir: str | Path, out_dir: str | Path, step: Optional[int] = None, verify: bool = True) -> ExportResult:
    step, actor = actor_dir(run_dir, step)
    out_dir = Path(out_dir).resolve()
    source = merge(actor, out_dir)
    logger.info("exported %s into %s with %s", actor, out_dir, source)
    if not verify:
        return ExportResult(step, out_dir, None, False)
    check = check_export(actor, out_dir)
    return ExportResult(step, out_dir, check.max_logit_diff, check.tied, check.stored_dtype, check.rounding_diff)
