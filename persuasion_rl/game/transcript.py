"""Transcripts of a persuasion game and their rendering in the paper's text format.

The format is the one the paper's code produced (../shared/data/paper_static): rounds
joined by four newlines, each round a header ``Round N`` followed by the Receiver's and
the Sender's messages in triple quotes. The Receiver's message carries one stray closing
quote (four in all) in every prompt of the paper's data; it is kept so that prompts rendered
here match the paper's training data byte for byte (tests/game/test_prompts.py checks all
2,617 rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

RECEIVER_QUOTE_CLOSE = '""""'  # sic: the paper's data has four closing quotes here
SENDER_QUOTE_CLOSE = '"""'


@dataclass(frozen=True)
class Exchange:
    """One round: the Receiver's message, then (once sent) the Sender's argument."""

    receiver_message: str
    sender_argument: str | None = None


@dataclass
class Transcript:
    """The visible conversation of one game. The Receiver always speaks first."""

    exchanges: list[Exchange] = field(default_factory=list)

    def with_receiver(self, message: str) -> "Transcript":
        if self.exchanges and self.exchanges[-1].sender_argument is None:
            raise ValueError("the Receiver cannot speak twice in a row")
        return Transcript([*self.exchanges, Exchange(receiver_message=message)])

    def with_sender(self, argument: str) -> "Transcript":
        if not self.exchanges or self.exchanges[-1].sender_argument is not None:
            raise ValueError("the Sender answers a Receiver message; none is pending")
        last = self.exchanges[-1]
        return Transcript([*self.exchanges[:-1], Exchange(last.receiver_message, argument)])


def render_round(number: int, exchange: Exchange | None) -> str:
    lines = [f"Round {number}"]
    if exchange is not None:
        lines.append(f'Receiver: """{exchange.receiver_message}{RECEIVER_QUOTE_CLOSE}')
        if exchange.sender_argument is not None:
            lines.append(f'Sender: """{exchange.sender_argument}{SENDER_QUOTE_CLOSE}')
    return "\n\n".join(lines)


def render_for_sender(transcript: Transcript, first_round: int = 1) -> str:
    """The transcript as the Sender sees it: every round up to the Receiver's last message."""
    blocks = [render_round(first_round + i, e) for i, e in enumerate(transcript.exchanges)]
    return "\n\n\n\n".join(blocks)


def render_for_receiver(transcript: Transcript) -> str:
    """The transcript as the Receiver sees it when it is its turn: all rounds, then the
    header of the new round in which it answers (``Round 1`` alone for the prior)."""
    blocks = [render_round(i + 1, e) for i, e in enumerate(transcript.exchanges)]
    blocks.append(render_round(len(transcript.exchanges) + 1, None))
    return "\n\n\n\n".join(blocks)
