import math

import pytest

from persuasion_rl.game import LIKERT_LABELS, LIKERT_POINTS, persuasion_gain
from persuasion_rl.game.likert import is_valid_score


def test_action_space_is_seven_points():
    assert LIKERT_POINTS == (1, 2, 3, 4, 5, 6, 7)
    assert LIKERT_LABELS[1] == "completely oppose" and LIKERT_LABELS[7] == "completely support"
    assert all(is_valid_score(a) for a in LIKERT_POINTS)
    assert not any(is_valid_score(bad) for bad in (0, 8, 3.5, True, None))


def test_gain_is_posterior_minus_prior_and_never_defaults():
    assert persuasion_gain(4, 6) == 2.0
    assert persuasion_gain(5.5, 4.25) == -1.25
    for prior, posterior in ((None, 4), (4, None), (math.nan, 4)):
        with pytest.raises(ValueError):
            persuasion_gain(prior, posterior)
