"""Output files of the evaluation: written to a temporary name and renamed (a crash never
leaves half a table), with the usual permissions (the temporary file is private)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..data.files import atomic_path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def output_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write; renamed over ``path`` (mode 0666 less the umask) on success."""
    path = Path(path)
    with atomic_path(path) as tmp:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())


def write_text(text: str, path: str | Path) -> Path:
    with output_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
