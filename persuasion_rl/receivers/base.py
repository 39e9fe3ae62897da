"""The one small interface every Receiver backend implements.

A backend is a chat model that can (a) generate replies and (b) give the next-token
log-probabilities after an assistant prefill. Everything persuasion-specific (prompts,
scoring modes, priors) is built on top in ``receiver.py``, so a new backend is two
methods. Backends are async: the reward loop and the agent loop call them concurrently,
and batching happens where it pays (in the local model's micro-batcher or the server).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

Message = dict[str, str]


class ReceiverError(RuntimeError):
    """A Receiver call that failed after its retries. Never converted into a score."""


class ReceiverRejected(ReceiverError):
    """The Receiver refused the request (HTTP 4xx: an unknown model name, too many
    top_logprobs...): the configuration is wrong, so every call will fail the same way.
    Never retried, and never skipped as one unlucky sample (``parse_failure=skip``)."""


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str  # "stop" (end of turn or a stop string) or "length"
    completion_tokens: int = 0


@runtime_checkable
class ChatBackend(Protocol):
    """What a Receiver needs from an LLM. ``prefill`` is the start of the assistant reply,
    continued rather than restarted (vLLM's ``continue_final_message``). A backend with its
    tokenizer at hand may also expose ``control_tokens`` (see ``backend_control_tokens``)."""

    name: str

    async def generate(self, messages: list[Message], params: GenerationParams, prefill: str = "") -> Generation: ...

    async def next_token_logprobs(self, messages: list[Message], prefill: str, top_k: int) -> dict[str, float]:
        """Log-probabilities of the most likely next tokens after ``prefill``, keyed by
        token text (as OpenAI's ``top_logprobs``): at least the ``top_k`` best."""
        ...


def backend_control_tokens(backend: ChatBackend) -> frozenset[str]:
    """The strings the backend's tokenizer reads as control tokens, for the Sender guard,
    when the backend has its tokenizer at hand (an optional ``control_tokens`` attribute:
    ``TransformersChatModel``). Empty for a remote endpoint: the guard then neutralises the
    common chat formats' control tokens only."""
    return frozenset(getattr(backend, "control_tokens", None) or ())


@dataclass
class CallStats:
    """Counts of a backend's calls, surfaced as metrics (receiver/errors, ...)."""

    requests: int = 0
    errors: int = 0
    retries: int = 0
    timeouts: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_metrics(self, prefix: str = "receiver/") -> dict[str, int]:
        base = {"requests": self.requests, "errors": self.errors, "retries": self.retries, "timeouts": self.timeouts}
        return {prefix + k: v for k, v in {**base, **self.extra}.items()}


# The calls of one reward computation share an HTTP client with every other concurrent
# computation; each asyncio task (one per sample in verl's reward loop) can set its own
# CallStats here to learn what its own calls cost (retries, timeouts) per sample.
TASK_CALL_STATS: ContextVar[CallStats | None] = ContextVar("persuasion_rl_task_call_stats", default=None)


def count_call(field_name: str, amount: int = 1, *, backend_stats: CallStats) -> None:
    """Add to a backend's totals and to the current task's own CallStats, if any."""
    for stats in (backend_stats, TASK_CALL_STATS.get()):
        if stats is not None:
            setattr(stats, field_name, getattr(stats, field_name) + amount)
