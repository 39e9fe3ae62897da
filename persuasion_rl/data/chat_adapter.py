"""The project's async chat backends behind summarisation's synchronous ``GenerateBackend``.

``summarize.py`` calls ``backend.generate(conversations, max_tokens=..., temperature=...)``
once per batch and expects one output per conversation. ``ChatBackendAdapter`` runs the
batch's calls concurrently on a private event loop (so the local transformers backend
micro-batches them into one forward pass, and an endpoint gets them in parallel), and
returns ``""`` for a call that failed after its retries: summarisation counts an empty
answer as a failure, does not cache it, and retries it on the next run.

``make(spec)`` is the factory ``data summarize --backend`` loads by default, so
``--model`` takes the Receivers' specs: ``tiny``, ``hf:PATH``, ``openai:URL#MODEL``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ..receivers.base import ChatBackend, GenerationParams, ReceiverError
from ..receivers.receiver import gather_limited

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16


class ChatBackendAdapter:
    def __init__(self, backend: ChatBackend, *, concurrency: int = DEFAULT_CONCURRENCY, model_name: str | None = None) -> None:
        self.backend = backend
        self.model_name = model_name or backend.name
        self.concurrency = concurrency
        self.failures = 0
        self._loop = asyncio.new_event_loop()

    async def _one(self, conversation: list[dict[str, str]], params: GenerationParams) -> str:
        try:
            return (await self.backend.generate(conversation, params)).text
        except ReceiverError as error:
            self.failures += 1
            log.warning("summary call failed (counted as an empty answer): %s", error)
            return ""

    def generate(self, conversations: list[list[dict[str, str]]], *, max_tokens: int, temperature: float = 0.0) -> Sequence[str]:
        params = GenerationParams(max_tokens=max_tokens, temperature=temperature)
        calls = [self._one(c, params) for c in conversations]
        return self._loop.run_until_complete(gather_limited(calls, self.concurrency))

    def close(self) -> None:
        close = getattr(self.backend, "aclose", None)
        if close is not None and not self._loop.is_closed():
            self._loop.run_until_complete(close())
        self._loop.close()


def make(spec: str) -> ChatBackendAdapter:
    """``--backend persuasion_rl.data.chat_adapter:make --model SPEC``."""
    from ..receivers.factory import make_backend

    return ChatBackendAdapter(make_backend(spec))
