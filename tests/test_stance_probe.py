"""The stance probe's statistics (benchmarks/receiver_stance_probe.py), on synthetic features:
it must find a side that is in the features, and must not find one that is not."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from benchmarks.receiver_stance_probe import probe_accuracy, wilson  # noqa: E402


def _features(claims: int, informative: bool, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    labels, groups = [], []
    for claim in range(claims):
        labels += [1, 0]
        groups += [claim, claim]
    noise = torch.randn(len(labels), 32, generator=generator)
    claim_part = torch.randn(claims, 32, generator=generator)[torch.tensor(groups)] * 3.0  # what a claim looks like
    side = torch.tensor(labels, dtype=torch.float32)[:, None] * 2.0 - 1.0
    signal = side * torch.eye(32)[0] * 4.0 if informative else 0.0
    return claim_part + noise + signal, labels, groups


def test_a_side_that_is_in_the_features_is_found_on_held_out_claims():
    features, labels, groups = _features(100, informative=True)
    correct, tested, _ = probe_accuracy(features, labels, groups, seed=0)
    assert tested == 40  # both arguments of the test part's 20 claims: the split is by claim
    assert correct / tested >= 0.8


def test_features_without_the_side_give_chance_on_held_out_claims():
    features, labels, groups = _features(100, informative=False)
    correct, tested, _ = probe_accuracy(features, labels, groups, seed=0)
    low, high = wilson(correct, tested)
    assert low <= 0.5 <= high


def test_wilson_interval():
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.404, abs=0.001) and high == pytest.approx(0.596, abs=0.001)
    low, high = wilson(0, 10)
    assert low == pytest.approx(0.0, abs=1e-9) and high < 0.35
