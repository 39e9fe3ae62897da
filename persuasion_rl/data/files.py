"""Reading helpers of the dataset builders: strict decoding, errors as ``DataError``.

Upstream corpora arrive from many hands, so text is decoded strictly as UTF-8 (a BOM is
accepted) instead of letting a lenient codec turn bad bytes into silent mojibake; the
error names the file, the line and the byte. JSON lines are read and outputs written by
the project's one file layer (``persuasion_rl.files``: its torn-last-line policy, atomic
writes with the usual permissions), so a crash or a ``DataError`` never leaves a
half-written table behind.
"""

from __future__ import annotations

import bz2
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..files import JsonlError, parse_jsonl
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
    """(0-based row, object) for each record of a JSON-lines file (``.bz2`` too), read with
    ``persuasion_rl.files``'s policy; rows are 0-based like every provenance row."""
    try:
        for number, obj in parse_jsonl(read_text(path), path):
            yield number - 1, obj
    except JsonlError as error:
        raise DataError(path, error.problem, record=f"line {error.line}", field=error.field) from None


def natural_key(path: Path) -> tuple[Any, ...]:
    """Sort key with numbers compared as numbers: ``2.xml`` before ``10.xml``."""
    parts = re.split(r"(\d+)", path.as_posix())
    return tuple(int(p) if p.isdigit() else p for p in parts)


def read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except (pa.ArrowException, OSError) as exc:
        raise DataError(path, f"not a readable parquet file: {exc}") from exc
