"""The results table in the paper's layout (Tables 1-3).

Rows are (Receiver, Sender) pairs; columns are corpus x setting, then the Average per
setting. A cell is the mean persuasion gain over claims (each claim's gain averaged over
its K samples first) with its 95% cluster-bootstrap interval, and the number of games
that failed (never counted as gains). The Average is the mean of the corpus means, as
in the paper, with a bootstrap that resamples claims within each corpus.

Written as Markdown (``results.md``), as a wide CSV in the same layout (``results.csv``)
and as a tidy CSV with one row per cell and the failures by kind (``results_long.csv``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..game.record import SETTINGS
from .records import FAILURE_KINDS, GameResult
from ..files import write_text_atomic
from .stats import DEFAULT_BOOTSTRAP, DEFAULT_LEVEL, Estimate, cluster_bootstrap, significant, stratified_bootstrap

AVERAGE = "average"
CORPUS_ORDER = ("anthropic", "cmv", "ddo", "perspectrum", "paper")  # the paper's column order


@dataclass(frozen=True)
class Cell:
    receiver: str
    sender: str
    corpus: str  # a corpus, or AVERAGE
    setting: str
    estimate: Estimate
    n_games: int
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def n_failed(self) -> int:
        return sum(self.failures.values())

    def as_row(self) -> dict:
        e = self.estimate
        return {
            "receiver": self.receiver, "sender": self.sender, "corpus": self.corpus, "setting": self.setting,
            "mean_gain": e.mean, "ci_low": e.low, "ci_high": e.high, "n_claims": e.n_clusters, "n_ok_games": e.n_obs,
            "n_games": self.n_games, "failures": self.n_failed, **{f"failures_{k}": self.failures.get(k, 0) for k in FAILURE_KINDS},
        }


@dataclass(frozen=True)
class ResultsTable:
    rows: list[tuple[str, str]]  # (receiver, sender)
    corpora: list[str]
    settings: list[str]
    cells: dict[tuple[str, str, str, str], Cell]  # (receiver, sender, corpus, setting)
    level: float = DEFAULT_LEVEL

    def cell(self, receiver: str, sender: str, corpus: str, setting: str) -> Cell | None:
        return self.cells.get((receiver, sender, corpus, setting))

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(c, s) for c in [*self.corpora, AVERAGE] for s in self.settings]


def claim_groups(results: Sequence[GameResult]) -> dict[str, list[float]]:
    """Gains of the finished games, by claim (the bootstrap's clusters)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for r in results:
        if r.ok and r.gain is not None:
            groups[r.claim_id].append(r.gain)
    return groups


def _order(values, preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + sorted(v for v in seen if v not in preferred)


def _failures(results: Sequence[GameResult]) -> dict[str, int]:
    return dict(Counter(r.failure for r in results if not r.ok))


def build_table(results: Sequence[GameResult], *, n_boot: int = DEFAULT_BOOTSTRAP, level: float = DEFAULT_LEVEL,
                seed: int = 0, nested: bool = True) -> ResultsTable:
    by_cell: dict[tuple[str, str, str, str], list[GameResult]] = defaultdict(list)
    for r in results:
        by_cell[(r.receiver, r.sender, r.corpus, r.setting)].append(r)
    receivers = list(dict.fromkeys(r.receiver for r in results))
    rows = sorted(dict.fromkeys((r.receiver, r.sender) for r in results), key=lambda row: receivers.index(row[0]))
    corpora = _order([r.corpus for r in results], CORPUS_ORDER)
    settings = _order([r.setting for r in results], SETTINGS)
    options = dict(n_boot=n_boot, level=level, seed=seed, nested=nested)
    cells: dict[tuple[str, str, str, str], Cell] = {}
    for key, games in by_cell.items():
        cells[key] = Cell(*key, cluster_bootstrap(list(claim_groups(games).values()), **options), len(games), _failures(games))
    for receiver, sender in rows:
        for setting in settings:
            per_corpus = {c: by_cell.get((receiver, sender, c, setting), []) for c in corpora}
            games = [g for gs in per_corpus.values() for g in gs]
            if not games:
                continue
            strata = {c: list(claim_groups(gs).values()) for c, gs in per_corpus.items() if gs}
            estimate = stratified_bootstrap(strata, **options)
            cells[(receiver, sender, AVERAGE, setting)] = Cell(receiver, sender, AVERAGE, setting, estimate, len(games), _failures(games))
    return ResultsTable(rows, corpora, settings, cells, level)


# ---- rendering --------------------------------------------------------------------------


def format_cell(cell: Cell | None, digits: int = 3) -> str:
    """``mean [low, high] f=failed``, each number with ``digits`` significant digits."""
    if cell is None:
        return ""
    e = cell.estimate
    ci = f" [{significant(e.low, digits)}, {significant(e.high, digits)}]" if e.has_ci else ""
    return f"{significant(e.mean, digits)}{ci} f={cell.n_failed}"


def corpus_title(corpus: str) -> str:
    names = {"anthropic": "Anthropic", "cmv": "CMV", "ddo": "DDO", "perspectrum": "Perspectrum", "paper": "Paper", AVERAGE: "Average"}
    return names.get(corpus, corpus)


def to_markdown(table: ResultsTable, digits: int = 3) -> str:
    header = ["Receiver", "Sender", *(f"{corpus_title(c)} {s}" for c, s in table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(table.columns)) + "|"]
    for receiver, sender in table.rows:
        cells = [format_cell(table.cell(receiver, sender, c, s), digits) for c, s in table.columns]
        lines.append("| " + " | ".join([receiver, sender, *cells]) + " |")
    note = (f"\nEach cell: mean persuasion gain (final minus prior Receiver score) over claims, "
            f"[{table.level:.0%} cluster-bootstrap CI over claims, samples nested], f = failed games "
            "(parse or call failures, excluded from the mean). Average = mean of the corpus means.\n")
    return "\n".join(lines) + "\n" + note


def wide_rows(table: ResultsTable) -> list[dict]:
    rows = []
    for receiver, sender in table.rows:
        row: dict = {"receiver": receiver, "sender": sender}
        for corpus, setting in table.columns:
            cell = table.cell(receiver, sender, corpus, setting)
            e = cell.estimate if cell else None
            prefix = f"{corpus}_{setting}"
            row.update({f"{prefix}_mean": e.mean if e else None, f"{prefix}_ci_low": e.low if e else None,
                        f"{prefix}_ci_high": e.high if e else None, f"{prefix}_n_claims": e.n_clusters if e else 0,
                        f"{prefix}_failures": cell.n_failed if cell else 0})
        rows.append(row)
    return rows


def long_rows(table: ResultsTable) -> list[dict]:
    return [table.cells[k].as_row() for k in sorted(table.cells, key=lambda k: (table.rows.index(k[:2]), k[2] == AVERAGE, k[2], k[3]))]


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def write_table(table: ResultsTable, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"markdown": out / "results.md", "csv": out / "results.csv", "long_csv": out / "results_long.csv"}
    write_text_atomic(to_markdown(table), paths["markdown"])
    write_text_atomic(to_csv(wide_rows(table)), paths["csv"])
    write_text_atomic(to_csv(long_rows(table)), paths["long_csv"])
    return paths


def table_summary(table: ResultsTable) -> dict:
    """JSON-friendly cells, for the report."""
    return {"level": table.level, "corpora": table.corpora, "settings": table.settings,
            "cells": [{**c.as_row(), "estimate": asdict(c.estimate)} for c in table.cells.values()]}
