"""Subsets of a claims list: chosen ids, and the first N spread evenly over corpora.

One selection for every command that takes ``--limit`` / ``--ids`` (``data priors``,
``data export``, ``eval``), so the same options choose the same claims everywhere: priors
computed for ``--limit 20`` are exactly the priors ``data export --limit 20`` needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def stratified_limit(items: Sequence[T], n: int | None, corpus_of: Callable[[T], str]) -> list[T]:
    """``n`` items taken round-robin over the corpora (each corpus in its own order,
    corpora in order of first appearance), returned in the input order. A corpus with
    fewer items than its share leaves its turns to the others."""
    if n is None or n >= len(items):
        return list(items)
    if n < 0:
        raise ValueError(f"--limit must be >= 0, got {n}")
    queues: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        queues.setdefault(corpus_of(item), []).append(index)
    chosen: set[int] = set()
    while len(chosen) < n:
        for queue in queues.values():
            if queue and len(chosen) < n:
                chosen.add(queue.pop(0))
    return [item for index, item in enumerate(items) if index in chosen]


def read_ids(values: Iterable[str] | None) -> list[str] | None:
    """``--ids`` values: claim ids, or files of ids (one per line, ``#`` comments)."""
    if not values:
        return None
    ids: list[str] = []
    for value in values:
        path = Path(value)
        if path.is_file():
            lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
            ids.extend(line for line in lines if line)
        else:
            ids.extend(v.strip() for v in value.split(",") if v.strip())
    return list(dict.fromkeys(ids))


def select_ids(items: Sequence[T], ids: Sequence[str] | None, id_of: Callable[[T], str]) -> tuple[list[T], list[str]]:
    """The items with these ids (input order), and the ids not found."""
    if ids is None:
        return list(items), []
    wanted = set(ids)
    known = {id_of(item) for item in items}
    return [item for item in items if id_of(item) in wanted], [i for i in ids if i not in known]
