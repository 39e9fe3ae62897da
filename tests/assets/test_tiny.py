"""The tiny models' build checks the Receiver it primed: the dynamic tiny tests need a reply
with a score, an opinion and a question, and the same priming steps give other weights on
another CPU's float kernels."""

from __future__ import annotations

import pytest

from persuasion_rl.assets import tiny


def test_the_built_tiny_receiver_passes_its_priming_check(tiny_assets):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_assets.receiver).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_assets.receiver)
    assert tiny.format_check(model, tokenizer, seed=1) >= tiny.FORMAT_CHECK_MIN_READABLE


def test_the_unprimed_tiny_receiver_fails_the_check(tiny_assets):
    """The check can fail: random weights write no tags."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_assets.receiver)
    model = tiny.build_model(tokenizer, tiny.TinyModelSpec(), seed=1).eval()
    assert tiny.format_check(model, tokenizer, seed=1) == 0


def test_priming_goes_on_until_the_check_passes(monkeypatch):
    rounds, counts = [], iter([3, 9, 15])
    monkeypatch.setattr(tiny, "format_prime", lambda model, tokenizer, steps, seed: rounds.append(steps))
    monkeypatch.setattr(tiny, "format_check", lambda model, tokenizer, seed: next(counts))
    tiny.prime_until_readable(None, None, steps=600, seed=1)
    assert rounds == [600, 300, 300]


def test_a_receiver_that_never_learns_its_tags_stops_the_build(monkeypatch):
    rounds = []
    monkeypatch.setattr(tiny, "format_prime", lambda model, tokenizer, steps, seed: rounds.append(steps))
    monkeypatch.setattr(tiny, "format_check", lambda model, tokenizer, seed: 2)
    with pytest.raises(RuntimeError, match=r"only 2 of 16 .* raise format_prime_steps"):
        tiny.prime_until_readable(None, None, steps=600, seed=1)
    assert rounds == [600] + [300] * tiny.FORMAT_EXTRA_ROUNDS
