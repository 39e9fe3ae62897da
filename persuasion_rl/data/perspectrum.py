"""Reader for the Perspectrum v1.0 JSON release (Chen et al., 2019; CogComp/perspectrum).

The release is a folder of JSON files: ``perspectrum_with_answers_v1.0.json`` (claims,
each with perspective clusters and stance labels), ``dataset_split_v1.0.json`` (claim id
-> train/dev/test), and optionally ``perspective_pool_v1.0.json`` (perspective texts) and
``topic.json`` (crowd-annotated topics). Claims are stated as claims, so they are used
verbatim and the upstream split is kept; the 907 claims split 541/139/227.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .claims import ClaimRecord, claim_id, require_claim
from .errors import DataError
from .files import load_json

log = logging.getLogger(__name__)

CORPUS = "perspectrum"
CLAIMS_FILE = "perspectrum_with_answers_v1.0.json"
SPLIT_FILE = "dataset_split_v1.0.json"
POOL_FILE = "perspective_pool_v1.0.json"
TOPIC_FILE = "topic.json"
UPSTREAM_SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class PerspectiveCluster:
    """Equivalent perspectives on a claim with their stance; ``texts`` needs the pool."""

    pids: tuple[int, ...]
    stance_label_3: str | None
    stance_label_5: str | None
    voter_counts: tuple[int, ...]
    evidence: tuple[int, ...]
    texts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PerspectrumClaim:
    cid: int
    text: str
    website: str | None  # upstream "source": idebate, debatewise or procon
    split: str
    topics: tuple[str, ...]
    perspectives: tuple[PerspectiveCluster, ...]
    row: int  # 0-based position in the claims file


@dataclass(frozen=True)
class PerspectrumFiles:
    claims: Path
    split: Path
    pool: Path | None
    topics: Path | None

    @classmethod
    def locate(cls, path: str | Path) -> "PerspectrumFiles":
        """The release files, from the folder or from the claims file inside it."""
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        claims = folder / CLAIMS_FILE if path.is_dir() else path
        for needed in (claims, folder / SPLIT_FILE):
            if not needed.is_file():
                raise DataError(needed, "file not found; pass the Perspectrum release folder (data/dataset)")
        optional = lambda name: folder / name if (folder / name).is_file() else None  # noqa: E731
        return cls(claims, folder / SPLIT_FILE, optional(POOL_FILE), optional(TOPIC_FILE))


def _int_list(value: Any, file: Path, record: str, field: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise DataError(file, f"expected a list of integers, got {value!r:.60}", record=record, field=field)
    return tuple(value)


def _cluster(raw: Any, pool: Mapping[int, str], file: Path, record: str) -> PerspectiveCluster:
    if not isinstance(raw, dict):
        raise DataError(file, f"expected an object, got {type(raw).__name__}", record=record, field="perspectives")
    pids = _int_list(raw.get("pids"), file, record, "perspectives.pids")
    return PerspectiveCluster(
        pids=pids,
        stance_label_3=raw.get("stance_label_3"),
        stance_label_5=raw.get("stance_label_5"),
        voter_counts=_int_list(raw.get("voter_counts", []), file, record, "perspectives.voter_counts"),
        evidence=_int_list(raw.get("evidence", []), file, record, "perspectives.evidence"),
        texts=tuple(pool[p] for p in pids if p in pool),
    )


def _load_split(path: Path) -> dict[int, str]:
    data = load_json(path)
    if not isinstance(data, dict):
        raise DataError(path, f"expected an object of claim id -> split, got {type(data).__name__}")
    splits = {}
    for key, split in data.items():
        if split not in UPSTREAM_SPLITS or not key.strip().isdigit():
            raise DataError(path, f"expected a claim id and one of {UPSTREAM_SPLITS}, got {key!r}: {split!r}", record=f"claim {key}")
        splits[int(key)] = split
    return splits


def _load_pool(path: Path | None) -> dict[int, str]:
    if path is None:
        return {}
    data = load_json(path)
    if not isinstance(data, list):
        raise DataError(path, f"expected a list of perspectives, got {type(data).__name__}")
    pool = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("pId"), int) or not isinstance(item.get("text"), str):
            raise DataError(path, "expected {'pId': int, 'text': str, ...}", record=i, field="pId" if isinstance(item, dict) else None)
        pool[item["pId"]] = item["text"]
    return pool


def _load_topics(path: Path | None) -> dict[int, tuple[str, ...]]:
    if path is None:
        return {}
    data = load_json(path)
    if not isinstance(data, list):
        raise DataError(path, f"expected a list of {{claim_id, topics}}, got {type(data).__name__}")
    topics = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("claim_id"), int):
            raise DataError(path, "expected {'claim_id': int, 'topics': [...]}", record=i, field="claim_id")
        topics[item["claim_id"]] = tuple(item.get("topics") or ())
    return topics


def _claim(raw: Any, row: int, files: PerspectrumFiles, splits, pool, topics) -> PerspectrumClaim:
    file = files.claims
    if not isinstance(raw, dict):
        raise DataError(file, f"expected a claim object, got {type(raw).__name__}", record=row)
    cid = raw.get("cId")
    if not isinstance(cid, int):
        raise DataError(file, f"expected an integer claim id, got {cid!r}", record=row, field="cId")
    record = f"row {row} (cId {cid})"
    if cid not in splits:
        raise DataError(files.split, f"claim {cid} of {file.name} has no split", record=f"claim {cid}", field=str(cid))
    perspectives = raw.get("perspectives", [])
    if not isinstance(perspectives, list):
        raise DataError(file, "expected a list", record=record, field="perspectives")
    return PerspectrumClaim(
        cid=cid,
        text=require_claim(raw.get("text"), file, record, field="text"),
        website=raw.get("source"),
        split=splits[cid],
        topics=tuple(raw["topics"]) if isinstance(raw.get("topics"), list) else topics.get(cid, ()),
        perspectives=tuple(_cluster(p, pool, file, record) for p in perspectives),
        row=row,
    )


def read_perspectrum(path: str | Path) -> list[PerspectrumClaim]:
    """All claims of the release with split, topics and perspective clusters."""
    files = PerspectrumFiles.locate(path)
    data = load_json(files.claims)
    if not isinstance(data, list):
        raise DataError(files.claims, f"expected a list of claims, got {type(data).__name__}")
    splits, pool, topics = _load_split(files.split), _load_pool(files.pool), _load_topics(files.topics)
    claims = [_claim(raw, i, files, splits, pool, topics) for i, raw in enumerate(data)]
    seen: dict[int, int] = {}
    for claim in claims:
        if claim.cid in seen:
            raise DataError(files.claims, f"claim id {claim.cid} repeats row {seen[claim.cid]}", record=claim.row, field="cId")
        seen[claim.cid] = claim.row
    log.info("%s: %d claims", files.claims, len(claims))
    return claims


def perspectrum_claims(claims: Iterable[PerspectrumClaim], *, provenance_file: str = CLAIMS_FILE) -> list[ClaimRecord]:
    return [
        ClaimRecord(
            id=claim_id(CORPUS, str(c.cid)),
            claim=c.text,
            source=CORPUS,
            split=c.split,
            provenance_file=provenance_file,
            provenance_row=c.row,
            topic=";".join(c.topics) or None,
        )
        for c in claims
    ]
