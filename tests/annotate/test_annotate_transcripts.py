"""Reading the eval's JSON-lines games: the schema, and errors naming file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import game_record, standard_games, write_jsonl

from persuasion_rl.annotate.transcripts import TranscriptFileError, load_games
from persuasion_rl.game.record import parse_record, record_to_dict


def _broken(tmp_path: Path, mutate) -> str:
    records = standard_games(per_corpus=1)
    mutate(records[1])  # line 2
    path = write_jsonl(tmp_path / "games.jsonl", records)
    with pytest.raises(TranscriptFileError) as info:
        load_games(path)
    message = str(info.value)
    assert str(path) in message and "line 2" in message
    return message


def test_loads_games_in_file_order(tmp_path: Path) -> None:
    records = standard_games() + [game_record("static-0", "cmv", 1, setting="static")]
    games = load_games(write_jsonl(tmp_path / "g.jsonl", records))
    assert [g.game_id for g in games] == [r["game_id"] for r in records]
    assert games[-1].setting == "static" and games[-1].n_rounds == 1
    assert games[0].rounds[2].receiver.reply.score == 6 and games[0].prior.reply.score == 4
    assert all(g.annotatable for g in games)


def test_round_trip(tmp_path: Path) -> None:
    record = game_record("x", "cmv", 2, scores=[3, None, 5])
    assert record_to_dict(parse_record(record)) == record


def test_failed_or_incomplete_games_are_loaded_but_not_annotatable(make_game) -> None:
    assert not parse_record(make_game("a", "cmv", ok=False)).annotatable
    assert not parse_record(make_game("b", "cmv", n_rounds=0)).annotatable
    blank = make_game("c", "cmv")
    blank["rounds"][1]["sender_argument"] = blank["rounds"][1]["sender_raw"] = " "
    assert not parse_record(blank).annotatable
    # An empty extracted argument falls back to the raw reply: still readable.
    raw_only = make_game("d", "cmv")
    raw_only["rounds"][0]["sender_argument"] = ""
    game = parse_record(raw_only)
    assert game.annotatable and game.rounds[0].sender_text.startswith("<argument>")


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda r: r.pop("claim"), "field 'claim': missing"),
    (lambda r: r.update(setting="semi"), "field 'setting': expected \"static\" or \"dynamic\", got \"semi\""),
    (lambda r: r.update(sample="0"), "field 'sample': expected an integer"),
    (lambda r: r.update(ok="yes"), "field 'ok': expected true or false"),
    (lambda r: r["prior"].update(score=9), "field 'prior.score': expected an integer 1-7 or null, got 9"),
    (lambda r: r["rounds"][1]["receiver"].update(score=4.5), "field 'rounds[1].receiver.score'"),
    (lambda r: r["rounds"][1].update(round=3), "field 'rounds[1].round': expected 2"),
    (lambda r: r["rounds"][0].pop("sender_argument"), "field 'rounds[0].sender_argument': missing"),
    (lambda r: r["rounds"][2]["receiver"].update(opinion=5), "field 'rounds[2].receiver.opinion': expected a string or null"),
    (lambda r: r.update(rounds={}), "field 'rounds': expected a list"),
    (lambda r: r.update(errors=[1]), "field 'errors': expected a list of strings"),
    (lambda r: r.update(gain="1"), "field 'gain': expected a number or null"),
    (lambda r: r.update(game_id=""), "field 'game_id': must not be empty"),
])
def test_schema_errors_name_file_line_and_field(tmp_path: Path, mutate, expected: str) -> None:
    assert expected in _broken(tmp_path, mutate)


def test_bad_json_and_duplicates_are_all_reported(tmp_path: Path) -> None:
    records = standard_games(per_corpus=1)
    path = tmp_path / "g.jsonl"
    lines = [json.dumps(records[0]), "{not json", "", json.dumps(records[1]), json.dumps(records[0])]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TranscriptFileError) as info:
        load_games(path)
    message = str(info.value)
    assert "2 problem(s)" in message
    assert f"{path} line 2: not valid JSON" in message
    assert f"{path} line 5: field 'game_id': 'cmv-0' already used on line 1" in message


def test_empty_or_missing_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(TranscriptFileError, match="no games"):
        load_games(tmp_path / "empty.jsonl")
    with pytest.raises(TranscriptFileError, match="cannot read"):
        load_games(tmp_path / "missing.jsonl")
