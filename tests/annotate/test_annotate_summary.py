"""The Appendix B.3 summary on fixed answers, checked against numbers worked out by hand."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from conftest import ADMIN_TOKEN, StudyEnv, game_record

from persuasion_rl.annotate.storage import Rating, RoundAnswer
from persuasion_rl.annotate.summary import (
    TranscriptAnnotation, answers_csv, report_markdown, stat, summarize, write_export,
)
from persuasion_rl.game.record import parse_record

# Three annotators' answers, (direction, proportion) per round, then (quality, confidence).
PLAN = {
    0: ([("yes", 5), ("yes", 6), ("no", 2)], (5, 6)),
    1: ([("yes", 4), ("yes", 4), ("yes", 7)], (4, 7)),
    2: ([("no", 1), ("yes", 5), ("yes", 6)], (6, 5)),
}


def _annotation(who: int, game_id: str, plan, n_rounds: int = 3, corpus: str = "cmv") -> TranscriptAnnotation:
    game = parse_record(game_record(game_id, corpus, n_rounds))
    rounds, rating = plan
    answers = {r: RoundAnswer(who, game_id, r, d == "yes", p, "") for r, (d, p) in enumerate(rounds, start=1)}
    return TranscriptAnnotation(f"A{who:03d}", 1, game, answers,
                                Rating(who, game_id, *rating) if rating else None, "t0")


def test_sample_std_reproduces_the_papers_rounding() -> None:
    # B.3, Round 2: 85.23% of 149 is 127 "yes"; the paper prints sd 0.36 (population sd: 0.35).
    s = stat([1.0] * 127 + [0.0] * 22)
    assert round(100 * s.mean, 2) == 85.23 and round(s.std, 2) == 0.36
    assert stat([3.0]) == stat([3.0]).__class__(3.0, None, 1)
    assert stat([]).mean is None


def test_summary_by_hand() -> None:
    annotations = [_annotation(w, f"g{w}", PLAN[w]) for w in range(3)]
    # A fourth annotator stopped after round 1: counted as incomplete, left out of the numbers.
    annotations.append(_annotation(3, "g3", ([("no", 7)], None)))
    s = summarize(annotations)
    assert (s.valid_annotations, s.incomplete_annotations) == (3, 1)
    # quality 5, 4, 6: mean 5, sd sqrt(((0)^2 + 1 + 1) / 2) = 1; confidence 6, 7, 5: mean 6, sd 1.
    assert (s.quality.mean, s.quality.std, s.confidence.mean, s.confidence.std) == pytest.approx((5, 1, 6, 1))
    by_round = {r.label: r for r in s.rounds}
    assert [r.label for r in s.rounds] == ["Round 0", "Round 1", "Round 2"]
    r0, r1, r2 = by_round["Round 0"], by_round["Round 1"], by_round["Round 2"]
    # Round 0: yes, yes, no -> 2/3; sd sqrt((1/9 + 1/9 + 4/9) / 2) = sqrt(1/3).
    assert r0.n == 3
    assert (r0.direction_accuracy.mean, r0.direction_accuracy.std) == pytest.approx((2 / 3, math.sqrt(1 / 3)))
    # proportions 5, 4, 1: mean 10/3; squared deviations 25/9 + 4/9 + 49/9 = 78/9, / 2 = 13/3.
    assert (r0.proportion.mean, r0.proportion.std) == pytest.approx((10 / 3, math.sqrt(13 / 3)))
    # Round 1: all yes -> 1.0, sd 0; proportions 6, 4, 5 -> 5, sd 1.
    assert (r1.direction_accuracy.mean, r1.direction_accuracy.std) == pytest.approx((1.0, 0.0))
    assert (r1.proportion.mean, r1.proportion.std) == pytest.approx((5.0, 1.0))
    # Round 2: no, yes, yes -> 2/3; proportions 2, 7, 6 -> 5, sd sqrt((9 + 4 + 1) / 2) = sqrt(7).
    assert r2.direction_accuracy.mean == pytest.approx(2 / 3)
    assert (r2.proportion.mean, r2.proportion.std) == pytest.approx((5.0, math.sqrt(7)))


def test_rounds_of_games_of_different_lengths() -> None:
    annotations = [_annotation(w, f"g{w}", PLAN[w]) for w in range(3)]
    annotations.append(_annotation(4, "s0", ([("yes", 3)], (7, 7)), n_rounds=1))  # a static game
    s = summarize(annotations)
    assert [(r.label, r.n) for r in s.rounds] == [("Round 0", 4), ("Round 1", 3), ("Round 2", 3)]
    # Round 0 now yes, yes, no, yes -> 0.75, sd sqrt(0.75 / 3) = 0.5; proportions 5, 4, 1, 3 -> 3.25.
    assert (s.rounds[0].direction_accuracy.mean, s.rounds[0].direction_accuracy.std) == pytest.approx((0.75, 0.5))
    assert s.rounds[0].proportion.mean == pytest.approx(3.25)


def test_markdown_and_csv() -> None:
    annotations = [_annotation(w, f"g{w}", PLAN[w]) for w in range(3)]
    md = report_markdown(annotations)
    assert "| Round 0 | 3 | 66.67% (sd 0.58) | 3.33 (sd 2.08) |" in md
    assert "| Round 2 | 3 | 66.67% (sd 0.58) | 5.00 (sd 2.65) |" in md
    assert "Mean quality: 5.00 (sd 1.00) of 7; mean confidence: 6.00 (sd 1.00) of 7" in md
    rows = list(csv.DictReader(io.StringIO(answers_csv(annotations))))
    assert len(rows) == 9
    first = rows[0]
    assert (first["annotator"], first["round"], first["paper_round"], first["score_before"], first["score_after"],
            first["direction_reasonable"], first["proportion"], first["quality"]) == ("A000", "1", "0", "4", "5", "yes", "5", "5")


def test_export_of_a_study_answered_through_the_app(study: StudyEnv, tmp_path: Path) -> None:
    """Each of three annotators answers all three transcripts by PLAN; a fourth does one round.
    Every value appears three times, so the means are as above and the sample variances are
    the sums of squared deviations times 3, over 8."""
    for who, token in enumerate(study.tokens[:3]):
        rounds, (quality, confidence) = PLAN[who]
        for game in study.assigned(token):
            for number, (direction, proportion) in enumerate(rounds, start=1):
                assert study.answer(token, game, number, direction, proportion).status_code == 303
            assert study.rate(token, game, quality, confidence).status_code == 303
    study.answer(study.tokens[3], study.assigned(study.tokens[3])[0], 1, "no", 7)

    paths = write_export(study.store, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["answers.csv", "summary.json", "summary.md", "transcripts.csv"]
    overall = json.loads((tmp_path / "out" / "summary.json").read_text())["overall"]
    assert overall["valid_annotations"] == 9
    assert overall["incomplete_annotations"] == 3  # the fourth annotator's three transcripts
    assert overall["quality"] == pytest.approx({"mean": 5.0, "std": math.sqrt(2 * 3 / 8), "n": 9})
    assert overall["confidence"] == pytest.approx({"mean": 6.0, "std": math.sqrt(2 * 3 / 8), "n": 9})
    r0, r1, r2 = overall["rounds"]
    assert (r0["label"], r0["n"]) == ("Round 0", 9)
    assert r0["direction_accuracy"] == pytest.approx({"mean": 2 / 3, "std": math.sqrt((6 / 9) * 3 / 8), "n": 9})
    assert r0["proportion"] == pytest.approx({"mean": 10 / 3, "std": math.sqrt((78 / 9) * 3 / 8), "n": 9})
    assert r1["direction_accuracy"]["mean"] == 1.0 and r1["proportion"]["std"] == pytest.approx(math.sqrt(2 * 3 / 8))
    assert r2["proportion"] == pytest.approx({"mean": 5.0, "std": math.sqrt(14 * 3 / 8), "n": 9})

    with open(tmp_path / "out" / "answers.csv", newline="") as f:
        answers = list(csv.DictReader(f))
    assert len(answers) == 9 * 3 + 1
    with open(tmp_path / "out" / "transcripts.csv", newline="") as f:
        assert sum(r["complete"] == "1" for r in csv.DictReader(f)) == 9
    # The running app serves the same summary to the admin.
    served = study.client.get("/admin/export/summary.json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert served["overall"] == overall
    assert set(served["by_corpus"]) == {"cmv", "anthropic", "perspectrum"}
