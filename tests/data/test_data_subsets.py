"""Subsets: --limit spreads over corpora, --ids picks claims; `data priors` and `data export`
select alike, so a small prior run is enough for an export (issue 15.4, 15.5)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from persuasion_rl.cli import main
from persuasion_rl.data.claims import ClaimRecord, claim_id, write_claims
from persuasion_rl.data.subsets import read_ids, select_ids, stratified_limit

CORPORA = {"anthropic": 4, "cmv": 3, "ddo": 1}


def claims_table(path: Path) -> tuple[Path, list[ClaimRecord]]:
    records = []
    for corpus, n in CORPORA.items():
        for i in range(n):
            text = f"{corpus.title()} claim number {i} should be argued for."
            records.append(ClaimRecord(claim_id(corpus, text), text, corpus, "train", "t.jsonl", len(records)))
    write_claims(records, path)
    return path, records


def test_limit_takes_a_spread_of_corpora_in_input_order() -> None:
    items = [("a", 1), ("a", 2), ("a", 3), ("b", 4), ("b", 5), ("c", 6)]
    assert stratified_limit(items, 3, lambda x: x[0]) == [("a", 1), ("b", 4), ("c", 6)]
    assert stratified_limit(items, 5, lambda x: x[0]) == [("a", 1), ("a", 2), ("b", 4), ("b", 5), ("c", 6)]
    assert stratified_limit(items, None, lambda x: x[0]) == items
    assert stratified_limit(items, 99, lambda x: x[0]) == items


def test_ids_from_lists_and_files(tmp_path: Path) -> None:
    listed = tmp_path / "ids.txt"
    listed.write_text("x2  # a comment\n\nx3\n")
    assert read_ids(["x1,x2", str(listed)]) == ["x1", "x2", "x3"]
    assert select_ids(["x1", "x3", "x9"], ["x3", "nope"], str) == (["x3"], ["nope"])


def test_eval_limit_is_stratified_by_corpus(tmp_path: Path) -> None:
    """`eval --limit 5` took the first claims of one corpus."""
    from persuasion_rl.eval.inputs import ClaimSelection, load_claims

    path, _ = claims_table(tmp_path / "claims.parquet")
    chosen = load_claims(path, ClaimSelection(subset="all", limit=3))
    assert sorted(c.corpus for c in chosen) == ["anthropic", "cmv", "ddo"]


@pytest.mark.slow
def test_priors_and_export_of_the_same_subset(tmp_path: Path, tiny_assets, caplog) -> None:
    """`data export` needed a prior for every claim, with no subset option."""
    path, records = claims_table(tmp_path / "claims.parquet")
    priors = tmp_path / "priors.parquet"
    assert main(["data", "priors", "--receiver", "tiny", "--claims", str(path), "--out", str(priors), "--limit", "3",
                 "--max-tokens", "48", "--no-confidence", "--no-progress"]) == 0
    assert {r["claim_id"] for r in pq.read_table(priors).to_pylist()} == {records[0].id, records[4].id, records[7].id}
    export = ["data", "export", "--claims", str(path), "--priors", str(priors), "--setting", "static"]
    assert main([*export, "--out", str(tmp_path / "all")]) == 2  # every claim needs a prior...
    assert "--only-with-priors" in caplog.text
    assert main([*export, "--out", str(tmp_path / "some"), "--limit", "3"]) == 0  # ...the same subset has them
    assert pq.read_table(tmp_path / "some" / "train.parquet").num_rows == 3
    assert main([*export, "--out", str(tmp_path / "ids"), "--ids", f"{records[0].id},{records[7].id}"]) == 0
    assert pq.read_table(tmp_path / "ids" / "train.parquet").num_rows == 2
    assert main([*export, "--out", str(tmp_path / "with"), "--only-with-priors"]) == 0
    assert pq.read_table(tmp_path / "with" / "train.parquet").num_rows == 3
