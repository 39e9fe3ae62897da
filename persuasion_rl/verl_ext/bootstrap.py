"""What verl imports in every process to run on a CPU-only machine.

verl imports the modules listed in ``VERL_USE_EXTERNAL_MODULES`` from its own
``__init__`` (``verl/__init__.py``), in the driver and in every Ray worker, before any
device question is asked. The training CLI sets
``VERL_USE_EXTERNAL_MODULES=persuasion_rl.verl_ext.bootstrap`` and ``VERL_PLATFORM=cpu``
for every run. With the CPU platform selected (``VERL_PLATFORM=cpu``) it activates the CPU
support below; on GPUs it applies only the patch that GPUs need too (the critic loaded
with sdpa: no flash-attn in the pinned GPU stack, see ``patches.py``).

Activation registers, through verl's extension points:
* the CPU platform (``PlatformRegistry``),
* the "hf" rollout replica (``RolloutReplicaRegistry``) and its worker-side adapter,
* the monkeypatches of ``patches.py`` (critic attention, gloo process groups).
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

MODULE = __name__
ROLLOUT_NAME = "hf"
ADAPTER_FQN = "persuasion_rl.verl_ext.hf_rollout.HFServerAdapter"
# verl env vars that the CPU run needs in every process (why each: docs/cpu_support.md)
CPU_ENV = {
    "VERL_PLATFORM": "cpu",
    # the FSDP engines are registered for cuda/npu only; this official override picks
    # the FSDP engine, which then runs on the CPU platform's device ("cpu")
    "VERL_ENGINE_DEVICE": "cuda",
    "VERL_USE_EXTERNAL_MODULES": MODULE,
}

_active = False


def cpu_selected() -> bool:
    """Is this process verl on the CPU? The one answer: ``persuasion-rl train`` exports
    ``VERL_PLATFORM=cpu`` into every process of a CPU run (driver and Ray workers), and
    verl's platform manager reads the same variable."""
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == CPU_ENV["VERL_PLATFORM"]


def _load_hf_replica():
    from .hf_rollout import HFReplica

    return HFReplica


def register_hf_rollout() -> None:
    # Only names here: this runs inside verl's own import (verl/__init__.py), possibly
    # triggered by importing hf_rollout itself, which must not be imported back.
    from verl.workers.rollout import base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    RolloutReplicaRegistry.register(ROLLOUT_NAME, _load_hf_replica)
    # verl 0.9.1 has no public registration for the worker-side adapter: get_rollout_class
    # (verl/workers/rollout/base.py:97) reads this private dict of import paths.
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = ADAPTER_FQN


def activate() -> None:
    """Register everything the CPU run needs. Idempotent."""
    global _active
    if _active:
        return
    from . import cpu_platform, patches

    for key, value in CPU_ENV.items():
        os.environ.setdefault(key, value)
    # cpu_platform may be half-imported here (it imports verl, which imports us): it then
    # registers itself when its import completes
    if hasattr(cpu_platform, "register"):
        cpu_platform.register()
    register_hf_rollout()
    patches.apply_cpu_patches()
    _active = True
    logger.debug("persuasion-rl CPU support for verl activated (pid %d)", os.getpid())


def is_active() -> bool:
    return _active


if cpu_selected():
    activate()
else:
    from . import patches as _patches

    _patches.apply_gpu_patches()
