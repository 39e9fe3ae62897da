"""The claims table: ids, splits, deduplication, the evaluation subset and parquet I/O."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from persuasion_rl.data.claims import (
    CLAIMS_SCHEMA,
    ClaimRecord,
    allocate_eval,
    claim_id,
    dedupe,
    format_counts,
    count_by_corpus_split,
    hash_split,
    merge_claims,
    normalize_claim,
    read_claims,
    select_eval,
    write_claims,
)
from persuasion_rl.data.errors import DataError


def record(corpus: str, key: str, claim: str, split: str = "train", **kwargs) -> ClaimRecord:
    return ClaimRecord(claim_id(corpus, key), claim, corpus, split, f"{corpus}.src", 0, **kwargs)


def test_ids_are_deterministic_and_corpus_scoped() -> None:
    assert claim_id("cmv", "abc") == claim_id("cmv", "abc")
    assert claim_id("cmv", "abc") != claim_id("ddo", "abc")
    assert claim_id("cmv", "abc").startswith("cmv-") and len(claim_id("cmv", "abc")) == len("cmv-") + 16


def test_hash_split_is_stable_and_follows_fractions() -> None:
    ids = [claim_id("ddo", str(i)) for i in range(4000)]
    splits = Counter(hash_split(i) for i in ids)
    assert [hash_split(i) for i in ids[:50]] == [hash_split(i) for i in ids[:50]]
    assert abs(splits["train"] / 4000 - 0.8) < 0.03 and abs(splits["test"] / 4000 - 0.1) < 0.03
    assert {hash_split(i, (("train", 1.0), ("dev", 0.0), ("test", 0.0))) for i in ids[:100]} == {"train"}


def test_normalize_claim_ignores_case_punctuation_and_spacing() -> None:
    assert normalize_claim("Vaccination must be made compulsory") == normalize_claim(" vaccination  MUST be made compulsory. ")
    assert normalize_claim("It\u2019s fine") == normalize_claim("It's fine")


def test_dedupe_keeps_the_priority_corpus_and_lists_the_others() -> None:
    rows = [
        record("paper", "train:1", "Vaccination must be made compulsory."),
        record("perspectrum", "499", "Vaccination must be made compulsory", "dev"),
        record("cmv", "x", "Something else"),
    ]
    kept = {r.source: r for r in dedupe(rows)}
    assert set(kept) == {"perspectrum", "cmv"}
    assert kept["perspectrum"].duplicate_ids == (rows[0].id,)
    assert kept["perspectrum"].split == "dev"


def test_dedupe_compares_raw_text_for_unsummarised_rows() -> None:
    rows = [
        record("ddo", "a", "Abortion", needs_summary=True, raw_text="Title: Abortion\nContent: one"),
        record("ddo", "b", "Abortion", needs_summary=True, raw_text="Title: Abortion\nContent: two"),
        record("ddo", "c", "Abortion", needs_summary=True, raw_text="Title: Abortion\nContent: one"),
    ]
    assert len(dedupe(rows)) == 2


@pytest.mark.parametrize(
    ("available", "size", "allocation", "expected"),
    [
        ({"a": 100, "b": 300}, 40, "proportional", {"a": 10, "b": 30}),
        ({"a": 100, "b": 300}, 40, "equal", {"a": 20, "b": 20}),
        ({"a": 5, "b": 300, "c": 300}, 45, "equal", {"a": 5, "b": 20, "c": 20}),  # capped, rest shared
        ({"a": 1, "b": 1, "c": 1}, 2, "equal", {"a": 1, "b": 1, "c": 0}),  # ties by name
        ({"a": 3, "b": 4}, 475, "proportional", {"a": 3, "b": 4}),  # pool smaller than size
    ],
)
def test_allocate_eval(available, size, allocation, expected) -> None:
    assert allocate_eval(available, size, allocation) == expected


def test_select_eval_is_stratified_deterministic_and_test_only() -> None:
    rows = [record("cmv", str(i), f"cmv claim {i}", "test") for i in range(300)]
    rows += [record("perspectrum", str(i), f"p claim {i}", "test") for i in range(100)]
    rows += [record("ddo", str(i), f"ddo claim {i}", "train") for i in range(100)]
    chosen = [r for r in select_eval(rows, 40) if r.eval]
    assert Counter(r.source for r in chosen) == {"cmv": 30, "perspectrum": 10}
    assert [r.id for r in chosen] == [r.id for r in select_eval(rows, 40) if r.eval]
    assert [r.id for r in chosen] != [r.id for r in select_eval(rows, 40, seed=1) if r.eval]


def test_merge_is_idempotent(tmp_path: Path) -> None:
    rows = [record("cmv", str(i), f"claim {i}", "test") for i in range(10)] + [record("anthropic", "a", "Claim 0.")]
    merged = merge_claims([rows], eval_size=4)
    assert len(merged) == 10 and sum(r.eval for r in merged) == 4
    write_claims(merged, tmp_path / "claims.parquet")
    again = merge_claims([read_claims(tmp_path / "claims.parquet")], eval_size=4)
    assert again == merged


def test_merge_prefers_a_summarised_row_with_the_same_id() -> None:
    old = record("ddo", "a", "Abortion", needs_summary=True, raw_text="Title: Abortion\nContent: x")
    new = record("ddo", "a", "Abortion should be legal.", claim_origin="summary:m")
    assert merge_claims([[old], [new]], eval_size=0) == [new]


def test_parquet_roundtrip_and_schema(tmp_path: Path) -> None:
    rows = [
        record("anthropic", "x", "A claim", rating_initial=4.5, rating_final=5.0, rating_count=2),
        record("cmv", "y", "B claim", topic="t1;t2", raw_text="Title: B", claim_origin="title", duplicate_ids=("paper-1",)),
    ]
    path = write_claims(rows, tmp_path / "c.parquet")
    assert pq.read_schema(path).equals(CLAIMS_SCHEMA, check_metadata=False)
    assert read_claims(path) == rows
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


def test_write_refuses_repeated_ids(tmp_path: Path) -> None:
    row = record("cmv", "y", "B claim")
    with pytest.raises(DataError, match="repeated"):
        write_claims([row, row], tmp_path / "c.parquet")
    assert not (tmp_path / "c.parquet").exists()


def test_format_counts() -> None:
    rows = [record("cmv", "1", "a", "train"), record("cmv", "2", "b", "test"), record("anthropic", "3", "c", "dev")]
    table = format_counts(count_by_corpus_split(rows)).splitlines()
    assert table[0].split() == ["corpus", "train", "dev", "test", "total"]
    assert table[1].split() == ["anthropic", "0", "1", "0", "1"]
    assert table[-1].split() == ["total", "1", "1", "1", "3"]


def test_merge_of_the_shared_corpora(perspectrum_dir: Path, paper_dir: Path, anthropic_csv: Path) -> None:
    from persuasion_rl.data.build import build_source

    tables = [build_source(s, p).claims for s, p in [("perspectrum", perspectrum_dir), ("paper", paper_dir), ("anthropic", anthropic_csv)]]
    merged = merge_claims(tables)
    counts = Counter(r.source for r in merged)
    # every Perspectrum claim is in the paper's train set (with a period added): the
    # paper's copies are dropped in favour of the upstream rows
    assert counts["perspectrum"] == 902  # 5 Perspectrum claims repeat another one's text
    assert counts["paper"] < 2907 - 900
    assert sum(r.eval for r in merged) == 475
    assert {r.split for r in merged if r.eval} == {"test"}
