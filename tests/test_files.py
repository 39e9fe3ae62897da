"""persuasion_rl.files: one JSON-lines policy for every reader, atomic writes with the
usual permissions."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from benchmarks.isolated import read_steps
from persuasion_rl.annotate.transcripts import TranscriptFileError, load_games
from persuasion_rl.data.claims import ClaimRecord
from persuasion_rl.data.errors import DataError
from persuasion_rl.data.files import iter_json_lines
from persuasion_rl.data.priors import priors_from_jsonl
from persuasion_rl.data.summarize import SummaryCache
from persuasion_rl.eval.analysis.strategies import AnswerCache
from persuasion_rl.eval.records import EvalInputError, TranscriptStore, load_results
from persuasion_rl.files import (
    JsonlError, append_jsonl, atomic_dir, atomic_path, load_keyed, read_jsonl, write_parquet_atomic, write_text_atomic,
)
from persuasion_rl.receivers.confidence import ConfidenceCache
from persuasion_rl.receivers.prior_cache import PriorCache
from tests.annotate.conftest import game_record

TORN = '{"key": "b", "rep'  # what a crash mid-append leaves: no newline, not JSON


def _game(game_id: str = "g1") -> dict:
    return {**game_record(game_id, "cmv", n_rounds=1, setting="static"), "claim_id": f"claim-{game_id}"}


# (what a record looks like, how the reader loads a file, how many records it found)
READERS = {
    "read_jsonl": ({"key": "a"}, lambda p: len(list(read_jsonl(p))), JsonlError),
    "load_keyed": ({"key": "a"}, lambda p: len(load_keyed(p)), JsonlError),
    "data iter_json_lines": ({"key": "a"}, lambda p: len(list(iter_json_lines(p))), DataError),
    "data priors_from_jsonl": ({"key": "a", "receiver": "r", "claim": "X.", "reply": "<score>4</score>"},
                               lambda p: len(priors_from_jsonl(p, [ClaimRecord("c1", "X.", "cmv", "train", "x", 0)])), DataError),
    "PriorCache": ({"key": "a", "reply": "<score>4</score>", "score": 4.0}, lambda p: len(PriorCache(p)), JsonlError),
    "ConfidenceCache": ({"key": "a", "yes_mass": 0.5, "no_mass": 0.4}, lambda p: len(ConfidenceCache(p)), JsonlError),
    "SummaryCache": ({"key": "a", "output": "x"}, lambda p: len(SummaryCache(p).entries), DataError),
    "AnswerCache": ({"key": "a", "answer": "x"}, lambda p: len(AnswerCache(p).entries), JsonlError),
    "read_steps": ({"step": 1, "data": {"x": 1.0}}, lambda p: len(read_steps(p)), JsonlError),
    "eval load_results": (_game(), lambda p: len(load_results([p])), EvalInputError),
    "eval TranscriptStore": (_game(), lambda p: len(TranscriptStore(p).records), EvalInputError),
    "annotate load_games": (_game(), lambda p: len(load_games(p)), TranscriptFileError),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_torn_last_line_is_ignored_with_a_warning_by_every_reader(tmp_path, caplog, reader):
    record, load, _ = READERS[reader]
    path = tmp_path / "file.jsonl"
    path.write_text(json.dumps(record) + "\n" + TORN, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="persuasion_rl.files"):
        assert load(path) == 1
    assert f"{path} line 2: ignoring a torn last line" in caplog.text
    assert path.read_text(encoding="utf-8").endswith(TORN)  # reading never changes the file


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_bad_line_elsewhere_is_an_error_naming_file_and_line_for_every_reader(tmp_path, reader):
    record, load, error = READERS[reader]
    path = tmp_path / "file.jsonl"
    path.write_text(json.dumps(record) + "\n" + TORN + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(error, match=r"file\.jsonl.* line 2.*not valid JSON"):
        load(path)
    path.write_text(json.dumps(record) + "\n[1, 2]\n", encoding="utf-8")  # the last line, but whole: not torn
    with pytest.raises(error, match=r"line 2.*expected a JSON object"):
        load(path)


def test_a_missing_field_is_named(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a", "output": "x"}\n{"key": "b"}\n')
    with pytest.raises(JsonlError, match=r"cache\.jsonl line 2: field 'output': missing"):
        load_keyed(path, required=("output",))
    with pytest.raises(DataError, match=r"line 2: field 'output'"):
        SummaryCache(path)


def test_appending_after_a_crash_drops_the_torn_line_and_starts_on_a_fresh_one(tmp_path, caplog):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a"}\n' + TORN)
    with caplog.at_level(logging.WARNING, logger="persuasion_rl.files"):
        append_jsonl(path, [{"key": "c"}])
    assert "torn last line" in caplog.text
    assert [r["key"] for _, r in read_jsonl(path)] == ["a", "c"]
    path.write_text('{"key": "a"}')  # whole, only its newline missing: kept
    append_jsonl(path, [{"key": "c"}])
    assert path.read_text() == '{"key": "a"}\n{"key": "c"}\n'


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_files_get_0644_under_umask_022(tmp_path, umask_022):
    import pyarrow as pa

    assert _mode(write_text_atomic("x", tmp_path / "a.txt")) == 0o644
    assert _mode(write_parquet_atomic(pa.table({"a": [1]}), tmp_path / "a.parquet")) == 0o644
    with atomic_dir(tmp_path / "model") as folder:
        (folder / "weights.bin").write_bytes(b"w")
    assert _mode(tmp_path / "model") == 0o755 and (tmp_path / "model" / "weights.bin").read_bytes() == b"w"


def test_atomic_files_follow_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        assert _mode(write_text_atomic("x", tmp_path / "private.txt")) == 0o600
    finally:
        os.umask(old)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text_atomic("old", tmp_path / "a.txt")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
