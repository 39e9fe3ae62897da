"""The tiny models' build checks the Receiver it primed: the dynamic tiny tests need a reply
with a score, an opinion and a question, the tiny data's priors a readable opening reply to
every claim, and the same priming steps give other weights on another CPU's float kernels.
It primes with the tokenizer as consumers load it."""

from __future__ import annotations

import pytest

from persuasion_rl.assets import tiny


def test_the_built_tiny_receiver_passes_its_priming_check(tiny_assets):
    check = tiny.format_check(tiny_assets.receiver, seed=1)
    assert check.passed and check.claims == len(tiny.tiny_claims()), check


def test_the_unprimed_tiny_receiver_fails_the_check(tiny_assets, tmp_path):
    """The check can fail: random weights write no tags."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_assets.receiver)
    tiny.write_model(tiny.build_model(tokenizer, tiny.TinyModelSpec(), seed=1), tokenizer, tmp_path)
    check = tiny.format_check(tmp_path, seed=1)
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


def _record_priming(monkeypatch, checks) -> list:
    """Priming rounds and saves, in order, with ``checks`` as the check's results."""
    events = []
    monkeypatch.setattr(tiny, "format_prime", lambda model, tokenizer, steps, seed: events.append(steps))
    monkeypatch.setattr(tiny, "write_model", lambda model, tokenizer, folder: events.append(f"save {folder}"))

    def check(folder, seed):
        events.append(f"check {folder}")
        return next(checks)

    monkeypatch.setattr(tiny, "format_check", check)
    return events


def test_priming_goes_on_until_the_check_of_the_saved_receiver_passes(monkeypatch):
    checks = iter([tiny.FormatCheck(3, 32, 32), tiny.FormatCheck(16, 31, 32), tiny.FormatCheck(15, 32, 32)])
    events = _record_priming(monkeypatch, checks)
    tiny.prime_until_readable(None, None, steps=600, seed=1, folder="tmp")
    assert events == [600, "save tmp", "check tmp", 300, "save tmp", "check tmp", 300, "save tmp", "check tmp"]


def test_a_receiver_that_never_learns_its_tags_stops_the_build(monkeypatch):
    events = _record_priming(monkeypatch, iter(lambda: tiny.FormatCheck(2, 30, 32), None))
    with pytest.raises(RuntimeError, match=r"2 of 16 replies .* 30 of 32 opening replies .* raise format_prime_steps"):
        tiny.prime_until_readable(None, None, steps=600, seed=1, folder="tmp")
    assert [e for e in events if isinstance(e, int)] == [600] + [300] * tiny.FORMAT_EXTRA_ROUNDS
    assert events.count("check tmp") == tiny.FORMAT_EXTRA_ROUNDS + 1


def test_a_receiver_that_fails_its_check_is_not_cached(monkeypatch, tmp_path):
    """The build renames the checked folder into the cache only once the check passed."""
    monkeypatch.setattr(tiny, "format_prime", lambda model, tokenizer, steps, seed: None)
    monkeypatch.setattr(tiny, "format_check", lambda folder, seed: tiny.FormatCheck(0, 0, 32))
    spec = tiny.TinyAssetsSpec(vocab_size=300)
    with pytest.raises(RuntimeError, match="raise format_prime_steps"):
        tiny.build_tiny_models(tmp_path, spec)
    root = tmp_path / f"tiny-{spec.digest()}"
    assert (root / "sender" / "config.json").exists() and not (root / "receiver").exists()
    assert not list(root.glob(".receiver.*"))  # nor a half-checked temporary folder left behind
