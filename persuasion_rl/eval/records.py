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
* ``receiver_echo``: rounds whose Receiver score took a Likert point the Sender's argument proposed.
* ``sender_spec``, ``receiver_spec``, ``sender_params`` (parameter count, when known),
  ``scoring_mode`` and ``eval_version``.

A game is identified by ``GameKey`` (claim id, setting, sender, receiver, sample); its
``game_id`` is a hash of the key, so a rerun finds what is done. A bad record is an error
naming the file, line and field.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
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
    settings_key: str | None = None  # eval/settings_key.py: None in transcripts of an earlier version

    @property
    def game_id(self) -> str:
        parts = (self.claim_id, self.setting, self.sender, self.receiver, str(self.sample), *filter(None, [self.settings_key]))
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
        return f"{self.setting}-{digest}"

    @property
    def cell(self) -> tuple[str, str, str, str, int]:
        """The game without its settings: what a table pools (claim, setting, Sender, Receiver, sample)."""
        return (self.claim_id, self.setting, self.sender, self.receiver, self.sample)


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
    settings = obj.get("settings_key")  # absent in transcripts of an earlier version
    key = GameKey(game.claim_id, game.setting, game.sender, game.receiver, game.sample,
                  settings if isinstance(settings, str) else None)
    gains, sent, answered = _round_views(game)
    params = obj.get("sender_params")
    return GameResult(
        key=key, corpus=game.corpus, claim=game.claim, ok=game.ok,
        gain=float(game.gain) if game.ok else None, failure=_failure(obj, game.ok), round_gains=gains if game.ok else (),
        sender_messages=sent, receiver_messages=answered, p_yes=_confidence(obj),
        sender_params=int(params) if isinstance(params, (int, float)) and not isinstance(params, bool) and params > 0 else None,
        prior_score=game.prior.mode_score,
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


@dataclass
class MergeReport:
    """What ``load_results`` merged: said by ``eval table`` and ``report``."""

    files: list[Path]
    games: int = 0
    identical_copies: int = 0  # the same game with the same result in several files: counted once
    preferred: int = 0  # games that differed between files, taken from a --prefer file
    settings: dict[str | None, int] = field(default_factory=dict)  # games per settings key

    def summary(self) -> str:
        parts = [f"{self.games} games from {len(self.files)} file(s)"]
        if self.identical_copies:
            parts.append(f"{self.identical_copies} identical copies counted once")
        if self.preferred:
            parts.append(f"{self.preferred} conflicting games taken from --prefer")
        keys = ", ".join(f"{k or 'unkeyed'} ({n})" for k, n in self.settings.items())
        return "; ".join(parts) + f"; settings keys: {keys}"


def _outcome(result: GameResult) -> tuple:
    return (result.key.settings_key, result.ok, result.gain, result.failure, result.round_gains)


def _is_under(path: Path, places: Sequence[Path]) -> bool:
    path = path.resolve()
    return any(path == p or p in path.parents for p in places)


def _conflict_error(conflicts: list[list[tuple[Path, GameResult]]]) -> EvalInputError:
    copies = conflicts[0]
    key = copies[0][1].key
    shown = "; ".join(f"{path}: settings {r.key.settings_key or 'unkeyed'}, "
                      f"{'gain ' + format(r.gain, '.3g') if r.ok else 'failed ' + str(r.failure)}" for path, r in copies[:3])
    return EvalInputError(
        f"{len(conflicts)} games were played more than once with different results or settings, e.g. claim "
        f"{key.claim_id} {key.setting} {key.sender} vs {key.receiver} sample {key.sample} ({shown}); "
        "say which wins with --prefer FILE_OR_FOLDER, or keep one set of settings with --settings KEY")


def merge_results(inputs: Iterable[str | Path], *, prefer: Sequence[str | Path] = (),
                  settings: Sequence[str] = ()) -> tuple[list[GameResult], MergeReport]:
    """Games of every file, each game once. The same game (claim, setting, Sender,
    Receiver, sample) read twice with the same result and settings is one game; read with
    another result or other settings, it is a conflict: taken from the ``prefer`` files
    when they hold it, else an error (a table never pools games of different settings)."""
    paths = transcript_paths(inputs)
    preferred_places = [Path(p).resolve() for p in prefer]
    copies: dict[tuple, list[tuple[Path, GameResult]]] = {}
    for path in paths:
        for number, obj in iter_json_lines(path):
            result = parse_result(obj, path, number)
            if settings and result.key.settings_key not in settings:
                continue
            copies.setdefault(result.key.cell, []).append((path, result))
    report = MergeReport(paths)
    results, conflicts = [], []
    for found in copies.values():
        latest = {}
        for path, result in found:  # a file holds a game once; a later line replaces an earlier one
            latest[(path, result.key.settings_key)] = (path, result)
        found = list(latest.values())
        if len({_outcome(r) for _, r in found}) == 1:
            results.append(found[-1][1])
            report.identical_copies += len(found) - 1
            continue
        chosen = [(p, r) for p, r in found if _is_under(p, preferred_places)]
        if chosen and len({_outcome(r) for _, r in chosen}) == 1:
            results.append(chosen[-1][1])
            report.preferred += 1
        else:
            conflicts.append(found)
    if conflicts:
        raise _conflict_error(conflicts)
    if not results:
        raise EvalInputError("no games in " + ", ".join(str(p) for p in paths) + (f" with settings {list(settings)}" if settings else ""))
    report.games = len(results)
    report.settings = dict(Counter(r.key.settings_key for r in results))
    return results, report


def load_results(inputs: Iterable[str | Path], *, prefer: Sequence[str | Path] = (), settings: Sequence[str] = ()) -> list[GameResult]:
    """``merge_results`` without the report."""
    return merge_results(inputs, prefer=prefer, settings=settings)[0]


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
