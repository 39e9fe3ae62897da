"""The web app through its HTTP interface: access, assignment, validation, idempotency,
resume and the admin export."""

from __future__ import annotations

import sqlite3
from collections import Counter

from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, StudyEnv

from persuasion_rl.annotate.app import create_app


def _rows(env: StudyEnv, table: str) -> list[tuple]:
    with sqlite3.connect(env.db) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()


def _answer_all(env: StudyEnv, token: str, game_id: str, n_rounds: int = 3) -> None:
    for r in range(1, n_rounds + 1):
        assert env.answer(token, game_id, r).status_code == 303
    assert env.rate(token, game_id).status_code == 303


# -- access ---------------------------------------------------------------------------------

def test_unknown_link_is_refused_with_a_readable_page(study: StudyEnv) -> None:
    r = study.client.get("/a/not-a-real-token")
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]
    assert "This link is not valid" in r.text


def test_no_docs_no_listing_and_landing_page_reveals_nothing(study: StudyEnv) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", "/a", "/admin", "/a/x/t/1/round/zzz"):
        assert study.client.get(path).status_code == 404, path
    landing = study.client.get("/")
    assert landing.status_code == 200 and "personal link" in landing.text
    assert "/a/" not in landing.text


def test_security_headers_keep_the_secret_link_private(study: StudyEnv) -> None:
    r = study.client.get(f"/a/{study.tokens[0]}/t/1/round/1")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none' covers scripts
    assert "default-src 'none'" in r.headers["content-security-policy"]


def test_answering_someone_elses_transcript_is_refused(study: StudyEnv) -> None:
    mine, theirs = study.tokens[0], study.tokens[1]
    my_games = study.assigned(mine)
    other = next(g for g in study.assigned(theirs) if g not in my_games)
    r = study.answer(mine, other, 1)
    assert r.status_code == 403
    assert "not assigned to you" in r.text
    assert study.rate(mine, other).status_code == 403
    # Even with invalid fields, the ownership problem is what is reported.
    assert study.answer(mine, other, 1, proportion=9).status_code == 403
    # A transcript nobody has (or that does not exist) is refused the same way.
    assert study.answer(mine, "no-such-game", 1).status_code == 403
    assert _rows(study, "round_answers") == []


def test_pages_are_only_for_own_positions(study: StudyEnv) -> None:
    token = study.tokens[0]
    assert study.client.get(f"/a/{token}/t/4/round/1").status_code == 404
    assert study.client.get(f"/a/{token}/t/1/round/4").status_code == 404
    assert study.client.get(f"/a/{token}/t/0/rate").status_code == 404


def test_admin_export_needs_the_admin_token(study: StudyEnv) -> None:
    url = "/admin/export/summary.json"
    assert study.client.get(url).status_code == 401
    assert study.client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    # An annotator's token is not an admin token.
    assert study.client.get(url, headers={"Authorization": f"Bearer {study.tokens[0]}"}).status_code == 401
    ok = study.client.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ok.status_code == 200 and "overall" in ok.json()
    assert study.client.get("/admin/export/secrets.txt", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 404


# -- assignment -------------------------------------------------------------------------------

def test_each_annotator_gets_three_transcripts_from_three_corpora(study: StudyEnv) -> None:
    games = study.store.all_games()
    for token in study.tokens:
        assigned = study.assigned(token)
        assert len(assigned) == 3
        assert len({games[g].corpus for g in assigned}) == 3
        assert "broken-0" not in assigned  # a failed game is never shown


def test_assignment_is_balanced_and_stable(study: StudyEnv) -> None:
    first = [study.assigned(t) for t in study.tokens]
    # 4 annotators x 3 = 12 assignments over 9 transcripts: every one once, three twice.
    counts = Counter(g for a in first for g in a)
    assert len(counts) == 9 and max(counts.values()) - min(counts.values()) <= 1
    # Asking again (a reopened link) gives the same transcripts in the same order.
    assert [study.assigned(t) for t in study.tokens] == first
    assert len(_rows(study, "assignments")) == 12


def test_no_transcripts_gives_a_clear_page(tmp_path) -> None:
    from persuasion_rl.annotate.storage import Store

    store = Store(tmp_path / "empty.sqlite")
    store.initialize(ADMIN_TOKEN)
    token = store.create_annotators(1, 3)[0].token
    r = TestClient(create_app(tmp_path / "empty.sqlite")).get(f"/a/{token}")
    assert r.status_code == 503 and "no transcripts" in r.text.lower()


# -- flow, progress and resume -----------------------------------------------------------------

def test_link_resumes_where_the_annotator_stopped(study: StudyEnv) -> None:
    token = study.tokens[0]
    first, second, _ = study.assigned(token)
    assert study.client.get(f"/a/{token}", follow_redirects=False).headers["location"].endswith("/t/1/round/1")
    study.answer(token, first, 1)
    study.answer(token, first, 2)
    # A new client (another browser, a day later) lands on the next open question.
    fresh = TestClient(create_app(study.db))
    assert fresh.get(f"/a/{token}", follow_redirects=False).headers["location"].endswith("/t/1/round/3")
    study.answer(token, first, 3)
    assert fresh.get(f"/a/{token}", follow_redirects=False).headers["location"].endswith("/t/1/rate")
    study.rate(token, first)
    page = fresh.get(f"/a/{token}")
    assert page.url.path.endswith("/t/2/round/1")
    assert "Transcript 2 of 3" in page.text
    assert "4 of 12 questions answered" in page.text


def test_saved_answers_are_shown_again_for_editing(study: StudyEnv) -> None:
    token = study.tokens[0]
    game = study.assigned(token)[0]
    study.answer(token, game, 1, direction="no", proportion=2, explanation="Moved too far <b>fast</b>")
    page = study.client.get(f"/a/{token}/t/1/round/1").text
    assert 'value="no" checked' in page and 'value="2" required checked' in page
    assert "Moved too far &lt;b&gt;fast&lt;/b&gt;" in page  # escaped, never raw HTML


def test_cannot_skip_ahead(study: StudyEnv) -> None:
    token = study.tokens[0]
    first, second, _ = study.assigned(token)
    r = study.client.get(f"/a/{token}/t/1/round/2")
    assert r.status_code == 409 and "earlier questions first" in r.text
    assert study.answer(token, first, 3).status_code == 409
    assert study.rate(token, first).status_code == 409
    assert study.answer(token, second, 1).status_code == 409
    assert _rows(study, "round_answers") == []


def test_after_each_answer_the_next_step_follows(study: StudyEnv) -> None:
    token = study.tokens[0]
    first, second, third = study.assigned(token)
    assert study.answer(token, first, 1).headers["location"].endswith("/t/1/round/2")
    assert study.answer(token, first, 2).headers["location"].endswith("/t/1/round/3")
    assert study.answer(token, first, 3).headers["location"].endswith("/t/1/rate")
    assert study.rate(token, first).headers["location"].endswith("/t/2/round/1")
    _answer_all(study, token, second)
    for r in (1, 2, 3):
        study.answer(token, third, r)
    assert study.rate(token, third).headers["location"].endswith("/done")
    done = study.client.get(f"/a/{token}/done")
    assert "Thank you" in done.text and "12 of 12 questions answered" in done.text


# -- validation --------------------------------------------------------------------------------

def test_out_of_range_and_malformed_answers_are_refused(study: StudyEnv) -> None:
    token = study.tokens[0]
    game = study.assigned(token)[0]
    for proportion in ("0", "8", "-1", "3.5", "seven", ""):
        r = study.answer(token, game, 1, proportion=proportion)
        assert r.status_code == 422, proportion
        assert "Please check the answers" in r.text
    r = study.answer(token, game, 1, direction="maybe")
    assert r.status_code == 422 and "yes or no" in r.text
    r = study.answer(token, game, 1, explanation="x" * 5001)
    assert r.status_code == 422 and "under 5000 characters" in r.text
    r = study.answer(token, game, 9)
    assert r.status_code == 404 and "no round 9" in r.text
    r = study.rate(token, game, quality=8, confidence=0)
    assert r.status_code == 409  # not reachable yet; checked before the values
    assert _rows(study, "round_answers") == [] and _rows(study, "ratings") == []


def test_invalid_answer_re_renders_the_form_with_the_entries_kept(study: StudyEnv) -> None:
    token = study.tokens[0]
    game = study.assigned(token)[0]
    r = study.answer(token, game, 1, direction="yes", proportion="9", explanation="keep me")
    assert r.status_code == 422
    assert "between 1 and 7; got 9" in r.text
    assert 'value="yes" required checked' in r.text and "keep me" in r.text


def test_rating_is_validated(study: StudyEnv) -> None:
    token = study.tokens[0]
    game = study.assigned(token)[0]
    for r_ in (1, 2, 3):
        study.answer(token, game, r_)
    r = study.rate(token, game, quality=8, confidence=0)
    assert r.status_code == 422
    assert "quality rating must be between 1 and 7" in r.text and "confidence rating must be between 1 and 7" in r.text
    assert _rows(study, "ratings") == []


def test_json_clients_get_json_errors(study: StudyEnv) -> None:
    token = study.tokens[0]
    game = study.assigned(token)[0]
    r = study.client.post(f"/a/{token}/answer", json={"game_id": game, "round": 1, "direction": "yes", "proportion": 11})
    assert r.status_code == 422
    assert r.json()["fields"] == {"proportion": "The proportion rating must be between 1 and 7; got 11."}
    r = study.client.post(f"/a/{token}/answer", json={"game_id": game, "round": 1, "direction": "yes", "proportion": True})
    assert r.status_code == 422
    ok = study.client.post(f"/a/{token}/answer", json={"game_id": game, "round": 1, "direction": "no", "proportion": 3})
    assert ok.status_code == 200 and ok.json()["status"] == "saved" and ok.json()["next"].endswith("/t/1/round/2")
    r = study.client.post(f"/a/{token}/answer", content=b"a=1", headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_a_field_sent_twice_is_refused(study: StudyEnv) -> None:
    token = study.tokens[0]
    game = study.assigned(token)[0]
    body = f"game_id={game}&round=1&direction=yes&proportion=2&proportion=7"
    r = study.client.post(f"/a/{token}/answer", content=body,
                          headers={"content-type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert r.status_code == 422 and "more than once" in r.text


# -- idempotency and durability ---------------------------------------------------------------

def test_double_submit_stores_one_row_and_a_resubmit_updates_it(study: StudyEnv) -> None:
    token = study.tokens[0]
    game = study.assigned(token)[0]
    for _ in range(2):
        assert study.answer(token, game, 1, direction="yes", proportion=5).status_code == 303
    assert len(_rows(study, "round_answers")) == 1
    study.answer(token, game, 1, direction="no", proportion=2, explanation="changed my mind")
    rows = _rows(study, "round_answers")
    assert len(rows) == 1 and rows[0][3:6] == (0, 2, "changed my mind")
    for r in (2, 3):
        study.answer(token, game, r)
    study.rate(token, game, 4, 4)
    study.rate(token, game, 4, 4)
    study.rate(token, game, 6, 3)
    assert [r[2:4] for r in _rows(study, "ratings")] == [(6, 3)]


def test_answers_survive_a_new_server_on_the_same_database(study: StudyEnv) -> None:
    token = study.tokens[0]
    game = study.assigned(token)[0]
    study.answer(token, game, 1, proportion=6)
    restarted = TestClient(create_app(study.db))
    page = restarted.get(f"/a/{token}/t/1/round/1").text
    assert 'value="6" required checked' in page
    with sqlite3.connect(study.db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
