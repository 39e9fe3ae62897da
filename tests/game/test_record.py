"""The transcript record: what the engine writes is what every reader validates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from persuasion_rl.annotate.transcripts import TranscriptFileError, load_games
from persuasion_rl.eval.records import EvalInputError, load_results
from persuasion_rl.game import parse_receiver_reply
from persuasion_rl.game.engine import Game, GameConfig
from persuasion_rl.game.prompts import PromptConfig, Setting
from persuasion_rl.game.record import RecordError, parse_record, unplayed_record
from persuasion_rl.game.turn import ReceiverTurn

META = {"game_id": "g1", "claim_id": "c1", "corpus": "cmv", "sender": "s", "receiver": "r", "sample": 0}
PRIOR = ReceiverTurn(parse_receiver_reply("<score>3</score><opinion>Unsure.</opinion><question>Cost?</question>"), 3.25)


def _played() -> dict:
    game = Game("Buses should be free.", PRIOR, GameConfig(PromptConfig(setting=Setting.DYNAMIC), rounds=2))
    for score in (4.5, 5.75):
        game.add_sender("<argument>Free buses cut traffic.</argument>")
        reply = parse_receiver_reply(f"<score>{round(score)}</score><opinion>Better.</opinion><question>Why?</question>")
        game.add_receiver(ReceiverTurn(reply, score, {4: 0.5, 5: 0.5}))
    return game.record(**META)


def test_a_played_game_round_trips_with_both_scores_named_apart():
    record = _played()
    assert record["prior"]["score"] == 3 and record["prior"]["mode_score"] == 3.25  # written point vs the gain's score
    game = parse_record(json.loads(json.dumps(record)))
    assert game.ok and game.gain == pytest.approx(5.75 - 3.25) and game.n_rounds == 2
    assert game.prior.mode_score == 3.25 and game.prior.reply.score == 3
    assert game.rounds[1].receiver.mode_score == 5.75 and game.rounds[1].receiver.distribution == {4: 0.5, 5: 0.5}


def test_an_unplayed_game_is_a_valid_record():
    record = unplayed_record("Buses should be free.", "static", None, "no opening turn", **META)
    game = parse_record(record)
    assert not game.ok and game.gain is None and game.rounds == () and game.errors == ("no opening turn",)


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r.pop("claim"), "claim"),
    (lambda r: r.update(sample=-1), "sample"),
    (lambda r: r.update(gain=None), "gain"),  # ok: true needs a gain
    (lambda r: r["rounds"][0]["receiver"].update(mode_score="high"), "rounds[0].receiver.mode_score"),
    (lambda r: r["prior"].update(score=8), "prior.score"),
])
def test_every_reader_rejects_a_bad_record_naming_the_same_field(tmp_path: Path, change, field):
    record = _played()
    change(record)
    with pytest.raises(RecordError, match=re.escape(f"field '{field}'")):
        parse_record(record)
    path = tmp_path / "transcripts.jsonl"
    path.write_text(json.dumps(record) + "\n")
    for reader, error in ((lambda: load_results([path]), EvalInputError), (lambda: load_games(path), TranscriptFileError)):
        with pytest.raises(error, match=re.escape(f"line 1: field '{field}'")):
            reader()
