"""What a page shows: the conversation of a game as a list of messages, and the split
between earlier context and the update being judged. Kept apart from the web layer so the
display logic is plain data that tests can check."""

from __future__ import annotations

from dataclasses import dataclass

from ..game.likert import LIKERT_LABELS
from ..game.record import GameRecord
from ..game.turn import ReceiverTurn


@dataclass(frozen=True)
class Message:
    role: str  # "receiver" or "sender"
    title: str
    opinion: str = ""
    question: str = ""
    text: str = ""  # shown when the Receiver's reply could not be split, and for the Sender
    score: int | None = None
    score_label: str = ""
    delta: int | None = None  # change of the Receiver's score since its previous message


def _receiver(turn: ReceiverTurn, title: str, previous: int | None) -> Message:
    reply = turn.reply  # always there in a parsed record
    opinion, question = (reply.opinion or "").strip(), (reply.question or "").strip()
    # When the eval could not split the reply, the raw text is what the Receiver said.
    text = "" if (opinion or question) else reply.raw.strip()
    # people see the Likert point the Receiver wrote, not the expected score
    label = LIKERT_LABELS.get(reply.score, "") if reply.score is not None else "not stated"
    delta = reply.score - previous if reply.score is not None and previous is not None else None
    return Message("receiver", title, opinion, question, text, reply.score, label, delta)


def conversation(game: GameRecord, up_to_round: int | None = None) -> list[Message]:
    """The prior, then per round the Sender's argument and the Receiver's reply."""
    last = game.n_rounds if up_to_round is None else up_to_round
    messages = [_receiver(game.prior, "Receiver · initial view", None)]
    previous = game.prior.reply.score
    for r in game.rounds[:last]:
        messages.append(Message("sender", f"Sender · argument {r.round}", text=r.sender_text.strip()))
        messages.append(_receiver(r.receiver, f"Receiver · reply to argument {r.round}", previous))
        previous = r.receiver.reply.score if r.receiver.reply.score is not None else previous
    return messages


@dataclass(frozen=True)
class RoundView:
    earlier: list[Message]  # collapsed context before the update
    before: Message  # the Receiver's belief before the argument
    argument: Message
    after: Message  # the update being judged


def round_view(game: GameRecord, round_number: int) -> RoundView:
    messages = conversation(game, round_number)
    # messages: prior, (argument, reply) * round_number -> the last three are the update.
    return RoundView(earlier=messages[:-3], before=messages[-3], argument=messages[-2], after=messages[-1])
