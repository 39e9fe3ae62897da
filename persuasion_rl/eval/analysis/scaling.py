"""A scaling fit: persuasion gain against log10 of the Sender's parameter count.

Following the log scaling law of Hackenburg et al. (2024; ``log_scaling_political_
persuasion.txt``: "a one-unit increase in the logarithm of a model's parameter count is
linearly associated with an increase of ... in its average treatment effect"), each
Sender's mean gain (over claims, samples averaged per claim first) is regressed on
log10(parameters), per Receiver and setting. Two 95% intervals for the slope:

* ``ols``: the t-interval of ordinary least squares on the Sender means (needs three or
  more Senders; treats Senders as the sample, as a model-level meta-regression does);
* ``bootstrap``: claims resampled with replacement (the same draw for every Sender, since
  they share the claims) and the line refitted; it reflects the evaluation's noise only,
  not how far the Senders scatter around the line.

Parameter counts come from the transcripts (``eval`` counts a local model's parameters)
or from ``--params NAME=COUNT`` (for endpoints, or to override). Senders without a count
are left out, and named. Writes ``scaling.png``, ``scaling.csv``, ``scaling.json``.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..plots import error_bars, pyplot, save_figure, write_csv, write_json
from ...game.record import SETTINGS
from ..records import EvalInputError, GameResult, load_results
from ..stats import DEFAULT_BOOTSTRAP, DEFAULT_LEVEL, cluster_bootstrap, linear_fit, percentile_interval
from ..table import claim_groups

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderPoint:
    receiver: str
    sender: str
    setting: str
    params: int
    log10_params: float
    mean_gain: float
    ci_low: float | None
    ci_high: float | None
    n_claims: int


@dataclass(frozen=True)
class ScalingFit:
    receiver: str
    setting: str
    n_senders: int
    slope: float | None
    intercept: float | None
    r_squared: float | None
    ols_low: float | None
    ols_high: float | None
    bootstrap_low: float | None
    bootstrap_high: float | None
    note: str = ""


def sender_params(results: Sequence[GameResult], overrides: Mapping[str, int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        if r.sender_params:
            counts.setdefault(r.sender, r.sender_params)
    counts.update(overrides)
    return counts


def _claim_means(games: Sequence[GameResult]) -> dict[str, float]:
    return {c: float(np.mean(v)) for c, v in claim_groups(games).items()}


def sender_points(results: Sequence[GameResult], params: Mapping[str, int], *, n_boot: int, seed: int
                  ) -> tuple[list[SenderPoint], dict[tuple[str, str, str], dict[str, float]]]:
    groups: dict[tuple[str, str, str], list[GameResult]] = defaultdict(list)
    for r in results:
        if r.sender in params:
            groups[(r.receiver, r.setting, r.sender)].append(r)
    points, means = [], {}
    for (receiver, setting, sender), games in sorted(groups.items()):
        claim_means = _claim_means(games)
        if not claim_means:
            continue
        e = cluster_bootstrap(list(claim_groups(games).values()), n_boot=n_boot, seed=seed)
        points.append(SenderPoint(receiver, sender, setting, params[sender], math.log10(params[sender]), e.mean, e.low, e.high, e.n_clusters))
        means[(receiver, setting, sender)] = claim_means
    return points, means


def _bootstrap_slopes(x: np.ndarray, claim_means: list[dict[str, float]], n_boot: int, seed: int) -> np.ndarray:
    """Slopes refitted on claim resamples shared by all Senders; a draw in which a Sender
    has none of its claims is dropped."""
    claims = sorted({c for m in claim_means for c in m})
    values = np.array([[m.get(c, np.nan) for c in claims] for m in claim_means])  # senders x claims
    present = np.isfinite(values)
    weights = np.random.default_rng(seed).multinomial(len(claims), [1.0 / len(claims)] * len(claims), size=n_boot)
    totals = weights @ present.T  # draws x senders
    y = (weights @ np.where(present, values, 0.0).T) / np.where(totals > 0, totals, np.nan)
    y = y[np.all(totals > 0, axis=1)]
    xc = x - x.mean()
    return (y - y.mean(axis=1, keepdims=True)) @ xc / float(xc @ xc)


def fit_group(points: Sequence[SenderPoint], claim_means: list[dict[str, float]], *, n_boot: int, seed: int,
              level: float = DEFAULT_LEVEL) -> ScalingFit:
    receiver, setting = points[0].receiver, points[0].setting
    x = np.array([p.log10_params for p in points])
    if len(points) < 2 or np.ptp(x) == 0:
        return ScalingFit(receiver, setting, len(points), None, None, None, None, None, None, None,
                          "needs two or more Senders of different sizes")
    fit = linear_fit(x, [p.mean_gain for p in points], level=level)
    low, high = percentile_interval(_bootstrap_slopes(x, claim_means, n_boot, seed), level)
    note = "" if fit.n >= 3 else "OLS interval needs three or more Senders"
    return ScalingFit(receiver, setting, len(points), fit.slope, fit.intercept, fit.r_squared, fit.slope_low, fit.slope_high, low, high, note)


def fit_scaling(results: Sequence[GameResult], overrides: Mapping[str, int] | None = None, *,
                n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> tuple[list[SenderPoint], list[ScalingFit]]:
    params = sender_params(results, overrides or {})
    missing = sorted({r.sender for r in results} - set(params))
    if missing:
        log.warning("no parameter count for Sender(s) %s: left out (pass --params NAME=COUNT)", missing)
    points, means = sender_points(results, params, n_boot=n_boot, seed=seed)
    by_group: dict[tuple[str, str], list[SenderPoint]] = defaultdict(list)
    for p in points:
        by_group[(p.receiver, p.setting)].append(p)
    fits = [fit_group(group, [means[(p.receiver, p.setting, p.sender)] for p in group], n_boot=n_boot, seed=seed)
            for _, group in sorted(by_group.items(), key=lambda kv: (kv[0][0], _setting_order(kv[0][1])))]
    return points, fits


def _setting_order(setting: str) -> int:
    return SETTINGS.index(setting) if setting in SETTINGS else len(SETTINGS)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def plot_scaling(points: list[SenderPoint], fits: list[ScalingFit], path: Path) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, max(1, len(fits)), figsize=(5.0 * max(1, len(fits)), 3.8), squeeze=False)
    for ax, fit in zip(axes[0], fits):
        chosen = sorted((p for p in points if (p.receiver, p.setting) == (fit.receiver, fit.setting)), key=lambda p: p.params)
        xs, ys = [p.log10_params for p in chosen], [p.mean_gain for p in chosen]
        ax.errorbar(xs, ys, yerr=error_bars(ys, [p.ci_low for p in chosen], [p.ci_high for p in chosen]), fmt="o", capsize=3)
        for p in chosen:
            ax.annotate(p.sender, (p.log10_params, p.mean_gain), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if fit.slope is not None:
            line = np.linspace(min(xs), max(xs), 20)
            ax.plot(line, fit.intercept + fit.slope * line, "--")
        ax.set_title(f"{fit.setting} vs {fit.receiver}\nslope {_fmt(fit.slope)} [boot {_fmt(fit.bootstrap_low)}, {_fmt(fit.bootstrap_high)}]",
                     fontsize=9)
        ax.set_xlabel("log10(parameters)")
        ax.set_ylabel("mean persuasion gain")
    if not fits:
        axes[0][0].text(0.5, 0.5, "no Sender with a parameter count", ha="center", va="center", transform=axes[0][0].transAxes)
    fig.tight_layout()
    return save_figure(fig, path)


def parse_params(items: Sequence[str]) -> dict[str, int]:
    from ..inputs import parse_count

    counts = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise EvalInputError(f"--params: expected NAME=COUNT (e.g. llama-8b=8B), got {item!r}")
        try:
            counts[name] = parse_count(value)
        except ValueError as error:
            raise EvalInputError(f"--params {item!r}: {error}") from None
    return counts


def run_scaling_analysis(inputs: Sequence[str | Path], out_dir: str | Path, *, params: Mapping[str, int] | None = None,
                         n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict[str, Path]:
    points, fits = fit_scaling(load_results(inputs), params, n_boot=n_boot, seed=seed)
    out = Path(out_dir)
    return {"png": plot_scaling(points, fits, out / "scaling.png"),
            "csv": write_csv([asdict(p) for p in points], out / "scaling.csv"),
            "json": write_json({"points": [asdict(p) for p in points], "fits": [asdict(f) for f in fits]}, out / "scaling.json")}
