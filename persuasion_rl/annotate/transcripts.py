"""Games to annotate: the JSON-lines schema the project's eval writes, read strictly.

Every line is one game. A malformed line is reported with the file, the line number and
the dotted path of the field, so a researcher can fix the eval output instead of
guessing; all problems of a file are reported at once (up to a cap), not one per run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import JsonlError, read_jsonl
from ..game.likert import LIKERT_MAX, LIKERT_MIN

SETTINGS = ("static", "dynamic")
MAX_REPORTED_ERRORS = 20


class TranscriptFileError(ValueError):
    """The transcripts file does not follow the schema; the message lists every problem."""


@dataclass(frozen=True)
class ReceiverTurn:
    """One Receiver message: its stance score (1-7, None when unparsed) and its parts."""

    score: int | None
    opinion: str | None
    question: str | None
    raw: str

    @property
    def has_text(self) -> bool:
        return bool((self.opinion or "").strip() or (self.question or "").strip() or self.raw.strip())


@dataclass(frozen=True)
class GameRound:
    """A Sender argument and the Receiver's updated reply: one annotation item."""

    round: int
    sender_argument: str
    sender_raw: str
    receiver: ReceiverTurn

    @property
    def sender_text(self) -> str:
        # An empty extracted argument still leaves the raw reply, which is what was said.
        return self.sender_argument if self.sender_argument.strip() else self.sender_raw


@dataclass(frozen=True)
class Game:
    game_id: str
    claim_id: str
    claim: str
    corpus: str
    setting: str
    sender: str
    receiver: str
    sample: int
    prior: ReceiverTurn
    rounds: tuple[GameRound, ...]
    final_score: int | float | None
    gain: float | None
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

    def round_at(self, number: int) -> GameRound:
        if not 1 <= number <= self.n_rounds:
            raise KeyError(number)
        return self.rounds[number - 1]


class _FieldError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"field '{path}': {message}")


def _describe(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _get(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise _FieldError(f"{path}{key}", "missing")
    return obj[key]


def _str(obj: dict[str, Any], key: str, path: str, *, nullable: bool = False, nonempty: bool = False) -> Any:
    value = _get(obj, key, path)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        expected = "a string or null" if nullable else "a string"
        raise _FieldError(f"{path}{key}", f"expected {expected}, got {_describe(value)}")
    if nonempty and not value.strip():
        raise _FieldError(f"{path}{key}", "must not be empty")
    return value


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _score(obj: dict[str, Any], key: str, path: str) -> int | None:
    value = _get(obj, key, path)
    if value is None:
        return None
    if not _int(value) or not LIKERT_MIN <= value <= LIKERT_MAX:
        raise _FieldError(f"{path}{key}", f"expected an integer {LIKERT_MIN}-{LIKERT_MAX} or null, got {_describe(value)}")
    return value


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _FieldError(path, f"expected an object, got {_describe(value)}")
    return value


def _receiver_turn(value: Any, path: str) -> ReceiverTurn:
    obj = _object(value, path)
    prefix = f"{path}."
    return ReceiverTurn(
        score=_score(obj, "score", prefix),
        opinion=_str(obj, "opinion", prefix, nullable=True),
        question=_str(obj, "question", prefix, nullable=True),
        raw=_str(obj, "raw", prefix),
    )


def _round(value: Any, index: int) -> GameRound:
    path = f"rounds[{index}]"
    obj = _object(value, path)
    number = _get(obj, "round", f"{path}.")
    # Rounds are numbered from 1 in order; annotations are keyed by this number.
    if not _int(number) or number != index + 1:
        raise _FieldError(f"{path}.round", f"expected {index + 1} (rounds numbered 1, 2, ... in order), got {_describe(number)}")
    return GameRound(
        round=number,
        sender_argument=_str(obj, "sender_argument", f"{path}."),
        sender_raw=_str(obj, "sender_raw", f"{path}."),
        receiver=_receiver_turn(_get(obj, "receiver", f"{path}."), f"{path}.receiver"),
    )


def _rounds(obj: dict[str, Any]) -> tuple[GameRound, ...]:
    value = _get(obj, "rounds", "")
    if not isinstance(value, list):
        raise _FieldError("rounds", f"expected a list, got {_describe(value)}")
    return tuple(_round(item, i) for i, item in enumerate(value))


def _errors(obj: dict[str, Any]) -> tuple[str, ...]:
    value = _get(obj, "errors", "")
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise _FieldError("errors", "expected a list of strings")
    return tuple(value)


def _setting(obj: dict[str, Any]) -> str:
    value = _get(obj, "setting", "")
    if value not in SETTINGS:
        raise _FieldError("setting", f"expected \"static\" or \"dynamic\", got {_describe(value)}")
    return value


def _typed(obj: dict[str, Any], key: str, check: Any, expected: str) -> Any:
    value = _get(obj, key, "")
    if not check(value):
        raise _FieldError(key, f"expected {expected}, got {_describe(value)}")
    return value


def parse_game(record: Any) -> Game:
    """One game from its decoded JSON object; raises _FieldError naming the bad field."""
    obj = _object(record, "(line)")
    return Game(
        game_id=_str(obj, "game_id", "", nonempty=True),
        claim_id=_str(obj, "claim_id", ""),
        claim=_str(obj, "claim", "", nonempty=True),
        corpus=_str(obj, "corpus", "", nonempty=True),
        setting=_setting(obj),
        sender=_str(obj, "sender", ""),
        receiver=_str(obj, "receiver", ""),
        sample=_typed(obj, "sample", _int, "an integer"),
        prior=_receiver_turn(_get(obj, "prior", ""), "prior"),
        rounds=_rounds(obj),
        final_score=_typed(obj, "final_score", lambda v: v is None or _number(v), "a number or null"),
        # JSON writers may print a whole-number float as 1; accept any number for gain.
        gain=_typed(obj, "gain", lambda v: v is None or _number(v), "a number or null"),
        ok=_typed(obj, "ok", lambda v: isinstance(v, bool), "true or false"),
        errors=_errors(obj),
    )


def game_from_json(text: str) -> Game:
    """A game stored as JSON (by the annotation database); raises ValueError if malformed."""
    try:
        return parse_game(json.loads(text))
    except _FieldError as exc:
        raise ValueError(str(exc)) from exc


def game_to_dict(game: Game) -> dict[str, Any]:
    """The schema's JSON object for a game (the inverse of parse_game)."""

    def turn(t: ReceiverTurn) -> dict[str, Any]:
        return {"score": t.score, "opinion": t.opinion, "question": t.question, "raw": t.raw}

    return {
        "game_id": game.game_id, "claim_id": game.claim_id, "claim": game.claim, "corpus": game.corpus,
        "setting": game.setting, "sender": game.sender, "receiver": game.receiver, "sample": game.sample,
        "prior": turn(game.prior),
        "rounds": [
            {"round": r.round, "sender_argument": r.sender_argument, "sender_raw": r.sender_raw, "receiver": turn(r.receiver)}
            for r in game.rounds
        ],
        "final_score": game.final_score, "gain": game.gain, "ok": game.ok, "errors": list(game.errors),
    }


def load_games(path: str | Path) -> list[Game]:
    """All games of a JSON-lines file, in file order. Blank lines are skipped.

    Raises TranscriptFileError listing every malformed line (up to MAX_REPORTED_ERRORS)
    and every repeated game_id, or when the file has no game at all.
    """
    path = Path(path)
    games: list[Game] = []
    problems: list[str] = []
    bad_lines: list[JsonlError] = []
    first_line: dict[str, int] = {}
    try:
        records = list(read_jsonl(path, errors=bad_lines))
    except JsonlError as exc:
        raise TranscriptFileError(f"{path}: cannot read transcripts ({exc.problem})") from None
    problems.extend(f"{e.path} line {e.line}: {e.problem}" for e in bad_lines)
    for lineno, record in records:
        try:
            game = parse_game(record)
        except _FieldError as exc:
            problems.append(f"{path} line {lineno}: {exc}")
            continue
        if game.game_id in first_line:
            problems.append(f"{path} line {lineno}: field 'game_id': {game.game_id!r} already used on line {first_line[game.game_id]}")
            continue
        first_line[game.game_id] = lineno
        games.append(game)
    if problems:
        shown = problems[:MAX_REPORTED_ERRORS]
        more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise TranscriptFileError(f"{len(problems)} problem(s) in {path}:\n" + "\n".join(shown) + more)
    if not games:
        raise TranscriptFileError(f"{path}: no games (the file is empty)")
    return games
