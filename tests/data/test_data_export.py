"""verl RL parquet export: prompts, columns, priors and atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from persuasion_rl.data import paper
from persuasion_rl.data.build import build_source
from persuasion_rl.data.claims import ClaimRecord, claim_id
from persuasion_rl.data.errors import DataError
from persuasion_rl.data.export import export_rows, export_splits
from persuasion_rl.data.verl_row import EXPORT_SCHEMA
from persuasion_rl.data.priors import Prior, load_prior_files, priors_from_jsonl, read_priors, write_priors
from persuasion_rl.game import PromptConfig, Setting, sender_opening_messages

PRIOR = "<score>3</score>\n<opinion>I doubt it.</opinion>\n<thinking>hmm</thinking>\n<question>Why?</question>"


def record(key: str, claim: str, split: str = "train", **kwargs) -> ClaimRecord:
    return ClaimRecord(claim_id("cmv", key), claim, "cmv", split, "x.xml", 0, **kwargs)


def test_export_reproduces_the_papers_prompts(paper_dir: Path) -> None:
    """The paper's own rows, ingested and exported again: the same Sender prompt, byte for byte."""
    result = build_source("paper", paper_dir)
    priors = {p.claim_id: p for p in result.priors}
    rows = export_rows(result.claims, priors, Setting.STATIC)
    originals = paper.read_paper(paper_dir)
    assert [r["prompt"] for r in rows] == [list(o.prompt) for o in originals]
    assert sum(r["extra_info"]["prior_score"] is None for r in rows) == 18  # replies without a readable score


def test_row_layout() -> None:
    claims = [record("a", "Taxes should be lower."), record("b", "Zoos are cruel.", "test", eval=True)]
    priors = {claims[0].id: PRIOR, claims[1].id: Prior(claims[1].id, PRIOR, claim="Zoos are cruel.", expected_score=3.4)}
    static, dynamic = (export_rows(claims, priors, s) for s in (Setting.STATIC, Setting.DYNAMIC))
    row = dynamic[1]
    assert row["data_source"] == "cmv" and row["ability"] == "persuasion"
    assert row["reward_model"] == {"style": "model", "ground_truth": "Zoos are cruel."}
    assert row["extra_info"] == {
        "claim_id": claims[1].id, "claim": "Zoos are cruel.", "corpus": "cmv", "split": "test",
        "prior_score": 3, "prior_expected_score": 3.4, "prior_reply": PRIOR, "setting": "dynamic", "index": 1,
    }
    assert static[0]["extra_info"]["prior_expected_score"] is None  # no expected prior was computed
    assert row["prompt"] == sender_opening_messages("Zoos are cruel.", "I doubt it.\nWhy?", PromptConfig(setting=Setting.DYNAMIC))
    assert row["agent_name"] == "persuasion_dynamic" and static[0]["agent_name"] == "single_turn_agent"
    assert static[0]["prompt"][0] != dynamic[0]["prompt"][0]  # the settings' system prompts differ


def test_export_files_read_back_in_verl_layout(tmp_path: Path) -> None:
    claims = [record(str(i), f"Claim {i}.", "train" if i < 3 else "test", eval=i == 4) for i in range(5)]
    paths = export_splits(claims, {c.id: PRIOR for c in claims}, "dynamic", tmp_path / "out")
    assert set(paths) == {"train", "test", "eval"}
    assert pq.read_schema(paths["train"]).equals(EXPORT_SCHEMA, check_metadata=False)
    frame = pd.read_parquet(paths["test"])
    assert list(frame.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info", "agent_name"]
    assert len(frame) == 2 and frame.iloc[0]["extra_info"]["index"] == 0
    assert [m["role"] for m in frame.iloc[0]["prompt"]] == ["system", "user", "assistant", "user"]
    assert len(pd.read_parquet(paths["eval"])) == 1


def test_missing_priors_are_listed_and_nothing_is_written(tmp_path: Path) -> None:
    claims = [record(str(i), f"Claim {i}.") for i in range(30)]
    priors = {claims[0].id: PRIOR}
    with pytest.raises(DataError) as error:
        export_splits(claims, priors, "static", tmp_path / "out", priors_name="priors.parquet")
    message = str(error.value)
    assert "29 of 30 claims have no Receiver prior" in message and claims[1].id in message and "... and 9 more" in message
    assert message.startswith("priors.parquet: field 'claim_id'")
    assert not (tmp_path / "out").exists()


def test_a_prior_for_another_claim_text_is_stale() -> None:
    claim = record("a", "Abortion should be legal.", claim_origin="summary:m")
    with pytest.raises(DataError, match="different claim text"):
        export_rows([claim], {claim.id: Prior(claim.id, PRIOR, claim="Abortion")}, "static")


def test_unsummarised_claims_are_refused_unless_allowed() -> None:
    claim = record("a", "Abortion", needs_summary=True, raw_text="Title: Abortion\nContent: x")
    with pytest.raises(DataError, match="1 claims still need a summary"):
        export_rows([claim], {claim.id: PRIOR}, "static")
    assert len(export_rows([claim], {claim.id: PRIOR}, "static", allow_unsummarized=True)) == 1


def test_prior_of_an_absorbed_duplicate_with_the_same_text_is_used() -> None:
    dropped = claim_id("paper", "train:0")
    claim = record("a", "Zoos are cruel.", duplicate_ids=(dropped,))
    rows = export_rows([claim], {dropped: Prior(dropped, PRIOR, claim="Zoos are cruel.")}, "static")
    assert rows[0]["extra_info"]["prior_reply"] == PRIOR


def test_existing_output_survives_a_failed_export(tmp_path: Path) -> None:
    claims = [record("a", "Claim a."), record("b", "Claim b.", "test")]
    out = tmp_path / "out"
    export_splits(claims, {c.id: PRIOR for c in claims}, "static", out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(DataError):
        export_splits([*claims, record("c", "Claim c.")], {c.id: PRIOR for c in claims}, "static", out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_prior_tables_and_receiver_jsonl_caches(tmp_path: Path) -> None:
    claims = [record("a", "Claim a."), record("b", "Claim b.")]
    table = write_priors([Prior(claims[0].id, PRIOR, claim="Claim a.", receiver="r1")], tmp_path / "p.parquet")
    assert read_priors(table) == [Prior(claims[0].id, PRIOR, claim="Claim a.", receiver="r1")]
    cache = tmp_path / "priors.jsonl"
    lines = [{"key": "k1", "receiver": "r1", "claim": "Claim b.", "reply": PRIOR, "score": 3},
             {"key": "k2", "receiver": "r2", "claim": "Claim b.", "reply": "<score>6</score>", "score": 6}]
    cache.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(DataError, match="2 Receivers"):
        priors_from_jsonl(cache, claims)
    assert priors_from_jsonl(cache, claims, receiver="r2")[claims[1].id].reply == "<score>6</score>"
    both = load_prior_files([table, cache], claims, receiver="r1")
    assert set(both) == {c.id for c in claims}
