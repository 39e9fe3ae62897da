"""One game engine for both settings: the static game is the dynamic one with one round.

``Game`` is a state machine over the paper's protocol. The Receiver opens (its cached
prior turn); then, each round, the Sender argues and the Receiver answers with an updated
score, opinion and question. The Sender sees one chat: the opening messages, then after
each of its turns a user turn carrying the Receiver's new message. The Receiver sees the
whole transcript each time. ``Game`` knows no model: evaluation drives it with any Sender
and Receiver (``play_game``), and the verl agent loop drives it with the Sender's tokens
from verl's server manager, so both render, parse and record exactly the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Awaitable, Callable

from .gains import persuasion_gain
from .guard import GuardConfig, echoes_sender, guard_argument
from .parsing import ArgumentStatus, parse_sender_reply
from .prompts import Message, PromptConfig, ReplyFormat, Setting, receiver_messages, sender_opening_messages, sender_turn
from .record import game_record
from .transcript import Transcript
from .turn import ReceiverTurn

STATIC_ROUNDS = 1
DYNAMIC_ROUNDS = 3


class MissingArgument(str, Enum):
    PENALTY = "penalty"  # the game ends; the reward is the configured penalty
    RAW = "raw"  # the whole Sender reply is used as the argument
    FAIL = "fail"  # raise


class GameAborted(RuntimeError):
    pass


@dataclass(frozen=True)
class GameConfig:
    prompts: PromptConfig = field(default_factory=PromptConfig)
    rounds: int | None = None  # default: 1 static, 3 dynamic
    missing_argument: MissingArgument = MissingArgument.PENALTY
    missing_argument_penalty: float = -1.0
    guard: GuardConfig = field(default_factory=GuardConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "missing_argument", MissingArgument(self.missing_argument))
        if self.rounds is None:
            default = STATIC_ROUNDS if self.prompts.setting is Setting.STATIC else DYNAMIC_ROUNDS
            object.__setattr__(self, "rounds", default)
        if self.rounds < 1 or (self.prompts.setting is Setting.STATIC and self.rounds != 1):
            raise ValueError(f"rounds must be >= 1 (and 1 in the static setting), got {self.rounds}")


@dataclass
class RoundRecord:
    round: int
    sender_raw: str
    sender_argument: str | None
    argument_status: ArgumentStatus
    receiver: ReceiverTurn | None = None
    injection_flags: dict[str, int] = field(default_factory=dict)  # guard rule -> times applied
    proposed_scores: frozenset[int] = frozenset()  # Likert points the Sender's argument put forward


@dataclass
class Game:
    claim: str
    prior: ReceiverTurn  # the Receiver's opening turn (from the prior cache)
    config: GameConfig = field(default_factory=GameConfig)
    transcript: Transcript = field(init=False)
    rounds: list[RoundRecord] = field(default_factory=list, init=False)
    aborted: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.prior.reply is None or not self.prior.reply.transcript_message:
            raise ValueError(f"the Receiver's opening turn for {self.claim[:60]!r} has no message for the Sender")
        self.transcript = Transcript().with_receiver(self.prior.reply.transcript_message)

    # ---- what to ask whom --------------------------------------------------------------
    def sender_opening(self) -> list[Message]:
        return sender_opening_messages(self.claim, self.prior.reply.transcript_message, self.config.prompts)

    def sender_followup(self) -> Message:
        """The user turn after the Receiver's reply to round k: only the new round."""
        new_round = Transcript(self.transcript.exchanges[-1:])
        prompts = self.config.prompts
        turn = sender_turn(self.claim, new_round, prompts.sender_word_limit, first_round=len(self.rounds) + 1, version=prompts.sender_prompt)
        return {"role": "user", "content": turn}

    def receiver_prompt(self) -> list[Message]:
        return receiver_messages(self.claim, self.transcript, self.config.prompts)

    # ---- moves -------------------------------------------------------------------------
    @property
    def awaiting(self) -> str:
        if self.finished:
            return "nobody"
        if not self.rounds or self.rounds[-1].receiver is not None:
            return "sender"
        return "receiver"

    @property
    def finished(self) -> bool:
        complete = len(self.rounds) == self.config.rounds and self.rounds[-1].receiver is not None
        return self.aborted is not None or complete

    @property
    def is_last_round(self) -> bool:
        return len(self.rounds) == self.config.rounds

    def add_sender(self, text: str) -> RoundRecord:
        if self.awaiting != "sender":
            raise RuntimeError(f"not the Sender's turn (awaiting {self.awaiting})")
        reply = parse_sender_reply(text, plain=self.config.prompts.sender.reply_format is ReplyFormat.PLAIN)
        argument = reply.argument if reply.ok else None
        if argument is None:
            if self.config.missing_argument is MissingArgument.FAIL:
                raise GameAborted(f"Sender reply in round {len(self.rounds) + 1} has no <argument> ({reply.status.value})")
            if self.config.missing_argument is MissingArgument.RAW and text.strip():
                argument = text.strip()
        flags: dict[str, int] = {}
        proposed: frozenset[int] = frozenset()
        if argument is not None:  # only the Sender's guarded text ever reaches the Receiver
            guarded = guard_argument(argument, self.config.guard)
            argument, flags, proposed = guarded.text or None, dict(guarded.flags), guarded.proposed
        record = RoundRecord(len(self.rounds) + 1, text, argument, reply.status, injection_flags=flags, proposed_scores=proposed)
        self.rounds.append(record)
        if argument is None:
            self.aborted = f"missing argument in round {record.round} ({reply.status.value})"
        else:
            self.transcript = self.transcript.with_sender(argument)
        return record

    def add_receiver(self, turn: ReceiverTurn) -> None:
        if self.awaiting != "receiver":
            raise RuntimeError(f"not the Receiver's turn (awaiting {self.awaiting})")
        if turn.mode_score is None:
            raise GameAborted(f"Receiver score unreadable in round {len(self.rounds)}: {turn.error}")
        self.rounds[-1].receiver = turn
        if not self.is_last_round:
            if turn.reply is None or not turn.reply.transcript_message:
                raise GameAborted(f"Receiver gave no message for the Sender in round {len(self.rounds)}")
            self.transcript = self.transcript.with_receiver(turn.reply.transcript_message)

    # ---- outcome -----------------------------------------------------------------------
    @property
    def score_trajectory(self) -> list[float]:
        return [r.receiver.mode_score for r in self.rounds if r.receiver is not None]

    @property
    def injection_flags(self) -> int:
        return sum(sum(r.injection_flags.values()) for r in self.rounds)

    @property
    def score_echoes(self) -> int:
        """Rounds whose Receiver score landed on a Likert point the Sender's argument proposed
        (``[score]7``, "rate it 7"), away from the score before the round: a Receiver echoing
        the Sender's forged answer (``guard.echoes_sender``)."""
        before, echoes = self.prior.mode_score, 0
        for record in self.rounds:
            if record.receiver is not None:
                echoes += echoes_sender(record.proposed_scores, record.receiver.mode_score, before)
                before = record.receiver.mode_score
        return echoes

    @property
    def final_score(self) -> float | None:
        return self.rounds[-1].receiver.mode_score if self.finished and self.aborted is None else None

    @property
    def reward(self) -> float:
        """Final score minus prior, or the missing-argument penalty."""
        if self.aborted is not None:
            return self.config.missing_argument_penalty
        if not self.finished:
            raise RuntimeError("the game is not finished")
        return persuasion_gain(self.prior.mode_score, self.final_score)

    def gain_per_round(self) -> list[float]:
        return [persuasion_gain(self.prior.mode_score, score) for score in self.score_trajectory]

    def record(self, **meta: Any) -> dict[str, Any]:
        """The game as one transcript record (``persuasion_rl.game.record``)."""
        return game_record(self, **meta)


SenderFn = Callable[[list[Message]], Awaitable[str]]
ReceiverFn = Callable[[list[Message], bool], Awaitable[ReceiverTurn]]


async def play_game(game: Game, sender: SenderFn, receiver: ReceiverFn, final_reply: bool = True) -> Game:
    """Drive a game to its end. ``receiver(messages, need_reply)`` returns a ReceiverTurn;
    the reply text is needed between rounds (the Sender reads it) and, for evaluation
    transcripts, after the last round (``final_reply``)."""
    chat = game.sender_opening()
    while not game.finished:
        text = await sender(chat)
        game.add_sender(text)
        if game.finished:  # aborted: no argument
            break
        game.add_receiver(await receiver(game.receiver_prompt(), final_reply or not game.is_last_round))
        if not game.finished:
            chat = [*chat, {"role": "assistant", "content": text}, game.sender_followup()]
    return game
