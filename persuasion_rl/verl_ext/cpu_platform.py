"""A CPU platform for verl's platform registry.

verl 0.9.1 resolves every device question (device name, communication backend, Ray
resource, memory calls) through ``verl.plugin.platform.get_platform()``. It ships CUDA,
NPU and ROCm platforms only; this one lets the real trainer run on a CPU-only machine.
It is registered under ``"cpu"`` by :mod:`persuasion_rl.verl_ext.bootstrap` and selected
with ``VERL_PLATFORM=cpu`` (see ``verl/plugin/platform/platform_manager.py``).
"""

from __future__ import annotations

import logging
import types
from contextlib import contextmanager
from typing import Any, Optional

import psutil
import torch

from verl.plugin.platform import PlatformBase, PlatformRegistry

from .bootstrap import cpu_selected

logger = logging.getLogger(__name__)

PLATFORM_NAME = "cpu"


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _zero(*args: Any, **kwargs: Any) -> int:
    return 0


def _mem_get_info(*args: Any, **kwargs: Any) -> tuple[int, int]:
    """(free, total) bytes, as ``torch.cuda.mem_get_info`` reports them; verl logs it."""
    memory = psutil.virtual_memory()
    return memory.available, memory.total


def build_device_module() -> types.ModuleType:
    """``torch.cpu`` plus the ``torch.cuda``-style calls verl makes on its device module.

    verl calls ``get_torch_device().empty_cache()``, ``mem_get_info()``,
    ``get_rng_state()`` and friends; ``torch.cpu`` lacks them. Cache and sync calls are
    no-ops, memory statistics are zero (verl only logs them) and the RNG state is the CPU
    generator's, so checkpoints save and restore it.
    """
    module = types.ModuleType("persuasion_rl_cpu_device")
    for name in dir(torch.cpu):
        if not name.startswith("__"):
            setattr(module, name, getattr(torch.cpu, name))
    # verl does ``tensor.to(get_device_id())``: the id must be a device string, not 0,
    # or torch tries an accelerator ("Cannot access accelerator device").
    module.current_device = lambda: PLATFORM_NAME
    module.is_available = lambda: True
    module.device_count = lambda: 1
    module.set_device = _noop
    module.synchronize = _noop
    module.empty_cache = _noop
    module.ipc_collect = _noop
    module.reset_peak_memory_stats = _noop
    module.set_per_process_memory_fraction = _noop
    module.memory_allocated = _zero
    module.memory_reserved = _zero
    module.max_memory_allocated = _zero
    module.max_memory_reserved = _zero
    module.mem_get_info = _mem_get_info
    module.get_device_name = lambda *a, **k: "cpu"
    module.get_rng_state = lambda *a, **k: torch.get_rng_state()
    module.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)
    module.manual_seed = torch.manual_seed
    module.manual_seed_all = torch.manual_seed
    return module


_DEVICE_MODULE = build_device_module()


class PlatformCPU(PlatformBase):
    """verl platform backed by the host CPU.

    Two answers are deliberately not "CPU": ``ray_resource_name`` is ``"GPU"`` because
    verl's ResourcePoolManager only schedules GPU/NPU bundles (Ray is started with
    declared fake GPUs instead), and the engine registry is steered with
    ``VERL_ENGINE_DEVICE=cuda`` to pick the FSDP engine, which then runs on this device.
    """

    @property
    def device_name(self) -> str:
        return PLATFORM_NAME

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return _DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never win verl's auto-detection: the CPU platform is chosen explicitly.
        return False

    def current_device(self) -> str:  # type: ignore[override]  # verl needs a device string
        return PLATFORM_NAME

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: Optional[int] = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[Optional[int], Optional[int]]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        # Ray sets it for actors holding (declared) GPUs; nothing reads it on a CPU.
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None


def register() -> type[PlatformCPU]:
    """Register the platform (idempotent: re-registering the same class is a no-op)."""
    if PlatformRegistry.get(PLATFORM_NAME) is not PlatformCPU:
        PlatformRegistry.register(platform=PLATFORM_NAME)(PlatformCPU)
    return PlatformCPU


if cpu_selected():
    register()
