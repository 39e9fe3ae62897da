"""Bad input: each broken file gives a ``DataError`` naming the file, the row or record
and the field, and nothing is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from persuasion_rl.data import anthropic, cmv, ddo, paper, perspectrum
from persuasion_rl.data.claims import read_claims
from persuasion_rl.data.errors import DataError

HEADER = "ID,claim,argument,source,prompt_type,rating_initial,rating_final,persuasiveness_metric\n"
GOOD = 'W1,Zoos are cruel,"An argument, with a comma",Human,,2 - Oppose,5 - Somewhat support,3\n'


def csv_file(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "persuasion.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def expect(error: pytest.ExceptionInfo, file: Path, *parts: str) -> None:
    message = str(error.value)
    assert message.startswith(str(file)), message
    for part in parts:
        assert part in message, message


def test_anthropic_good_row_for_reference(tmp_path: Path) -> None:
    rows = anthropic.read_anthropic_csv(csv_file(tmp_path, GOOD))
    assert rows[0].rating_initial == 2 and rows[0].rating_final == 5 and rows[0].prompt_type is None


def test_anthropic_missing_column(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "W1,Zoos are cruel,2 - Oppose\n", header="ID,claim,rating_initial\n")
    with pytest.raises(DataError) as error:
        anthropic.read_anthropic_csv(path)
    expect(error, path, "header", "field 'rating_final'")


def test_anthropic_empty_claim(tmp_path: Path) -> None:
    path = csv_file(tmp_path, GOOD + 'W2,  ,"x",Human,,2 - Oppose,5 - Somewhat support,3\n')
    with pytest.raises(DataError) as error:
        anthropic.read_anthropic_csv(path)
    expect(error, path, "row 1 (line 3)", "field 'claim'", "empty claim")


def test_anthropic_bad_rating(tmp_path: Path) -> None:
    path = csv_file(tmp_path, 'W2,Zoos are cruel,"x",Human,,Somewhat,5 - Somewhat support,3\n')
    with pytest.raises(DataError) as error:
        anthropic.read_anthropic_csv(path)
    expect(error, path, "row 0", "field 'rating_initial'", "'Somewhat'")


def test_anthropic_bad_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + GOOD + "W2,Caf\u00e9s should close,x,Human,,2 - Oppose,5 - Somewhat support,3\n").encode("latin-1"))
    with pytest.raises(DataError) as error:
        anthropic.read_anthropic_csv(path)
    expect(error, path, "line 3", "not valid UTF-8")


def test_anthropic_unterminated_quote(tmp_path: Path) -> None:
    path = csv_file(tmp_path, GOOD + 'W2,Zoos are cruel,"never closed,Human,,2 - Oppose,5 - Somewhat support,3\n')
    with pytest.raises(DataError) as error:
        anthropic.read_anthropic_csv(path)
    expect(error, path, "row 1", "malformed CSV")


def test_anthropic_wrong_field_count(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "W2,Zoos are cruel,x\n")
    with pytest.raises(DataError) as error:
        anthropic.read_anthropic_csv(path)
    expect(error, path, "row 0 (line 2)", "has 3 fields, the header has 8")


def test_anthropic_empty_file(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "", header="")
    with pytest.raises(DataError, match="empty file"):
        anthropic.read_anthropic_csv(path)


def perspectrum_copy(tmp_path: Path, source: Path) -> Path:
    folder = tmp_path / "perspectrum"
    folder.mkdir()
    for name in (perspectrum.CLAIMS_FILE, perspectrum.SPLIT_FILE):
        shutil.copy(source / name, folder / name)
    return folder


def test_perspectrum_claim_without_split(tmp_path: Path, perspectrum_dir: Path) -> None:
    folder = perspectrum_copy(tmp_path, perspectrum_dir)
    split_file = folder / perspectrum.SPLIT_FILE
    splits = json.loads(split_file.read_text())
    del splits["499"]
    split_file.write_text(json.dumps(splits))
    with pytest.raises(DataError) as error:
        perspectrum.read_perspectrum(folder)
    expect(error, split_file, "claim 499", "has no split")


def test_perspectrum_malformed_json(tmp_path: Path) -> None:
    (tmp_path / perspectrum.CLAIMS_FILE).write_text('[{"cId": 1, "text": "x",]')
    (tmp_path / perspectrum.SPLIT_FILE).write_text('{"1": "train"}')
    with pytest.raises(DataError) as error:
        perspectrum.read_perspectrum(tmp_path)
    expect(error, tmp_path / perspectrum.CLAIMS_FILE, "line 1 column", "malformed JSON")


@pytest.mark.parametrize(
    ("claim", "field", "problem"),
    [({"text": "x"}, "cId", "integer claim id"), ({"cId": 1, "text": ""}, "text", "empty claim"),
     ({"cId": 1}, "text", "expected text"), ({"cId": 1, "text": "x", "perspectives": [{"pids": "3"}]}, "perspectives.pids", "list of integers")],
)
def test_perspectrum_bad_claim(tmp_path: Path, claim: dict, field: str, problem: str) -> None:
    (tmp_path / perspectrum.CLAIMS_FILE).write_text(json.dumps([claim]))
    (tmp_path / perspectrum.SPLIT_FILE).write_text('{"1": "train"}')
    with pytest.raises(DataError) as error:
        perspectrum.read_perspectrum(tmp_path)
    expect(error, tmp_path / perspectrum.CLAIMS_FILE, "row 0", f"field '{field}'", problem)


def test_perspectrum_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        perspectrum.read_perspectrum(tmp_path)


XML = '<?xml version="1.0"?>\n<thread ID="abc">\n<title>{title}</title>\n<OP author="me">post</OP>\n</thread>\n'


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (XML.format(title="CMV: fine").replace("</thread>", ""), ("line", "malformed XML")),
        (XML.format(title="   "), ("thread abc", "field 'title'", "missing or empty")),
        (XML.format(title="x").replace(' ID="abc"', ""), ("field 'ID'", "missing thread id")),
        ("<post><title>x</title></post>", ("root", "expected a <thread>")),
    ],
)
def test_cmv_bad_xml(tmp_path: Path, text: str, parts: tuple[str, ...]) -> None:
    path = tmp_path / "1.xml"
    path.write_text(text)
    with pytest.raises(DataError) as error:
        cmv.read_cmv_xml(path)
    expect(error, path, *parts)


def test_cmv_title_without_claim(tmp_path: Path) -> None:
    path = tmp_path / "1.xml"
    path.write_text(XML.format(title="CMV:"))
    with pytest.raises(DataError) as error:
        cmv.cmv_claims([cmv.read_cmv_xml(path)])
    expect(error, path, "thread abc", "field 'title'", "has no claim")


def test_cmv_xml_bad_encoding(tmp_path: Path) -> None:
    path = tmp_path / "1.xml"
    path.write_bytes(XML.format(title="CMV: Caf\u00e9s").encode("latin-1"))
    with pytest.raises(DataError) as error:
        cmv.read_cmv_xml(path)
    expect(error, path, "line 3", "not valid UTF-8")


@pytest.mark.parametrize(
    ("line", "parts"),
    [
        ('{"op_title": "CMV: x", "op_text": "y"}', ("line 2", "field 'op_name'")),
        ('{"title": "", "name": "t3_a"}', ("line 2", "field 'title'")),
        ('{"body": "x"}', ("line 2", "unrecognised layout")),
        ('{"title": "CMV: x", "name": ', ("line 2", "not valid JSON")),
        ("[1, 2]", ("line 2", "expected a JSON object")),
    ],
)
def test_cmv_bad_json_lines(tmp_path: Path, line: str, parts: tuple[str, ...]) -> None:
    path = tmp_path / "train_op_data.jsonlist"
    path.write_text('{"title": "CMV: fine", "selftext": "", "name": "t3_ok", "delta_label": true}\n' + line + "\n")
    with pytest.raises(DataError) as error:
        cmv.read_cmv(path)
    expect(error, path, *parts)


def test_cmv_folder_without_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no CMV files"):
        cmv.read_cmv(tmp_path)


@pytest.mark.parametrize(
    ("debates", "parts"),
    [
        ([], ("expected a JSON object keyed by debate name",)),
        ({"d/1/": {"title": "x"}}, ("debate 'd/1/' (row 0)", "field 'rounds'", "missing")),
        ({"d/1/": {"rounds": []}}, ("debate 'd/1/'", "field 'title'")),
        ({"d/1/": {"title": " ", "rounds": []}}, ("field 'title'", "empty claim")),
        ({"d/1/": {"title": "x", "rounds": [[{"side": "Pro"}]]}}, ("field 'rounds.text'", "round 0 argument 0")),
        ({"d/1/": {"title": "x", "rounds": ["text"]}}, ("field 'rounds'", "round 0 is not a list")),
        ({"ok/1/": {"title": "x", "rounds": []}, "d/2/": "nope"}, ("debate 'd/2/' (row 1)", "expected a debate object")),
    ],
)
def test_ddo_bad_debates(tmp_path: Path, debates: object, parts: tuple[str, ...]) -> None:
    path = tmp_path / "debates.json"
    path.write_text(json.dumps(debates))
    with pytest.raises(DataError) as error:
        ddo.read_ddo(path)
    expect(error, path, *parts)


def test_paper_missing_column_and_field(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": [{"role": "user", "content": "x"}], "extra": {"index": 0, "split": "train"}}]), path)
    with pytest.raises(DataError) as error:
        paper.read_paper(path)
    expect(error, path, "header", "field 'reward_model'")
    rows = [{"prompt": [{"role": "user", "content": "x"}], "reward_model": {"claim": "", "initial_belief": "<score>3</score>"},
             "extra": {"index": 0, "split": "train"}}]
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(DataError) as error:
        paper.read_paper(path)
    expect(error, path, "row 0", "field 'reward_model.claim'", "empty claim")


def test_paper_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    path.write_text("not parquet")
    with pytest.raises(DataError, match="not a readable parquet file"):
        paper.read_paper(path)


def test_claims_table_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "claims.parquet"
    pq.write_table(pa.table({"id": ["a"], "claim": ["x"]}), path)
    with pytest.raises(DataError) as error:
        read_claims(path)
    expect(error, path, "header", "field 'source'")
