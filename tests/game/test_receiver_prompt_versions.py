"""Receiver prompt versions: the paper's stays the default, the small-Receiver variant is its
own version, and caches keyed by a Receiver never mix the two."""

import pytest

from persuasion_rl.game import PromptConfig, Transcript, receiver_messages
from persuasion_rl.game.prompts import PAPER_RECEIVER_PROMPT, RECEIVER_PROMPTS, SMALL_RECEIVER_PROMPT
from persuasion_rl.receivers import Receiver


class _Named:
    name = "some-model"


def test_the_paper_prompt_is_the_default():
    transcript = Transcript().with_receiver("I doubt it.").with_sender("Trials show it works.")
    default = receiver_messages("Museums should be free.", transcript)
    assert PromptConfig().receiver_prompt == PAPER_RECEIVER_PROMPT
    assert default == receiver_messages("Museums should be free.", transcript, PromptConfig(receiver_prompt=PAPER_RECEIVER_PROMPT))
    assert default[0]["content"].startswith("You will act as a fully rational agent named Receiver")


def test_the_small_receiver_prompt_asks_for_the_current_score_first():
    transcript = Transcript().with_receiver("I doubt it.").with_sender("Trials show it works.")
    [message] = receiver_messages("Museums should be free.", transcript, PromptConfig(receiver_prompt=SMALL_RECEIVER_PROMPT, receiver_word_limit=99))
    text = message["content"]
    assert "Claim: Museums should be free." in text and "Trials show it works." in text and "I doubt it." in text
    assert "support the claim now" in text and "Do not exceed 99 words." in text
    assert text.index("<score>") < text.index("<opinion>") < text.index("<question>")


def test_an_unknown_prompt_version_is_refused():
    with pytest.raises(ValueError, match="receiver_prompt 'paper-v9': expected one of paper-v1, small-v1"):
        PromptConfig(receiver_prompt="paper-v9")


def test_cache_keys_differ_by_prompt_version_and_the_paper_key_is_unchanged():
    keys = {version: Receiver(_Named(), PromptConfig(receiver_prompt=version)).cache_key for version in RECEIVER_PROMPTS}
    assert len(set(keys.values())) == len(RECEIVER_PROMPTS)
    # caches filled before prompt versions existed were keyed by PROMPT_VERSION "paper-v1"
    assert keys[PAPER_RECEIVER_PROMPT].split("|")[:2] == ["some-model", "paper-v1"]
