import math

import pytest

from persuasion_rl.receivers.scoring import ScoringMode, digit_distribution, expected_score, sampled_score
from persuasion_rl.game import parse_receiver_reply


def test_expected_score_sums_token_variants_and_normalises():
    top = {"4": math.log(0.3), " 4": math.log(0.1), "5": math.log(0.4), "x": math.log(0.2)}
    distribution, mass = digit_distribution(top)
    assert mass == pytest.approx(0.8)
    assert distribution[4] == pytest.approx(0.5) and distribution[5] == pytest.approx(0.5)
    result = expected_score(top)
    assert result.ok and result.score == pytest.approx(4.5) and result.mode is ScoringMode.EXPECTED


def test_expected_score_refuses_when_digits_carry_little_mass():
    result = expected_score({"the": math.log(0.9), "4": math.log(0.05), "8": math.log(0.05)}, min_digit_mass=0.5)
    assert not result.ok and result.score is None and "0.050" in result.error
    assert not expected_score({}).ok
    # with the threshold at 0, no digit among the top tokens is still unreadable, never a 0
    nothing = expected_score({"the": math.log(0.9)}, min_digit_mass=0.0)
    assert not nothing.ok and nothing.score is None


def test_sampled_score_reports_parse_failure():
    assert sampled_score(parse_receiver_reply("<score>6</score>")).score == 6.0
    bad = sampled_score(parse_receiver_reply("I refuse."))
    assert not bad.ok and bad.error
