"""Gains by the Receiver's prior confidence (paper Figure 3, with Figure 6's distribution).

Each claim's prior confidence is the Receiver's P("yes") from log-probabilities
(``receivers/confidence.py``), recorded in the transcripts by ``eval`` or taken from a
priors table written by ``data priors`` (``--priors``). Claims are binned by it (fixed
edges, default quarters), and for each bin, setting and round the mean change of the
Receiver's score from its prior is reported with a cluster-bootstrap CI over claims.
Failed games and claims without a readable confidence are left out and counted.

Writes ``confidence.png`` (one row per Receiver x Sender: a panel per setting with one
line per bin over the rounds, then the distribution of confidences by corpus),
``confidence.csv`` and ``confidence.json``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..plots import error_bars, pyplot, save_figure, write_csv, write_json
from ...game.record import SETTINGS
from ..records import EvalInputError, GameResult, load_results
from ..stats import DEFAULT_BOOTSTRAP, cluster_bootstrap

log = logging.getLogger(__name__)

DEFAULT_EDGES = (0.0, 0.25, 0.5, 0.75, 1.0)
HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class BinPoint:
    receiver: str
    sender: str
    setting: str
    bin: str
    bin_low: float
    bin_high: float
    round: int
    mean_change: float | None
    ci_low: float | None
    ci_high: float | None
    n_claims: int
    n_games: int


def parse_edges(text: str) -> tuple[float, ...]:
    try:
        edges = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise EvalInputError(f"--edges: expected numbers like 0,0.25,0.5,0.75,1, got {text!r}") from None
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0 or edges[-1] > 1:
        raise EvalInputError(f"--edges: need at least two increasing values within [0, 1], got {text!r}")
    return edges


def bin_index(p: float, edges: Sequence[float]) -> int | None:
    """The bin of ``p``: [e_i, e_i+1), the last bin closed; None outside the edges."""
    if p < edges[0] or p > edges[-1]:
        return None
    return min(int(np.searchsorted(edges, p, side="right")) - 1, len(edges) - 2)


def bin_label(edges: Sequence[float], index: int) -> str:
    return f"{edges[index]:.2f}-{edges[index + 1]:.2f}"


def read_priors_confidence(path: str | Path) -> dict[str, float]:
    """claim_id -> p_yes from a ``data priors`` table."""
    from ...data.files import read_parquet

    table = read_parquet(Path(path))
    for column in ("claim_id", "p_yes"):
        if column not in table.column_names:
            raise EvalInputError(f"{path}: field '{column}': missing column (write the table with `persuasion-rl data priors`)")
    return {row["claim_id"]: float(row["p_yes"]) for row in table.select(["claim_id", "p_yes"]).to_pylist() if row["p_yes"] is not None}


def attach_confidence(results: Sequence[GameResult], priors: dict[str, float], receiver: str | None) -> list[GameResult]:
    """Fill in P(yes) from a priors table for the games of ``receiver`` (all games when the
    results have a single Receiver); a confidence the transcripts hold wins."""
    receivers = {r.receiver for r in results}
    if receiver is None and len(receivers) > 1:
        raise EvalInputError(f"--priors: the transcripts hold {len(receivers)} Receivers {sorted(receivers)}; say which one with --priors-receiver")
    target = receiver or next(iter(receivers))
    return [replace(r, p_yes=priors.get(r.claim_id)) if r.receiver == target and r.p_yes is None else r for r in results]


def _curves(games: Sequence[GameResult], edges: Sequence[float], n_boot: int, seed: int) -> list[BinPoint]:
    points = []
    by_bin: dict[int, list[GameResult]] = defaultdict(list)
    for g in games:
        index = bin_index(g.p_yes, edges)
        if index is not None:
            by_bin[index].append(g)
    for index, members in sorted(by_bin.items()):
        rounds = max(len(g.round_gains) for g in members)
        for number in range(1, rounds + 1):
            groups: dict[str, list[float]] = defaultdict(list)
            for g in members:
                if len(g.round_gains) >= number:
                    groups[g.claim_id].append(g.round_gains[number - 1])
            e = cluster_bootstrap(list(groups.values()), n_boot=n_boot, seed=seed)
            first = members[0]
            points.append(BinPoint(first.receiver, first.sender, first.setting, bin_label(edges, index), edges[index],
                                   edges[index + 1], number, e.mean, e.low, e.high, e.n_clusters, e.n_obs))
    return points


def gains_by_confidence(results: Sequence[GameResult], edges: Sequence[float] = DEFAULT_EDGES, *,
                        n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> tuple[list[BinPoint], dict]:
    usable = [r for r in results if r.ok and r.p_yes is not None]
    counts = {"games": len(results), "used": len(usable), "failed": sum(not r.ok for r in results),
              "no_confidence": sum(r.ok and r.p_yes is None for r in results)}
    groups: dict[tuple[str, str, str], list[GameResult]] = defaultdict(list)
    for r in usable:
        groups[(r.receiver, r.sender, r.setting)].append(r)
    points = [p for key in sorted(groups) for p in _curves(groups[key], edges, n_boot, seed)]
    return points, counts


def confidence_distribution(results: Sequence[GameResult]) -> dict[str, dict[str, list[float]]]:
    """Receiver -> corpus -> the P(yes) of each claim (once per claim)."""
    seen: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        if r.p_yes is not None:
            seen[r.receiver][r.corpus][r.claim_id] = r.p_yes
    return {rec: {c: sorted(v.values()) for c, v in corpora.items()} for rec, corpora in seen.items()}


# ---- figure -----------------------------------------------------------------------------


def _line_panel(ax, points: list[BinPoint], setting: str) -> None:
    by_bin: dict[str, list[BinPoint]] = defaultdict(list)
    for p in points:
        by_bin[p.bin].append(p)
    for label, series in sorted(by_bin.items()):
        series.sort(key=lambda p: p.round)
        xs = [0] + [p.round for p in series]
        ys = [0.0] + [p.mean_change or 0.0 for p in series]
        yerr = error_bars(ys, [None] + [p.ci_low for p in series], [None] + [p.ci_high for p in series])
        ax.errorbar(xs, ys, yerr=yerr, marker="o", capsize=3, label=f"P(yes) {label} (n={series[0].n_claims})")
        ax.annotate(f"{ys[-1]:+.2f}", (xs[-1], ys[-1]), textcoords="offset points", xytext=(5, 0), fontsize=8)
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set_title(setting)
    ax.set_xlabel("round")
    ax.set_ylabel("change in score from prior")
    if by_bin:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no games", ha="center", va="center", transform=ax.transAxes)


def _distribution_panel(ax, distribution: dict[str, list[float]]) -> None:
    bins = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    for corpus, values in sorted(distribution.items()):
        ax.hist(values, bins=bins, alpha=0.5, label=f"{corpus} (n={len(values)})")
    ax.set_title("prior confidence")
    ax.set_xlabel("P(yes)")
    ax.set_ylabel("claims")
    if distribution:
        ax.legend(fontsize=7)


def plot_confidence(points: list[BinPoint], distribution: dict, path: Path) -> Path:
    plt = pyplot()
    if not points:  # no panel titled "static:  vs": one that says why it is empty
        fig, (ax, dist) = plt.subplots(1, 2, figsize=(9, 3.6))
        ax.text(0.5, 0.5, "no finished game with a prior confidence", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        _distribution_panel(dist, {k: v for d in distribution.values() for k, v in d.items()})
        fig.suptitle("Persuasion gains by the Receiver's prior confidence")
        fig.tight_layout()
        return save_figure(fig, path)
    pairs = sorted({(p.receiver, p.sender) for p in points})
    settings = [s for s in SETTINGS if any(p.setting == s for p in points)] or list(SETTINGS)
    fig, axes = plt.subplots(len(pairs), len(settings) + 1, figsize=(4.5 * (len(settings) + 1), 3.6 * len(pairs)), squeeze=False)
    for row, (receiver, sender) in enumerate(pairs):
        for col, setting in enumerate(settings):
            chosen = [p for p in points if (p.receiver, p.sender, p.setting) == (receiver, sender, setting)]
            _line_panel(axes[row][col], chosen, f"{setting}: {sender} vs {receiver}")
        _distribution_panel(axes[row][-1], distribution.get(receiver, {}))
    fig.suptitle("Persuasion gains by the Receiver's prior confidence")
    fig.tight_layout()
    return save_figure(fig, path)


def run_confidence_analysis(inputs: Sequence[str | Path], out_dir: str | Path, *, edges: Sequence[float] = DEFAULT_EDGES,
                            priors: str | Path | None = None, priors_receiver: str | None = None,
                            n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Path]:
    results = load_results(inputs)
    if priors is not None:
        results = attach_confidence(results, read_priors_confidence(priors), priors_receiver)
    points, counts = gains_by_confidence(results, edges, n_boot=n_boot, seed=seed)
    if not points:
        log.warning("no finished game has a prior confidence: the figure is empty (%s)", counts)
    distribution = confidence_distribution(results)
    out = Path(out_dir)
    paths = {"png": plot_confidence(points, distribution, out / "confidence.png"),
             "csv": write_csv([asdict(p) for p in points], out / "confidence.csv")}
    summary = {"edges": list(edges), "counts": counts, "points": [asdict(p) for p in points], "distribution": distribution}
    paths["json"] = write_json(summary, out / "confidence.json")
    return paths
