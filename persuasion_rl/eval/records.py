"""The evaluation's transcript file: one JSON object per game, appended as games finish.

Each line is ``Game.record()`` (the schema ``annotate/transcripts.py`` validates: game_id,
claim_id, claim, corpus, setting, sender, receiver, sample, prior, rounds, final_score,
gain, ok, errors) plus the evaluation's own fields:

* ``failure``: None for a finished game, else what went wrong (``FAILURE_KINDS``):
  ``sender_parse`` (no ``<argument>``), ``receiver_parse`` (a Receiver score or message
  could not be read), ``prior`` (the Receiver's opening turn is unusable), ``backend``
  (a model call failed after its retries). A failure is never a score: its gain is null.
* ``prior_confidence``: the Receiver's P("yes") probe for the claim (``receivers/confidence``).
* ``injection_flags``: how often the engine's Sender-injection guard rewrote an argument.
* ``sender_spec``, ``receiver_spec``, ``sender_params`` (parameter count, when known),
  ``scoring_mode`` and ``eval_version``.

A game is identified by ``GameKey`` (claim id, setting, sender, receiver, sample); its
``game_id`` is a hash of the key, so a rerun finds what is done. Readers here are strict
about the fields statistics need and name the file, line and field when one is wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..game.gains import persuasion_gain
from ..files import JsonlError, append_jsonl, read_jsonl, write_jsonl_atomic

log = logging.getLogger(__name__)

EVAL_VERSION = "eval-v1"
TRANSCRIPTS_FILE = "transcripts.jsonl"
SETTINGS = ("static", "dynamic")
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


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _require(obj: dict, field: str, check, expected: str, path: Path, line: int) -> Any:
    if field not in obj:
        raise _fail(path, line, field, "missing")
    value = obj[field]
    if not check(value):
        raise _fail(path, line, field, f"expected {expected}, got {json.dumps(value)[:40]}")
    return value


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _turn_score(turn: Any) -> float | None:
    """The score a gain uses: ``mode_score`` (expected or sampled), else the written one."""
    if not isinstance(turn, dict):
        return None
    value = turn.get("mode_score", turn.get("score"))
    return float(value) if _number_or_none(value) and value is not None else None


def _message(turn: Any) -> str:
    if not isinstance(turn, dict):
        return ""
    parts = [turn.get("opinion") or "", turn.get("question") or ""]
    text = "\n".join(p for p in parts if p).strip()
    return text or (turn.get("raw") or "").strip()


def _rounds(obj: dict, path: Path, line: int) -> list[dict]:
    rounds = obj.get("rounds", [])
    if not isinstance(rounds, list) or not all(isinstance(r, dict) for r in rounds):
        raise _fail(path, line, "rounds", "expected a list of objects")
    return rounds


def _round_views(obj: dict, rounds: list[dict]) -> tuple[tuple[float, ...], tuple[str, ...], tuple[str, ...]]:
    prior = _turn_score(obj.get("prior"))
    gains, sent, answered = [], [], []
    previous = _message(obj.get("prior"))
    for r in rounds:
        text = (r.get("sender_argument") or r.get("sender_raw") or "").strip()
        if text:
            sent.append(text)
            answered.append(previous)
        score = _turn_score(r.get("receiver"))
        if score is not None and prior is not None:
            gains.append(persuasion_gain(prior, score))
        previous = _message(r.get("receiver"))
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
    if not isinstance(obj, dict):
        raise EvalInputError(f"{path} line {line}: expected a JSON object, got {type(obj).__name__}")
    text = lambda f: _require(obj, f, _is_text, "a non-empty string", path, line)  # noqa: E731
    setting = _require(obj, "setting", lambda v: v in SETTINGS, '"static" or "dynamic"', path, line)
    sample = _require(obj, "sample", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an integer >= 0", path, line)
    ok = _require(obj, "ok", lambda v: isinstance(v, bool), "true or false", path, line)
    gain = _require(obj, "gain", _number_or_none, "a number or null", path, line)
    if ok and gain is None:
        raise _fail(path, line, "gain", "a finished game (ok: true) needs a gain")
    key = GameKey(text("claim_id"), setting, text("sender"), text("receiver"), sample)
    gains, sent, answered = _round_views(obj, _rounds(obj, path, line))
    params = obj.get("sender_params")
    return GameResult(
        key=key, corpus=text("corpus"), claim=obj.get("claim") or "", ok=ok,
        gain=float(gain) if ok else None, failure=_failure(obj, ok), round_gains=gains if ok else (),
        sender_messages=sent, receiver_messages=answered, p_yes=_confidence(obj),
        sender_params=int(params) if isinstance(params, (int, float)) and not isinstance(params, bool) and params > 0 else None,
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
