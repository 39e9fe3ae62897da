"""Checkpoint folders a crash left half-written, moved aside before verl starts.

verl 0.9.1 saves step N as ``global_step_N/{actor,critic}/...``, then ``global_step_N/data.pt``
(the dataloader's position), and only then rewrites ``latest_checkpointed_iteration.txt``
(``RayPPOTrainer._save_checkpoint``). The tracker is therefore the commit record: a
``global_step_N`` newer than the step it names was cut off mid-save (kill -9, OOM, node
loss). verl resumes from the tracked step, so it would not load such a folder, but it would
save the same step into it again on top of the torn files, and a user picking a checkpoint
by folder name (``export``, ``trainer.resume_from_path``) could take it for a good one.

:func:`quarantine_incomplete` renames every such folder to
``global_step_N.incomplete-<timestamp>`` (kept for inspection, never deleted) with a
one-line warning. A folder counts as incomplete when it is newer than the tracker, or
when its files are torn: no ``data.pt``, no ``actor/``, a ``.pt`` file cut off before
its end (``torch.save`` writes a zip archive whose directory comes last), or fewer
``*_world_size_W_rank_R.pt`` shards than ``W`` for a kind of shard it has. A folder older
than the tracker that holds ``data.pt`` and no model folder at all is what verl's own
``max_actor_ckpt_to_keep`` pruning leaves behind, and is left alone.
"""

from __future__ import annotations

import logging
import re
import time
import zipfile
from pathlib import Path
from typing import Optional

from persuasion_rl.errors import UserError

logger = logging.getLogger(__name__)

TRACKER = "latest_checkpointed_iteration.txt"
STEP_FOLDER = re.compile(r"^global_step_(\d+)$")
SHARD = re.compile(r"^(?P<kind>.+)_world_size_(?P<world>\d+)_rank_(?P<rank>\d+)\.pt$")
ROLES = ("actor", "critic")
INCOMPLETE_TAG = ".incomplete-"


class CheckpointError(UserError):
    pass


def step_folders(checkpoint_dir: Path) -> dict[int, Path]:
    """step -> ``global_step_N`` folder (folders already moved aside do not match)."""
    if not checkpoint_dir.is_dir():
        return {}
    found = {}
    for path in checkpoint_dir.iterdir():
        match = STEP_FOLDER.match(path.name)
        if match and path.is_dir():
            found[int(match.group(1))] = path
    return found


def tracked_step(checkpoint_dir: Path) -> Optional[int]:
    """The step verl last finished saving; None if no save ever finished."""
    tracker = checkpoint_dir / TRACKER
    if not tracker.is_file():
        return None
    text = tracker.read_text().strip()
    if not text.isdigit():
        raise CheckpointError(
            f"{tracker} holds {text!r}, not a step number (a crash while verl rewrote it?): write the step of the "
            f"newest complete global_step_N folder into it, or delete it to start from scratch")
    return int(text)


def _shard_gaps(role_dir: Path) -> list[str]:
    """Shards missing from a role folder: every kind present needs ranks 0..W-1."""
    ranks: dict[tuple[str, int], set[int]] = {}
    for path in role_dir.iterdir():
        match = SHARD.match(path.name)
        if match:
            ranks.setdefault((match["kind"], int(match["world"])), set()).add(int(match["rank"]))
    return [f"{role_dir.name}/{kind}_world_size_{world}_rank_{rank}.pt"
            for (kind, world), present in sorted(ranks.items()) for rank in range(world) if rank not in present]


def missing_parts(folder: Path) -> list[str]:
    """What a finished save would have and this folder lacks or holds torn ([] when complete)."""
    missing = [name for name in ("data.pt", "actor") if not (folder / name).exists()]
    for role_dir in (folder / role for role in ROLES):
        if role_dir.is_dir():
            missing.extend(_shard_gaps(role_dir) if _has_weights(role_dir) else [f"{role_dir.name}/ model weights"])
    missing.extend(f"{path.relative_to(folder)} (truncated)" for path in sorted(folder.rglob("*.pt")) if not _whole(path))
    return missing


def _has_weights(role_dir: Path) -> bool:
    """FSDP shards (``model_world_size_*``) or a Megatron ``model/``/``dist_ckpt/`` folder."""
    return any(path.name.startswith("model") or path.name == "dist_ckpt" for path in role_dir.iterdir())


def _whole(path: Path) -> bool:
    """torch.save writes a zip archive whose directory comes last: a file cut off mid-write
    has none. Reads only the file's tail."""
    return zipfile.is_zipfile(path)


def _pruned_by_verl(folder: Path, step: int, tracked: int) -> bool:
    """verl's checkpoint retention deletes old ``actor/``/``critic/`` folders and keeps data.pt."""
    return step < tracked and (folder / "data.pt").is_file() and not any((folder / role).exists() for role in ROLES)


def incomplete_folders(checkpoint_dir: Path) -> dict[Path, str]:
    """folder -> why it is not a checkpoint verl finished writing."""
    folders = step_folders(checkpoint_dir)
    tracked = tracked_step(checkpoint_dir)
    found = {}
    for step, folder in sorted(folders.items()):
        if tracked is None or step > tracked:
            found[folder] = "newer than the last finished save" + (f" (step {tracked})" if tracked is not None else " (none)")
        elif not _pruned_by_verl(folder, step, tracked) and (gaps := missing_parts(folder)):
            found[folder] = f"missing or torn: {', '.join(gaps)}"
    return found


def _aside_name(folder: Path, stamp: str) -> Path:
    target = folder.with_name(f"{folder.name}{INCOMPLETE_TAG}{stamp}")
    suffix = 1
    while target.exists():  # two crashes within the same second
        target = folder.with_name(f"{folder.name}{INCOMPLETE_TAG}{stamp}-{suffix}")
        suffix += 1
    return target


def quarantine_incomplete(checkpoint_dir: Path | str, stamp: Optional[str] = None) -> list[Path]:
    """Move every incomplete ``global_step_N`` aside; return where they went.

    The tracked step itself being incomplete is an error, not a move: verl would then
    silently start from scratch, losing the run's progress."""
    checkpoint_dir = Path(checkpoint_dir)
    incomplete = incomplete_folders(checkpoint_dir)
    tracked = tracked_step(checkpoint_dir)
    if tracked is not None and checkpoint_dir / f"global_step_{tracked}" in incomplete:
        folder = checkpoint_dir / f"global_step_{tracked}"
        raise CheckpointError(
            f"{folder} is the checkpoint {TRACKER} names, but it is incomplete ({incomplete[folder]}): restore it, or resume from an "
            f"older one with trainer.resume_mode=resume_path trainer.resume_from_path=<global_step_N>")
    stamp = stamp or time.strftime("%Y%m%dT%H%M%S")
    moved = []
    for folder, reason in incomplete.items():
        target = _aside_name(folder, stamp)
        folder.rename(target)
        logger.warning("checkpoint %s is incomplete (%s): moved aside to %s, resume will not load it", folder, reason, target.name)
        moved.append(target)
    return moved
