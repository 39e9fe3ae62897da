"""Choosing transcripts: distinct corpora, least-assigned first, deterministic, balanced."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from conftest import game_record, standard_games

from persuasion_rl.annotate.assignment import Candidate, choose_transcripts
from persuasion_rl.annotate.storage import Store
from persuasion_rl.game.record import parse_record


def _candidates(spec: list[tuple[str, str, int]]) -> list[Candidate]:
    return [Candidate(g, c, i, n) for i, (g, c, n) in enumerate(spec)]


def test_one_per_corpus_least_assigned_first() -> None:
    cands = _candidates([("a1", "A", 1), ("a2", "A", 0), ("b1", "B", 0), ("b2", "B", 2), ("c1", "C", 1)])
    assert choose_transcripts(cands, 3) == ["a2", "b1", "c1"]


def test_deterministic_and_file_order_breaks_ties() -> None:
    cands = _candidates([("a1", "A", 0), ("a2", "A", 0), ("b1", "B", 0), ("c1", "C", 0)])
    assert choose_transcripts(cands, 3) == choose_transcripts(list(reversed(cands)), 3) == ["a1", "b1", "c1"]


def test_less_used_corpus_wins_a_tie() -> None:
    # D was never handed out: it goes before A, B and C even though it is listed last.
    cands = _candidates([("a1", "A", 1), ("a2", "A", 0), ("b1", "B", 1), ("b2", "B", 0),
                         ("c1", "C", 1), ("c2", "C", 0), ("d1", "D", 0)])
    assert choose_transcripts(cands, 3)[0] == "d1"


def test_fewer_corpora_than_transcripts_repeats_corpora() -> None:
    cands = _candidates([("a1", "A", 0), ("a2", "A", 0), ("b1", "B", 0)])
    assert choose_transcripts(cands, 3) == ["a1", "b1", "a2"]
    assert choose_transcripts(cands, 5) == ["a1", "b1", "a2"]  # no more than there are
    assert choose_transcripts([], 3) == []


def test_a_45_person_study_is_balanced(tmp_path: Path) -> None:
    """The paper's study size: 45 annotators x 3 transcripts over 4 corpora of uneven size."""
    records = standard_games(per_corpus=10) + [game_record(f"extra-{i}", "extra", 3) for i in range(4)]
    store = Store(tmp_path / "s.sqlite")
    store.initialize("t")
    store.import_games([parse_record(r) for r in records])
    invites = store.create_annotators(45, 3)
    games = store.all_games()
    per_annotator = [store.assignments(store.annotator_by_token(i.token)) for i in invites]
    assert all(len({games[g].corpus for g in a}) == 3 for a in per_annotator)
    counts = Counter(g for a in per_annotator for g in a)
    assert len(counts) == 34  # every transcript used
    assert max(counts.values()) - min(counts.values()) <= 1
    # Transcripts come first, so corpora are used in proportion to their size:
    # 135 picks over 34 transcripts is ~3.97 each, 39.7 for a corpus of 10, 15.9 for 4.
    by_corpus = Counter(games[g].corpus for a in per_annotator for g in a)
    assert sorted(by_corpus.values()) == [16, 39, 40, 40]


def test_reimport_keeps_assignments_and_refuses_changed_assigned_games(tmp_path: Path) -> None:
    import pytest

    from persuasion_rl.annotate.storage import StorageError

    records = standard_games(per_corpus=1)
    store = Store(tmp_path / "s.sqlite")
    store.initialize("t")
    store.import_games([parse_record(r) for r in records])
    annotator = store.annotator_by_token(store.create_annotators(1, 3)[0].token)
    before = store.assignments(annotator)
    report = store.import_games([parse_record(r) for r in records])
    assert (report.added, report.unchanged) == (0, 3)
    assert store.assignments(annotator) == before
    records[0]["claim"] = "A different claim"
    with pytest.raises(StorageError, match="changed since it was assigned"):
        store.import_games([parse_record(r) for r in records])
    # A file without a game stops new assignments of it but keeps it for those who have it.
    report = store.import_games([parse_record(r) for r in records[1:]])
    assert report.deactivated == 1
    assert store.game(before[0]).game_id == before[0]


def test_assignments_cover_both_settings_and_all_corpora(tmp_path: Path) -> None:
    """issue 15.8: all six assignments of two annotators were static one-round games
    although 17 dynamic games were loaded (static games listed first)."""
    static = [game_record(f"s-{c}-{i}", c, 1, setting="static") for c in ("anthropic", "cmv", "ddo") for i in range(7)]
    dynamic = [game_record(f"d-{c}-{i}", c, 3, setting="dynamic") for c in ("anthropic", "cmv", "ddo") for i in range(6)][:17]
    store = Store(tmp_path / "s.sqlite")
    store.initialize("t")
    store.import_games([parse_record(r) for r in static + dynamic])
    games = store.all_games()
    invites = store.create_annotators(2, 3)
    per_annotator = [store.assignments(store.annotator_by_token(i.token)) for i in invites]
    for assigned in per_annotator:
        assert {games[g].setting for g in assigned} == {"static", "dynamic"}
        assert len({games[g].corpus for g in assigned}) == 3
    by_setting = Counter(games[g].setting for a in per_annotator for g in a)
    assert by_setting == {"static": 3, "dynamic": 3}


def test_many_annotators_balance_settings_and_corpora() -> None:
    cands = [Candidate(f"{s}-{c}-{i}", c, n, 0, s) for n, (s, c, i) in enumerate(
        (s, c, i) for s in ("static", "dynamic") for c in ("A", "B", "C", "D") for i in range(5))]
    assigned = Counter()
    for _ in range(20):
        current = [Candidate(c.game_id, c.corpus, c.order, assigned[c.game_id], c.setting) for c in cands]
        for g in choose_transcripts(current, 3):
            assigned[g] += 1
    setting_counts = Counter(g.split("-")[0] for g in assigned.elements())
    corpus_counts = Counter(g.split("-")[1] for g in assigned.elements())
    assert abs(setting_counts["static"] - setting_counts["dynamic"]) <= 1
    assert max(corpus_counts.values()) - min(corpus_counts.values()) <= 1
    assert max(assigned.values()) - min(assigned.values()) <= 1
