"""The tiny models' build checks the Receiver it primed: the dynamic tiny tests need a reply
with a score, an opinion and a question, the tiny data's priors a readable opening reply to
every claim, and the same priming steps give other weights on another CPU's float kernels.
It primes with the tokenizer as consumers load it."""

from __future__ import annotations

import pytest

from persuasion_rl.assets import tiny


def test_the_built_tiny_receiver_passes_its_priming_check(tiny_assets):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_assets.receiver).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_assets.receiver)
    check = tiny.format_check(model, tokenizer, seed=1)
    assert check.passed and check.claims == len(tiny.tiny_claims()), check


def test_the_unprimed_tiny_receiver_fails_the_check(tiny_assets):
    """The check can fail: random weights write no tags."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_assets.receiver)
    model = tiny.build_model(tokenizer, tiny.TinyModelSpec(), seed=1).eval()
    check = tiny.format_check(model, tokenizer, seed=1)
    assert (check.complete, check.openings, check.passed) == (0, 0, False), check


def test_the_saved_tokenizer_encodes_as_the_one_the_models_were_primed_with(tiny_assets):
    """Consumers load the folder with AutoTokenizer, which picks the class by the model type
    (Qwen2Tokenizer, with its own pre-tokenizer): the build primes with that one, so a
    Receiver prompt is the same token sequence at build and at use."""
    from transformers import AutoTokenizer

    from persuasion_rl.game import Transcript, receiver_messages

    built = tiny.build_tokenizer(tiny.TinyAssetsSpec().vocab_size)
    claims, sentences = tiny._priming_texts()
    texts = [built.apply_chat_template(receiver_messages(claim, Transcript()), tokenize=False, add_generation_prompt=True)
             for claim in claims] + sentences
    for folder in (tiny_assets.sender, tiny_assets.receiver):
        loaded = AutoTokenizer.from_pretrained(folder)
        assert [loaded(t, add_special_tokens=False)["input_ids"] for t in texts] == \
            [built(t, add_special_tokens=False)["input_ids"] for t in texts], folder
        assert loaded.padding_side == "right", folder  # nothing the build's check did is saved with it


def test_priming_goes_on_until_the_check_passes(monkeypatch):
    rounds, checks = [], iter([tiny.FormatCheck(3, 32, 32), tiny.FormatCheck(16, 31, 32), tiny.FormatCheck(15, 32, 32)])
    monkeypatch.setattr(tiny, "format_prime", lambda model, tokenizer, steps, seed: rounds.append(steps))
    monkeypatch.setattr(tiny, "format_check", lambda model, tokenizer, seed: next(checks))
    tiny.prime_until_readable(None, None, steps=600, seed=1)
    assert rounds == [600, 300, 300]


def test_a_receiver_that_never_learns_its_tags_stops_the_build(monkeypatch):
    rounds = []
    monkeypatch.setattr(tiny, "format_prime", lambda model, tokenizer, steps, seed: rounds.append(steps))
    monkeypatch.setattr(tiny, "format_check", lambda model, tokenizer, seed: tiny.FormatCheck(2, 30, 32))
    with pytest.raises(RuntimeError, match=r"2 of 16 replies .* 30 of 32 opening replies .* raise format_prime_steps"):
        tiny.prime_until_readable(None, None, steps=600, seed=1)
    assert rounds == [600] + [300] * tiny.FORMAT_EXTRA_ROUNDS
