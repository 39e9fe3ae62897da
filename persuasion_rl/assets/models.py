"""The project's named models, as model specs accept them: ``tiny`` (random weights, for
unit tests) and the real ones (``smollm2``, ``gemma``: ``assets/real.py``).

``named_model_path(spec, role)`` is the one place a name becomes a local folder; every
``--sender`` / ``--receiver`` / ``--model`` option goes through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from persuasion_rl.game.prompts import (DEFAULT_SENDER_WORD_LIMIT, PAPER_RECEIVER_PROMPT, PAPER_SENDER_PROMPT, SMALL_RECEIVER_PROMPT,
                                        SMALL_SENDER_PROMPT)
from persuasion_rl.receivers.scoring import DEFAULT_MIN_DIGIT_MASS

from .real import REAL_MODELS

TINY = "tiny"
MODEL_NAMES = (TINY, *REAL_MODELS)
# The Receiver and Sender a newcomer gets: the real model whose scores are readable
# (benchmarks/receiver_readability.py measures it).
DEFAULT_REAL_MODEL = "smollm2"


def is_named_model(spec: str) -> bool:
    return spec in MODEL_NAMES


def named_model_path(spec: str, role: str = "receiver") -> Path | None:
    """The folder of a named model (built or converted on first use), or None when
    ``spec`` is not a name. ``tiny`` has a Sender and a Receiver; a real model plays both."""
    if spec == TINY:
        from .tiny import build_tiny_models

        assets = build_tiny_models()
        return assets.sender if role == "sender" else assets.receiver
    if spec in REAL_MODELS:
        from .real import real_model

        return real_model(spec)
    return None


def display_name(spec: str, role: str) -> str | None:
    """The name a named model goes by in results: ``tiny-sender``, ``smollm2``."""
    if spec == TINY:
        return f"tiny-{role}"
    return spec if spec in REAL_MODELS else None


@dataclass(frozen=True)
class ReceiverDefaults:
    """The Receiver prompt version and expected-mode threshold a model is played with
    unless a flag says otherwise: measured, per model, by benchmarks/receiver_readability.py."""

    receiver_prompt: str = PAPER_RECEIVER_PROMPT
    min_digit_mass: float = DEFAULT_MIN_DIGIT_MASS


# Measured with benchmarks/receiver_readability.py (README "Real small models as Receivers"):
# SmolLM2 with small-v1 put 0.54-0.68 of its next-token probability on the digits (all 64
# turns readable at the default 0.5); with the paper's prompt 0.3-0.45 (none readable at 0.5).
# Gemma 3 270M (a base model) put 0.02-0.04 there with small-v1: it has no entry, so it is
# played with the paper's settings and its unreadable scores stay unreadable.
RECEIVER_DEFAULTS = {
    "smollm2": ReceiverDefaults(SMALL_RECEIVER_PROMPT, DEFAULT_MIN_DIGIT_MASS),
}


@dataclass(frozen=True)
class SenderDefaults:
    """The Sender prompt version and word limit a model is played with unless a flag says otherwise."""

    sender_prompt: str = PAPER_SENDER_PROMPT
    sender_word_limit: int = DEFAULT_SENDER_WORD_LIMIT
    max_tokens: int = 1024  # a cap: a paper-v1 reply stops at </argument>


# SmolLM2-135M never wrote the paper's <argument> tags (0/8 replies; configs/smol_cpu.yaml):
# it is played with the small-Sender prompt, whose whole reply is the argument, and the
# 40-word limit and 64-token replies of the laptop recipes (configs/smol_cpu.yaml).
SENDER_DEFAULTS = {"smollm2": SenderDefaults(SMALL_SENDER_PROMPT, 40, 64)}


def sender_defaults(spec: str, sender_prompt: str | None = None, sender_word_limit: int | None = None,
                    max_tokens: int | None = None) -> SenderDefaults:
    """The settings to play ``spec`` as a Sender with: the flags given (not None), else the
    named model's, else the paper's. A trained checkpoint is a folder: pass the flags its
    recipe trained with (e.g. ``--sender-prompt small-v1 --sender-word-limit 40``)."""
    base = SENDER_DEFAULTS.get(spec, SenderDefaults())
    return SenderDefaults(sender_prompt or base.sender_prompt, sender_word_limit or base.sender_word_limit,
                          max_tokens or base.max_tokens)


def receiver_defaults(spec: str, receiver_prompt: str | None = None, min_digit_mass: float | None = None) -> ReceiverDefaults:
    """The settings to play ``spec`` with: the flags given (not None), else the named
    model's measured ones, else the paper's."""
    base = RECEIVER_DEFAULTS.get(spec, ReceiverDefaults())
    return ReceiverDefaults(receiver_prompt or base.receiver_prompt,
                            base.min_digit_mass if min_digit_mass is None else min_digit_mass)
