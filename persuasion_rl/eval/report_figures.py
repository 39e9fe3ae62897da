"""The report's own figures, as base64 PNGs (the page is one self-contained file):

* gains with their CIs per Sender (and Receiver) and setting: the table's Average column
  and each corpus, one panel per setting;
* per-round gains of the dynamic games (the paper's Figure 3): the mean change from the
  prior after each round, with a claim-clustered bootstrap CI.

A figure with nothing to show is not drawn; the report says why instead.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from .plots import error_bars, pyplot
from .records import GameResult
from .stats import Estimate, cluster_bootstrap, significant
from .table import AVERAGE, ResultsTable, corpus_title


@dataclass(frozen=True)
class Figure:
    title: str
    image: str | None  # base64 PNG, None when there is nothing to draw
    note: str


def _png(fig) -> str:
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(receiver: str, sender: str, receivers: int) -> str:
    return sender if receivers == 1 else f"{sender} vs {receiver}"


def gains_figure(table: ResultsTable) -> Figure:
    title = "Persuasion gains with 95% CIs, per Sender and setting"
    rows = [(r, s) for r, s in table.rows
            if any((c := table.cell(r, s, AVERAGE, st)) and c.estimate.mean is not None for st in table.settings)]
    if not rows:
        return Figure(title, None, "No finished game: nothing to plot.")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    columns = [*table.corpora, AVERAGE]
    n_receivers = len({r for r, _ in rows})
    height = max(2.6, 1.2 + 0.28 * len(rows) * len(columns))
    fig, axes = plt.subplots(1, len(table.settings), figsize=(5.6 * len(table.settings), height), squeeze=False, sharex=True)
    offsets = {c: (i - (len(columns) - 1) / 2) * 0.8 / len(columns) for i, c in enumerate(columns)}
    for ax, setting in zip(axes[0], table.settings):
        for corpus in columns:
            ys, means, lows, highs = [], [], [], []
            for i, (receiver, sender) in enumerate(rows):
                cell = table.cell(receiver, sender, corpus, setting)
                if cell and cell.estimate.mean is not None:
                    ys.append(i + offsets[corpus])
                    means.append(cell.estimate.mean)
                    lows.append(cell.estimate.low)
                    highs.append(cell.estimate.high)
            if ys:
                bold = corpus == AVERAGE
                ax.errorbar(means, ys, xerr=error_bars(means, lows, highs), fmt="D" if bold else "o", capsize=3,
                            markersize=7 if bold else 4, color="black" if bold else None, label=corpus_title(corpus))
        ax.axvline(0.0, color="grey", linewidth=0.6)
        ax.set_yticks(range(len(rows)), [_label(r, s, n_receivers) for r, s in rows])
        ax.set_title(f"{setting} setting")
        ax.set_xlabel("gain (final - prior Receiver score)")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_ylim(len(rows) - 0.5, -0.5)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    note = ("Markers: mean gain per corpus and their Average (black diamond); bars: 95% cluster-bootstrap CIs over claims. "
            "A marker without a bar had too few claims for an interval; a Sender with no finished game is left out (see the table).")
    return Figure(title, _png(fig), note)


@dataclass(frozen=True)
class RoundPoint:
    receiver: str
    sender: str
    round: int
    estimate: Estimate


def round_points(results: Sequence[GameResult], *, n_boot: int, seed: int) -> list[RoundPoint]:
    """Mean change from the prior after each round of the finished dynamic games."""
    groups: dict[tuple[str, str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.setting == "dynamic" and r.ok:
            for number, gain in enumerate(r.round_gains, start=1):
                groups[(r.receiver, r.sender, number)][r.claim_id].append(gain)
    return [RoundPoint(receiver, sender, number, cluster_bootstrap(list(claims.values()), n_boot=n_boot, seed=seed))
            for (receiver, sender, number), claims in sorted(groups.items())]


def rounds_figure(results: Sequence[GameResult], *, n_boot: int, seed: int) -> Figure:
    title = "Per-round gains in the dynamic setting (paper Figure 3)"
    points = round_points(results, n_boot=n_boot, seed=seed)
    if not points:
        return Figure(title, None, "No finished dynamic game: nothing to plot (run `eval --setting dynamic` or `both`).")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    series = defaultdict(list)
    for p in points:
        series[(p.receiver, p.sender)].append(p)
    n_receivers = len({r for r, _ in series})
    for (receiver, sender), line in series.items():
        xs = [0] + [p.round for p in line]
        means = [0.0] + [p.estimate.mean for p in line]
        bars = error_bars(means, [None] + [p.estimate.low for p in line], [None] + [p.estimate.high for p in line])
        ax.errorbar(xs, means, yerr=bars, marker="o", capsize=3, label=_label(receiver, sender, n_receivers))
        ax.annotate(significant(means[-1]), (xs[-1], means[-1]), textcoords="offset points", xytext=(6, 0), fontsize=8)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xticks(range(0, max(p.round for p in points) + 1))
    ax.set_xlabel("round (0 = prior)")
    ax.set_ylabel("change in Receiver score from prior")
    ax.legend(fontsize=7)
    fig.tight_layout()
    claims = max(p.estimate.n_clusters for p in points)
    return Figure(title, _png(fig), f"Mean over claims (up to {claims}) of the score after each round minus the prior, "
                                    "with 95% cluster-bootstrap CIs.")
