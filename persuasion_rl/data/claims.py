"""The claims table: one row per claim, whatever corpus it came from.

Each reader turns its upstream format into ``ClaimRecord`` rows; ``merge_claims`` joins
corpora into the single table that priors, summaries and the verl export read. Rules, so
that the same inputs always give the same table, byte for byte:

Ids
    ``<corpus>-<16 hex>``, the hex being ``sha256(corpus + "\\x1f" + source key)``. The
    source key is the corpus' own identifier (Perspectrum ``cId``, a Reddit thread id, a
    DDO debate name, the Anthropic claim text, ``<split>:<index>`` for the paper's
    parquet), so an id survives re-downloads, re-orderings and claim summarisation.

Provenance
    ``provenance_file`` is the upstream file relative to the ``--input`` folder (its
    name when a file was given), so tables do not depend on where a user keeps the data;
    ``provenance_row`` is the 0-based record in it: data row of a CSV (header excluded;
    the first row of the claim for Anthropic), list index of a JSON array, position in
    DDO's debate object, line of a JSON-lines file, row of a parquet file, 0 for an XML
    thread.

Splits
    A corpus' own split is kept when it has one: Perspectrum's ``dataset_split_v1.0.json``
    (train/dev/test), the Tan et al. CMV release (``train_*`` files -> train,
    ``heldout_*`` -> test), the split field of ToMAP-style JSON lines and the paper's
    parquet (train/test). Otherwise the split is a hash split: the first 8 bytes of
    ``sha256("split:" + id)`` as a fraction in [0, 1) against cumulative
    ``DEFAULT_SPLIT_FRACTIONS`` (train 0.8, dev 0.1, test 0.1). It depends on the id
    only, so adding or removing other claims never moves a claim between splits.

Deduplication (``merge_claims``)
    Two rows are duplicates when their normalised claim texts are equal (NFKC, case
    folded, every run of non-word characters a single space; ``normalize_claim``). Rows
    that still need a summary compare their normalised raw text instead, because their
    provisional claim (a debate title such as "Abortion") says little about the post.
    Within a group the row of the corpus listed first in ``CORPUS_PRIORITY`` is kept
    (upstream corpora before the paper's derived parquet), then the smallest id; the
    dropped ids are listed in the kept row's ``duplicate_ids`` so that their priors and
    provenance stay reachable. Merging also collapses rows with the same id (a table
    merged twice), keeping a summarised row over an unsummarised one.

Evaluation subset (``select_eval``)
    Drawn from the ``test`` split only, stratified by corpus. ``size`` (default 475, the
    number of evaluation instances in the paper's section 4; its Appendix D.2 says 375)
    is divided among corpora in proportion to their test rows (``allocation=
    "proportional"``) or equally (``"equal"``), by largest remainders with ties broken by
    corpus name; a corpus with too few rows gives all of them and the rest is divided
    again among the others. Within a corpus the rows with the smallest
    ``sha256("eval:<seed>:<id>")`` are taken. If the test split is smaller than
    ``size`` every test row is taken and a warning is logged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ..files import write_parquet_atomic
from .errors import DataError
from .files import natural_key, read_parquet

log = logging.getLogger(__name__)

CORPORA = ("anthropic", "perspectrum", "cmv", "ddo", "paper")
CORPUS_PRIORITY = CORPORA
SPLITS = ("train", "dev", "test")
DEFAULT_SPLIT_FRACTIONS: tuple[tuple[str, float], ...] = (("train", 0.8), ("dev", 0.1), ("test", 0.1))
DEFAULT_EVAL_SIZE = 475
ALLOCATIONS = ("proportional", "equal")

# How ``claim`` was obtained: given by the corpus, cut from a title, or summarised by an
# LLM ("summary:<model>"). Rows with needs_summary=True hold a provisional claim.
ORIGIN_UPSTREAM = "upstream"
ORIGIN_TITLE = "title"
ORIGIN_SUMMARY_PREFIX = "summary:"


@dataclass(frozen=True)
class ClaimRecord:
    """One claim with where it came from. Ratings are human Likert 1-7 means (Anthropic)."""

    id: str
    claim: str
    source: str
    split: str
    provenance_file: str
    provenance_row: int
    topic: str | None = None
    rating_initial: float | None = None
    rating_final: float | None = None
    rating_count: int | None = None
    needs_summary: bool = False
    raw_text: str | None = None
    claim_origin: str = ORIGIN_UPSTREAM
    eval: bool = False
    duplicate_ids: tuple[str, ...] = ()


CLAIMS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("claim", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("topic", pa.string()),
        pa.field("provenance_file", pa.string(), nullable=False),
        pa.field("provenance_row", pa.int64(), nullable=False),
        pa.field("rating_initial", pa.float64()),
        pa.field("rating_final", pa.float64()),
        pa.field("rating_count", pa.int64()),
        pa.field("needs_summary", pa.bool_(), nullable=False),
        pa.field("raw_text", pa.string()),
        pa.field("claim_origin", pa.string(), nullable=False),
        pa.field("eval", pa.bool_(), nullable=False),
        pa.field("duplicate_ids", pa.list_(pa.string()), nullable=False),
    ]
)
_REQUIRED = ("id", "claim", "source", "split", "provenance_file", "provenance_row")


# --- ids, text normalisation, splits -------------------------------------------------


def claim_id(corpus: str, key: str) -> str:
    digest = hashlib.sha256(f"{corpus}\x1f{key}".encode()).hexdigest()
    return f"{corpus}-{digest[:16]}"


def normalize_claim(text: str) -> str:
    """Comparison form of a claim: NFKC, case folded, punctuation runs as one space."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\W_]+", " ", folded).strip()


def _unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def hash_split(record_id: str, fractions: Sequence[tuple[str, float]] = DEFAULT_SPLIT_FRACTIONS) -> str:
    """Deterministic split of one id (see the module docstring)."""
    total = sum(f for _, f in fractions)
    if total <= 0 or any(f < 0 for _, f in fractions):
        raise ValueError(f"split fractions must be non-negative and sum to > 0, got {fractions!r}")
    point, cumulative = _unit_hash(f"split:{record_id}") * total, 0.0
    for name, fraction in fractions:
        cumulative += fraction
        if point < cumulative:
            return name
    return fractions[-1][0]


def clean_text(text: str) -> str:
    """Whitespace collapsed and stripped: the form a claim is stored in."""
    return re.sub(r"\s+", " ", text).strip()


def require_claim(text: object, file: str | Path, record: str | int, field: str = "claim", *, clean: bool = True) -> str:
    """A non-empty claim string, or a ``DataError`` naming where it was missing.

    ``clean=False`` keeps the text byte for byte (the paper's parquet, whose prompts embed
    the claim exactly as stored)."""
    if not isinstance(text, str):
        raise DataError(file, f"expected text, got {type(text).__name__}", record=record, field=field)
    cleaned = clean_text(text)
    if not cleaned:
        raise DataError(file, "empty claim", record=record, field=field)
    return cleaned if clean else text


# --- dedup, eval subset, merge ---------------------------------------------------------


def _dedup_key(record: ClaimRecord) -> str:
    if record.needs_summary:
        return "raw:" + normalize_claim(record.raw_text or record.claim)
    return "claim:" + normalize_claim(record.claim)


def _priority(record: ClaimRecord) -> tuple[int, str]:
    rank = CORPUS_PRIORITY.index(record.source) if record.source in CORPUS_PRIORITY else len(CORPUS_PRIORITY)
    return rank, record.id


def collapse_same_ids(records: Sequence[ClaimRecord]) -> list[ClaimRecord]:
    """One row per id; a summarised row wins over an unsummarised one, else the first."""
    kept: dict[str, ClaimRecord] = {}
    for record in records:
        previous = kept.get(record.id)
        if previous is None or (previous.needs_summary and not record.needs_summary):
            kept[record.id] = record
    dropped = len(records) - len(kept)
    if dropped:
        log.info("collapsed %d rows that repeat an id", dropped)
    return list(kept.values())


def dedupe(records: Sequence[ClaimRecord]) -> list[ClaimRecord]:
    """Drop cross- and within-corpus duplicates (rule in the module docstring)."""
    groups: dict[str, list[ClaimRecord]] = defaultdict(list)
    for record in records:
        groups[_dedup_key(record)].append(record)
    kept: list[ClaimRecord] = []
    for group in groups.values():
        group.sort(key=_priority)
        winner, losers = group[0], group[1:]
        if losers:
            extra = {r.id for r in losers} | {d for r in group for d in r.duplicate_ids}
            winner = dataclasses.replace(winner, duplicate_ids=tuple(sorted(extra - {winner.id})))
        kept.append(winner)
    dropped = len(records) - len(kept)
    if dropped:
        by_corpus = Counter(r.source for g in groups.values() for r in sorted(g, key=_priority)[1:])
        log.info("dropped %d duplicate claims (%s)", dropped, ", ".join(f"{c}: {n}" for c, n in sorted(by_corpus.items())))
    return kept


def _largest_remainder(weights: Mapping[str, float], total: int) -> dict[str, int]:
    weight_sum = sum(weights.values())
    exact = {c: total * w / weight_sum for c, w in weights.items()}
    shares = {c: int(v) for c, v in exact.items()}
    order = sorted(weights, key=lambda c: (-(exact[c] - shares[c]), c))
    for corpus in order[: total - sum(shares.values())]:
        shares[corpus] += 1
    return shares


def allocate_eval(available: Mapping[str, int], size: int, allocation: str = "proportional") -> dict[str, int]:
    """How many evaluation rows each corpus gives (see the module docstring)."""
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {allocation!r}")
    quota = {c: 0 for c in available}
    remaining = min(size, sum(available.values()))
    while remaining > 0:
        open_corpora = sorted(c for c in available if quota[c] < available[c])
        weights = {c: float(available[c]) if allocation == "proportional" else 1.0 for c in open_corpora}
        for corpus, share in _largest_remainder(weights, remaining).items():
            take = min(share, available[corpus] - quota[corpus])
            quota[corpus] += take
            remaining -= take
    return quota


def select_eval(
    records: Sequence[ClaimRecord],
    size: int = DEFAULT_EVAL_SIZE,
    *,
    allocation: str = "proportional",
    seed: int = 0,
) -> list[ClaimRecord]:
    """``records`` with ``eval`` set on the stratified evaluation subset of the test split."""
    if size < 0:
        raise ValueError(f"evaluation size must be >= 0, got {size}")
    pool: dict[str, list[ClaimRecord]] = defaultdict(list)
    for record in records:
        if record.split == "test":
            pool[record.source].append(record)
    quota = allocate_eval({c: len(rows) for c, rows in pool.items()}, size, allocation)
    chosen: set[str] = set()
    for corpus, rows in pool.items():
        rows = sorted(rows, key=lambda r: hashlib.sha256(f"eval:{seed}:{r.id}".encode()).hexdigest())
        chosen.update(r.id for r in rows[: quota[corpus]])
    if len(chosen) < size:
        log.warning("evaluation subset has %d rows, fewer than the %d asked: the test split is too small", len(chosen), size)
    log.info("evaluation subset: %s", ", ".join(f"{c}: {n}" for c, n in sorted(quota.items())) or "empty")
    return [dataclasses.replace(r, eval=r.id in chosen) for r in records]


def sort_records(records: Iterable[ClaimRecord]) -> list[ClaimRecord]:
    """Corpus order, then upstream file and row order: stable and easy to read."""
    return sorted(records, key=lambda r: (_priority(r)[0], r.source, natural_key(Path(r.provenance_file)), r.provenance_row, r.id))


def merge_claims(
    tables: Sequence[Sequence[ClaimRecord]],
    *,
    eval_size: int = DEFAULT_EVAL_SIZE,
    allocation: str = "proportional",
    seed: int = 0,
) -> list[ClaimRecord]:
    """One deduplicated table with a fresh evaluation subset."""
    rows = collapse_same_ids([r for table in tables for r in table])
    return select_eval(sort_records(dedupe(rows)), eval_size, allocation=allocation, seed=seed)


# --- parquet I/O ------------------------------------------------------------------------


def to_arrow(records: Sequence[ClaimRecord]) -> pa.Table:
    rows = [dataclasses.asdict(r) | {"duplicate_ids": list(r.duplicate_ids)} for r in records]
    return pa.Table.from_pylist(rows, schema=CLAIMS_SCHEMA)


def write_claims(records: Sequence[ClaimRecord], path: str | Path) -> Path:
    """Write atomically; refuses repeated ids, which would make priors ambiguous."""
    path = Path(path)
    repeated = [i for i, n in Counter(r.id for r in records).items() if n > 1]
    if repeated:
        raise DataError(path, f"{len(repeated)} ids are repeated, e.g. {repeated[:5]}", field="id")
    write_parquet_atomic(to_arrow(records), path)
    return path


def read_claims(path: str | Path) -> list[ClaimRecord]:
    """A claims table written by ``write_claims`` (or by hand with the same columns)."""
    path = Path(path)
    table = read_parquet(path)
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise DataError(path, f"missing column(s) {missing}; a claims table needs {list(_REQUIRED)}", record="header", field=missing[0])
    return [_record_from_row(row, path, i) for i, row in enumerate(table.to_pylist())]


def _record_from_row(row: dict, path: Path, index: int) -> ClaimRecord:
    for name in _REQUIRED:
        if row.get(name) is None:
            raise DataError(path, "missing value", record=index, field=name)
    fields = {f.name for f in dataclasses.fields(ClaimRecord)}
    values = {k: v for k, v in row.items() if k in fields and v is not None}
    values["claim"] = require_claim(values["claim"], path, index, clean=False)
    values["duplicate_ids"] = tuple(values.get("duplicate_ids") or ())
    return ClaimRecord(**values)


# --- reporting --------------------------------------------------------------------------


def count_by_corpus_split(records: Iterable[ClaimRecord]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record in records:
        counts[record.source][record.split] += 1
    return {c: dict(s) for c, s in counts.items()}


def format_counts(counts: Mapping[str, Mapping[str, int]]) -> str:
    """A plain text table: one line per corpus, one column per split, with totals."""
    splits = [s for s in SPLITS if any(s in c for c in counts.values())]
    splits += sorted({s for c in counts.values() for s in c} - set(splits))
    header = ["corpus", *splits, "total"]
    lines = []
    for corpus in sorted(counts, key=lambda c: (CORPORA.index(c) if c in CORPORA else len(CORPORA), c)):
        values = [counts[corpus].get(s, 0) for s in splits]
        lines.append([corpus, *map(str, values), str(sum(values))])
    totals = [sum(counts[c].get(s, 0) for c in counts) for s in splits]
    lines.append(["total", *map(str, totals), str(sum(totals))])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    fmt = lambda row: "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join(fmt(row) for row in [header, *lines])
