"""Persuasion gain: the Receiver's score after persuasion minus its prior score."""

from __future__ import annotations

import math


def persuasion_gain(prior: float | None, posterior: float | None) -> float:
    """g(a_posterior) - g(a_prior). Both scores must be known: a missing score is an
    error for the caller to count, not a zero gain."""
    for name, value in (("prior", prior), ("posterior", posterior)):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"cannot compute a gain without the {name} score")
    return float(posterior) - float(prior)
