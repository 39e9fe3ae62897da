"""The one factory from ``ReceiverSettings`` (``receivers/settings.py``) to a ``ChatBackend``.

``make_backend`` builds a fresh backend (CLIs, evaluation: they close it when done);
``cached_backend`` keeps one per settings and process, for the callers verl runs many
times in one worker (the static reward, the dynamic agent loop): one HTTP client or one
loaded model per worker, shared by every concurrent sample.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import ChatBackend
from .settings import TINY_RECEIVER_NAME, ReceiverSettings, ReceiverSpecError

_CACHE: dict[ReceiverSettings, ChatBackend] = {}


def tiny_receiver_path() -> str:
    from persuasion_rl.assets.tiny import build_tiny_models

    return str(build_tiny_models().receiver)


def make_backend(settings: ReceiverSettings | str) -> ChatBackend:
    """A backend for ``settings`` (or a spec string, parsed by ``ReceiverSettings.from_spec``)."""
    if isinstance(settings, str):
        settings = ReceiverSettings.from_spec(settings)
    if settings.kind == "openai":
        return _endpoint(settings)
    if settings.kind == "tiny_cpu":
        return _local(settings.path or tiny_receiver_path(), settings.name or TINY_RECEIVER_NAME, settings)
    if settings.kind == "hf":
        return _local(settings.path, settings.name, settings)
    raise ReceiverSpecError(
        "a persuasion.receiver.kind=vllm Receiver is served by verl's reward loop (reward.reward_model.enable=true) and "
        "reached only through its router; elsewhere use receiver=openai (any OpenAI-compatible server) or a local "
        "model (kind tiny_cpu / hf)"
    )


def cached_backend(settings: ReceiverSettings) -> ChatBackend:
    """One backend per settings in this process."""
    if settings not in _CACHE:
        _CACHE[settings] = make_backend(settings)
    return _CACHE[settings]


def cached_backends() -> list[ChatBackend]:
    return list(_CACHE.values())


def clear_cache() -> None:
    _CACHE.clear()


def _endpoint(settings: ReceiverSettings) -> ChatBackend:
    from .openai_backend import OpenAIChatModel

    if not settings.endpoint or not settings.name:
        raise ReceiverSpecError("an openai Receiver needs persuasion.receiver.endpoint (http://host:port/v1) and .name (the served model)")
    return OpenAIChatModel(settings.endpoint, settings.name, api_key=os.environ.get(settings.api_key_env), retry=settings.retry,
                           max_concurrency=settings.max_concurrency)


def _local(path: str | None, name: str | None, settings: ReceiverSettings) -> ChatBackend:
    if not path or not Path(path).exists():
        raise ReceiverSpecError(
            f"Receiver {path!r}: no such local model directory. Give a path (hf:/path/to/model), "
            "an endpoint (openai:http://host:port/v1#model) or a model name (tiny, smollm2, gemma). Models are not downloaded here."
        )
    from .transformers_backend import TransformersChatModel

    return TransformersChatModel(path, device=settings.device, name=name, max_batch_size=settings.max_concurrency)
