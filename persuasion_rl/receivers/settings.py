"""Who plays the Receiver and how it is reached: the one settings object for every caller.

``ReceiverSettings`` is built once — from the composed config's ``persuasion.receiver``
section (``from_config``), from a spec string a user typed (``from_spec``), or from the
static reward's kwargs — and ``receivers.factory`` turns it into a ``ChatBackend``. The
reward, the dynamic agent loop, evaluation and every CLI go through these two; the
client's timeout, retries and concurrency have their defaults here and only here.

Kinds:
* ``tiny_cpu`` — a local transformers model, by default the project's tiny Receiver;
* ``hf`` — a local transformers model at ``path``;
* ``openai`` — an OpenAI-compatible endpoint (``endpoint`` and the served model ``name``);
* ``vllm`` — served by verl's reward loop; the static reward reaches it through verl's
  ``reward_router_address`` and the dynamic agent loop through the same router (its
  address handed over by ``verl_ext/agent_loop_manager.py``), as an ``openai`` Receiver.

Spec strings: ``tiny``, ``smollm2``, ``gemma``, ``hf:PATH`` (or a bare local path), ``openai:BASE_URL#MODEL``
(or ``http(s)://BASE_URL#MODEL``); the API key comes from ``$OPENAI_API_KEY``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from persuasion_rl.errors import UserError, reject_unknown_fields

from .openai_backend import RetryPolicy

RECEIVER_KINDS = ("tiny_cpu", "hf", "vllm", "openai")
LOCAL_KINDS = ("tiny_cpu", "hf")
TINY_SPEC = "tiny"
TINY_RECEIVER_NAME = "tiny-receiver"
ENDPOINT_PREFIXES = ("openai:", "http://", "https://")


class ReceiverSpecError(UserError, ValueError):
    """A Receiver spec or settings section that names no reachable Receiver."""


@dataclass(frozen=True)
class ReceiverSettings:
    kind: str
    name: Optional[str] = None  # the model name an endpoint serves; a display name for local models
    endpoint: Optional[str] = None  # openai: http://host:port/v1 (or verl's ip:port router address)
    path: Optional[str] = None  # tiny_cpu / hf: the model folder (tiny_cpu: the tiny Receiver if unset)
    timeout_s: float = RetryPolicy.timeout_s  # per HTTP call
    max_retries: int = RetryPolicy.max_retries  # transport retries, with backoff and jitter
    max_concurrency: int = 16  # calls in flight per process (endpoint) / largest batch (local model)
    api_key_env: str = "OPENAI_API_KEY"
    device: Optional[str] = None  # a local model's torch device; None: cuda when available, else cpu

    def __post_init__(self) -> None:
        if self.kind not in RECEIVER_KINDS:
            raise ReceiverSpecError(f"persuasion.receiver.kind={self.kind!r}: expected one of {', '.join(RECEIVER_KINDS)}")
        for name in ("max_retries", "max_concurrency"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "max_retries" else 1):
                raise ReceiverSpecError(f"persuasion.receiver.{name}={value!r}: expected an integer >= {0 if name == 'max_retries' else 1}")
        if not isinstance(self.timeout_s, (int, float)) or self.timeout_s <= 0:
            raise ReceiverSpecError(f"persuasion.receiver.timeout_s={self.timeout_s!r}: expected a positive number of seconds")

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "ReceiverSettings":
        """The ``persuasion.receiver`` section; unknown keys are an error, not ignored."""
        reject_unknown_fields(cls, section, "persuasion.receiver field(s)", ReceiverSpecError)
        if "kind" not in section:
            raise ReceiverSpecError("persuasion.receiver.kind is missing (pick a receiver group: receiver=tiny_cpu|vllm|openai)")
        return cls(**section)

    @classmethod
    def from_spec(cls, spec: str, **client: Any) -> "ReceiverSettings":
        """``tiny``, a real model's name (``smollm2``, ``gemma``: converted from its wheel on
        first use), ``hf:PATH`` / a bare path, ``openai:URL#MODEL`` / ``http(s)://URL#MODEL``."""
        from persuasion_rl.assets.real import REAL_MODELS, real_model

        if spec == TINY_SPEC:
            return cls("tiny_cpu", name=TINY_RECEIVER_NAME, **client)
        if spec in REAL_MODELS:
            return cls("hf", name=spec, path=str(real_model(spec)), **client)
        if spec.startswith(ENDPOINT_PREFIXES):
            base_url, _, model = spec.removeprefix("openai:").partition("#")
            if not model:
                raise ReceiverSpecError(f"endpoint spec {spec!r} needs the model name after '#', e.g. http://host:8000/v1#my-model")
            return cls("openai", name=model, endpoint=base_url, **client)
        return cls("hf", path=spec.removeprefix("hf:"), **client)

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(max_retries=self.max_retries, timeout_s=float(self.timeout_s))

    def served_at(self, endpoint: str, name: str) -> "ReceiverSettings":
        """This Receiver reached through an OpenAI-compatible ``endpoint`` serving ``name``
        (verl's reward-model router for ``vllm``, ``tiny_cpu`` and ``hf``, in both games)."""
        return replace(self, kind="openai", endpoint=endpoint, name=name)
