"""The evaluation's transcript file: one JSON object per game, appended as games finish.

Each line is a transcript record (``persuasion_rl.game.record``: written by
``Game.record()``, validated by ``parse_record`` for this module and the annotation
platform alike) plus the evaluation's own fields:

* ``failure``: None for a finished game, else what went wrong (``FAILURE_KINDS``):
  ``sender_parse`` (no ``<argument>``), ``receiver_parse`` (a Receiver score or message
  could not be read), ``prior`` (the Receiver's opening turn is unusable), ``backend``
  (a model call failed after its retries). A failure is never a score: its gain is null.
* ``prior_confidence``: the Receiver's P("yes") probe for the claim (``receivers/confidence``).
* ``injection_flags``: how often the engine's Sender-injection guard rewrote an argument.
* ``sender_spec``, ``receiver_spec``, ``sender_params`` (parameter count, when known),
  ``scoring_mode`` and ``eval_version``.

A game is identified by ``GameKey`` (claim id, setting, sender, receiver, sample); its
``game_id`` is a hash of the key, so a rerun finds what is done. A bad record is an error
naming the file, line and field.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import JsonlError, append_jsonl, read_jsonl, write_jsonl_atomic
from ..game.gains import persuasion_gain
from ..game.record import GameRecord, RecordError, parse_record
from ..game.turn import ReceiverTurn

log = logging.getLogger(__name__)

EVAL_VERSION = "eval-v1"
TRANSCRIPTS_FILE = "transcripts.jsonl"
SENDER_PARSE, RECEIVER_PARSE, PRIOR, BACKEND, UNKNOWN = "sender_parse", "receiver_parse", "prior", "backend", "unknown"
FAILURE_KINDS = (SENDER_PARSE, RECEIVER_PARSE, PRIOR, BACKEND, UNKNOWN)
# failures that say something about the models (replayed only on request) vs. transient ones
RETRIED_BY_DEFAULT = (BACKEND,)


class EvalInputError(UserError):
    """A transcripts file, claims file or option the evaluation cannot use."""


@dataclass(frozen=True)
class GameKey:
    claim_id: str
    setting: str
    sender: str
    receiver: str
    sample: int

    @property
    def game_id(self) -> str:
        text = "\x1f".join((self.claim_id, self.setting, self.sender, self.receiver, str(self.sample)))
        return f"{self.setting}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class GameResult:
    """What statistics and analyses need of one game."""

    key: GameKey
    corpus: str
    claim: str
    ok: bool
    gain: float | None
    failure: str | None
    round_gains: tuple[float, ...]  # score after round r minus the prior score, r = 1..
    sender_messages: tuple[str, ...]  # the argument of each round (raw reply when none)
    receiver_messages: tuple[str, ...]  # the Receiver message each argument answered
    p_yes: float | None = None
    sender_params: int | None = None
    prior_score: float | None = None  # the score the gains are measured from (mode score)

    @property
    def claim_id(self) -> str:
        return self.key.claim_id

    @property
    def setting(self) -> str:
        return self.key.setting

    @property
    def sender(self) -> str:
        return self.key.sender

    @property
    def receiver(self) -> str:
        return self.key.receiver

    @property
    def sample(self) -> int:
        return self.key.sample


# ---- reading --------------------------------------------------------------------------


def _fail(path: Path, line: int, field: str, problem: str) -> EvalInputError:
    return EvalInputError(f"{path} line {line}: field '{field}': {problem}")


def _message(turn: ReceiverTurn) -> str:
    reply = turn.reply
    text = "\n".join(p for p in (reply.opinion or "", reply.question or "") if p).strip()
    return text or reply.raw.strip()


def _round_views(game: GameRecord) -> tuple[tuple[float, ...], tuple[str, ...], tuple[str, ...]]:
    """Per-round gains (the scores gains use: ``mode_score``), the Sender's messages and
    the Receiver message each one answered."""
    gains, sent, answered = [], [], []
    previous = _message(game.prior)
    for r in game.rounds:
        text = (r.sender_argument or r.sender_raw).strip()
        if text:
            sent.append(text)
            answered.append(previous)
        if r.receiver.mode_score is not None and game.prior.mode_score is not None:
            gains.append(persuasion_gain(game.prior.mode_score, r.receiver.mode_score))
        previous = _message(r.receiver)
    return tuple(gains), tuple(sent), tuple(answered)


def _failure(obj: dict, ok: bool) -> str | None:
    if ok:
        return None
    kind = obj.get("failure")
    return kind if kind in FAILURE_KINDS else UNKNOWN


def _confidence(obj: dict) -> float | None:
    probe = obj.get("prior_confidence")
    value = probe.get("p_yes") if isinstance(probe, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse_result(obj: Any, path: Path, line: int) -> GameResult:
    """A game of the transcript file, validated by the one record format
    (``persuasion_rl.game.record``), as statistics need it."""
    try:
        game = parse_record(obj)
    except RecordError as error:
        raise _fail(path, line, error.field, error.problem) from None
    key = GameKey(game.claim_id, game.setting, game.sender, game.receiver, game.sample)
    gains, sent, answered = _round_views(game)
    params = obj.get("sender_params")
    return GameResult(
        key=key, corpus=game.corpus, claim=game.claim, ok=game.ok,
        gain=float(game.gain) if game.ok else None, failure=_failure(obj, game.ok), round_gains=gains if game.ok else (),
        sender_messages=sent, receiver_messages=answered, p_yes=_confidence(obj),
        sender_params=int(params) if isinstance(params, (int, float)) and not isinstance(params, bool) and params > 0 else None,
        prior_score=_turn_score(obj.get("prior")),
    )


def iter_json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(1-based line, object), read with the project's one policy (persuasion_rl.files: a
    torn last line left by a crash is ignored with a warning; any other bad line is an
    error naming the line), raised as the evaluation's input error."""
    try:
        yield from read_jsonl(path)
    except JsonlError as error:
        raise EvalInputError(str(error)) from None


def transcript_paths(inputs: Iterable[str | Path]) -> list[Path]:
    """Files named on the command line: a JSON-lines file, or a folder searched for
    ``transcripts.jsonl`` (recursively)."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(item.rglob(TRANSCRIPTS_FILE))
            if not found:
                raise EvalInputError(f"{item}: no {TRANSCRIPTS_FILE} in this folder (run `persuasion-rl eval --out {item}` first)")
            paths.extend(found)
        elif item.exists():
            paths.append(item)
        else:
            raise EvalInputError(f"{item}: no such file or folder")
    return paths


def load_results(inputs: Iterable[str | Path]) -> list[GameResult]:
    """Games of every file; a game seen twice (same key) keeps its last record."""
    results: dict[GameKey, GameResult] = {}
    for path in transcript_paths(inputs):
        for number, obj in iter_json_lines(path):
            result = parse_result(obj, path, number)
            results[result.key] = result
    if not results:
        raise EvalInputError("no games in " + ", ".join(str(p) for p in transcript_paths(inputs)))
    return list(results.values())


# ---- writing --------------------------------------------------------------------------


class TranscriptStore:
    """The append-only transcript file of one evaluation folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: dict[GameKey, dict] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        for number, obj in iter_json_lines(self.path):
            self.records[parse_result(obj, self.path, number).key] = obj

    def done(self, retry: Sequence[str] = RETRIED_BY_DEFAULT) -> set[GameKey]:
        """Keys with a record that a rerun keeps: finished games and failures not in ``retry``."""
        return {k for k, r in self.records.items() if r.get("ok") or _failure(r, False) not in retry}

    def drop(self, keys: Iterable[GameKey]) -> int:
        """Remove records (to replay them), rewriting the file atomically."""
        keys = set(keys) & set(self.records)
        if not keys:
            return 0
        for key in keys:
            del self.records[key]
        write_jsonl_atomic(self.records.values(), self.path)
        return len(keys)

    def append(self, key: GameKey, record: dict) -> None:
        append_jsonl(self.path, [record])
        self.records[key] = record
