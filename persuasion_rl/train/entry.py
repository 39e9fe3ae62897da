"""Run verl's trainer from a resolved config file (``RUN_DIR/config.yaml``).

    python -m persuasion_rl.train.entry RUN_DIR/config.yaml

``persuasion-rl train`` writes that file and runs :func:`run_config` in-process; the
cluster launch scripts run this module on the Ray head. The environment recorded in
``run.env`` is exported before verl is imported: verl reads ``VERL_PLATFORM`` and
``VERL_USE_EXTERNAL_MODULES`` when it is first imported.
"""

from __future__ import annotations

import logging
import os
import sys

from omegaconf import DictConfig, OmegaConf

logger = logging.getLogger(__name__)


def export_env(config: DictConfig) -> None:
    os.environ.update({k: str(v) for k, v in (config.run.get("env") or {}).items()})
    from .noise import silence_in_process

    silence_in_process()  # PYTHONWARNINGS is read at start-up: this process started before it was set
    python_path = os.environ.get("PYTHONPATH", "")
    for entry in reversed(python_path.split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)


def activate_platform(config: DictConfig) -> None:
    """Make sure this (driver) process has the CPU platform before verl resolves one."""
    if config.persuasion.platform != "cpu":
        return
    from persuasion_rl.verl_ext import bootstrap

    bootstrap.activate()
    from verl.utils.device import get_device_name

    if get_device_name() != "cpu":
        raise RuntimeError(f"verl resolved platform {get_device_name()!r} before the CPU platform was registered; "
                           "run training in a fresh process (persuasion-rl train / python -m persuasion_rl.train.entry)")


def set_aside_torn_checkpoints(config: DictConfig) -> None:
    """A run killed mid-save leaves a half-written ``global_step_N``: move it aside before
    verl resumes (persuasion_rl.train.checkpoints). With ``async_save`` verl writes no
    tracker, so nothing tells a finished save from a torn one: left alone."""
    from .checkpoints import quarantine_incomplete

    if OmegaConf.select(config, "actor_rollout_ref.actor.checkpoint.async_save", default=False):
        return
    quarantine_incomplete(config.trainer.default_local_dir)


def run_config(config: DictConfig) -> None:
    export_env(config)
    activate_platform(config)
    set_aside_torn_checkpoints(config)
    import ray
    from verl.trainer.main_ppo import run_ppo

    from persuasion_rl.verl_ext.task_runner import PersuasionTaskRunner

    started_here = not ray.is_initialized()
    try:
        run_ppo(config, task_runner_class=PersuasionTaskRunner)
    finally:
        if started_here and ray.is_initialized():
            ray.shutdown()  # stops the local cluster this process started; a remote one is left alone


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m persuasion_rl.train.entry RUN_DIR/config.yaml", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_config(OmegaConf.load(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
