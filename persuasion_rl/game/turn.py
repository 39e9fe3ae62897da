"""The Receiver's turn: its opening turn for a claim (the prior) and its reply after each
round, one type for both and for every reader (the game engine, the prior cache, the
evaluation, the annotation platform).

Two scores, named apart: ``reply.score`` is the Likert point the Receiver *wrote*
(``<score>N</score>``, None when it wrote none or was not asked to reply), and
``mode_score`` is the score in the scoring mode in use (the expected score over the
digits, or the sampled one), the one every gain is measured with. The transcript record
writes them as ``score`` and ``mode_score``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .parsing import ReceiverReply


@dataclass(frozen=True)
class ReceiverTurn:
    reply: ReceiverReply | None  # None when only a score was asked for
    mode_score: float | None
    distribution: dict[int, float] | None = None  # over 1..7 (expected mode)
    error: str | None = None  # why there is no score

    @property
    def ok(self) -> bool:
        """A score was read."""
        return self.mode_score is not None

    @property
    def opens_game(self) -> bool:
        """Usable as the opening turn: a score, and a message for the Sender to read."""
        return self.ok and self.reply is not None and bool(self.reply.transcript_message)

    @property
    def has_text(self) -> bool:
        reply = self.reply
        return reply is not None and bool((reply.opinion or "").strip() or (reply.question or "").strip() or reply.raw.strip())

    def as_dict(self) -> dict[str, Any]:
        """The turn's object in the transcript record (``persuasion_rl.game.record``)."""
        reply = self.reply
        return {
            "score": reply.score if reply else None,  # the Likert point the Receiver wrote
            "opinion": reply.opinion if reply else None,
            "question": reply.question if reply else None,
            "raw": reply.raw if reply else "",
            "mode_score": self.mode_score,  # the score the gain uses (expected or sampled)
            "distribution": {str(k): v for k, v in (self.distribution or {}).items()} or None,
            "error": self.error,
        }
