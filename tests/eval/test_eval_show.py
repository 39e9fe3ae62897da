"""`persuasion-rl show`: transcripts readable in a terminal, filtered (issue 15.7)."""

from __future__ import annotations

import json
from pathlib import Path

from persuasion_rl.cli import main
from persuasion_rl.eval.show import ShowFilter, load_shown, select


def test_show_prints_an_eval_folder_with_prior_to_posterior(tiny_eval: Path, capsys) -> None:
    assert main(["show", str(tiny_eval), "--setting", "dynamic", "--limit", "1", "--width", "80"]) == 0
    out = capsys.readouterr().out
    assert "[dynamic] anthropic | tiny-sender vs tiny-receiver | sample 0 |" in out
    assert "Receiver, prior (score " in out and "Sender, round 3:" in out and "Receiver after round 3 (score " in out
    assert "1 of 16 games shown" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_filters_by_claim_corpus_sender_and_gain(tiny_eval: Path) -> None:
    games = load_shown([tiny_eval])
    assert len(games) == 16
    cmv = select(games, ShowFilter(corpus="cmv", limit=None))
    assert len(cmv) == 8 and {g.corpus for g in cmv} == {"cmv"}
    museum = select(games, ShowFilter(claim="museums", limit=None))
    assert museum and all("Museums" in g.claim for g in museum)
    assert select(games, ShowFilter(claim=museum[0].claim_id, limit=None)) == [g for g in games if g.claim_id == museum[0].claim_id]
    assert select(games, ShowFilter(sender="nobody", limit=None)) == []
    gains = sorted(g.gain for g in games if g.gain is not None)
    middle = gains[len(gains) // 2]
    high = select(games, ShowFilter(min_gain=middle, limit=None, sort="gain"))
    assert high and all(g.gain >= middle for g in high)
    assert [g.gain for g in high] == sorted((g.gain for g in high), reverse=True)
    for g in games:  # prior -> posterior is what the gain measures
        if g.gain is not None:
            assert abs(g.final - g.prior - g.gain) < 1e-9


def test_show_reads_a_training_runs_validation_files(tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "tiny_cpu_grpo"
    (run / "validation").mkdir(parents=True)
    rows = [{"input": "user: persuade me", "output": "<opinion>o</opinion><argument>Buses cut traffic.</argument>",
             "gts": "Cities should make public buses free to ride.", "score": 1.5, "step": 2, "gain": 1.5,
             "prior_score": 3.0, "receiver_score": 4.5, "argument_missing": 0.0},
            {"input": "user: persuade me", "output": "no tags at all", "gts": "Homework should be optional.",
             "score": -1.0, "step": 2, "gain": float("nan"), "prior_score": 4.0, "receiver_score": float("nan"),
             "argument_missing": 1.0}]
    (run / "validation" / "2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["show", str(run), "--limit", "0", "--width", "200"]) == 0
    out = capsys.readouterr().out
    assert "tiny_cpu_grpo@step 2" in out and "gain +1.50 (3.00 -> 4.50)" in out and "Buses cut traffic." in out
    assert "FAILED (sender_parse)" in out and "2 of 2 games shown" in out
    assert main(["show", str(run), "--failed"]) == 0
    assert "1 of 2 games shown" in capsys.readouterr().out
