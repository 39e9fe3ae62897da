import re

import pyarrow.parquet as pq
import pytest

from persuasion_rl.game import PromptConfig, Setting, Transcript, parse_receiver_reply, receiver_messages, receiver_prior_messages, sender_opening_messages


def test_sender_prompts_match_paper_data_byte_for_byte(shared_data):
    """Every Sender prompt of the paper's train and test data is rebuilt exactly from the
    row's claim and the Receiver's initial belief."""
    count = 0
    for split in ("train", "test"):
        for row in pq.read_table(shared_data / "paper_static" / f"{split}.parquet").to_pylist():
            prior = parse_receiver_reply(row["reward_model"]["initial_belief"]).transcript_message
            assert sender_opening_messages(row["reward_model"]["claim"], prior) == row["prompt"], row["extra"]
            count += 1
    assert count == 2617 + 290


def test_receiver_prompt_matches_paper_transcript_except_documented_fixes(shared_data):
    import json

    sample = json.loads((shared_data / "paper_static" / "receiver_transcripts_sample.json").read_text())
    for game in sample:
        t = game["transcript"]
        claim = t["correct_claim"]
        prior_paper = t["responses"][0]["persuadee"]["prompt"][0]["content"]
        final_paper = t["responses"][1]["persuadee"]["prompt"][0]["content"]
        fixed = lambda s: s.replace("<WORD_LIMIT>", "250").replace("<score>opinion</score>", "<score>score</score>")
        assert receiver_prior_messages(claim)[0]["content"] == fixed(prior_paper)
        transcript = Transcript().with_receiver(t["rounds"][0]["persuadee"]).with_sender(t["rounds"][0]["correct"])
        assert receiver_messages(claim, transcript)[0]["content"] == fixed(final_paper)


@pytest.mark.parametrize("setting", list(Setting))
def test_no_placeholder_left_and_limits_filled(setting):
    config = PromptConfig(setting=setting, sender_word_limit=120, receiver_word_limit=80)
    transcript = Transcript().with_receiver("I am unsure.\nWhy?").with_sender("Because.").with_receiver("Still unsure.\nHow?")
    texts = [m["content"] for m in sender_opening_messages("Claim X.", "I am unsure.\nWhy?", config)]
    texts += [m["content"] for m in receiver_messages("Claim X.", transcript, config)]
    for text in texts:
        assert not re.search(r"<[A-Z_]+>|\{[a-z_]+\}", text), text
    assert "Do not exceed 120 words." in texts[3]
    assert "Do not exceed 80 words." in texts[4]
    assert "Round 3\n</transcript>" in texts[4]


def test_dynamic_system_prompt_is_appendix_c_table_6():
    static = sender_opening_messages("C.", "m", PromptConfig(setting="static"))[0]["content"]
    dynamic = sender_opening_messages("C.", "m", PromptConfig(setting="dynamic"))[0]["content"]
    assert "evolving over time" in dynamic and "The Receiver is myopic" in dynamic
    assert "evolving over time" not in static


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        sender_opening_messages("  ", "m")
    with pytest.raises(ValueError):
        PromptConfig(sender_word_limit=0)
    with pytest.raises(ValueError):
        Transcript().with_sender("no receiver message yet")
