"""The prior cache: the Receiver's first reply to each claim, keyed by claim id.

The Sender's opening prompt quotes the Receiver's prior turn, and the persuasion gain is
measured from its score, so both are computed once per (claim, Receiver) and stored. The
table is a parquet file with one row per claim id: ``claim_id``, ``reply`` (the raw
reply text, ``<score>`` included), and, when known, ``claim`` (the text the reply
answered, so a stale prior for a since-summarised claim is caught), ``receiver`` (model
name) and ``prompt_version``. ``export.py`` reads it through ``load_priors``; a plain
``{claim_id: reply}`` dict works as well.

``priors_from_jsonl`` adapts the Receivers' own JSON-lines cache
(``receivers/prior_cache.py``: one ``{receiver, claim, reply, ...}`` object per line,
keyed by Receiver and claim text) by matching claim texts to a claims table.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ..files import write_parquet_atomic
from ..game.parsing import ReceiverReply, parse_receiver_reply
from .claims import ClaimRecord
from .errors import DataError
from .files import iter_json_lines, read_parquet

PRIORS_SCHEMA = pa.schema(
    [
        pa.field("claim_id", pa.string(), nullable=False),
        pa.field("reply", pa.string(), nullable=False),
        pa.field("claim", pa.string()),
        pa.field("receiver", pa.string()),
        pa.field("prompt_version", pa.string()),
        pa.field("expected_score", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Prior:
    """One row of the priors table: the Receiver's opening turn for a claim as stored (its
    reply text, the expected score when computed in expected mode) with where it came
    from. In a game the opening turn is a ``game.turn.ReceiverTurn``; the verl row
    (``verl_row.py``) carries both of its scores."""

    claim_id: str
    reply: str
    claim: str | None = None
    receiver: str | None = None
    prompt_version: str | None = None
    # the Receiver's expected prior score (expected scoring mode); the sampled prior is the
    # Likert point in ``reply``. The reward compares like with like and refuses a mix.
    expected_score: float | None = None

    @property
    def parsed(self) -> ReceiverReply:
        return parse_receiver_reply(self.reply)


PriorSource = Mapping[str, "Prior | str"]


def as_prior(claim_id: str, value: Prior | str) -> Prior:
    return value if isinstance(value, Prior) else Prior(claim_id=claim_id, reply=value)


def write_priors(priors: Sequence[Prior], path: str | Path) -> Path:
    path = Path(path)
    repeated = [i for i, n in Counter(p.claim_id for p in priors).items() if n > 1]
    if repeated:
        raise DataError(path, f"{len(repeated)} claim ids have more than one prior, e.g. {repeated[:5]}", field="claim_id")
    write_parquet_atomic(pa.Table.from_pylist([dataclasses.asdict(p) for p in priors], schema=PRIORS_SCHEMA), path)
    return path


def read_priors(path: str | Path) -> list[Prior]:
    path = Path(path)
    table = read_parquet(path)
    missing = [c for c in ("claim_id", "reply") if c not in table.column_names]
    if missing:
        raise DataError(path, f"missing column(s) {missing}", record="header", field=missing[0])
    priors = []
    for i, row in enumerate(table.to_pylist()):
        for field in ("claim_id", "reply"):
            if not isinstance(row.get(field), str):
                raise DataError(path, "missing value", record=i, field=field)
        values = {f.name: row.get(f.name) for f in dataclasses.fields(Prior)}
        if values["expected_score"] is None and row.get("scoring_mode") == "expected":
            values["expected_score"] = row.get("score")  # a table written by `data priors --mode expected`
        priors.append(Prior(**values))
    return priors


def load_priors(paths: Iterable[str | Path]) -> dict[str, Prior]:
    """Priors of several files by claim id; a later file overrides an earlier one."""
    return {p.claim_id: p for path in paths for p in read_priors(path)}


def priors_from_jsonl(path: str | Path, records: Sequence[ClaimRecord], *, receiver: str | None = None) -> dict[str, Prior]:
    """Priors by claim id from a Receiver prior cache (JSON lines), matched on claim text.

    The file may hold several Receivers; ``receiver`` picks one and is required then."""
    path = Path(path)
    entries: dict[str, dict[str, dict]] = {}
    for number, entry in iter_json_lines(path):
        for field in ("receiver", "claim", "reply"):
            if not isinstance(entry.get(field), str):
                raise DataError(path, "missing or non-text value", record=f"line {number + 1}", field=field)
        entries.setdefault(entry["receiver"], {})[entry["claim"]] = entry
    if receiver is None and len(entries) > 1:
        raise DataError(path, f"holds priors of {len(entries)} Receivers {sorted(entries)}; choose one", field="receiver")
    chosen = entries.get(receiver, {}) if receiver is not None else next(iter(entries.values()), {})
    name = receiver if receiver is not None else next(iter(entries), None)
    return {
        r.id: Prior(r.id, chosen[r.claim]["reply"], claim=r.claim, receiver=name,
                    expected_score=chosen[r.claim].get("score") if chosen[r.claim].get("scoring_mode") == "expected" else None)
        for r in records if r.claim in chosen
    }


def load_prior_files(paths: Iterable[str | Path], records: Sequence[ClaimRecord], *, receiver: str | None = None) -> dict[str, Prior]:
    """Parquet prior tables and JSON-lines Receiver caches; later files override earlier."""
    priors: dict[str, Prior] = {}
    for path in map(Path, paths):
        if path.suffix in (".jsonl", ".json"):
            priors.update(priors_from_jsonl(path, records, receiver=receiver))
        else:
            priors.update({p.claim_id: p for p in read_priors(path)})
    return priors
