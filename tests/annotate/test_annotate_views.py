"""What pages show, and storage under concurrent first visits."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from conftest import game_record, standard_games, write_jsonl

from persuasion_rl.annotate.app import create_app
from persuasion_rl.annotate.storage import Store
from persuasion_rl.annotate.transcripts import load_games
from persuasion_rl.game.record import parse_record
from persuasion_rl.annotate.views import conversation, round_view


def test_round_view_splits_context_from_the_update() -> None:
    game = parse_record(game_record("g", "cmv", 3, scores=[3, 5, None, 4]))
    view = round_view(game, 3)
    assert [m.title for m in view.earlier] == [
        "Receiver · initial view", "Sender · argument 1", "Receiver · reply to argument 1", "Sender · argument 2"]
    assert (view.before.title, view.argument.title, view.after.title) == (
        "Receiver · reply to argument 2", "Sender · argument 3", "Receiver · reply to argument 3")
    messages = conversation(game)
    assert [m.delta for m in messages if m.role == "receiver"] == [None, 2, None, -1]  # unparsed score: no delta
    assert messages[4].score_label == "not stated"
    assert round_view(game, 1).earlier == []


def test_unsplit_reply_shows_the_raw_text() -> None:
    record = game_record("g", "cmv", 1)
    record["rounds"][0]["receiver"].update(opinion=None, question=None, raw="I simply do not know.")
    after = round_view(parse_record(record), 1).after
    assert (after.opinion, after.question, after.text) == ("", "", "I simply do not know.")


def test_transcript_text_is_escaped(tmp_path: Path) -> None:
    record = game_record("g", "cmv", 1)
    record["claim"] = "<script>alert(1)</script> is a claim"
    record["rounds"][0]["sender_argument"] = '<img src=x onerror="alert(2)">'
    db = tmp_path / "s.sqlite"
    store = Store(db)
    store.initialize("t")
    store.import_games(load_games(write_jsonl(tmp_path / "g.jsonl", [record])))
    token = store.create_annotators(1, 1)[0].token
    page = TestClient(create_app(db)).get(f"/a/{token}").text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page


def test_concurrent_first_visits_assign_once_and_stay_balanced(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.initialize("t")
    store.import_games([parse_record(r) for r in standard_games()])
    invites = store.create_annotators(12, 3)
    annotators = [store.annotator_by_token(i.token) for i in invites]
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def visit(k: int) -> None:
        try:
            # Two requests per annotator at once (a double click on the link).
            results[k] = Store(store.path).assignments(annotators[k // 2])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=visit, args=(k,)) for k in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(0, 24, 2):
        assert results[k] == results[k + 1] and len(results[k]) == 3
    counts: dict[str, int] = {}
    for k in range(0, 24, 2):
        for g in results[k]:
            counts[g] = counts.get(g, 0) + 1
    assert sorted(set(counts.values())) == [4]  # 36 assignments over 9 transcripts
