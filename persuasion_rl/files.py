"""The project's one file layer: JSON-lines files and atomic writes.

JSON lines (the caches of priors, confidences, summaries and strategy answers, the
evaluation transcripts, verl's metrics files, upstream ``.jsonlist`` corpora) are read
with one policy, whoever reads them:

* a **torn last line** (the file does not end with a newline and its last line is not
  valid JSON: what a crash mid-append leaves) is left out with a logged warning;
* **any other bad line** (not JSON, not an object, in the middle of the file or ending
  with its newline) is a ``JsonlError`` naming the file and the line (and the field, for
  callers that check one): nothing is skipped silently.

Reading never changes a file. Appends are one write, then fsync; before appending to a
file with a torn last line the torn bytes are dropped (with the same warning), so the new
record starts on a fresh line.

Whole files are written to a temporary file next to the destination and renamed over it
(``os.replace``), so a crash never leaves half a file; the result has mode 0666 (0777 for
a folder) less the user's umask, as a plain ``open`` would give it (``mkstemp`` alone
would leave 0600).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import UserError

logger = logging.getLogger(__name__)


class JsonlError(UserError, ValueError):
    """A JSON-lines file the project cannot use; the message names file, line and field
    (also kept as attributes, for callers that report them their own way)."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None, field: str | None = None) -> None:
        self.path, self.problem, self.line, self.field = str(path), problem, line, field
        where = str(path) + (f" line {line}" if line is not None else "") + (f": field {field!r}" if field else "")
        super().__init__(f"{where}: {problem}")


def jsonl_error(path: Path | str, line: int, problem: str, field: str | None = None) -> JsonlError:
    return JsonlError(path, problem, line, field)


def _warn_torn(path: Path | str, line: int, size: int) -> None:
    logger.warning("%s line %d: ignoring a torn last line (%d bytes, no newline) left by an interrupted write",
                   path, line, size)


def parse_jsonl(text: str, path: Path | str, errors: list[JsonlError] | None = None) -> Iterator[tuple[int, dict]]:
    """(1-based line number, object) for each non-blank line of ``text`` (read from ``path``).

    A bad line raises, or, when ``errors`` is a list, is added to it and reading goes on
    (for readers that report every problem of a file at once)."""
    lines = text.split("\n")
    last = len(lines)  # text ending in "\n" leaves an empty last element
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == last:  # no newline after it: a write cut short
                _warn_torn(path, number, len(line.encode()))
                return
            problem = jsonl_error(path, number, f"not valid JSON ({error.msg} at column {error.colno}); "
                                  "repair or delete that line")
        else:
            if isinstance(record, dict):
                yield number, record
                continue
            problem = jsonl_error(path, number, f"expected a JSON object, got {type(record).__name__}")
        if errors is None:
            raise problem
        errors.append(problem)


def read_jsonl(path: Path | str, errors: list[JsonlError] | None = None) -> Iterator[tuple[int, dict]]:
    """(1-based line number, object) for each record of a UTF-8 JSON-lines file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JsonlError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise JsonlError(path, f"cannot read ({error})") from None
    yield from parse_jsonl(text, path, errors)


def load_keyed(path: Path | str, key_field: str = "key", required: tuple[str, ...] = ()) -> dict[Any, dict]:
    """All records of a keyed cache file (later lines win); {} if there is no file yet.
    Each record must hold ``key_field`` and the ``required`` fields."""
    path = Path(path)
    if not path.exists():
        return {}
    entries = {}
    for number, record in read_jsonl(path):
        for name in (key_field, *required):
            if name not in record:
                raise jsonl_error(path, number, "missing", name)
        entries[record[key_field]] = record
    return entries


def _last_line_start(handle, size: int, chunk: int = 1 << 16) -> int:
    """Offset just after the last newline of the file (0 if there is none)."""
    end = size
    while end > 0:
        start = max(0, end - chunk)
        handle.seek(start)
        found = handle.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def _drop_torn_tail(path: Path) -> None:
    """Make the file end on a complete line before an append (reads only its last line)."""
    try:
        handle = path.open("r+b")
    except FileNotFoundError:
        return
    with handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        start = _last_line_start(handle, size)
        handle.seek(start)
        tail = handle.read()
        if not tail.strip():
            return
        try:
            json.loads(tail)
        except (json.JSONDecodeError, UnicodeDecodeError):
            handle.seek(0)
            _warn_torn(path, handle.read(start).count(b"\n") + 1, len(tail))
            handle.truncate(start)
            return
        handle.seek(0, os.SEEK_END)
        handle.write(b"\n")  # a whole record that only lacks its newline


def append_jsonl(path: Path | str, records: Iterable[dict]) -> None:
    """Append records in one write, then fsync."""
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    if not lines:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_torn_tail(path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(lines)
        handle.flush()
        os.fsync(handle.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path next to ``path`` to write; renamed over ``path`` only on success,
    with mode 0666 less the umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path | str) -> Iterator[Path]:
    """A temporary folder next to ``path`` to fill; it replaces ``path`` only on success
    (a model folder: an interrupted save never passes for a finished one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(text: str, path: Path | str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_jsonl_atomic(records: Iterable[dict], path: Path | str) -> Path:
    """Rewrite a JSON-lines file whole (e.g. after dropping records)."""
    return write_text_atomic("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), path)


def write_parquet_atomic(table: Any, path: Path | str) -> Path:
    import pyarrow.parquet as pq  # only the data and training paths write parquet

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)
