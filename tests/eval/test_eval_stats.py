"""The statistics against known values and scipy on fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from persuasion_rl.eval.stats import (
    cluster_bootstrap, linear_fit, paired_bootstrap, stratified_bootstrap, wilcoxon_signed_rank,
)

GAINS = [0.4, -0.1, 0.9, 0.3, 0.0, 1.2, -0.5, 0.7, 0.2, 0.6, 0.1, 0.8]


def test_one_sample_per_claim_matches_scipys_percentile_bootstrap() -> None:
    ours = cluster_bootstrap([[g] for g in GAINS], n_boot=20000, seed=1)
    theirs = scipy_stats.bootstrap((np.array(GAINS),), np.mean, n_resamples=20000, method="percentile",
                                   random_state=np.random.default_rng(2)).confidence_interval
    assert ours.mean == pytest.approx(np.mean(GAINS))
    assert ours.low == pytest.approx(theirs.low, abs=0.03) and ours.high == pytest.approx(theirs.high, abs=0.03)
    assert ours.n_clusters == ours.n_obs == len(GAINS)


def test_nested_bootstrap_weights_claims_equally_and_widens_with_sample_noise() -> None:
    groups = [[1.0, 1.0, 1.0, 1.0], [0.0], [2.0, 0.0]]  # claim means 1, 0, 1
    e = cluster_bootstrap(groups, n_boot=4000)
    assert e.mean == pytest.approx(2 / 3) and e.n_clusters == 3 and e.n_obs == 7
    assert e.low <= e.mean <= e.high
    # identical claim means, but noisy samples inside each claim: only the nested CI sees it
    noisy = [[-1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]]
    assert cluster_bootstrap(noisy, nested=False).high == pytest.approx(0.0)
    nested = cluster_bootstrap(noisy, nested=True)
    assert nested.low < -0.2 and nested.high > 0.2


def test_degenerate_inputs() -> None:
    constant = cluster_bootstrap([[0.5], [0.5], [0.5]])
    assert (constant.mean, constant.low, constant.high) == (0.5, 0.5, 0.5)
    single = cluster_bootstrap([[0.3, 0.5]])
    assert single.mean == pytest.approx(0.4) and not single.has_ci
    assert cluster_bootstrap([]).mean is None
    assert cluster_bootstrap([[float("nan")], [1.0], [3.0]]).mean == pytest.approx(2.0)  # NaN dropped, not scored
    with pytest.raises(ValueError):
        cluster_bootstrap([[1.0], [2.0]], level=1.5)


def test_average_column_is_the_mean_of_corpus_means() -> None:
    strata = {"a": [[1.0], [3.0]], "b": [[10.0], [10.0], [10.0]]}
    e = stratified_bootstrap(strata, n_boot=2000)
    assert e.mean == pytest.approx(6.0) and e.n_clusters == 5
    assert 5.5 - 1e-9 <= e.low <= 6.0 <= e.high <= 6.5 + 1e-9  # only corpus a varies: (1..3 + 10) / 2
    assert not stratified_bootstrap({"a": [[1.0]], "b": [[2.0], [3.0]]}).has_ci


def test_wilcoxon_known_values() -> None:
    # five positive differences: the exact two-sided p is 2 / 2**5
    assert wilcoxon_signed_rank([1, 2, 3, 4, 5]) == pytest.approx(0.0625)
    diffs = [0.3, -0.2, 0.5, 0.8, -0.1, 0.4, 0.6, 0.0, 0.2, 0.9]
    assert wilcoxon_signed_rank(diffs) == pytest.approx(scipy_stats.wilcoxon(diffs, zero_method="wilcox").pvalue)
    assert wilcoxon_signed_rank([0.0, 0.0]) is None


def test_paired_bootstrap() -> None:
    e = paired_bootstrap([0.5] * 6 + [0.7] * 6)
    assert e.mean == pytest.approx(0.6) and 0.5 <= e.low <= e.high <= 0.7


def test_linear_fit_matches_linregress() -> None:
    x = [7.0, 7.5, 8.0, 8.5, 9.0, 10.0, 11.0]
    y = [0.02, 0.01, 0.06, 0.04, 0.14, 0.23, 0.21]
    fit = linear_fit(x, y)
    reference = scipy_stats.linregress(x, y)
    half = scipy_stats.t.ppf(0.975, len(x) - 2) * reference.stderr
    assert fit.slope == pytest.approx(reference.slope) and fit.intercept == pytest.approx(reference.intercept)
    assert fit.slope_se == pytest.approx(reference.stderr)
    assert (fit.slope_low, fit.slope_high) == pytest.approx((reference.slope - half, reference.slope + half))
    assert fit.r_squared == pytest.approx(reference.rvalue**2)
    exact = linear_fit([1, 2, 3], [1.5, 3.5, 5.5])
    assert exact.slope == pytest.approx(2.0) and exact.slope_low == pytest.approx(2.0)
    two = linear_fit([1, 2], [0, 1])
    assert two.slope == pytest.approx(1.0) and two.slope_low is None
    with pytest.raises(ValueError, match="equal"):
        linear_fit([1, 1, 1], [0, 1, 2])


def test_wilcoxon_treats_float_noise_as_zero_differences() -> None:
    """issue 15.10: a p of 0.0625 for a difference of 0.000 (batch noise in the scores)."""
    from persuasion_rl.eval.stats import wilcoxon_signed_rank

    assert wilcoxon_signed_rank([1e-7, -2e-7, 3e-8, 2e-7, 1e-7]) is None
    assert wilcoxon_signed_rank([0.5, 0.4, 0.6, 0.3, 0.2, 1e-7]) is not None
