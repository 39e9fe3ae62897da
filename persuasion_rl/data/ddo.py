"""Reader for the debate.org (DDO) corpus of Durmus & Cardie (2019): ``debates.json``.

No copy of the data could be obtained here (``../shared/data/ddo_NOTE.md``); the schema
follows that note and third-party code that reads the file: a JSON object keyed by
debate name, each debate an object with ``title``, ``category``, ``url`` and ``rounds``
(a list of rounds, each a list of arguments ``{"side": "Pro"|"Con", "text": ...}``),
plus participants, votes and comments, which are not needed for claims. The tests use a
small synthetic file written to that schema; expect to adjust field names once the real
file is at hand (the errors name the missing field).

A debate title is a topic ("Abortion", "God exists"), not always a claim, so the paper
summarised DDO debates with an LLM (Appendix D.1). The title is kept as a provisional
claim with ``needs_summary=True`` and the raw text "Title: ...\\nContent: <the Pro side's
first-round argument>" (the first argument if Pro has none) for ``summarize.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .claims import DEFAULT_SPLIT_FRACTIONS, ORIGIN_TITLE, ClaimRecord, claim_id, clean_text, hash_split, require_claim
from .errors import DataError
from .files import load_json

log = logging.getLogger(__name__)

CORPUS = "ddo"


@dataclass(frozen=True)
class DdoArgument:
    side: str
    text: str


@dataclass(frozen=True)
class DdoDebate:
    key: str  # the debate name, debates.json's key
    title: str
    category: str | None
    url: str | None
    rounds: tuple[tuple[DdoArgument, ...], ...]
    row: int  # 0-based position in the file's object


def _argument(raw: Any, path: Path, record: str, where: str) -> DdoArgument:
    if not isinstance(raw, dict):
        raise DataError(path, f"expected an argument object at {where}, got {type(raw).__name__}", record=record, field="rounds")
    for field in ("side", "text"):
        if not isinstance(raw.get(field), str):
            raise DataError(path, f"missing or non-text value at {where}", record=record, field=f"rounds.{field}")
    return DdoArgument(raw["side"].strip(), raw["text"])


def _rounds(raw: Any, path: Path, record: str) -> tuple[tuple[DdoArgument, ...], ...]:
    if not isinstance(raw, list):
        raise DataError(path, f"expected a list of rounds, got {type(raw).__name__}", record=record, field="rounds")
    rounds = []
    for r, round_ in enumerate(raw):
        if not isinstance(round_, list):
            raise DataError(path, f"round {r} is not a list of arguments", record=record, field="rounds")
        rounds.append(tuple(_argument(a, path, record, f"round {r} argument {i}") for i, a in enumerate(round_)))
    return tuple(rounds)


def _debate(key: str, raw: Any, row: int, path: Path) -> DdoDebate:
    record = f"debate {key!r} (row {row})"
    if not isinstance(raw, dict):
        raise DataError(path, f"expected a debate object, got {type(raw).__name__}", record=record)
    if "rounds" not in raw:
        raise DataError(path, "missing field", record=record, field="rounds")
    optional = lambda f: raw.get(f) if isinstance(raw.get(f), str) else None  # noqa: E731
    return DdoDebate(
        key=key,
        title=require_claim(raw.get("title"), path, record, field="title"),
        category=optional("category"),
        url=optional("url"),
        rounds=_rounds(raw["rounds"], path, record),
        row=row,
    )


def read_ddo(path: str | Path) -> list[DdoDebate]:
    """All debates of ``debates.json``, in file order."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(path, f"expected a JSON object keyed by debate name, got {type(data).__name__}")
    debates = [_debate(key, raw, row, path) for row, (key, raw) in enumerate(data.items())]
    log.info("%s: %d debates", path, len(debates))
    return debates


def opening_argument(debate: DdoDebate) -> str:
    """The Pro side's first-round text (Pro argues the title), else the first argument."""
    if not debate.rounds or not debate.rounds[0]:
        return ""
    first = debate.rounds[0]
    pro = [a.text for a in first if a.side.casefold() == "pro"]
    return (pro[0] if pro else first[0].text).strip()


def ddo_claims(
    debates: Iterable[DdoDebate],
    *,
    provenance_file: str = "debates.json",
    split_fractions=DEFAULT_SPLIT_FRACTIONS,
) -> list[ClaimRecord]:
    records = []
    for debate in debates:
        record_id = claim_id(CORPUS, debate.key)
        records.append(
            ClaimRecord(
                id=record_id,
                claim=debate.title,
                source=CORPUS,
                split=hash_split(record_id, split_fractions),
                provenance_file=provenance_file,
                provenance_row=debate.row,
                topic=debate.category,
                needs_summary=True,
                raw_text=f"Title: {clean_text(debate.title)}\nContent: {opening_argument(debate)}",
                claim_origin=ORIGIN_TITLE,
            )
        )
    return records
