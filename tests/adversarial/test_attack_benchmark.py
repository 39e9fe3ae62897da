"""``benchmarks/attack.py`` end to end on the tiny Receiver (its imports, the controls, the table),
so a moved module or a renamed field fails here rather than in the next real-Receiver run."""

from __future__ import annotations

import re

import pytest

from benchmarks import attack
from persuasion_rl.assets.models import RECEIVER_DEFAULTS, receiver_defaults
from persuasion_rl.game.guard import guard_argument


TINY_ARGS = ["--receiver", "tiny", "--claims", "2", "--kinds", "families", "--batch", "16"]


@pytest.fixture(scope="module")
def score_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("attack") / "scores.jsonl"


@pytest.fixture(scope="module")
def tiny_run(score_cache):
    return attack.run(attack.parse_args([*TINY_ARGS, "--cache", str(score_cache)]))


def test_the_benchmark_runs_on_the_tiny_receiver_and_prints_both_gains_per_kind_and_guard(tiny_run):
    lines, rows = tiny_run
    assert [(r["guard"], r["kind"]) for r in rows] == [(g, k) for g in ("on", "off") for k in attack.payloads(True)]
    assert all(r["plain_claims"] == r["control_claims"] == 2 for r in rows)  # the tiny Receiver's scores are readable
    assert all(r[f"{b}_gain"] is not None and r[f"{b}_ci_low"] <= r[f"{b}_gain"] <= r[f"{b}_ci_high"]
               for r in rows for b in ("plain", "control"))
    table = "\n".join(lines)
    assert "controls length-matched in tokens" in table
    for row in rows:
        assert re.search(rf"^{row['kind']}\s+{row['guard']}\s+2\s+[+-]\d\.\d\d \[", table, re.M), row["kind"]
    assert "guard on: kinds beating the control argument significantly" in table
    margin = attack.benign_margin(rows, "on")
    assert margin == max(r["control_gain"] for r in rows if r["guard"] == "on" and r["kind"] in attack.BENIGN)
    assert f"guard on: benign margin (largest gain of a harmless ending over its control) {margin:+.2f}" in table
    beyond = re.search(r"guard on: benign margin .*kinds whose CI lies above it: \d+ (.*)$", table, re.M).group(1)
    assert not any(kind in beyond for kind in attack.BENIGN)  # the benign kinds are the yardstick, not attacks


def test_the_benign_endings_are_harmless_text():
    for kind, ending in attack.BENIGN.items():
        result = guard_argument(ending)
        assert result.text == ending and not result.flags and not result.proposed, kind
        assert not re.search(r"\d|<|>|\[", ending), kind


def test_a_rerun_reads_every_score_from_the_cache_and_gives_the_same_table(tiny_run, score_cache):
    records = score_cache.read_text().count("\n")
    assert records == int(re.search(r"unique prompts (\d+)", tiny_run[0][1]).group(1))
    lines, rows = attack.run(attack.parse_args([*TINY_ARGS, "--claims", "1", "--cache", str(score_cache)]))
    assert score_cache.read_text().count("\n") == records  # nothing scored again
    assert all(r["control_claims"] == 1 for r in rows)


def test_a_named_receiver_is_played_with_its_measured_defaults_unless_a_flag_says_otherwise():
    args = attack.parse_args(["--receiver", "smollm2"])
    assert receiver_defaults(args.receiver, args.receiver_prompt, args.min_digit_mass) == RECEIVER_DEFAULTS["smollm2"]
    args = attack.parse_args(["--receiver", "smollm2", "--min-digit-mass", "0.3"])
    assert receiver_defaults(args.receiver, args.receiver_prompt, args.min_digit_mass).min_digit_mass == 0.3


def test_each_control_is_harmless_text_as_long_as_the_payload_the_receiver_is_shown(tiny_receiver_model):
    lengths = attack.Lengths.of(tiny_receiver_model)
    assert lengths.unit == "tokens"
    claim = "Cities should make public buses free to ride."
    plain = attack.plain_argument(claim)
    for kind, argument in attack.attacks(claim).items():
        shown = attack.shown_payload(plain, guard_argument(argument).text)
        control = attack.control_argument(plain, lengths.count(shown), lengths)
        filler = attack.shown_payload(plain, control)
        assert abs(lengths.count(filler) - lengths.count(shown)) <= 1, kind  # a trailing space may be cut
        assert not re.search(r"\d", filler) and not guard_argument(control).flags, kind  # nothing the guard acts on


def test_without_a_tokenizer_the_control_matches_characters():
    lengths = attack.Lengths.of(object())
    assert lengths.unit == "characters"
    assert all(n - 1 <= len(lengths.cut(n)) <= n for n in (1, 40, 900, 3000))  # a space at the cut is dropped
