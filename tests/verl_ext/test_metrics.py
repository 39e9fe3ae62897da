"""Per-step persuasion metrics from the reward function's columns."""

from __future__ import annotations

import math

import numpy as np
import pytest

from persuasion_rl.verl_ext.metrics import persuasion_metrics


def columns(**overrides):
    base = {
        "score": [1.0, -1.0, 0.5, 2.0],
        "gain": [1.0, math.nan, 0.5, 2.0],
        "receiver_score": [4.0, math.nan, 3.6, 5.2],
        "prior_score": [3.0, 3.0, 3.1, 3.2],
        "argument_missing": [0.0, 1.0, 0.0, 0.0],
        "argument_words": [10.0, 0.0, 20.0, 30.0],
        "receiver_parse_retries": [0.0, 0.0, 1.0, 0.0],
    }
    base.update(overrides)
    return {k: np.array(v, dtype=object) for k, v in base.items()}


def test_metrics_from_a_batch_with_a_penalised_reply():
    m = persuasion_metrics(columns())
    assert m["persuasion/gain/mean"] == pytest.approx((1.0 + 0.5 + 2.0) / 3)  # the penalty is not a gain
    assert m["persuasion/reward/mean"] == pytest.approx(2.5 / 4)
    assert m["persuasion/argument_missing_rate"] == 0.25
    assert m["persuasion/parse_failure_rate"] == 0.25
    assert m["persuasion/argument_words/mean"] == pytest.approx(20.0)  # of the arguments the Receiver read
    assert m["persuasion/scored_samples"] == 3
    shares = [m[f"persuasion/receiver_score/share_{p}"] for p in range(1, 8)]
    assert sum(shares) == pytest.approx(1.0) and m["persuasion/receiver_score/share_4"] == pytest.approx(2 / 3)
    assert m["persuasion/prior_score/share_3"] == 1.0
    assert all(math.isfinite(v) for v in m.values())


def test_none_values_and_an_all_penalised_batch_stay_finite():
    m = persuasion_metrics(columns(gain=[None] * 4, receiver_score=[None] * 4, argument_missing=[1.0] * 4))
    assert "persuasion/gain/mean" not in m and m["persuasion/scored_samples"] == 0
    assert all(math.isfinite(v) for v in m.values())


def test_no_metrics_for_another_reward():
    assert persuasion_metrics({"acc": np.array([1.0])}) == {}


def test_no_key_trips_verls_min_max_reduction():
    # verl's reduce_metrics takes np.max/np.min of keys containing "max"/"min"
    assert not [k for k in persuasion_metrics(columns()) if "max" in k or "min" in k]


def test_guard_and_dynamic_game_metrics():
    from persuasion_rl.verl_ext.metrics import persuasion_metrics

    columns = {
        "gain": [1.0, 2.0], "receiver_score": [4.0, 5.0], "prior_score": [3.0, 3.0], "argument_missing": [0.0, 0.0],
        "injection_flags": [0.0, 3.0], "turns_completed": [3.0, 2.0], "truncated": [0.0, 1.0],
        "gain_round_1": [0.5, 1.0], "gain_round_2": [1.0, 2.0], "gain_round_3": [1.0, float("nan")],
    }
    m = persuasion_metrics(columns)
    assert m["sender/injection_flags"] == 3.0 and m["sender/injection_flagged_rate"] == 0.5
    assert m["persuasion/turns_completed/mean"] == 2.5 and m["persuasion/truncated_rate"] == 0.5
    assert m["persuasion/gain_round_1/mean"] == 0.75 and m["persuasion/gain_round_3/mean"] == 1.0


def test_receiver_call_metrics_sum_over_the_step():
    from persuasion_rl.verl_ext.metrics import persuasion_metrics

    columns = {"gain": [1.0, 2.0], "receiver_score": [4.0, 5.0], "prior_score": [3.0, 3.0], "argument_missing": [0.0, 0.0],
               "receiver_retries": [0.0, 2.0], "receiver_timeouts": [1.0, float("nan")]}
    m = persuasion_metrics(columns)
    assert m["receiver/retries"] == 2.0 and m["receiver/timeouts"] == 1.0


def test_skipped_samples_and_failed_calls_are_counted():
    columns = {"gain": [1.0, float("nan"), float("nan")], "receiver_score": [4.0, float("nan"), float("nan")],
               "prior_score": [3.0, 3.0, 3.0], "argument_missing": [0.0, 0.0, 1.0], "score": [1.0, float("nan"), -1.0],
               "receiver_ok": [1.0, 0.0, float("nan")], "receiver_errors": [0.0, 1.0, 0.0]}
    m = persuasion_metrics(columns)
    # the skipped sample (receiver_ok 0) is counted; the penalised one (NaN: not asked) is not
    assert m["receiver/skipped"] == 1.0 and m["receiver/errors"] == 1.0
    assert m["persuasion/scored_samples"] == 1 and m["persuasion/reward/mean"] == 0.0  # NaN left out, not zeroed
    assert all(math.isfinite(v) for v in m.values())


def test_receiver_echo_and_suspicious_rates():
    columns = {"gain": [1.0, 4.0, math.nan, 0.0], "receiver_score": [4.0, 7.0, math.nan, 3.0], "prior_score": [3.0] * 4,
               "argument_missing": [0.0, 0.0, 1.0, 0.0], "injection_flags": [1.0, 0.0, 0.0, 0.0],
               "receiver_echo": [0.0, 1.0, math.nan, 0.0]}
    m = persuasion_metrics(columns)
    assert m["sender/injection_flagged_rate"] == 0.25
    assert m["sender/receiver_echo_rate"] == pytest.approx(1 / 3)  # of the three scored samples
    assert m["sender/suspicious_rate"] == 0.5  # one flagged, another echoed


def test_integrity_summary_compares_the_first_and_last_quarter_of_a_run():
    from persuasion_rl.verl_ext.metrics import integrity_summary

    steps = {step: {"sender/injection_flagged_rate": 0.0 if step <= 4 else 0.5, "sender/receiver_echo_rate": 0.1}
             for step in range(1, 17)}
    summary = integrity_summary(steps)
    assert summary.steps == 16
    assert summary.rates["sender/injection_flagged_rate"] == (0.0, 0.5)
    assert summary.rising == ["sender/injection_flagged_rate"]
    assert "rising" in "\n".join(summary.lines()) and "Receiver scores echoing the Sender" in "\n".join(summary.lines())
    assert integrity_summary({1: {"persuasion/gain/mean": 0.1}}).lines() == ["reward integrity: no guard metrics logged"]


def test_group_metrics_say_how_much_signal_grpo_groups_carry():
    # two claims of two replies: one group spread by 1.0, one flat; a skipped sample (NaN) is no member
    m = persuasion_metrics(columns(uid=["a", "a", "b", "b"], score=[1.0, 0.0, 0.5, 0.5]))
    assert m["persuasion/group/within_std"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["persuasion/group/between_std"] == pytest.approx(0.0)  # both groups average 0.5
    assert m["persuasion/group/flat_share"] == pytest.approx(0.5)
    skipped = persuasion_metrics(columns(uid=["a", "a", "b", "b"], score=[1.0, 0.0, 0.5, math.nan]))
    assert skipped["persuasion/group/flat_share"] == 0.0  # group b has one member left: no group
    assert skipped["persuasion/group/between_std"] == 0.0 and skipped["persuasion/group/within_std"] == pytest.approx(0.5)


def test_no_group_metrics_without_verls_group_ids():
    assert not any(key.startswith("persuasion/group/") for key in persuasion_metrics(columns()))
