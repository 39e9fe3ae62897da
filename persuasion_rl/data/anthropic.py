"""Reader for Anthropic's persuasion data (Durmus et al., 2024; HF ``Anthropic/persuasion``).

Upstream is one CSV, one row per (participant, argument): ``worker_id`` (``ID`` in the
Open-Paws copy), ``claim``, ``argument``, ``source``, ``prompt_type``,
``rating_initial``, ``rating_final``, ``persuasiveness_metric``. Ratings are strings
such as ``"5 - Somewhat support"`` on the study's 7-point scale; they are parsed to ints
and kept as human reference data (a claim's mean initial and final rating), never used
as the Receiver's prior. Claims are given verbatim, so no summary is needed.

``read_anthropic_statements`` reads a plain JSON list of claim texts (ToMAP's
``statements.json`` of all 75 claims), which has no ratings.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .claims import DEFAULT_SPLIT_FRACTIONS, ClaimRecord, claim_id, hash_split, require_claim
from .errors import DataError
from .files import load_json, read_text

log = logging.getLogger(__name__)

CORPUS = "anthropic"
HUB_NAME = "Anthropic/persuasion"
# The study's scale, as the CSV spells it (see ../shared/data/anthropic/ATTRIBUTION.md).
RATING_LABELS: dict[int, str] = {
    1: "strongly oppose",
    2: "oppose",
    3: "somewhat oppose",
    4: "neither oppose nor support",
    5: "somewhat support",
    6: "support",
    7: "strongly support",
}
REQUIRED_COLUMNS = ("claim", "rating_initial", "rating_final")
ID_COLUMNS = ("worker_id", "ID")
_RATING = re.compile(r"^\s*([1-7])\s*(?:-\s*(.*?))?\s*$")


@dataclass(frozen=True)
class AnthropicRow:
    """One CSV row with its ratings parsed. ``row`` is the 0-based data row."""

    row: int
    worker_id: str | None
    claim: str
    argument: str | None
    source: str | None
    prompt_type: str | None
    rating_initial: int
    rating_final: int
    persuasiveness_metric: int | None


def parse_rating(value: Any) -> int:
    """``"5 - Somewhat support"`` (or ``"5"``, or ``5``) -> 5.

    A label that contradicts its number ("5 - Strongly oppose") is an error: it means
    the columns were shifted or the file was edited, and a silently wrong prior would
    poison every comparison with the Receiver.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value in RATING_LABELS:
        return value
    match = _RATING.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a rating '1 - Strongly oppose' .. '7 - Strongly support'")
    number, label = int(match.group(1)), match.group(2)
    if label and re.sub(r"\s+", " ", label).casefold() != RATING_LABELS[number]:
        raise ValueError(f"{value!r}: label does not match {number} ({RATING_LABELS[number]!r})")
    return number


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _optional_int(value: Any, file: str, record: str, field: str) -> int | None:
    text = _optional_text(value)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise DataError(file, f"{text!r} is not an integer", record=record, field=field) from None


def parse_row(values: Mapping[str, Any], index: int, *, file: str, record: str) -> AnthropicRow:
    """One upstream record (a CSV row or a hub record) as an ``AnthropicRow``."""
    ratings = {}
    for field in ("rating_initial", "rating_final"):
        try:
            ratings[field] = parse_rating(values.get(field))
        except ValueError as exc:
            raise DataError(file, str(exc), record=record, field=field) from None
    worker = next((values[c] for c in ID_COLUMNS if c in values), None)
    return AnthropicRow(
        row=index,
        worker_id=_optional_text(worker),
        claim=require_claim(values.get("claim"), file, record),
        argument=_optional_text(values.get("argument")),
        source=_optional_text(values.get("source")),
        prompt_type=_optional_text(values.get("prompt_type")),
        rating_initial=ratings["rating_initial"],
        rating_final=ratings["rating_final"],
        persuasiveness_metric=_optional_int(values.get("persuasiveness_metric"), file, record, "persuasiveness_metric"),
    )


def _check_header(header: Sequence[str], path: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(path, f"missing column(s) {missing}; columns are {list(header)}", record="header", field=missing[0])


def read_anthropic_csv(path: str | Path) -> list[AnthropicRow]:
    """All rows of the CSV, validated; the first bad row raises ``DataError``."""
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(path, "empty file, expected a CSV header", record="header") from None
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV: {exc}", record="header") from None
    _check_header(header, path)
    rows: list[AnthropicRow] = []
    index = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(path, f"malformed CSV: {exc}", record=f"row {index} (line {reader.line_num})") from None
        if not any(v.strip() for v in values):
            continue
        record = f"row {index} (line {reader.line_num})"
        if len(values) != len(header):
            raise DataError(path, f"has {len(values)} fields, the header has {len(header)}", record=record)
        rows.append(parse_row(dict(zip(header, values)), index, file=str(path), record=record))
        index += 1
    if not rows:
        raise DataError(path, "no data rows")
    log.info("%s: %d rows, %d claims", path, len(rows), len({r.claim for r in rows}))
    return rows


def read_anthropic_statements(path: str | Path) -> list[str]:
    """A JSON list of claim texts (ToMAP's ``statements.json``)."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, list):
        raise DataError(path, f"expected a JSON list of claim strings, got {type(data).__name__}")
    return [require_claim(text, path, i) for i, text in enumerate(data)]


def anthropic_claims(
    rows: Iterable[AnthropicRow],
    *,
    provenance_file: str,
    split_fractions=DEFAULT_SPLIT_FRACTIONS,
) -> list[ClaimRecord]:
    """One claim per distinct claim text, with the mean human ratings of its rows."""
    grouped: dict[str, list[AnthropicRow]] = {}
    for row in rows:
        grouped.setdefault(row.claim, []).append(row)
    records = []
    for claim, group in grouped.items():
        record_id = claim_id(CORPUS, claim)
        records.append(
            ClaimRecord(
                id=record_id,
                claim=claim,
                source=CORPUS,
                split=hash_split(record_id, split_fractions),
                provenance_file=provenance_file,
                provenance_row=group[0].row,
                rating_initial=sum(r.rating_initial for r in group) / len(group),
                rating_final=sum(r.rating_final for r in group) / len(group),
                rating_count=len(group),
            )
        )
    return records


def statement_claims(statements: Sequence[str], *, provenance_file: str, split_fractions=DEFAULT_SPLIT_FRACTIONS) -> list[ClaimRecord]:
    """Claims from a statements list; ids match ``anthropic_claims`` for the same text."""
    records = {}
    for index, claim in enumerate(statements):
        record_id = claim_id(CORPUS, claim)
        records.setdefault(
            record_id,
            ClaimRecord(record_id, claim, CORPUS, hash_split(record_id, split_fractions), provenance_file, index),
        )
    return list(records.values())


def load_anthropic_hub(name: str = HUB_NAME, split: str = "train", **load_kwargs: Any) -> list[AnthropicRow]:  # pragma: no cover
    """Online only, UNTESTED here (no network): the same rows via ``datasets.load_dataset``."""
    from datasets import load_dataset

    dataset = load_dataset(name, split=split, **load_kwargs)
    file = f"hf://datasets/{name}[{split}]"
    return [parse_row(values, i, file=file, record=f"row {i}") for i, values in enumerate(dataset)]
