"""``persuasion-rl show``: read what a Sender wrote, in the terminal.

    persuasion-rl show results/                      # an eval folder (every transcripts.jsonl under it)
    persuasion-rl show runs/tiny_cpu_grpo            # a training run's validation files (validation/N.jsonl)
    persuasion-rl show results/ --corpus cmv --sender trained --min-gain 1 --sort gain

Eval transcripts are read with the one record format (``records.parse_result`` for the
gains, ``game.record.parse_record`` for the messages); verl's validation dumps
(``input``, ``output``, ``gts`` = the claim, ``score`` and the reward's extra info:
``prior_score``, ``receiver_score``, ``gain``) are shown as the Sender's reply with the
Receiver's scores, their step as part of the Sender's name (``RUN@step N``).
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .records import TRANSCRIPTS_FILE, EvalInputError, GameKey, iter_json_lines, parse_result
from .stats import significant

VALIDATION_DIR = "validation"


@dataclass(frozen=True)
class Turn:
    speaker: str  # "Receiver" or "Sender"
    text: str
    score: float | None = None  # the Receiver's score after this message (as the gain uses it)


@dataclass(frozen=True)
class ShownGame:
    """One game as ``show`` prints it, from either source: the evaluation's ``GameKey``,
    the scores the gain uses, and the messages in order."""

    source: str  # file:line
    key: GameKey
    claim: str
    corpus: str
    prior: float | None
    final: float | None
    gain: float | None
    failure: str | None
    turns: tuple[Turn, ...] = ()
    errors: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.failure is None and self.gain is not None

    claim_id = property(lambda self: self.key.claim_id)
    setting = property(lambda self: self.key.setting)
    sender = property(lambda self: self.key.sender)
    receiver = property(lambda self: self.key.receiver)
    sample = property(lambda self: self.key.sample)


@dataclass(frozen=True)
class ShowFilter:
    claim: str | None = None  # claim id, or words of the claim text
    corpus: str | None = None
    sender: str | None = None  # substring of the Sender's name
    setting: str | None = None
    min_gain: float | None = None
    max_gain: float | None = None
    failed: bool = False  # only failed games
    limit: int | None = 10
    sort: str = "file"  # file, gain, -gain

    def keeps(self, game: ShownGame) -> bool:
        if self.claim and self.claim != game.claim_id and self.claim.lower() not in game.claim.lower():
            return False
        if self.corpus and game.corpus != self.corpus:
            return False
        if self.sender and self.sender not in game.sender:
            return False
        if self.setting and game.setting != self.setting:
            return False
        if self.failed:
            return not game.ok
        if self.min_gain is not None and (game.gain is None or game.gain < self.min_gain):
            return False
        return not (self.max_gain is not None and (game.gain is None or game.gain > self.max_gain))


# ---- reading ----------------------------------------------------------------------------


def _eval_game(obj: dict, path: Path, line: int) -> ShownGame:
    from ..game.record import parse_record

    result = parse_result(obj, path, line)  # validates the record (file, line and field named)
    game = parse_record(obj)
    prior = game.prior.mode_score
    turns = [Turn("Receiver", _receiver_text(game.prior), prior)]
    for rnd in game.rounds:
        turns += [Turn("Sender", rnd.sender_text), Turn("Receiver", _receiver_text(rnd.receiver), rnd.receiver.mode_score)]
    final = prior + result.gain if prior is not None and result.gain is not None else None
    return ShownGame(f"{path}:{line}", result.key, result.claim, result.corpus, prior, final, result.gain, result.failure,
                     tuple(turns), game.errors)


def _receiver_text(turn) -> str:
    reply = turn.reply
    if reply is None:
        return ""
    parts = [p.strip() for p in (reply.opinion, reply.question) if p and p.strip()]
    return "\n".join(parts) or reply.raw.strip()


def _number(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:  # NaN is "not computed"
        return float(value)
    return None


def _validation_game(obj: dict, path: Path, line: int, run: str) -> ShownGame:
    from ..game.parsing import parse_sender_reply

    for name in ("input", "output"):
        if not isinstance(obj.get(name), str):
            raise EvalInputError(f"{path} line {line}: field '{name}': missing (not a verl validation dump?)")
    prior, after = _number(obj.get("prior_score")), _number(obj.get("receiver_score"))
    gain = _number(obj.get("gain"))
    argument = parse_sender_reply(obj["output"]).argument
    failure = None if gain is not None else ("sender_parse" if _number(obj.get("argument_missing")) else "receiver_parse")
    turns = (Turn("Sender", (argument or obj["output"]).strip()), Turn("Receiver", "", after))
    claim = obj.get("gts") if isinstance(obj.get("gts"), str) else ""
    setting = "dynamic" if _number(obj.get("turns_completed")) is not None else "static"
    key = GameKey(f"row {line}", setting, f"{run}@step {obj.get('step', path.stem)}", "validation Receiver", line - 1)
    return ShownGame(f"{path}:{line}", key, claim, str(obj.get("data_source") or "unknown"), prior, after, gain, failure, turns)


def _files(inputs: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """(file, kind): eval transcripts, or validation dumps of a run (kind = run name)."""
    found: list[tuple[Path, str]] = []
    for item in map(Path, inputs):
        if item.is_file():
            found.append((item, "eval" if item.name == TRANSCRIPTS_FILE else item.parent.parent.name))
            continue
        if not item.is_dir():
            raise EvalInputError(f"{item}: no such file or folder")
        transcripts = sorted(item.rglob(TRANSCRIPTS_FILE))
        validation = sorted((item / VALIDATION_DIR).glob("*.jsonl"), key=lambda p: (len(p.stem), p.stem)) \
            if (item / VALIDATION_DIR).is_dir() else sorted(item.glob("[0-9]*.jsonl"), key=lambda p: (len(p.stem), p.stem))
        run = item.name if (item / VALIDATION_DIR).is_dir() else item.parent.name
        found += [(p, "eval") for p in transcripts] + [(p, run) for p in validation]
        if not transcripts and not validation:
            raise EvalInputError(f"{item}: no {TRANSCRIPTS_FILE} and no {VALIDATION_DIR}/*.jsonl here")
    return found


def load_shown(inputs: Iterable[str | Path]) -> list[ShownGame]:
    games = []
    for path, kind in _files(inputs):
        for line, obj in iter_json_lines(path):
            if not isinstance(obj, dict):
                raise EvalInputError(f"{path} line {line}: expected a JSON object")
            games.append(_eval_game(obj, path, line) if kind == "eval" else _validation_game(obj, path, line, kind))
    return games


def select(games: Sequence[ShownGame], how: ShowFilter) -> list[ShownGame]:
    kept = [g for g in games if how.keeps(g)]
    if how.sort in ("gain", "-gain"):
        kept.sort(key=lambda g: (g.gain is None, -(g.gain or 0.0) if how.sort == "gain" else (g.gain or 0.0)))
    return kept[: how.limit] if how.limit else kept


# ---- rendering --------------------------------------------------------------------------


def _score(value: float | None) -> str:
    return significant(value)


def _gain(game: ShownGame) -> str:
    if game.gain is None:
        return f"FAILED ({game.failure or 'unknown'})"
    sign = "+" if game.gain > 0 and significant(game.gain) != "0.00" else ""
    return f"gain {sign}{significant(game.gain)} ({_score(game.prior)} -> {_score(game.final)})"


def render(game: ShownGame, width: int | None = None) -> str:
    width = width or min(shutil.get_terminal_size((100, 20)).columns, 110)
    rule = "=" * width
    head = f"[{game.setting}] {game.corpus} | {game.sender} vs {game.receiver} | sample {game.sample} | {_gain(game)}"
    lines = [rule]
    for text in (head, f"claim {game.claim_id}: {game.claim}", f"({game.source})"):
        lines += textwrap.wrap(text, width, subsequent_indent="  ")
    lines.append("-" * width)
    sender_round = 0
    for turn in game.turns:
        if turn.speaker == "Sender":
            sender_round += 1
            label = f"Sender, round {sender_round}"
        else:
            label = "Receiver, prior" if sender_round == 0 else f"Receiver after round {sender_round}"
            label += f" (score {_score(turn.score)})"
        lines.append(label + ":")
        body = turn.text or "(no text kept)"
        for paragraph in body.splitlines() or [""]:
            lines += textwrap.wrap(paragraph, width - 4, initial_indent="    ", subsequent_indent="    ") or [""]
    for error in game.errors:
        lines += textwrap.wrap(f"error: {error}", width, subsequent_indent="    ")
    return "\n".join(lines)


def render_all(games: Sequence[ShownGame], total: int, width: int | None = None) -> str:
    if not games:
        return f"no game matches (of {total})"
    body = "\n\n".join(render(g, width) for g in games)
    return f"{body}\n\n{len(games)} of {total} games shown"
