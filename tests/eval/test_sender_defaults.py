"""`eval` plays a named Sender with its own prompt settings (SmolLM2: the small-Sender prompt,
40 words, 64 tokens) unless a flag says otherwise; everything else gets the paper's."""

import argparse

import pytest

from persuasion_rl.eval.cli import _add_run_options, _config


def _parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    _add_run_options(parser)
    return parser.parse_args(["--out", "unused", *flags])


@pytest.mark.parametrize("flags, expected", [
    (["--sender", "smollm2"], ("small-v1", 40, 64)),
    (["--sender", "tiny"], ("paper-v1", 250, 1024)),
    (["--sender", "/some/exported/checkpoint"], ("paper-v1", 250, 1024)),
    (["--sender", "/some/exported/checkpoint", "--sender-prompt", "small-v1", "--sender-word-limit", "40",
      "--sender-max-tokens", "64"], ("small-v1", 40, 64)),
    (["--sender", "smollm2", "--sender-prompt", "paper-v1", "--sender-max-tokens", "512"], ("paper-v1", 40, 512)),
])
def test_named_senders_get_their_prompt_settings_and_flags_win(flags, expected):
    config = _config(_parse(*flags))
    assert (config.sender_prompt, config.sender_word_limit, config.sender_sampling.max_tokens) == expected
    assert config.prompts("static").sender_prompt == expected[0]


def test_the_sender_prompt_is_part_of_the_settings_key():
    from types import SimpleNamespace

    from persuasion_rl.eval.settings_key import eval_settings, settings_key

    model = SimpleNamespace(spec="tiny", backend=None, receiver=SimpleNamespace(backend=None, prompts=None, scoring=None))
    keys = {settings_key(eval_settings(_config(_parse("--sender", "tiny", *extra)), model, model, "v"))
            for extra in ([], ["--sender-prompt", "small-v1"], ["--sender-word-limit", "40"])}
    assert len(keys) == 3
