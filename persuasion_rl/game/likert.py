"""The Receiver's action space: a 7-point Likert scale of support for the claim.

The paper (section 4.1) maps action a_i to its ordinal position, g(a_i) = i, so the
Sender's payoff is the score itself and the persuasion gain is a score difference.
"""

from __future__ import annotations

LIKERT_MIN = 1
LIKERT_MAX = 7
LIKERT_POINTS: tuple[int, ...] = tuple(range(LIKERT_MIN, LIKERT_MAX + 1))

LIKERT_LABELS: dict[int, str] = {
    1: "completely oppose",
    2: "strongly oppose",
    3: "somewhat oppose",
    4: "neutral",
    5: "somewhat support",
    6: "strongly support",
    7: "completely support",
}


def is_valid_score(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and LIKERT_MIN <= value <= LIKERT_MAX
