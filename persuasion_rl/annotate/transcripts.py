"""Games to annotate: the transcript records the project's eval writes
(``persuasion_rl.game.record``), read strictly from a JSON-lines file.

A malformed line is reported with the file, the line number and the dotted path of the
field, so a researcher can fix the eval output instead of guessing; all problems of a
file are reported at once (up to a cap), not one per run.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..files import JsonlError, read_jsonl
from ..game.record import GameRecord, RecordError, parse_record

MAX_REPORTED_ERRORS = 20


class TranscriptFileError(ValueError):
    """The transcripts file does not follow the schema; the message lists every problem."""


def game_from_json(text: str) -> GameRecord:
    """A game stored as JSON (by the annotation database); raises ValueError if malformed."""
    return parse_record(json.loads(text))


def load_games(path: str | Path) -> list[GameRecord]:
    """All games of a JSON-lines file, in file order. Blank lines are skipped.

    Raises TranscriptFileError listing every malformed line (up to MAX_REPORTED_ERRORS)
    and every repeated game_id, or when the file has no game at all.
    """
    path = Path(path)
    games: list[GameRecord] = []
    bad_lines: list[JsonlError] = []
    try:
        records = list(read_jsonl(path, errors=bad_lines))
    except JsonlError as exc:
        raise TranscriptFileError(f"{path}: cannot read transcripts ({exc.problem})") from None
    problems = [(e.line, f"{path} line {e.line}: {e.problem}") for e in bad_lines]
    first_line: dict[str, int] = {}
    for lineno, record in records:
        try:
            game = parse_record(record)
        except RecordError as exc:
            problems.append((lineno, f"{path} line {lineno}: {exc}"))
            continue
        if game.game_id in first_line:
            problems.append((lineno, f"{path} line {lineno}: field 'game_id': {game.game_id!r} already used on line {first_line[game.game_id]}"))
            continue
        first_line[game.game_id] = lineno
        games.append(game)
    if problems:
        shown = [message for _, message in sorted(problems)[:MAX_REPORTED_ERRORS]]
        more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise TranscriptFileError(f"{len(problems)} problem(s) in {path}:\n" + "\n".join(shown) + more)
    if not games:
        raise TranscriptFileError(f"{path}: no games (the file is empty)")
    return games
