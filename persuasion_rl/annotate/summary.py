"""Results of the study: all answers as CSV and the summary of the paper's Appendix B.3.

B.3 reports, over valid annotations, the mean transcript quality and annotator confidence
(with standard deviations) and, per round, the direction accuracy (share of "yes") and
the mean proportion rating, each with its standard deviation. Round numbering follows
the paper: "Round 0" is the Receiver's update after the Sender's first argument.

Standard deviations are sample deviations (ddof=1): with the paper's 149 annotations that
is what reproduces its figures (e.g. 85.23% "yes" has std 0.356, printed 0.36, where the
population formula would give 0.35).

A transcript annotation is *valid* when every round is answered and the transcript is
rated; partial work is counted and reported but left out of the statistics, so every
round's numbers come from the same people.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..files import write_text_atomic
from ..game.record import GameRecord
from .storage import Rating, RoundAnswer, Store


@dataclass(frozen=True)
class TranscriptAnnotation:
    """Everything one annotator said about one assigned transcript."""

    annotator: str
    position: int
    game: GameRecord
    answers: dict[int, RoundAnswer]
    rating: Rating | None
    assigned_at: str
    updated_at: dict[int, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.rating is not None and all(r in self.answers for r in range(1, self.game.n_rounds + 1))


@dataclass(frozen=True)
class Stat:
    mean: float | None
    std: float | None  # sample standard deviation; None with fewer than two values
    n: int


@dataclass(frozen=True)
class RoundSummary:
    round: int  # as numbered in the transcripts file (1 = after the first argument)
    label: str  # as the paper names it ("Round 0")
    n: int
    direction_accuracy: Stat  # share of "yes, a reasonable direction", in [0, 1]
    proportion: Stat  # 1-7


@dataclass(frozen=True)
class Summary:
    valid_annotations: int
    incomplete_annotations: int
    quality: Stat
    confidence: Stat
    rounds: list[RoundSummary]


def stat(values: list[float]) -> Stat:
    if not values:
        return Stat(None, None, 0)
    std = statistics.stdev(values) if len(values) > 1 else None
    return Stat(statistics.fmean(values), std, len(values))


def summarize(annotations: list[TranscriptAnnotation]) -> Summary:
    valid = [a for a in annotations if a.complete]
    rounds = sorted({r for a in valid for r in a.answers if r <= a.game.n_rounds})
    per_round = []
    for number in rounds:
        answers = [a.answers[number] for a in valid if number <= a.game.n_rounds]
        per_round.append(RoundSummary(
            round=number,
            label=f"Round {number - 1}",
            n=len(answers),
            direction_accuracy=stat([float(x.direction_ok) for x in answers]),
            proportion=stat([float(x.proportion) for x in answers]),
        ))
    return Summary(
        valid_annotations=len(valid),
        incomplete_annotations=len(annotations) - len(valid),
        quality=stat([float(a.rating.quality) for a in valid if a.rating]),
        confidence=stat([float(a.rating.confidence) for a in valid if a.rating]),
        rounds=per_round,
    )


def load_annotations(store: Store) -> list[TranscriptAnnotation]:
    """Every assignment with its answers, in annotator then position order."""
    assignments, answer_rows, rating_rows = store.export_rows()
    games = store.all_games()
    answers: dict[tuple[int, str], dict[int, RoundAnswer]] = {}
    updated: dict[tuple[int, str], dict[int, str]] = {}
    for row in answer_rows:
        key = (row["annotator_id"], row["game_id"])
        answers.setdefault(key, {})[row["round"]] = RoundAnswer(
            row["annotator_id"], row["game_id"], row["round"], bool(row["direction_ok"]), row["proportion"], row["explanation"]
        )
        updated.setdefault(key, {})[row["round"]] = row["updated_at"]
    ratings = {
        (r["annotator_id"], r["game_id"]): Rating(r["annotator_id"], r["game_id"], r["quality"], r["confidence"])
        for r in rating_rows
    }
    return [
        TranscriptAnnotation(
            annotator=a["label"], position=a["position"], game=games[a["game_id"]],
            answers=answers.get((a["annotator_id"], a["game_id"]), {}),
            rating=ratings.get((a["annotator_id"], a["game_id"])), assigned_at=a["assigned_at"],
            updated_at=updated.get((a["annotator_id"], a["game_id"]), {}),
        )
        for a in assignments
    ]


# -- serialisation ------------------------------------------------------------------------

ANSWER_COLUMNS = [
    "annotator", "position", "game_id", "corpus", "setting", "claim_id", "claim", "sender", "receiver",
    "round", "paper_round", "score_before", "score_after", "direction_reasonable", "proportion", "explanation",
    "quality", "confidence", "transcript_complete", "updated_at",
]
TRANSCRIPT_COLUMNS = [
    "annotator", "position", "game_id", "corpus", "setting", "n_rounds", "rounds_answered",
    "quality", "confidence", "complete", "assigned_at",
]


def _score_before(game: GameRecord, number: int) -> int | None:
    """The Likert point the Receiver wrote before round ``number``."""
    return (game.prior if number == 1 else game.rounds[number - 2].receiver).reply.score


def answers_csv(annotations: list[TranscriptAnnotation]) -> str:
    """One row per judged Receiver update, with the transcript's rating repeated on it."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ANSWER_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for a in annotations:
        for number, ans in sorted(a.answers.items()):
            writer.writerow({
                "annotator": a.annotator, "position": a.position, "game_id": a.game.game_id, "corpus": a.game.corpus,
                "setting": a.game.setting, "claim_id": a.game.claim_id, "claim": a.game.claim,
                "sender": a.game.sender, "receiver": a.game.receiver, "round": number, "paper_round": number - 1,
                "score_before": _score_before(a.game, number), "score_after": a.game.rounds[number - 1].receiver.reply.score,
                "direction_reasonable": "yes" if ans.direction_ok else "no", "proportion": ans.proportion,
                "explanation": ans.explanation,
                "quality": a.rating.quality if a.rating else "", "confidence": a.rating.confidence if a.rating else "",
                "transcript_complete": int(a.complete), "updated_at": a.updated_at.get(number, ""),
            })
    return out.getvalue()


def transcripts_csv(annotations: list[TranscriptAnnotation]) -> str:
    """One row per assignment, answered or not: shows who still has work open."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TRANSCRIPT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for a in annotations:
        writer.writerow({
            "annotator": a.annotator, "position": a.position, "game_id": a.game.game_id, "corpus": a.game.corpus,
            "setting": a.game.setting, "n_rounds": a.game.n_rounds, "rounds_answered": len(a.answers),
            "quality": a.rating.quality if a.rating else "", "confidence": a.rating.confidence if a.rating else "",
            "complete": int(a.complete), "assigned_at": a.assigned_at,
        })
    return out.getvalue()


def summary_dict(annotations: list[TranscriptAnnotation]) -> dict[str, Any]:
    """The overall summary, and the same per corpus (the paper groups by dataset)."""
    corpora = sorted({a.game.corpus for a in annotations})
    return {
        "overall": asdict(summarize(annotations)),
        "by_corpus": {c: asdict(summarize([a for a in annotations if a.game.corpus == c])) for c in corpora},
        "notes": {
            "valid": "an annotation is valid when all its rounds are answered and the transcript is rated",
            "round_label": "Round 0 is the Receiver's update after the Sender's first argument (the paper's numbering)",
            "std": "sample standard deviation (ddof=1)",
            "direction_accuracy": "share of 'yes, a reasonable direction' answers, in [0, 1]",
            "scale": "proportion, quality and confidence are rated 1-7",
        },
    }


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(s: Stat) -> str:
    return "n/a" if s.mean is None else f"{100 * s.mean:.2f}% (sd {_num(s.std)})"


def _mean_sd(s: Stat) -> str:
    return "n/a" if s.mean is None else f"{s.mean:.2f} (sd {_num(s.std)})"


def summary_markdown(summary: Summary, title: str = "Overall") -> str:
    lines = [
        f"### {title}",
        "",
        f"Valid annotations: {summary.valid_annotations} (incomplete, not counted: {summary.incomplete_annotations})",
        "",
        f"Mean quality: {_mean_sd(summary.quality)} of 7; mean confidence: {_mean_sd(summary.confidence)} of 7",
        "",
        "| Round | Updates judged | Direction accuracy | Mean proportion (1-7) |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {r.label} | {r.n} | {_pct(r.direction_accuracy)} | {_mean_sd(r.proportion)} |" for r in summary.rounds]
    if not summary.rounds:
        lines.append("| (no valid annotations yet) | | | |")
    return "\n".join(lines) + "\n"


def report_markdown(annotations: list[TranscriptAnnotation]) -> str:
    parts = [
        "# Human evaluation of Receiver belief updates (Appendix B.3)",
        "",
        "Round 0 is the Receiver's update after the Sender's first argument. Standard deviations are sample "
        "deviations. Only valid annotations (every round answered and the transcript rated) are counted.",
        "",
        summary_markdown(summarize(annotations)),
    ]
    for corpus in sorted({a.game.corpus for a in annotations}):
        parts.append(summary_markdown(summarize([a for a in annotations if a.game.corpus == corpus]), f"Corpus: {corpus}"))
    return "\n".join(parts)


def write_export(store: Store, out_dir: str | Path) -> list[Path]:
    """Write answers.csv, transcripts.csv, summary.json and summary.md; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    annotations = load_annotations(store)
    files = {
        "answers.csv": answers_csv(annotations),
        "transcripts.csv": transcripts_csv(annotations),
        "summary.json": json.dumps(summary_dict(annotations), indent=2) + "\n",
        "summary.md": report_markdown(annotations),
    }
    paths = []
    for name, text in files.items():
        paths.append(write_text_atomic(text, out / name))
    return paths
