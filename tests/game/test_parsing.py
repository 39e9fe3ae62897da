import pyarrow.parquet as pq
import pytest

import persuasion_rl
from persuasion_rl.game import ArgumentStatus, parse_receiver_reply, parse_sender_reply


def test_public_parser_reads_every_paper_prior(shared_data):
    """All 2,617 initial beliefs of the paper's training data: 2,603 scores, 14 refusals
    reported as not ok (the paper's code silently scored those 4)."""
    rows = pq.read_table(shared_data / "paper_static" / "train.parquet").to_pylist()
    replies = [persuasion_rl.parse_receiver_reply(r["reward_model"]["initial_belief"]) for r in rows]
    assert len(replies) == 2617
    scored = [r for r in replies if r.ok]
    assert len(scored) == 2603
    failed = [r for r in replies if not r.ok]
    assert len(failed) == 14 and all(r.score is None and r.error for r in failed)
    assert {r.score for r in scored} <= set(range(1, 8))
    # the paper's score histogram, read independently from the raw text
    assert sum(r.score == 4 for r in scored) == 1754


@pytest.mark.parametrize("text, score", [
    ("<score>5</score><opinion>x</opinion>", 5),
    ("<score> 3 </score>", 3),
    ("<score>6 - strongly support</score>", 6),
    ("<score>2/7</score>", 2),
    ("<SCORE>7</SCORE>", 7),
    ("<score>4</score> later <score>1</score>", 4),
])
def test_score_values(text, score):
    assert parse_receiver_reply(text).score == score


@pytest.mark.parametrize("text", [
    "", "no tags at all", "<score></score>", "<score>8</score>", "<score>0</score>", "<score>4.5</score>",
    "<score>neutral</score>", "<score>4", "<score>12</score>", "<score>-3</score>",
])
def test_unreadable_scores_are_not_ok(text):
    reply = parse_receiver_reply(text)
    assert reply.score is None and not reply.ok and reply.error


def test_receiver_parts_and_questions_typo():
    reply = parse_receiver_reply("<score>5</score>\n<opinion> I lean yes. </opinion>\n<thinking>t</thinking>\n<question>Why?</questions>")
    assert (reply.score, reply.opinion, reply.thinking, reply.question) == (5, "I lean yes.", "t", "Why?")


def test_sender_argument_extraction():
    ok = parse_sender_reply("<opinion>o</opinion><thinking>t</thinking><argument> Free buses cut traffic. </argument>")
    assert ok.ok and ok.argument == "Free buses cut traffic." and ok.opinion == "o"
    assert parse_sender_reply("just text").status is ArgumentStatus.MISSING
    cut = parse_sender_reply("<argument>Free buses cut")
    assert cut.status is ArgumentStatus.UNCLOSED and not cut.ok and cut.argument == "Free buses cut"
    assert parse_sender_reply("<argument>  </argument>").status is ArgumentStatus.EMPTY
