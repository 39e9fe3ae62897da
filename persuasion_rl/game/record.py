"""The transcript record: one game as one JSON object, the format of
``transcripts.jsonl``. Written here (``game_record``, ``unplayed_record``) and validated
here (``parse_record``), for every reader: the evaluation's statistics
(``eval/records.py``) and the annotation platform (``annotate/transcripts.py``).

Fields: ``game_id``, ``claim_id``, ``claim``, ``corpus``, ``setting`` ("static" or
"dynamic"), ``sender``, ``receiver``, ``sample`` (an integer >= 0), ``prior`` (the
Receiver's opening turn), ``rounds`` (numbered 1, 2, ... in order, each with
``sender_argument``, ``sender_raw`` and the ``receiver`` turn that answered it; a round
cut short has "" and an empty turn), ``final_score``, ``gain`` (null unless the game
finished: ``ok``), ``errors``. A Receiver turn is ``persuasion_rl.game.turn.ReceiverTurn``'s
object: ``score`` (the Likert point written, 1-7 or null), ``opinion``, ``question``,
``raw``, and the optional ``mode_score`` (the score gains use), ``distribution``,
``error``. Writers may add fields of their own (the evaluation's are listed in
``eval/records.py``); readers ignore what they do not know.

A bad record raises ``RecordError`` naming the dotted path of the field
(``rounds[1].receiver.score``); the file readers add the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .gains import persuasion_gain
from .likert import LIKERT_MAX, LIKERT_MIN, is_valid_score
from .parsing import ReceiverReply
from .turn import ReceiverTurn

if TYPE_CHECKING:
    from .engine import Game

SETTINGS = ("static", "dynamic")


class RecordError(ValueError):
    """A transcript record that does not follow the format; names the field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"field '{field}': {problem}")


# ---- writing ---------------------------------------------------------------------------


def _round(number: int, argument: str | None, raw: str, status: str, turn: ReceiverTurn | None) -> dict[str, Any]:
    # a string and a Receiver object in every round, also in a round cut short
    return {"round": number, "sender_argument": argument or "", "sender_raw": raw, "argument_status": status,
            "receiver": (turn or ReceiverTurn(None, None)).as_dict()}


def game_record(game: Game, **meta: Any) -> dict[str, Any]:
    """A played game's record; ``meta`` holds the identity fields (game_id, claim_id,
    corpus, sender, receiver, sample) and the writer's own."""
    return {
        **meta,
        "claim": game.claim,
        "setting": game.config.prompts.setting.value,
        "prior": game.prior.as_dict(),
        "rounds": [_round(r.round, r.sender_argument, r.sender_raw, r.argument_status.value, r.receiver) for r in game.rounds],
        "score_trajectory": game.score_trajectory,
        "final_score": game.final_score,
        "gain": persuasion_gain(game.prior.mode_score, game.final_score) if game.final_score is not None else None,
        "ok": game.finished and game.aborted is None,
        "errors": [game.aborted] if game.aborted else [],
    }


def unplayed_record(claim: str, setting: str, prior: ReceiverTurn | None, error: str, **meta: Any) -> dict[str, Any]:
    """The record of a game that could not start (its opening turn is unusable)."""
    return {**meta, "claim": claim, "setting": setting, "prior": (prior or ReceiverTurn(None, None)).as_dict(),
            "rounds": [], "score_trajectory": [], "final_score": None, "gain": None, "ok": False, "errors": [error]}


# ---- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRound:
    """A Sender argument and the Receiver's reply to it."""

    round: int
    sender_argument: str
    sender_raw: str
    receiver: ReceiverTurn

    @property
    def sender_text(self) -> str:
        # An empty extracted argument still leaves the raw reply, which is what was said.
        return self.sender_argument if self.sender_argument.strip() else self.sender_raw


@dataclass(frozen=True)
class GameRecord:
    """One transcript record, validated."""

    game_id: str
    claim_id: str
    claim: str
    corpus: str
    setting: str
    sender: str
    receiver: str
    sample: int
    prior: ReceiverTurn
    rounds: tuple[RecordedRound, ...]
    final_score: int | float | None
    gain: int | float | None
    ok: bool
    errors: tuple[str, ...]

    @property
    def n_rounds(self) -> int:
        return len(self.rounds)

    @property
    def annotatable(self) -> bool:
        """Whether people can judge it: a finished game with every message present."""
        return (
            self.ok
            and self.n_rounds > 0
            and self.prior.has_text
            and all(r.sender_text.strip() and r.receiver.has_text for r in self.rounds)
        )

    def round_at(self, number: int) -> RecordedRound:
        if not 1 <= number <= self.n_rounds:
            raise KeyError(number)
        return self.rounds[number - 1]


def _describe(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _get(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise RecordError(f"{path}{key}", "missing")
    return obj[key]


def _str(obj: dict[str, Any], key: str, path: str, *, nullable: bool = False, nonempty: bool = False) -> Any:
    value = _get(obj, key, path)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        expected = "a string or null" if nullable else "a string"
        raise RecordError(f"{path}{key}", f"expected {expected}, got {_describe(value)}")
    if nonempty and not value.strip():
        raise RecordError(f"{path}{key}", "must not be empty")
    return value


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _optional_number(obj: dict[str, Any], key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is not None and not _number(value):
        raise RecordError(f"{path}{key}", f"expected a number or null, got {_describe(value)}")
    return value


def _score(obj: dict[str, Any], key: str, path: str) -> int | None:
    value = _get(obj, key, path)
    if value is not None and not is_valid_score(value):
        raise RecordError(f"{path}{key}", f"expected an integer {LIKERT_MIN}-{LIKERT_MAX} or null, got {_describe(value)}")
    return value


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError(path, f"expected an object, got {_describe(value)}")
    return value


def _distribution(obj: dict[str, Any], path: str) -> dict[int, float] | None:
    value = obj.get("distribution")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(str(k).isdigit() and _number(v) for k, v in value.items()):
        raise RecordError(f"{path}distribution", "expected an object of Likert point -> probability, or null")
    return {int(k): float(v) for k, v in value.items()}


def parse_turn(value: Any, path: str) -> ReceiverTurn:
    """A Receiver turn from its record object. Without ``mode_score`` (a record written by
    hand, or by an older version) the written score stands for it."""
    obj = _object(value, path)
    prefix = f"{path}."
    score = _score(obj, "score", prefix)
    reply = ReceiverReply(raw=_str(obj, "raw", prefix), score=score, opinion=_str(obj, "opinion", prefix, nullable=True),
                          thinking=None, question=_str(obj, "question", prefix, nullable=True))
    mode_score = _optional_number(obj, "mode_score", prefix) if "mode_score" in obj else score
    error = obj.get("error")
    return ReceiverTurn(reply, None if mode_score is None else float(mode_score), _distribution(obj, prefix),
                        error if isinstance(error, str) else None)


def _parse_round(value: Any, index: int) -> RecordedRound:
    path = f"rounds[{index}]"
    obj = _object(value, path)
    number = _get(obj, "round", f"{path}.")
    # Rounds are numbered from 1 in order; annotations are keyed by this number.
    if not _int(number) or number != index + 1:
        raise RecordError(f"{path}.round", f"expected {index + 1} (rounds numbered 1, 2, ... in order), got {_describe(number)}")
    return RecordedRound(
        round=number,
        sender_argument=_str(obj, "sender_argument", f"{path}."),
        sender_raw=_str(obj, "sender_raw", f"{path}."),
        receiver=parse_turn(_get(obj, "receiver", f"{path}."), f"{path}.receiver"),
    )


def _rounds(obj: dict[str, Any]) -> tuple[RecordedRound, ...]:
    value = _get(obj, "rounds", "")
    if not isinstance(value, list):
        raise RecordError("rounds", f"expected a list, got {_describe(value)}")
    return tuple(_parse_round(item, i) for i, item in enumerate(value))


def _errors(obj: dict[str, Any]) -> tuple[str, ...]:
    value = _get(obj, "errors", "")
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise RecordError("errors", "expected a list of strings")
    return tuple(value)


def _setting(obj: dict[str, Any]) -> str:
    value = _get(obj, "setting", "")
    if value not in SETTINGS:
        raise RecordError("setting", f"expected \"static\" or \"dynamic\", got {_describe(value)}")
    return value


def _typed(obj: dict[str, Any], key: str, check: Any, expected: str) -> Any:
    value = _get(obj, key, "")
    if not check(value):
        raise RecordError(key, f"expected {expected}, got {_describe(value)}")
    return value


def _gain_and_ok(obj: dict[str, Any]) -> tuple[float | None, bool]:
    # JSON writers may print a whole-number float as 1; accept any number for gain.
    gain = _typed(obj, "gain", lambda v: v is None or _number(v), "a number or null")
    ok = _typed(obj, "ok", lambda v: isinstance(v, bool), "true or false")
    if ok and gain is None:
        raise RecordError("gain", "a finished game (ok: true) needs a gain")
    return gain, ok  # as written: the annotation platform compares records byte for byte


def parse_record(record: Any) -> GameRecord:
    """One game from its decoded JSON object; raises RecordError naming the bad field
    (the first one, in the order of the module docstring)."""
    obj = _object(record, "(line)")
    text = lambda key: _str(obj, key, "", nonempty=True)  # noqa: E731
    game_id, claim_id, claim, corpus = text("game_id"), text("claim_id"), text("claim"), text("corpus")
    setting, sender, receiver = _setting(obj), text("sender"), text("receiver")
    sample = _typed(obj, "sample", lambda v: _int(v) and v >= 0, "an integer >= 0")
    prior, rounds = parse_turn(_get(obj, "prior", ""), "prior"), _rounds(obj)
    final_score = _typed(obj, "final_score", lambda v: v is None or _number(v), "a number or null")
    gain, ok = _gain_and_ok(obj)
    return GameRecord(game_id, claim_id, claim, corpus, setting, sender, receiver, sample, prior, rounds,
                      final_score, gain, ok, _errors(obj))


def _shown_turn(turn: ReceiverTurn) -> dict[str, Any]:
    reply = turn.reply  # parse_turn always builds one
    return {"score": reply.score, "opinion": reply.opinion, "question": reply.question, "raw": reply.raw}


def record_to_dict(game: GameRecord) -> dict[str, Any]:
    """The record's JSON object again, with the fields people are shown (the annotation
    platform stores exactly this, and compares it when a file is served again)."""
    return {
        "game_id": game.game_id, "claim_id": game.claim_id, "claim": game.claim, "corpus": game.corpus,
        "setting": game.setting, "sender": game.sender, "receiver": game.receiver, "sample": game.sample,
        "prior": _shown_turn(game.prior),
        "rounds": [
            {"round": r.round, "sender_argument": r.sender_argument, "sender_raw": r.sender_raw, "receiver": _shown_turn(r.receiver)}
            for r in game.rounds
        ],
        "final_score": game.final_score, "gain": game.gain, "ok": game.ok, "errors": list(game.errors),
    }
