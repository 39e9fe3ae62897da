"""`receiver score` says which prior it prints (issue 15.10)."""

from __future__ import annotations

import re

import pytest

from persuasion_rl.cli import main


@pytest.mark.slow
def test_score_labels_the_expected_prior_beside_the_sampled_reply(tiny_assets, capsys) -> None:
    """It printed the expected prior 3.673 beside a reply reading <score>2</score>, unlabelled.
    The tiny Receiver: the labels do not depend on the model, and the default (SmolLM2)
    generates two 256-token replies per mode (6 minutes of CI on this CPU)."""
    argv = ["receiver", "score", "--receiver", "tiny", "--claim", "Museums should be free.", "--argument", "Free entry brings in schools."]
    main(argv)
    out = capsys.readouterr().out
    assert re.search(r"^prior    : \d\.\d{3} \(expected score, mean over the digits 1-7\)$", out, re.M), out
    assert "(posterior minus prior)" in out
    assert re.search(r"Receiver's opening turn \(its <score>(\d|\?)</score> was sampled; the prior above is the expected score\)", out), out
    main([*argv, "--mode", "sample"])
    assert "(sampled score, the reply's <score>)" in capsys.readouterr().out


def test_the_default_receiver_is_the_real_small_model():
    from persuasion_rl.assets.models import DEFAULT_REAL_MODEL
    from persuasion_rl.cli import build_parser

    args = build_parser().parse_args(["receiver", "score", "--claim", "x", "--argument", "y"])
    assert args.receiver == DEFAULT_REAL_MODEL == "smollm2"
