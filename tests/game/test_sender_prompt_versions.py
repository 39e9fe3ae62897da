"""Sender prompt versions: the paper's stays the default (and byte-identical, see
test_prompts.py); the small-Sender variant is short, asks for the argument alone, and its
replies are parsed as the argument itself by the game engine."""

import pytest

from persuasion_rl.game import ArgumentStatus, PromptConfig, Setting, sender_opening_messages
from persuasion_rl.game.engine import Game, GameConfig
from persuasion_rl.game.parsing import parse_receiver_reply
from persuasion_rl.game.prompts import PAPER_SENDER_PROMPT, SMALL_SENDER_PROMPT, ReplyFormat
from persuasion_rl.game.turn import ReceiverTurn

CLAIM = "Museums should be free."
OPENING = ReceiverTurn(parse_receiver_reply("<score>3</score><opinion>I doubt it.</opinion><question>Who pays?</question>"), 3.0)
SMALL = PromptConfig(sender_prompt=SMALL_SENDER_PROMPT, sender_word_limit=40)


def test_the_paper_prompt_is_the_default():
    assert PromptConfig().sender_prompt == PAPER_SENDER_PROMPT
    assert PromptConfig().sender.reply_format is ReplyFormat.TAGGED
    default = sender_opening_messages(CLAIM, "I doubt it.")
    assert [m["role"] for m in default] == ["system", "user", "assistant", "user"]
    assert default == sender_opening_messages(CLAIM, "I doubt it.", PromptConfig(sender_prompt=PAPER_SENDER_PROMPT))


@pytest.mark.parametrize("setting", list(Setting))
def test_the_small_prompt_asks_for_the_argument_alone(setting):
    messages = sender_opening_messages(CLAIM, "I doubt it.", PromptConfig(setting=setting, sender_prompt=SMALL_SENDER_PROMPT, sender_word_limit=40))
    assert [m["role"] for m in messages] == ["system", "user"]
    text = messages[1]["content"]
    assert "Claim: Museums should be free." in text and "Reply with the argument only, in at most 40 words." in text
    # a small Receiver's opening text mostly repeats its prompt: the small Sender does not see it
    assert "I doubt it." not in text and "<transcript>" not in text
    assert "<argument>" not in text + messages[0]["content"]
    paper = sender_opening_messages(CLAIM, "I doubt it.", PromptConfig(setting=setting))
    assert len("".join(m["content"] for m in messages)) * 3 < len("".join(m["content"] for m in paper))


def test_a_small_prompt_reply_is_the_argument():
    game = Game(CLAIM, OPENING, GameConfig(SMALL))
    record = game.add_sender("  Free museums pay for themselves in tourism.  ")
    assert record.argument_status is ArgumentStatus.OK and record.sender_argument == "Free museums pay for themselves in tourism."
    assert "Free museums pay for themselves" in game.receiver_prompt()[0]["content"]


def test_a_tagged_reply_to_the_small_prompt_uses_its_tag_and_an_empty_one_is_missing():
    game = Game(CLAIM, OPENING, GameConfig(SMALL))
    assert game.add_sender("Sure. <argument>Tourism pays.</argument>").sender_argument == "Tourism pays."
    empty = Game(CLAIM, OPENING, GameConfig(SMALL))
    record = empty.add_sender("   ")
    assert record.argument_status is ArgumentStatus.EMPTY and empty.aborted and empty.reward == -1.0


def test_a_tagless_reply_to_the_paper_prompt_is_still_missing():
    game = Game(CLAIM, OPENING, GameConfig(PromptConfig()))
    assert game.add_sender("Free museums pay for themselves.").argument_status is ArgumentStatus.MISSING
    assert game.aborted


def test_the_dynamic_followup_uses_the_small_turn():
    game = Game(CLAIM, OPENING, GameConfig(PromptConfig(setting=Setting.DYNAMIC, sender_prompt=SMALL_SENDER_PROMPT, sender_word_limit=40)))
    game.add_sender("Tourism pays.")
    game.add_receiver(ReceiverTurn(parse_receiver_reply("<score>4</score><opinion>Maybe.</opinion><question>Proof?</question>"), 4.0))
    followup = game.sender_followup()["content"]
    assert followup.startswith("Claim: Museums should be free.") and "Round 2" in followup and "Round 1" not in followup
    assert "Maybe." in followup and "Proof?" in followup
    assert "at most 40 words" in followup


def test_an_unknown_sender_prompt_is_refused():
    with pytest.raises(ValueError, match="sender_prompt 'tiny-v0': expected one of paper-v1, small-v1"):
        PromptConfig(sender_prompt="tiny-v0")
