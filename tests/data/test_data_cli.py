"""``persuasion-rl data ...`` end to end on the shared samples (and a synthetic DDO file)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from persuasion_rl.cli import main
from persuasion_rl.data.claims import read_claims


def table_rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in text.strip().splitlines()}


def test_build_merge_export(tmp_path: Path, capsys, caplog, perspectrum_dir: Path, paper_dir: Path, anthropic_csv: Path, cmv_xml_dir: Path) -> None:
    out = tmp_path / "data"
    assert main(["data", "build", "--source", "perspectrum", "--input", str(perspectrum_dir), "--out", str(out)]) == 0
    assert table_rows(capsys.readouterr().out)["perspectrum"] == ["541", "139", "227", "907"]
    assert main(["data", "build", "--source", "paper", "--input", str(paper_dir), "--out", str(out)]) == 0
    assert table_rows(capsys.readouterr().out)["paper"] == ["2617", "290", "2907"]
    for source, path in (("anthropic", anthropic_csv), ("cmv", cmv_xml_dir)):
        assert main(["data", "build", "--source", source, "--input", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [
        "anthropic.claims.parquet", "cmv.claims.parquet", "paper.claims.parquet", "paper.priors.parquet", "perspectrum.claims.parquet",
    ]

    merged = tmp_path / "claims.parquet"
    args = ["data", "merge", *map(str, sorted(out.glob("*.claims.parquet"))), "--out", str(merged), "--eval-size", "100"]
    assert main(args) == 0
    counts = table_rows(capsys.readouterr().out)
    assert set(counts) == {"corpus", "anthropic", "perspectrum", "cmv", "paper", "total"}
    assert sum(r.eval for r in read_claims(merged)) == 100

    # the paper's rows carry their priors: exporting them needs nothing else
    static = tmp_path / "static"
    args = ["data", "export", "--claims", str(out / "paper.claims.parquet"), "--priors", str(out / "paper.priors.parquet"),
            "--setting", "dynamic", "--out", str(static)]
    assert main(args) == 0
    assert table_rows(capsys.readouterr().out)["total"] == ["2617", "290", "2907"]
    frame = pd.read_parquet(static / "train.parquet")
    assert len(frame) == 2617 and set(frame["agent_name"]) == {"persuasion_dynamic"}

    # the merged table has claims without priors: a clear error, nothing written
    failed = tmp_path / "failed"
    args[3], args[-1] = str(merged), str(failed)
    assert main(args) == 2
    assert "have no Receiver prior" in caplog.text
    assert not failed.exists()


def test_build_error_writes_nothing(tmp_path: Path, caplog) -> None:
    bad = tmp_path / "debates.json"
    bad.write_text(json.dumps({"d/1/": {"title": "Abortion"}}))
    out = tmp_path / "out"
    assert main(["data", "build", "--source", "ddo", "--input", str(bad), "--out", str(out)]) == 2
    assert "debates.json: debate 'd/1/' (row 0): field 'rounds': missing field" in caplog.text
    assert not out.exists()


def test_summarize_command(tmp_path: Path, capsys, monkeypatch) -> None:
    class Backend:
        def __init__(self, model: str) -> None:
            self.model_name = model

        def generate(self, conversations, *, max_tokens, temperature=0.0):
            return ["Abortion should be legal." for _ in conversations]

    module = types.ModuleType("fake_summary_backends")
    module.make = Backend
    monkeypatch.setitem(sys.modules, "fake_summary_backends", module)
    debates = tmp_path / "debates.json"
    debates.write_text(json.dumps({"a/1/": {"title": "Abortion", "category": "Politics", "rounds": [[{"side": "Pro", "text": "Yes."}]]}}))
    assert main(["data", "build", "--source", "ddo", "--input", str(debates), "--out", str(tmp_path)]) == 0
    claims = tmp_path / "ddo.claims.parquet"
    args = ["data", "summarize", "--claims", str(claims), "--out", str(claims), "--cache", str(tmp_path / "cache.jsonl"),
            "--backend", "fake_summary_backends:make", "--model", "tiny", "--no-progress"]
    assert main(args) == 0
    assert "ddo" in table_rows(capsys.readouterr().out)
    (record,) = read_claims(claims)
    assert record.claim == "Abortion should be legal." and not record.needs_summary and record.claim_origin == "summary:tiny"


@pytest.mark.parametrize("argv", [["data"], ["data", "build", "--source", "nope", "--input", "x", "--out", "y"]])
def test_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
