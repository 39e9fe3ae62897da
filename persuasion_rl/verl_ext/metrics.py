"""Per-step persuasion metrics from the reward function's extra info.

verl keeps what ``compute_score`` returns besides ``score`` (``reward_extra_info``) as
per-sample columns of the batch but logs them only at validation. These functions turn
the columns into scalar metrics for every training step: mean gain, the Receiver's score
and prior distributions, parse-failure and missing-argument rates, argument length.

Key names avoid the substrings "max"/"min" except for true extrema: verl's
``reduce_metrics`` picks its reduction from them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from persuasion_rl.game.likert import LIKERT_POINTS

PREFIX = "persuasion/"
# the columns persuasion_rl.verl_ext.reward.compute_score returns
GAIN, RECEIVER_SCORE, PRIOR_SCORE = "gain", "receiver_score", "prior_score"
ARGUMENT_MISSING, ARGUMENT_WORDS, PARSE_RETRIES, REWARD = "argument_missing", "argument_words", "receiver_parse_retries", "score"
REQUIRED_COLUMNS = (GAIN, RECEIVER_SCORE, PRIOR_SCORE, ARGUMENT_MISSING)
# the guard's count, and the dynamic agent loop's columns (persuasion_rl.verl_ext.agent_loop)
INJECTION_FLAGS, TURNS_COMPLETED, TRUNCATED, GAIN_ROUND_PREFIX = "injection_flags", "turns_completed", "truncated", "gain_round_"
# 1 scored, 0 no score (parse_failure=skip: left out of the update), NaN the Receiver was not asked
RECEIVER_OK = "receiver_ok"
# 1 the Receiver's score took a Likert point the Sender's argument proposed (game.guard.echoes_sender)
RECEIVER_ECHO = "receiver_echo"
FLAGGED_RATE, ECHO_RATE, SUSPICIOUS_RATE = "sender/injection_flagged_rate", "sender/receiver_echo_rate", "sender/suspicious_rate"
# verl's id of the prompt a reply answers: GRPO's group
GROUP_ID = "uid"
# rewards closer than this count as equal: a group with no spread gives GRPO no gradient
FLAT_GROUP_TOLERANCE = 1e-6
GROUP_NAMES = ("within_std", "between_std", "flat_share")
GROUP_KEYS = tuple(f"{PREFIX}group/{name}" for name in GROUP_NAMES)


def float_column(values: Any) -> np.ndarray:
    """A column as floats; None (a value the reward did not compute) becomes NaN."""
    return np.array([math.nan if v is None else float(v) for v in np.asarray(values, dtype=object).ravel()], dtype=float)


def _summary(name: str, values: np.ndarray) -> dict[str, float]:
    known = values[~np.isnan(values)]
    if known.size == 0:
        return {}
    return {f"{PREFIX}{name}/mean": float(known.mean()), f"{PREFIX}{name}/std": float(known.std())}


def _distribution(name: str, values: np.ndarray) -> dict[str, float]:
    """Share of samples at each Likert point; expected-mode scores are rounded."""
    known = values[~np.isnan(values)]
    if known.size == 0:
        return {}
    points = np.clip(np.rint(known), LIKERT_POINTS[0], LIKERT_POINTS[-1])
    return {f"{PREFIX}{name}/share_{p}": float((points == p).mean()) for p in LIKERT_POINTS}


def persuasion_metrics(columns: Mapping[str, Any]) -> dict[str, float]:
    """Scalar metrics from the batch's reward columns; {} if the reward is not ours."""
    if not all(key in columns for key in REQUIRED_COLUMNS):
        return {}
    gain, posterior, prior = (float_column(columns[k]) for k in (GAIN, RECEIVER_SCORE, PRIOR_SCORE))
    missing = float_column(columns[ARGUMENT_MISSING])
    metrics = {**_summary("gain", gain), **_summary("receiver_score", posterior), **_summary("prior_score", prior)}
    metrics.update(_distribution("receiver_score", posterior))
    metrics.update(_distribution("prior_score", prior))
    metrics[f"{PREFIX}argument_missing_rate"] = float(np.nanmean(missing)) if missing.size else 0.0
    metrics[f"{PREFIX}scored_samples"] = float((~np.isnan(posterior)).sum())
    if PARSE_RETRIES in columns:
        retries = float_column(columns[PARSE_RETRIES])
        # a sample whose first Receiver reply had no readable score (then asked again)
        metrics[f"{PREFIX}parse_failure_rate"] = float(np.nanmean(retries > 0)) if retries.size else 0.0
    if ARGUMENT_WORDS in columns:
        words = float_column(columns[ARGUMENT_WORDS])
        # length of the arguments the Receiver read (a penalised reply was not read)
        metrics.update(_summary("argument_words", np.where(np.isnan(posterior), np.nan, words)))
    if REWARD in columns:
        metrics.update(_summary("reward", float_column(columns[REWARD])))
    metrics.update(_group_metrics(columns))
    metrics.update(_guard_metrics(columns))
    metrics.update(_receiver_call_metrics(columns))
    metrics.update(_dynamic_metrics(columns))
    return metrics


def _group_metrics(columns: Mapping[str, Any]) -> dict[str, float]:
    """How much signal GRPO's groups carry: the reward's spread among one claim's replies
    (what its advantages are made of) against the spread between claims (which they discard),
    and the share of groups whose replies all got the same reward (no gradient at all).
    The rewards GRPO sees (a missing argument's penalty included; a skipped sample, NaN, not);
    a group needs two of them."""
    if GROUP_ID not in columns or REWARD not in columns:
        return {}
    groups: dict[Any, list[float]] = {}
    for uid, reward in zip(np.asarray(columns[GROUP_ID], dtype=object).ravel(), float_column(columns[REWARD])):
        if not math.isnan(reward):
            groups.setdefault(uid, []).append(reward)
    members = [values for values in groups.values() if len(values) > 1]
    if not members:
        return {}
    spreads = [np.std(values) for values in members]
    values = (np.mean(spreads), np.std([np.mean(v) for v in members]), np.mean([s < FLAT_GROUP_TOLERANCE for s in spreads]))
    return {key: float(value) for key, value in zip(GROUP_KEYS, values)}


def _guard_metrics(columns: Mapping[str, Any]) -> dict[str, float]:
    """Reward hacking, both sides (persuasion_rl.game.guard): the share of Sender messages
    the guard flagged (a rising share is a Sender learning to hack the Receiver's prompt),
    the share of read messages whose Receiver score took a point the Sender proposed
    (``receiver_echo``), and the share that is either."""
    if INJECTION_FLAGS not in columns:
        return {}
    flags = np.nan_to_num(float_column(columns[INJECTION_FLAGS]))
    metrics = {"sender/injection_flags": float(flags.sum()), FLAGGED_RATE: float((flags > 0).mean())}
    if RECEIVER_ECHO in columns:
        echo = float_column(columns[RECEIVER_ECHO])  # NaN: the Receiver gave no score
        if (~np.isnan(echo)).any():
            metrics[ECHO_RATE] = float(np.nanmean(echo))
        metrics[SUSPICIOUS_RATE] = float(((flags > 0) | (np.nan_to_num(echo) > 0)).mean())
    return metrics


@dataclass(frozen=True)
class IntegritySummary:
    """Reward hacking over a run, from its per-step metrics: the rates over the first and
    the last quarter of the steps (at least one step each)."""

    steps: int
    rates: dict[str, tuple[float, float]]  # metric -> (first quarter mean, last quarter mean)

    @property
    def rising(self) -> list[str]:
        """Rates that grew by more than 10 points: a Sender learning to hack the Receiver."""
        return [name for name, (first, last) in self.rates.items() if last - first > 0.1]

    def lines(self) -> list[str]:
        if not self.rates:
            return ["reward integrity: no guard metrics logged"]
        lines = [f"reward integrity over {self.steps} steps (first quarter -> last quarter):"]
        for name, (first, last) in self.rates.items():
            warn = "  <-- rising: inspect the Sender's messages" if name in self.rising else ""
            lines.append(f"  {_INTEGRITY_LABELS[name]:<36} {first:6.1%} -> {last:6.1%}{warn}")
        return lines


_INTEGRITY_LABELS = {FLAGGED_RATE: "Sender messages flagged by the guard", ECHO_RATE: "Receiver scores echoing the Sender",
                     SUSPICIOUS_RATE: "flagged or echoed"}


def quarter_means(steps: Mapping[int, Mapping[str, float]], names: Iterable[str]) -> dict[str, tuple[float, float]]:
    """Each metric's mean over the first and the last quarter of a run's steps (at least one
    step each); ``steps`` as ``train.run_files.run_steps`` returns them. A metric logged in
    neither quarter is left out."""
    ordered = [steps[k] for k in sorted(steps)]
    quarter = max(1, len(ordered) // 4)
    means = {}
    for name in names:
        values = np.array([row.get(name, math.nan) for row in ordered], dtype=float)
        first, last = values[:quarter], values[-quarter:]
        if (~np.isnan(first)).any() and (~np.isnan(last)).any():
            means[name] = (float(np.nanmean(first)), float(np.nanmean(last)))
    return means


def integrity_summary(steps: Mapping[int, Mapping[str, float]]) -> IntegritySummary:
    """The end-of-run summary of the guard metrics."""
    return IntegritySummary(len(steps), quarter_means(steps, _INTEGRITY_LABELS))


def _receiver_call_metrics(columns: Mapping[str, Any]) -> dict[str, float]:
    """Retries, timeouts and failed calls of the step's Receiver calls, and the samples
    left without a score (a failed call fails the step unless parse_failure=skip, which
    leaves its sample out of the update: ``receiver/skipped``)."""
    metrics = {f"receiver/{name}": float(np.nansum(float_column(columns[f"receiver_{name}"])))
               for name in ("retries", "timeouts", "errors") if f"receiver_{name}" in columns}
    if RECEIVER_OK in columns:
        metrics["receiver/skipped"] = float((float_column(columns[RECEIVER_OK]) == 0.0).sum())
    return metrics


def _dynamic_metrics(columns: Mapping[str, Any]) -> dict[str, float]:
    """The multi-turn game's per-round gains, turns completed and truncations."""
    metrics: dict[str, float] = {}
    if TURNS_COMPLETED in columns:
        metrics.update(_summary("turns_completed", float_column(columns[TURNS_COMPLETED])))
    if TRUNCATED in columns:
        metrics[f"{PREFIX}truncated_rate"] = float(np.nanmean(float_column(columns[TRUNCATED])))
    for key in sorted(k for k in columns if k.startswith(GAIN_ROUND_PREFIX)):
        metrics.update(_summary(key, float_column(columns[key])))
    return metrics

