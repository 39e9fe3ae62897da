"""The report a researcher puts in an appendix (issue 15.7): three significant digits, a
chart of gains with CIs, per-round gains, example transcripts, failures by kind, and no
empty plot."""

from __future__ import annotations

import json
import re
from pathlib import Path

from persuasion_rl.cli import main
from persuasion_rl.eval.stats import significant


def test_three_significant_digits() -> None:
    assert [significant(v) for v in (1.8, -0.004123, 12.345, 0.0, -0.0, None, float("nan"), 0.0625, 9.33e-06, -1e-9, 123.4)] == \
        ["1.80", "-0.00412", "12.3", "0.00", "0.00", "n/a", "n/a", "0.0625", "0.00001", "0.00000", "123"]


def add_failures(folder: Path) -> None:
    """Two failed games of another Sender in the same folder."""
    lines = (folder / "transcripts.jsonl").read_text().splitlines()
    extra = []
    for i, kind in enumerate(("sender_parse", "receiver_parse")):
        record = json.loads(lines[i])
        record.update(sender="tiny-other", ok=False, gain=None, final_score=None, failure=kind,
                      errors=[f"scripted {kind} failure"])
        extra.append(json.dumps(record))
    (folder / "transcripts.jsonl").write_text("\n".join(lines + extra) + "\n")


def test_report_has_charts_examples_and_failures(eval_copy: Path) -> None:
    add_failures(eval_copy)
    assert main(["report", str(eval_copy), "--bootstrap", "200"]) == 0
    html = (eval_copy / "report.html").read_text()
    assert "Persuasion gains with 95% CIs, per Sender and setting" in html
    assert "Per-round gains in the dynamic setting (paper Figure 3)" in html
    assert html.count("data:image/png;base64,") == 2  # the two charts; no analysis run yet
    assert "Failures by kind" in html and "scripted sender_parse failure" in html and "<th>receiver_parse</th>" in html
    assert html.count('class="game"') >= 4 and "Highest gain" in html and "Lowest gain" in html
    assert re.search(r"prior \d\.\d\d &rarr; posterior \d\.\d\d", html)
    cells = re.findall(r"<td>(-?[0-9.]+) \[(-?[0-9.]+), (-?[0-9.]+)\] f=\d+</td>", html)
    def three_significant(n: str) -> bool:  # or five decimals, the most for tiny values
        return n == "0.00" or len(re.sub(r"^-?0\.0*|^-?|\.", "", n)) == 3 or len(n.split(".")[-1]) == 5

    assert cells and all(three_significant(n) for cell in cells for n in cell), cells


def test_an_analysis_without_data_is_not_an_empty_plot(eval_copy: Path) -> None:
    """The report showed an empty plot titled `static:  vs` when no game had a prior confidence."""
    lines = []
    for line in (eval_copy / "transcripts.jsonl").read_text().splitlines():
        record = json.loads(line)
        record["prior_confidence"] = None
        lines.append(json.dumps(record))
    (eval_copy / "transcripts.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["analyze", "confidence", str(eval_copy), "--bootstrap", "200"]) == 0
    assert main(["report", str(eval_copy), "--bootstrap", "200"]) == 0
    html = (eval_copy / "report.html").read_text()
    assert "static:  vs" not in html
    assert "No finished game has a prior confidence" in html
    assert html.count("data:image/png;base64,") == 2  # the report's two charts only
