"""Half-written checkpoints are moved aside before verl resumes (no verl run: folders laid
out the way verl 0.9.1's RayPPOTrainer._save_checkpoint writes them)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from persuasion_rl.train.checkpoints import (
    TRACKER, CheckpointError, incomplete_folders, missing_parts, quarantine_incomplete, step_folders,
)
from persuasion_rl.train.export import actor_dir

KINDS = ("model", "optim", "extra_state")


def save_step(root: Path, step: int, world: int = 1, roles=("actor",), track: bool = True) -> Path:
    """What a finished save leaves: role shards, huggingface/ config, data.pt, then the tracker."""
    folder = root / f"global_step_{step}"
    for role in roles:
        (folder / role / "huggingface").mkdir(parents=True, exist_ok=True)
        (folder / role / "huggingface" / "config.json").write_text("{}")
        (folder / role / "fsdp_config.json").write_text("{}")
        for kind in KINDS:
            for rank in range(world):
                torch.save({"rank": rank}, folder / role / f"{kind}_world_size_{world}_rank_{rank}.pt")
    torch.save({"sampler": step}, folder / "data.pt")
    if track:
        (root / TRACKER).write_text(str(step))
    return folder


def test_complete_checkpoints_are_left_alone(tmp_path):
    for step in (1, 2, 3):
        save_step(tmp_path, step, world=2, roles=("actor", "critic"))
    assert incomplete_folders(tmp_path) == {}
    assert quarantine_incomplete(tmp_path) == []
    assert sorted(step_folders(tmp_path)) == [1, 2, 3]


def test_a_folder_newer_than_the_tracker_is_moved_aside_with_one_warning(tmp_path, caplog):
    save_step(tmp_path, 3)
    torn = save_step(tmp_path, 4, track=False)  # every file written, the tracker not yet: still a torn save
    with caplog.at_level(logging.WARNING, logger="persuasion_rl.train.checkpoints"):
        moved = quarantine_incomplete(tmp_path, stamp="20250101T000000")
    assert [p.name for p in moved] == ["global_step_4.incomplete-20250101T000000"]
    assert not torn.exists() and moved[0].is_dir() and (moved[0] / "data.pt").is_file()  # kept, not deleted
    assert sorted(step_folders(tmp_path)) == [3]
    assert len(caplog.records) == 1 and "\n" not in caplog.messages[0]
    assert "global_step_4" in caplog.messages[0] and "newer than the last finished save (step 3)" in caplog.messages[0]


@pytest.mark.parametrize("tear, reason", [
    (lambda f: (f / "data.pt").unlink(), "data.pt"),
    (lambda f: (f / "actor" / "optim_world_size_2_rank_1.pt").unlink(), "actor/optim_world_size_2_rank_1.pt"),
    (lambda f: _truncate(f / "actor" / "model_world_size_2_rank_0.pt"), "actor/model_world_size_2_rank_0.pt (truncated)"),
    (lambda f: _truncate(f / "data.pt", keep=0), "data.pt (truncated)"),
    (lambda f: [p.unlink() for p in (f / "actor").glob("*.pt")], "actor/ model weights"),  # no shard written yet
])
def test_torn_files_are_named(tmp_path, tear, reason):
    folder = save_step(tmp_path, 2, world=2)
    tear(folder)
    gaps = missing_parts(folder)
    assert gaps and (reason is None or reason in gaps), gaps


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_a_crash_before_the_first_save_finished(tmp_path):
    """No tracker yet: whatever folder exists never finished."""
    (tmp_path / "global_step_1" / "actor").mkdir(parents=True)
    moved = quarantine_incomplete(tmp_path, stamp="t")
    assert [p.name for p in moved] == ["global_step_1.incomplete-t"]
    assert quarantine_incomplete(tmp_path / "no-such-dir") == []  # a first launch: nothing to do


def test_two_crashes_in_the_same_second_keep_both_folders(tmp_path):
    save_step(tmp_path, 1)
    for _ in range(2):
        (tmp_path / "global_step_2" / "actor").mkdir(parents=True)
        quarantine_incomplete(tmp_path, stamp="same")
    assert sorted(p.name for p in tmp_path.iterdir() if "incomplete" in p.name) == [
        "global_step_2.incomplete-same", "global_step_2.incomplete-same-1"]


def test_what_verls_checkpoint_retention_leaves_is_not_a_torn_save(tmp_path):
    """max_actor_ckpt_to_keep: verl deletes an old step's actor/ and keeps its data.pt."""
    import shutil

    shutil.rmtree(save_step(tmp_path, 1) / "actor")
    save_step(tmp_path, 2)
    assert incomplete_folders(tmp_path) == {}


def test_a_torn_older_folder_is_moved_aside_too(tmp_path):
    older = save_step(tmp_path, 1)
    (older / "actor" / "model_world_size_1_rank_0.pt").write_bytes(b"PK\x03\x04 cut")
    save_step(tmp_path, 2)
    assert [p.name for p in quarantine_incomplete(tmp_path, stamp="t")] == ["global_step_1.incomplete-t"]


def test_a_torn_tracked_checkpoint_is_an_error_not_a_silent_restart(tmp_path):
    save_step(tmp_path, 1)
    tracked = save_step(tmp_path, 2)
    (tracked / "data.pt").unlink()
    with pytest.raises(CheckpointError, match="global_step_2 is the checkpoint .* names.*data.pt.*resume_from_path"):
        quarantine_incomplete(tmp_path)
    assert tracked.is_dir()  # nothing moved


def test_an_unreadable_tracker_is_an_error(tmp_path):
    save_step(tmp_path, 1)
    (tmp_path / TRACKER).write_text("")  # a crash between verl's open("w") and its write
    with pytest.raises(CheckpointError, match="not a step number"):
        quarantine_incomplete(tmp_path)


def test_export_ignores_folders_moved_aside(tmp_path):
    save_step(tmp_path, 3)
    (tmp_path / "global_step_4" / "actor").mkdir(parents=True)
    quarantine_incomplete(tmp_path, stamp="t")
    (tmp_path / TRACKER).unlink()  # export then picks the newest step folder by name
    assert actor_dir(tmp_path) == (3, tmp_path / "global_step_3" / "actor")


def test_the_train_entry_sets_torn_checkpoints_aside_before_verl(tmp_path):
    from omegaconf import OmegaConf

    from persuasion_rl.train.entry import set_aside_torn_checkpoints

    save_step(tmp_path, 1)
    (tmp_path / "global_step_2" / "actor").mkdir(parents=True)
    config = OmegaConf.create({"trainer": {"default_local_dir": str(tmp_path)},
                               "actor_rollout_ref": {"actor": {"checkpoint": {"async_save": True}}}})
    set_aside_torn_checkpoints(config)  # async_save: verl writes no tracker, so nothing is judged
    assert (tmp_path / "global_step_2").is_dir()
    config.actor_rollout_ref.actor.checkpoint.async_save = False
    set_aside_torn_checkpoints(config)
    assert sorted(step_folders(tmp_path)) == [1]
