"""File helpers shared by the readers and writers: strict decoding and atomic writes.

Upstream corpora arrive from many hands, so text is decoded strictly as UTF-8 (a BOM is
accepted) instead of letting a lenient codec turn bad bytes into silent mojibake; the
error names the file, the line and the byte. Outputs are written to a temporary file in
the destination directory and renamed with ``os.replace``, so a crash or a ``DataError``
never leaves a half-written table behind.
"""

from __future__ import annotations

import bz2
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import DataError


def read_bytes(path: Path) -> bytes:
    """The file's bytes, transparently decompressing ``.bz2`` (the Tan et al. release)."""
    try:
        if path.suffix == ".bz2":
            with bz2.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (OSError, EOFError) as exc:
        raise DataError(path, f"cannot read file: {exc}") from exc


def decode_utf8(data: bytes, path: Path) -> str:
    """Strict UTF-8 (BOM tolerated); a bad byte is reported with its line and offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            path, f"not valid UTF-8 (byte {exc.start}: {exc.reason}); re-encode the file as UTF-8",
            record=f"line {line}",
        ) from None


def read_text(path: Path) -> str:
    return decode_utf8(read_bytes(path), path)


def load_json(path: Path) -> Any:
    """A whole-file JSON document, with the parse error's line and column in the message."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON: {exc.msg}", record=f"line {exc.lineno} column {exc.colno}") from None


def iter_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(0-based line number, object) for each non-blank line of a JSON-lines file."""
    for number, line in enumerate(read_text(path).splitlines()):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"malformed JSON line: {exc.msg} (column {exc.colno})", record=f"line {number + 1}") from None
        if not isinstance(obj, dict):
            raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", record=f"line {number + 1}")
        yield number, obj


def natural_key(path: Path) -> tuple[Any, ...]:
    """Sort key with numbers compared as numbers: ``2.xml`` before ``10.xml``."""
    parts = re.split(r"(\d+)", path.as_posix())
    return tuple(int(p) if p.isdigit() else p for p in parts)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_text_atomic(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (pa.ArrowException, OSError) as exc:
        raise DataError(path, f"not a readable parquet file: {exc}") from exc
