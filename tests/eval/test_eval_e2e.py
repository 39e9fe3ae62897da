"""``persuasion-rl eval`` end to end with the tiny models (the numbers mean nothing; the
machinery is what is tested): the table's shape and intervals, resuming, an endpoint
Sender, failures, and ``eval compare`` / ``eval table``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from persuasion_rl.annotate.transcripts import load_games
from persuasion_rl.cli import main

from .conftest import TINY_RUN


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_table_has_the_papers_layout_with_intervals(tiny_eval: Path) -> None:
    (row,) = read_csv(tiny_eval / "results.csv")
    assert (row["receiver"], row["sender"]) == ("tiny-receiver", "tiny-sender")
    for corpus in ("anthropic", "cmv", "average"):
        for setting in ("static", "dynamic"):
            mean, low, high = (float(row[f"{corpus}_{setting}_{k}"]) for k in ("mean", "ci_low", "ci_high"))
            assert low <= mean <= high and row[f"{corpus}_{setting}_failures"] == "0"
            assert row[f"{corpus}_{setting}_n_claims"] == ("4" if corpus == "average" else "2")
    header = (tiny_eval / "results.md").read_text().splitlines()[0]
    assert header == ("| Receiver | Sender | Anthropic static | Anthropic dynamic | CMV static | CMV dynamic "
                      "| Average static | Average dynamic |")
    assert len(read_csv(tiny_eval / "results_long.csv")) == 6


def test_transcripts_are_complete_and_annotatable(tiny_eval: Path) -> None:
    games = load_games(tiny_eval / "transcripts.jsonl")
    assert len(games) == 16 and all(g.annotatable for g in games)
    assert sorted({(g.setting, g.n_rounds) for g in games}) == [("dynamic", 3), ("static", 1)]
    record = json.loads((tiny_eval / "transcripts.jsonl").read_text().splitlines()[0])
    assert record["sender_params"] > 0 and 0.0 <= record["prior_confidence"]["p_yes"] <= 1.0
    assert record["injection_flags"] >= 0 and record["failure"] is None
    assert record["rounds"][0]["receiver"]["distribution"]  # expected scoring keeps the distribution


def test_rerun_skips_finished_games(eval_copy: Path, eval_claims: Path, capsys) -> None:
    argv = ["eval", "--claims", str(eval_claims), "--setting", "both", "--samples", "2", "--out", str(eval_copy), *TINY_RUN]
    assert main(argv) == 0
    assert "16 planned, 16 already done, 0 played" in capsys.readouterr().out
    path = eval_copy / "transcripts.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:13]) + "\n")
    assert main(argv) == 0
    assert "16 planned, 13 already done, 3 played (3 finished, 0 failed" in capsys.readouterr().out
    assert len(load_games(path)) == 16
    assert len((eval_copy / "runs.jsonl").read_text().splitlines()) == 3


def test_endpoint_sender_failures_are_counted(tmp_path: Path, eval_claims: Path, tiny_receiver_server, capsys) -> None:
    """The tiny Receiver model served over HTTP plays the Sender: it writes no <argument>,
    so with the default missing-argument policy every game fails and nothing is scored."""
    out = tmp_path / "endpoint"
    sender = f"openai:http://{tiny_receiver_server.address}/v1#tiny-receiver"
    argv = ["eval", "--sender", sender, "--sender-name", "endpoint", "--receiver", "tiny", "--claims", str(eval_claims),
            "--setting", "static", "--limit", "2", "--out", str(out), "--sender-max-tokens", "12",
            "--receiver-max-tokens", "48", "--no-confidence", "--bootstrap", "200", "--no-progress"]
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["sender"] == "endpoint" and r["sender_params"] is None for r in records)
    for r in records:
        if r["ok"]:  # (a sampled reply could hold the tags by chance)
            assert r["failure"] is None and r["gain"] is not None
        else:
            assert r["failure"] == "sender_parse" and r["gain"] is None and r["final_score"] is None
    failed = sum(not r["ok"] for r in records)
    out = capsys.readouterr().out
    assert f"({2 - failed} finished, {failed} failed" in out and f"f={failed}" in out


def _shifted_copy(source: Path, target: Path, shift: float) -> Path:
    """The same games as another Sender whose every gain is ``shift`` higher."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for line in source.read_text().splitlines():
        record = json.loads(line)
        record["sender"] = "trained"
        record["gain"] += shift
        lines.append(json.dumps(record))
    target.write_text("\n".join(lines) + "\n")
    return target


def test_compare_and_table_of_two_senders(tiny_eval: Path, tmp_path: Path, capsys) -> None:
    base = tiny_eval / "transcripts.jsonl"
    trained = _shifted_copy(base, tmp_path / "trained" / "transcripts.jsonl", 0.5)
    assert main(["eval", "compare", str(base), str(trained), "--out", str(tmp_path), "--bootstrap", "500"]) == 0
    assert "A = tiny-sender, B = trained" in capsys.readouterr().out
    rows = {(r["setting"], r["corpus"]): r for r in read_csv(tmp_path / "compare.csv")}
    overall = rows[("static", "all")]
    assert overall["n_pairs"] == "4" and float(overall["mean_difference"]) == pytest.approx(0.5)
    assert float(overall["ci_low"]) == pytest.approx(0.5) and float(overall["ci_high"]) == pytest.approx(0.5)
    assert float(overall["wilcoxon_p"]) == pytest.approx(0.125)  # 4 positive differences: 2 / 2**4
    assert rows[("dynamic", "cmv")]["n_pairs"] == "2"
    assert main(["eval", "table", str(tiny_eval), str(trained), "--out", str(tmp_path / "both"), "--bootstrap", "200"]) == 0
    senders = [r["sender"] for r in read_csv(tmp_path / "both" / "results.csv")]
    assert senders == ["tiny-sender", "trained"]


def test_bad_input_exits_2_with_a_named_field(tmp_path: Path, eval_claims: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"game_id": "x", "claim_id": "c", "corpus": "cmv", "setting": "semi"}\n')
    assert main(["eval", "table", str(bad)]) == 2
    assert "bad.jsonl line 1: field 'claim'" in capsys.readouterr().err  # the first field at fault
    assert main(["eval", "--claims", str(eval_claims)]) == 2
    assert "eval needs --sender, --receiver, --out" in capsys.readouterr().err
    assert main(["eval", "--sender", "hf:/nowhere", "--receiver", "tiny", "--claims", str(eval_claims), "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_identical_reruns_are_identical_whatever_the_batching(tmp_path: Path, eval_claims: Path, capsys) -> None:
    """issue 15.10: identical reruns gave different Sender texts (batch-order noise), and
    `eval compare` then reported a Wilcoxon p of 0.0625 for a difference of 0.000."""
    runs = {}
    for name, concurrency in (("one", "1"), ("many", "8")):
        argv = ["eval", "--claims", str(eval_claims), "--setting", "static", "--out", str(tmp_path / name),
                "--concurrency", concurrency, *TINY_RUN, "--sender-temperature", "1.0", "--sender-max-tokens", "16"]
        assert main(argv) == 0
        records = [json.loads(line) for line in (tmp_path / name / "transcripts.jsonl").read_text().splitlines()]
        runs[name] = {r["claim_id"]: (r["rounds"][0]["sender_raw"], r["gain"]) for r in records}
    assert {k: text for k, (text, _) in runs["one"].items()} == {k: text for k, (text, _) in runs["many"].items()}
    # the Receiver's expected scores agree to float32 rounding of batched matmuls
    assert all(abs(runs["one"][k][1] - runs["many"][k][1]) < 1e-5 for k in runs["one"])
    capsys.readouterr()
    assert main(["eval", "compare", str(tmp_path / "one" / "transcripts.jsonl"), str(tmp_path / "many" / "transcripts.jsonl"),
                 "--sender-b", "tiny-sender", "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| tiny-receiver | static | all"))
    assert row.endswith("| n/a |"), row  # no Wilcoxon p for differences that are float noise
