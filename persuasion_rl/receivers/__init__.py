"""Receivers: frozen LLMs that read a persuasion transcript and report support 1-7.

One small interface (``ChatBackend``), two backends (local transformers; any
OpenAI-compatible endpoint), two scoring modes (``sample``, ``expected``) and an
on-disk cache of opening turns (priors)."""

from .base import CallStats, ChatBackend, Generation, GenerationParams, ReceiverError
from .receiver import Receiver, ScoringConfig, gather_limited, run_sync
from .scoring import ScoreResult, ScoringMode, digit_distribution, expected_score

__all__ = [
    "CallStats", "ChatBackend", "Generation", "GenerationParams", "Receiver", "ReceiverError",
    "ScoreResult", "ScoringConfig", "ScoringMode", "digit_distribution", "expected_score", "gather_limited", "run_sync",
]
