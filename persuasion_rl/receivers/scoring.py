"""Turning a Receiver's reply, or its next-token distribution, into a Likert score.

``sample`` mode generates the reply and parses ``<score>`` (the paper's way).
``expected`` mode runs one forward pass after the prefix ``<score>`` and takes the
probability-weighted mean of the seven digit tokens: far cheaper, and a smoother reward
(judges score better from the rating distribution than from one sampled rating).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from persuasion_rl.game.likert import LIKERT_POINTS
from persuasion_rl.game.parsing import ReceiverReply

SCORE_PREFIX = "<score>"
SCORE_STOP = "</score>"
# below this, the model is not answering with a Likert digit; its expectation means nothing
DEFAULT_MIN_DIGIT_MASS = 0.5


class ScoringMode(str, Enum):
    SAMPLE = "sample"
    EXPECTED = "expected"


@dataclass(frozen=True)
class ScoreResult:
    """One Receiver judgement. ``score`` is None when it could not be read."""

    mode: ScoringMode
    score: float | None
    distribution: dict[int, float] | None = None  # normalised over 1..7 (expected mode)
    digit_mass: float | None = None  # probability mass on the digits before normalising
    reply: ReceiverReply | None = None  # sample mode: the parsed reply
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.score is not None


def digit_distribution(top_logprobs: dict[str, float]) -> tuple[dict[int, float], float]:
    """Sum probabilities of tokens that are a Likert digit, with or without surrounding
    whitespace ("4" and " 4" are different tokens in most vocabularies), and normalise.
    Returns (distribution over 1..7, raw digit mass)."""
    mass = {point: 0.0 for point in LIKERT_POINTS}
    for token, logprob in top_logprobs.items():
        stripped = token.strip()
        if len(stripped) == 1 and stripped.isdigit() and int(stripped) in mass:
            mass[int(stripped)] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        return {}, 0.0
    return {point: p / total for point, p in mass.items()}, total


def expected_score(top_logprobs: dict[str, float], min_digit_mass: float = DEFAULT_MIN_DIGIT_MASS) -> ScoreResult:
    distribution, total = digit_distribution(top_logprobs)
    if total <= 0.0 or total < min_digit_mass:  # no digit at all is unreadable at any threshold
        return ScoreResult(
            ScoringMode.EXPECTED, None, distribution or None, total,
            error=f"only {total:.3f} of the next-token probability is on the digits 1-7 (need {min_digit_mass})",
        )
    value = sum(point * p for point, p in distribution.items())
    return ScoreResult(ScoringMode.EXPECTED, value, distribution, total)


def sampled_score(reply: ReceiverReply) -> ScoreResult:
    if reply.ok:
        return ScoreResult(ScoringMode.SAMPLE, float(reply.score), reply=reply)
    return ScoreResult(ScoringMode.SAMPLE, None, reply=reply, error=reply.error)
