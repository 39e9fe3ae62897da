"""`eval table` / `report` merge several folders only when they agree (issue 15.2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from persuasion_rl.cli import main
from persuasion_rl.eval.records import EvalInputError, merge_results


def shifted(source: Path, target: Path, shift: float, only_first: bool = False) -> Path:
    target.mkdir(parents=True)
    lines = []
    for i, line in enumerate((source / "transcripts.jsonl").read_text().splitlines()):
        record = json.loads(line)
        if record["ok"] and (not only_first or i == 0):
            record["gain"] += shift
        lines.append(json.dumps(record))
    (target / "transcripts.jsonl").write_text("\n".join(lines) + "\n")
    return target


def test_identical_copies_merge_once_and_differences_need_a_winner(tiny_eval: Path, tmp_path: Path, capsys) -> None:
    copy = Path(shutil.copytree(tiny_eval, tmp_path / "copy"))
    results, report = merge_results([tiny_eval, copy])
    assert len(results) == 16 and report.identical_copies == 16
    changed = shifted(tiny_eval, tmp_path / "changed", 0.5, only_first=True)
    with pytest.raises(EvalInputError, match="1 games were played more than once with different results"):
        merge_results([tiny_eval, changed])
    assert main(["eval", "table", str(tiny_eval), str(changed), "--out", str(tmp_path / "t"), "--bootstrap", "200"]) == 2
    assert "--prefer" in capsys.readouterr().err
    # told which wins, it takes that file's game and says so
    results, report = merge_results([tiny_eval, changed], prefer=[changed])
    first = json.loads((changed / "transcripts.jsonl").read_text().splitlines()[0])
    winner = next(r for r in results if r.claim_id == first["claim_id"] and r.setting == first["setting"] and r.sample == first["sample"])
    assert winner.gain == pytest.approx(first["gain"]) and report.preferred == 1 and report.identical_copies == 15
    assert main(["eval", "table", str(tiny_eval), str(changed), "--prefer", str(changed), "--out", str(tmp_path / "t"),
                 "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "merged 16 games from 2 file(s); 15 identical copies counted once; 1 conflicting games taken from --prefer" in out
