"""The analyses (PNG + numbers) on the tiny evaluation, their pure parts on known inputs,
the embedding model loading offline, and the HTML report."""

from __future__ import annotations

import asyncio
import csv
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from persuasion_rl.cli import main
from persuasion_rl.eval.analysis.confidence import bin_index, gains_by_confidence
from persuasion_rl.eval.analysis.scaling import fit_scaling
from persuasion_rl.eval.analysis.similarity import Message, similarity_by_turn
from persuasion_rl.eval.analysis.strategies import (
    STRATEGY_PROMPT, AnswerCache, aggregate, classify_items, collect_items, parse_strategies,
)
from persuasion_rl.eval.records import GameKey, GameResult, load_results
from persuasion_rl.receivers.base import Generation

from .conftest import is_png


def outputs(folder: Path, name: str) -> dict:
    assert is_png(folder / f"{name}.png"), f"{name}.png missing or empty"
    assert (folder / f"{name}.csv").read_text().strip()
    return json.loads((folder / f"{name}.json").read_text())


def game(claim: str, sender: str = "s", gain: float = 0.5, p_yes: float | None = 0.5, setting: str = "static",
         params: int | None = None, messages: tuple[str, ...] = ("An argument.",), corpus: str = "cmv", sample: int = 0) -> GameResult:
    gains = tuple(gain * (i + 1) / len(messages) for i in range(len(messages)))
    return GameResult(GameKey(claim, setting, sender, "r", sample), corpus, f"Claim {claim}.", True, gain, None, gains,
                      messages, tuple("Receiver says hi." for _ in messages), p_yes, params)


# ---- prior confidence ----------------------------------------------------------------------


def test_confidence_bins_and_curves() -> None:
    edges = (0.0, 0.5, 1.0)
    assert [bin_index(p, edges) for p in (0.0, 0.49, 0.5, 1.0, 1.2)] == [0, 0, 1, 1, None]
    results = [game("a", gain=1.0, p_yes=0.2), game("b", gain=3.0, p_yes=0.3), game("c", gain=-1.0, p_yes=0.9),
               game("d", p_yes=None)]
    points, counts = gains_by_confidence(results, edges, n_boot=200)
    assert counts == {"games": 4, "used": 3, "failed": 0, "no_confidence": 1}
    low, high = points
    assert (low.bin, low.mean_change, low.n_claims) == ("0.00-0.50", pytest.approx(2.0), 2)
    assert (high.bin, high.mean_change, high.ci_low) == ("0.50-1.00", pytest.approx(-1.0), None)


def test_confidence_analysis_of_the_tiny_run(tiny_eval: Path, tmp_path: Path) -> None:
    assert main(["analyze", "confidence", str(tiny_eval), "--out", str(tmp_path), "--bootstrap", "200"]) == 0
    data = outputs(tmp_path, "confidence")
    assert data["counts"]["used"] == 16 and {p["setting"] for p in data["points"]} == {"static", "dynamic"}
    assert max(p["round"] for p in data["points"]) == 3
    assert sum(len(v) for v in data["distribution"]["tiny-receiver"].values()) == 4


# ---- semantic similarity -------------------------------------------------------------------


def fake_encoder(texts: list[str]) -> np.ndarray:
    """Unit vectors: texts starting with "same" share one direction, others are orthogonal."""
    vectors = np.zeros((len(texts), len(texts) + 1))
    for i, text in enumerate(texts):
        vectors[i, 0 if text.startswith("same") else i + 1] = 1.0
    return vectors


def test_similarity_across_claims_and_samples() -> None:
    messages = [Message("s", "r", "S-1", c, k, f"same {c}{k}") for c in "abc" for k in range(2)]
    messages += [Message("s", "r", "D-1", c, k, f"diff {c}{k}") for c in "abc" for k in range(2)]
    rows = {r.turn: r for r in similarity_by_turn(messages, fake_encoder, "claims", n_boot=200)}
    assert rows["S-1"].mean == pytest.approx(1.0) and rows["D-1"].mean == pytest.approx(0.0)
    assert rows["S-1"].n_claims == 3 and rows["S-1"].n_messages == 6
    within = {r.turn: r for r in similarity_by_turn(messages, fake_encoder, "samples", n_boot=200)}
    assert within["S-1"].mean == pytest.approx(1.0) and within["D-1"].mean == pytest.approx(0.0)
    two_receivers = [Message("s", r, "S-1", c, 0, f"{'same' if r == 'r1' else 'diff'} {c}{r}") for c in "ab" for r in ("r1", "r2")]
    (row,) = similarity_by_turn(two_receivers, fake_encoder, "receivers", n_boot=200)
    assert row.receiver == "all Receivers" and row.mean == pytest.approx(0.0) and row.n_claims == 2


def test_embedding_model_loads_offline(monkeypatch) -> None:
    """all-MiniLM-L6-v2 comes from the installed package: with the hub switched off and
    every non-loopback connection refused, it loads and embeds."""
    from persuasion_rl.eval.analysis.similarity import load_embedder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    real_connect = socket.socket.connect

    def loopback_only(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")):
            raise OSError(f"test: network access to {host} refused")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    encode = load_embedder()
    vectors = encode(["Free buses cut traffic.", "Public transport without fares reduces congestion.", "I like cats."])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # paraphrases are closer than unrelated text


def test_similarity_analysis_of_the_tiny_run(tiny_eval: Path, tmp_path: Path) -> None:
    assert main(["analyze", "similarity", str(tiny_eval), "--out", str(tmp_path), "--bootstrap", "200"]) == 0
    data = outputs(tmp_path, "similarity")
    assert [r["turn"] for r in data["rows"]] == ["S-1", "D-1", "D-2", "D-3"]
    assert all(-1.0 <= r["mean"] <= 1.0 and r["n_claims"] == 4 for r in data["rows"])


# ---- strategies ------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "labels"), [
    ("<strategies> <strategy>Evidence</strategy> <strategy>credibility</strategy> <strategy>Impact</strategy> </strategies>",
     ("evidence", "credibility", "impact")),
    ("<strategy>**Emotion**: appeals to fear</strategy><strategy>Emotion</strategy><strategy>Logic</strategy>", ("emotion",)),
    ("<strategy>Evidence-based reasoning</strategy> <strategy><STRATEGY></strategy>", ()),
    ("Evidence, credibility and impact.", ()),  # no tags: not guessed from the prose
    ("<strategy>scarcity</strategy>" * 2 + "<strategy>politeness</strategy><strategy>commitment</strategy><strategy>impact</strategy>",
     ("scarcity", "politeness", "commitment")),
])
def test_strategy_labels_are_read_never_guessed(answer: str, labels: tuple[str, ...]) -> None:
    assert parse_strategies(answer) == labels


class ScriptedClassifier:
    name = "scripted-classifier"

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, messages, params, prefill=""):
        self.calls += 1
        text = messages[0]["content"]
        assert text.startswith(STRATEGY_PROMPT[:60]) and "<prior>" in text
        answer = "<strategy>Evidence</strategy><strategy>Impact</strategy>" if "Argument A" in text else "<strategy>vibes</strategy>"
        return Generation(answer, "stop")


def test_strategy_counts_and_cache(tmp_path: Path) -> None:
    results = [game("a", messages=("Argument A.",)), game("b", messages=("Argument B.",), corpus="anthropic"),
               game("c", setting="dynamic", messages=("Argument A.", "Argument B.", "Argument A again."))]
    items = collect_items(results)
    classifier, cache = ScriptedClassifier(), AnswerCache(tmp_path / "cache.jsonl")
    classified = asyncio.run(classify_items(items, classifier, cache, progress=False))
    rows = {(r.setting, r.corpus): r for r in aggregate(items, classified)}
    static = rows[("static", "all")]
    assert (static.messages, static.unclassified, static.counts["evidence"], static.counts["impact"]) == (2, 1, 1, 1)
    assert rows[("dynamic", "cmv")].unclassified == 1 and rows[("dynamic", "cmv")].counts["evidence"] == 2
    assert classifier.calls == 3  # one call per distinct prompt
    asyncio.run(classify_items(items, classifier, AnswerCache(tmp_path / "cache.jsonl"), progress=False))
    assert classifier.calls == 3  # the second pass is answered from the cache file


def test_strategy_analysis_with_the_tiny_classifier(tiny_eval: Path, tmp_path: Path) -> None:
    argv = ["analyze", "strategies", str(tiny_eval), "--classifier", "tiny", "--max-tokens", "16", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    data = outputs(tmp_path, "strategies")
    assert data["messages"] == 8 + 8 * 3
    totals = [r for r in data["rows"] if r["corpus"] == "all"]
    assert sum(r["messages"] for r in totals) == 32
    for row in totals:  # whatever the tiny model says, each message is labelled validly or counted unclassified
        assert row["unclassified"] + sum(row[s] > 0 for s in data["strategies"]) >= 1
        assert row["unclassified"] <= row["messages"]


# ---- scaling ---------------------------------------------------------------------------------


def test_scaling_fit_recovers_a_known_slope() -> None:
    results = [game(c, sender=f"m{p}", params=10**p, gain=0.1 + 0.2 * p + noise, sample=0)
               for p in (8, 9, 10, 11) for c, noise in (("a", 0.05), ("b", -0.05), ("c", 0.0))]
    points, fits = fit_scaling(results, n_boot=500)
    (fit,) = fits
    assert fit.n_senders == 4 and fit.slope == pytest.approx(0.2) and fit.intercept == pytest.approx(0.1)
    assert fit.ols_low == pytest.approx(0.2) and fit.bootstrap_low == pytest.approx(0.2)  # a perfect line
    assert sorted(p.log10_params for p in points) == [8.0, 9.0, 10.0, 11.0]
    _, overridden = fit_scaling(results, {"m8": 10**9}, n_boot=500)  # --params wins over the transcripts
    assert overridden[0].slope != pytest.approx(0.2)


def test_scaling_analysis_cli(tiny_eval: Path, tmp_path: Path) -> None:
    other = tmp_path / "big" / "transcripts.jsonl"
    other.parent.mkdir()
    lines = []
    for line in (tiny_eval / "transcripts.jsonl").read_text().splitlines():
        record = json.loads(line)
        record.update(sender="tiny-big", sender_params=None, gain=record["gain"] + 0.3)
        lines.append(json.dumps(record))
    other.write_text("\n".join(lines) + "\n")
    argv = ["analyze", "scaling", str(tiny_eval), str(other), "--params", "tiny-big=1.5M", "--out", str(tmp_path / "a"), "--bootstrap", "200"]
    assert main(argv) == 0
    data = outputs(tmp_path / "a", "scaling")
    assert len(data["fits"]) == 2 and all(f["n_senders"] == 2 and f["slope"] > 0 for f in data["fits"])
    assert all(f["ols_low"] is None and f["bootstrap_low"] is not None for f in data["fits"])
    with (tmp_path / "a" / "scaling.csv").open() as handle:
        assert {row["sender"] for row in csv.DictReader(handle)} == {"tiny-sender", "tiny-big"}


# ---- report ----------------------------------------------------------------------------------


def test_report_is_one_static_page(eval_copy: Path) -> None:
    analysis = eval_copy / "analysis"
    assert main(["analyze", "confidence", str(eval_copy), "--bootstrap", "200"]) == 0
    assert main(["analyze", "scaling", str(eval_copy), "--bootstrap", "200"]) == 0
    assert is_png(analysis / "confidence.png")
    assert main(["report", str(eval_copy), "--bootstrap", "200"]) == 0
    html = (eval_copy / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4  # gains chart, per-round gains, confidence, scaling
    assert "Anthropic static" in html and "tiny-sender" in html and "16 games: 16 finished, 0 failed" in html
    assert "Not run yet" in html and "persuasion-rl analyze similarity" in html
    assert "needs two or more Senders" in html  # one Sender: no slope, said so
    assert len(load_results([eval_copy])) == 16  # the report reads, never changes, the transcripts


class FailingClassifier(ScriptedClassifier):
    async def generate(self, messages, params, prefill=""):
        from persuasion_rl.receivers.base import ReceiverError

        if "Argument B" in messages[0]["content"]:
            raise ReceiverError("HTTP 500 after retries (scripted)")
        return await super().generate(messages, params, prefill)


def test_failed_classifier_calls_are_counted_not_cached(tmp_path: Path) -> None:
    items = collect_items([game("a", messages=("Argument A.",)), game("b", messages=("Argument B.",))])
    cache = AnswerCache(tmp_path / "cache.jsonl")
    classified = asyncio.run(classify_items(items, FailingClassifier(), cache, progress=False))
    (row,) = [r for r in aggregate(items, classified) if r.corpus == "all"]
    assert (row.messages, row.failed_calls, row.unclassified) == (2, 1, 1)
    assert len(AnswerCache(tmp_path / "cache.jsonl").entries) == 1  # the failure will be retried
