"""Receiver priors and prior confidence (``data priors``), and claim summaries through the
project's async backends, end to end with the tiny models."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from persuasion_rl.cli import main
from persuasion_rl.data.chat_adapter import ChatBackendAdapter
from persuasion_rl.data.claims import ClaimRecord, claim_id, read_claims, write_claims
from persuasion_rl.data.priors import read_priors
from persuasion_rl.data.priors_cli import PriorsOptions, compute_priors
from persuasion_rl.data.summarize import SummaryCache, summarize_claims
from persuasion_rl.receivers import Receiver, ScoringConfig
from persuasion_rl.receivers.base import ReceiverError
from persuasion_rl.receivers.confidence import ConfidenceCache, confidence_messages, prior_confidence, yes_no_confidence

CLAIMS = ("Cities should make public buses free to ride.", "Homework should be optional in primary schools.",
          "Museums should be free for everyone.")


def claims_table(path: Path) -> Path:
    records = [ClaimRecord(claim_id("cmv", c), c, "cmv", "train" if i else "test", "x.jsonl", i, eval=not i)
               for i, c in enumerate(CLAIMS)]
    return write_claims(records, path)


# ---- the confidence probe ------------------------------------------------------------------


def test_yes_probability_from_token_variants() -> None:
    top = {"Yes": math.log(0.5), " yes": math.log(0.1), "No": math.log(0.2), "\u2581no": math.log(0.05), "Maybe": math.log(0.1)}
    # "\u2581no" is not a whitespace variant: only strip()-equal tokens count
    result = yes_no_confidence(top)
    assert result.p_yes == pytest.approx(0.6 / 0.8) and result.mass == pytest.approx(0.8)
    assert yes_no_confidence({"Yes": math.log(0.2), "No": math.log(0.1)}).p_yes is None  # mass 0.3 < 0.5
    assert yes_no_confidence({"Yes": math.log(0.2), "No": math.log(0.1)}, min_mass=0.25).p_yes == pytest.approx(2 / 3)
    none = yes_no_confidence({"Sure": 0.0})
    assert none.p_yes is None and "neither" in none.error
    assert "Yes or No" in confidence_messages("Cats are great.")[0]["content"]


class Probe:
    name = "probe"

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.calls = fail, 0

    async def next_token_logprobs(self, messages, prefill, top_k):
        self.calls += 1
        assert prefill == "" and "Cats" in messages[0]["content"]
        if self.fail:
            raise ReceiverError("HTTP 503 (scripted)")
        return {"Yes": math.log(0.5), "No": math.log(0.1)}


def test_confidence_cache_keeps_answers_not_failures(tmp_path: Path) -> None:
    cache = ConfidenceCache(tmp_path / "c.jsonl")
    failed = asyncio.run(cache.get_or_compute(Probe(fail=True), "Cats rule."))
    assert failed.p_yes is None and "backend error" in failed.error
    probe = Probe()
    assert asyncio.run(cache.get_or_compute(probe, "Cats rule.")).p_yes == pytest.approx(5 / 6)
    reloaded = ConfidenceCache(tmp_path / "c.jsonl")
    assert asyncio.run(reloaded.get_or_compute(probe, "Cats rule.")).p_yes == pytest.approx(5 / 6) and probe.calls == 1
    assert reloaded.get("probe", "Cats rule.", 20, min_mass=0.7).p_yes is None  # the threshold applies on reading


def test_tiny_receiver_confidence(tiny_receiver_model) -> None:
    whole = asyncio.run(prior_confidence(tiny_receiver_model, CLAIMS[0], top_k=4096, min_mass=0.0))
    assert whole.ok and 0.0 < whole.p_yes < 1.0 and 0.0 < whole.mass < 1.0
    assert asyncio.run(prior_confidence(tiny_receiver_model, CLAIMS[0], top_k=4096)).p_yes is None  # not a yes/no answer


# ---- data priors -----------------------------------------------------------------------------


def test_data_priors_cli_writes_the_table_export_reads(tmp_path: Path, tiny_assets, capsys) -> None:
    claims = claims_table(tmp_path / "claims.parquet")
    out = tmp_path / "priors.parquet"
    argv = ["data", "priors", "--receiver", "tiny", "--claims", str(claims), "--out", str(out), "--max-tokens", "48",
            "--confidence-top-k", "4096", "--confidence-min-mass", "0", "--no-progress"]
    assert main(argv) == 0
    assert capsys.readouterr().out.split("\n")[1].split() == ["cmv", "2", "1", "3"]
    table = pq.read_table(out).to_pylist()
    assert [r["claim"] for r in table] == list(CLAIMS)
    assert all(r["receiver"] and r["prompt_version"] == "paper-v1" and 1.0 <= r["score"] <= 7.0 for r in table)
    assert all(0.0 < r["p_yes"] < 1.0 and r["confidence_error"] is None for r in table)
    assert (tmp_path / "priors.cache.jsonl").exists() and (tmp_path / "priors.confidence.jsonl").exists()
    assert [p.claim_id for p in read_priors(out)] == [r.id for r in read_claims(claims)]
    export = ["data", "export", "--claims", str(claims), "--priors", str(out), "--setting", "static", "--out", str(tmp_path / "static")]
    assert main(export) == 0
    rows = pq.read_table(tmp_path / "static" / "train.parquet").to_pylist()
    assert len(rows) == 2
    # the default mode is expected: the rows carry the expected prior the reward will use
    by_claim = {r["claim"]: r["score"] for r in table}
    assert all(r["extra_info"]["prior_expected_score"] == by_claim[r["extra_info"]["claim"]] for r in rows)
    assert main([*argv[:-1], "--eval-only", "--out", str(tmp_path / "eval.parquet")]) == 0
    assert pq.read_table(tmp_path / "eval.parquet").num_rows == 1


def test_priors_resume_from_the_caches(tmp_path: Path, tiny_receiver_model) -> None:
    records = read_claims(claims_table(tmp_path / "claims.parquet"))
    receiver = Receiver(tiny_receiver_model, scoring=ScoringConfig(reply_max_tokens=48))
    options = PriorsOptions(concurrency=4, confidence_top_k=4096, confidence_min_mass=0.0, progress=False)
    cache, confidence = tmp_path / "p.jsonl", tmp_path / "c.jsonl"
    first, report = compute_priors(records[:1], receiver, cache, confidence, options)  # interrupted after one claim
    assert report.cached == 0 and len(first) == 1
    rows, report = compute_priors(records, receiver, cache, confidence, options)
    assert report.cached == 1 and len(rows) == 3 and not report.call_failures
    assert rows[0] == first[0]
    again, report = compute_priors(records, receiver, cache, confidence, options)
    assert report.cached == 3 and again == rows


def test_missing_claims_file_is_a_clear_error(tmp_path: Path, caplog) -> None:
    argv = ["data", "priors", "--receiver", "tiny", "--claims", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "p.parquet")]
    assert main(argv) == 2
    assert "none.parquet: file not found" in caplog.text and not (tmp_path / "p.parquet").exists()


# ---- summaries through the project's backends ------------------------------------------------


def needing_summary(n: int = 3) -> list[ClaimRecord]:
    return [ClaimRecord(claim_id("ddo", f"debate-{i}"), f"Topic {i}", "ddo", "train", "debates.json", i, needs_summary=True,
                        raw_text=f"Title: {CLAIMS[i]}\nContent: {CLAIMS[i]} It saves money.") for i in range(n)]


class Interrupting(ChatBackendAdapter):
    """Stops (as Ctrl-C would) before its second batch."""

    def generate(self, conversations, *, max_tokens, temperature=0.0):
        self.batches = getattr(self, "batches", 0) + 1
        if self.batches == 2:
            raise KeyboardInterrupt
        return super().generate(conversations, max_tokens=max_tokens, temperature=temperature)


def test_summaries_with_the_tiny_model_cache_and_resume(tmp_path: Path, tiny_receiver_model) -> None:
    cache = tmp_path / "summaries.jsonl"
    options = dict(cache_path=cache, batch_size=1, max_tokens=12, progress=False)
    with pytest.raises(KeyboardInterrupt):
        summarize_claims(needing_summary(), Interrupting(tiny_receiver_model), **options)
    assert len(SummaryCache(cache).entries) <= 1
    adapter = ChatBackendAdapter(tiny_receiver_model)
    updated, report = summarize_claims(needing_summary(), adapter, **options)
    assert report.total == 3 and report.from_cache == len(SummaryCache(cache).entries) - report.generated + report.failures
    assert report.ok + report.failures == 3 and report.ok >= 1
    done = [r for r in updated if not r.needs_summary]
    assert all(r.claim_origin == "summary:tiny-receiver" and r.claim.strip() for r in done)
    _, again = summarize_claims(needing_summary(), adapter, **options)
    assert again.from_cache == report.ok and again.generated == report.failures  # only failures are asked again
    adapter.close()


def test_data_summarize_cli_with_a_backend_spec(tmp_path: Path, tiny_assets, capsys) -> None:
    claims = write_claims(needing_summary(2), tmp_path / "ddo.claims.parquet")
    argv = ["data", "summarize", "--claims", str(claims), "--out", str(tmp_path / "out.parquet"), "--cache",
            str(tmp_path / "cache.jsonl"), "--model", "tiny", "--max-tokens", "12", "--no-progress"]
    assert main(argv) == 0
    assert capsys.readouterr().out.split("\n")[1].split()[0] == "ddo"
    assert len(read_claims(tmp_path / "out.parquet")) == 2


def test_priors_table_fills_expected_score_in_expected_mode(tmp_path: Path, tiny_assets) -> None:
    """issue 15.10: the priors table had expected_score NaN in expected mode."""
    claims = claims_table(tmp_path / "claims.parquet")
    out = tmp_path / "priors.parquet"
    argv = ["data", "priors", "--receiver", "tiny", "--claims", str(claims), "--out", str(out), "--max-tokens", "48",
            "--no-confidence", "--no-progress"]
    assert main(argv) == 0
    table = pq.read_table(out).to_pylist()
    assert all(r["scoring_mode"] == "expected" and r["expected_score"] == r["score"] is not None for r in table)
    sampled = [*argv[:7], str(tmp_path / "sampled.parquet"), *argv[8:], "--mode", "sample"]
    assert main(sampled) == 0
    assert all(r["expected_score"] is None for r in pq.read_table(tmp_path / "sampled.parquet").to_pylist())
