"""Statistics of persuasion gains: cluster bootstrap CIs, paired tests, a linear fit.

Games are not independent: the K Receiver samples of one claim share the claim, so the
unit of resampling is the claim (a *cluster*). ``cluster_bootstrap`` estimates the mean
over claims of each claim's mean gain, and resamples claims with replacement and, when a
claim has several samples (``nested=True``), the samples within each drawn claim too (the
two-stage bootstrap of Davison & Hinkley, 1997, sec. 3.8). Intervals are percentile
intervals; they need at least two claims (``None`` otherwise).

``stratified_bootstrap`` gives the paper's "Average" column: the mean of per-corpus means,
resampling claims within each corpus. ``paired_bootstrap`` and ``wilcoxon_signed_rank``
compare two Senders on the same claims. ``linear_fit`` is ordinary least squares with a
t-interval for the slope, for the scaling law (gain against log10 parameters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_BOOTSTRAP = 2000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A mean with its percentile interval (``low``/``high`` None when it cannot be had)."""

    mean: float | None
    low: float | None
    high: float | None
    n_clusters: int
    n_obs: int

    @property
    def has_ci(self) -> bool:
        return self.low is not None and self.high is not None


EMPTY = Estimate(None, None, None, 0, 0)


def _clean_groups(groups: Sequence[Sequence[float]]) -> list[np.ndarray]:
    arrays = [np.asarray(g, dtype=float) for g in groups]
    arrays = [a[np.isfinite(a)] for a in arrays]
    return [a for a in arrays if a.size]


def _cluster_replicates(groups: list[np.ndarray], n_boot: int, rng: np.random.Generator, nested: bool) -> np.ndarray:
    """(n_boot,) bootstrap replicates of the mean of cluster means."""
    n = len(groups)
    if nested:  # stage 2 first: each cluster's resampled means, one per replicate
        means = np.empty((n_boot, n))
        for i, g in enumerate(groups):
            means[:, i] = g[rng.integers(0, g.size, size=(n_boot, g.size))].mean(axis=1) if g.size > 1 else g[0]
    else:
        means = np.broadcast_to(np.array([g.mean() for g in groups]), (n_boot, n))
    picks = rng.integers(0, n, size=(n_boot, n))  # stage 1: clusters with replacement
    return np.take_along_axis(means, picks, axis=1).mean(axis=1)


def _interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return float(low), float(high)


def _check(level: float, n_boot: int) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    if n_boot < 100:
        raise ValueError(f"use at least 100 bootstrap resamples, got {n_boot}")


def cluster_bootstrap(groups: Sequence[Sequence[float]], *, n_boot: int = DEFAULT_BOOTSTRAP, level: float = DEFAULT_LEVEL,
                      seed: int = 0, nested: bool = True) -> Estimate:
    """Mean over clusters of the cluster means, with a percentile CI (see the module doc)."""
    _check(level, n_boot)
    clean = _clean_groups(groups)
    if not clean:
        return EMPTY
    mean = float(np.mean([g.mean() for g in clean]))
    n_obs = sum(g.size for g in clean)
    if len(clean) < 2:
        return Estimate(mean, None, None, 1, n_obs)
    replicates = _cluster_replicates(clean, n_boot, np.random.default_rng(seed), nested)
    return Estimate(mean, *_interval(replicates, level), len(clean), n_obs)


def stratified_bootstrap(strata: Mapping[str, Sequence[Sequence[float]]], *, n_boot: int = DEFAULT_BOOTSTRAP,
                         level: float = DEFAULT_LEVEL, seed: int = 0, nested: bool = True) -> Estimate:
    """Mean of the strata's means of cluster means (each stratum weighted equally, as the
    paper's Average column), resampling clusters within each stratum."""
    _check(level, n_boot)
    cleaned = {name: _clean_groups(groups) for name, groups in strata.items()}
    cleaned = {name: groups for name, groups in cleaned.items() if groups}
    if not cleaned:
        return EMPTY
    mean = float(np.mean([np.mean([g.mean() for g in groups]) for groups in cleaned.values()]))
    n_clusters = sum(len(g) for g in cleaned.values())
    n_obs = sum(a.size for groups in cleaned.values() for a in groups)
    if any(len(groups) < 2 for groups in cleaned.values()):
        return Estimate(mean, None, None, n_clusters, n_obs)
    rng = np.random.default_rng(seed)
    replicates = np.mean([_cluster_replicates(groups, n_boot, rng, nested) for groups in cleaned.values()], axis=0)
    return Estimate(mean, *_interval(replicates, level), n_clusters, n_obs)


def paired_bootstrap(differences: Sequence[float], *, n_boot: int = DEFAULT_BOOTSTRAP, level: float = DEFAULT_LEVEL,
                     seed: int = 0) -> Estimate:
    """Mean paired difference (one per claim) with a percentile CI over claims."""
    return cluster_bootstrap([[d] for d in differences], n_boot=n_boot, level=level, seed=seed, nested=False)


# Score differences below this are float32 noise, not persuasion: the same Receiver reading
# the same transcript in a batch of another size gives expected scores ~1e-7 apart
# (batched matmuls round differently). They count as zero differences.
SCORE_TOLERANCE = 1e-5


def wilcoxon_signed_rank(differences: Sequence[float]) -> float | None:
    """Two-sided p-value of the Wilcoxon signed-rank test (scipy; zero differences, those
    within ``SCORE_TOLERANCE``, are dropped, Wilcoxon's convention). None when there is
    no non-zero difference."""
    from scipy.stats import wilcoxon

    values = np.asarray(differences, dtype=float)
    values = values[np.isfinite(values)]
    values = np.where(np.abs(values) < SCORE_TOLERANCE, 0.0, values)
    if not np.any(values != 0.0):
        return None
    return float(wilcoxon(values, zero_method="wilcox", alternative="two-sided").pvalue)


@dataclass(frozen=True)
class LinearFit:
    """y = intercept + slope * x by least squares; the slope's t-interval needs n >= 3."""

    slope: float
    intercept: float
    slope_se: float | None
    slope_low: float | None
    slope_high: float | None
    r_squared: float | None
    n: int


def linear_fit(x: Sequence[float], y: Sequence[float], *, level: float = DEFAULT_LEVEL) -> LinearFit:
    from scipy.stats import t as student_t

    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.size != ys.size or xs.size < 2:
        raise ValueError(f"a line needs at least two points with x and y, got {xs.size} and {ys.size}")
    sxx = float(np.sum((xs - xs.mean()) ** 2))
    if sxx == 0.0:
        raise ValueError("all x values are equal: the slope is undefined")
    slope = float(np.sum((xs - xs.mean()) * (ys - ys.mean())) / sxx)
    intercept = float(ys.mean() - slope * xs.mean())
    residuals = ys - (intercept + slope * xs)
    syy = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residuals**2)) / syy if syy > 0 else None
    if xs.size < 3:
        return LinearFit(slope, intercept, None, None, None, r2, int(xs.size))
    se = math.sqrt(float(np.sum(residuals**2)) / (xs.size - 2) / sxx)
    half = float(student_t.ppf(0.5 + level / 2.0, xs.size - 2)) * se
    return LinearFit(slope, intercept, se, slope - half, slope + half, r2, int(xs.size))


def percentile_interval(values: Sequence[float], level: float = DEFAULT_LEVEL) -> tuple[float | None, float | None]:
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    if array.size < 2:
        return None, None
    return _interval(array, level)


MAX_DECIMALS = 5


def significant(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, trailing zeros kept (1.80, -0.00412,
    12.3); "n/a" for a missing or non-finite value. Tables and the report use it: a fixed
    two decimals printed small gains as -0.00."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return f"{0:.{digits - 1}f}"
    # no exponents: below 1e-5 a score difference means nothing on a 1-7 scale
    decimals = max(0, min(digits - 1 - math.floor(math.log10(abs(value))), MAX_DECIMALS))
    text = f"{value:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text
