"""Append-only JSON-lines files: the project's caches (priors, confidences, summaries) and
evaluation transcripts. Appends are fsynced, so everything written survives a crash; a
crash mid-write can only leave a truncated last line, which is repaired on the next open
(dropped with a warning, or completed if it is whole). Any other unreadable line is an
error naming the file and line: nothing is skipped silently."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import UserError

logger = logging.getLogger(__name__)


class JsonlError(UserError, ValueError):
    pass


def repair_truncated_tail(path: Path) -> None:
    """Make the file end on a complete line, so that appends start on a fresh one."""
    data = path.read_bytes()
    complete, _, tail = data.rpartition(b"\n")
    if not tail.strip():
        return
    keep = len(complete) + 1 if complete else 0
    try:
        json.loads(tail)
    except (json.JSONDecodeError, UnicodeDecodeError):
        logger.warning("%s: dropping a truncated last line (%d bytes) left by an interrupted run", path, len(tail))
        with path.open("r+b") as handle:
            handle.truncate(keep)
        return
    with path.open("ab") as handle:
        handle.write(b"\n")


def iter_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(1-based line number, object) for every non-empty line, after repairing the tail."""
    path = Path(path)
    try:
        repair_truncated_tail(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JsonlError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise JsonlError(f"{path}: cannot read ({error})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise JsonlError(f"{path} line {number}: not valid JSON ({error.msg} at column {error.colno}); "
                             "repair or delete that line") from None
        if not isinstance(record, dict):
            raise JsonlError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
        yield number, record


def append_records(path: Path, records: Iterable[dict]) -> None:
    """Append records in one write, then fsync."""
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    if not lines:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(lines)
        handle.flush()
        os.fsync(handle.fileno())


def load_keyed(path: Path, key_field: str = "key") -> dict[str, dict]:
    """All records of a keyed cache file (later lines win); {} if there is no file yet."""
    path = Path(path)
    if not path.exists():
        return {}
    entries = {}
    for number, record in iter_records(path):
        if key_field not in record:
            raise JsonlError(f"{path} line {number}: field {key_field!r} missing")
        entries[record[key_field]] = record
    return entries
