"""``persuasion-rl report RESULTS_DIR``: one static HTML page of an evaluation folder.

It gathers the games of every ``transcripts.jsonl`` under the folder, rebuilds the
results table, adds a short summary (games, failures by kind, the best Sender per
Receiver and setting, dynamic minus static), the paired comparison if ``eval compare``
wrote one there, and every analysis found in ``RESULTS_DIR/analysis`` (its figure
embedded as a data URI, so the page is one self-contained file, and its key numbers).
Analyses not run yet are listed with the command that makes them.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, select_autoescape

from ..files import write_text_atomic
from .records import EvalInputError, GameResult, load_results
from .stats import DEFAULT_BOOTSTRAP
from .table import AVERAGE, ResultsTable, build_table, corpus_title, format_cell

ANALYSES = {
    "confidence": ("Gains by the Receiver's prior confidence (Figure 3, 6)", "persuasion-rl analyze confidence {dir}"),
    "similarity": ("Semantic similarity of Sender messages per turn (Figure 4)", "persuasion-rl analyze similarity {dir}"),
    "strategies": ("Persuasion strategies (Figures 7-8, Table 12)", "persuasion-rl analyze strategies {dir} --classifier SPEC"),
    "scaling": ("Gain against log10 Sender parameters", "persuasion-rl analyze scaling {dir} [--params NAME=COUNT ...]"),
}

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Persuasion evaluation: {{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
thead th { background: #f3f3f3; }
.note { color: #666; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #eee; }
code { background: #f6f6f6; padding: 0 0.2em; }
</style></head><body>
<h1>Persuasion evaluation</h1>
<p class="note">{{ title }} &middot; generated {{ generated }} from {{ files|length }} transcript file(s).</p>
<h2>Summary</h2>
<ul>{% for line in summary %}<li>{{ line }}</li>{% endfor %}</ul>
<h2>Persuasion gains</h2>
<table><thead><tr><th>Receiver</th><th>Sender</th>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
<p class="note">Mean persuasion gain (final minus prior Receiver score) over claims, [{{ level }} cluster-bootstrap CI over claims,
samples nested], f = failed games (parse or model-call failures; excluded from the mean, never scored).
Average = mean of the corpus means.</p>
{% if comparison %}<h2>Paired comparison</h2>
<p>A = {{ comparison[0].a }}, B = {{ comparison[0].b }}; difference B - A per claim.</p>
<table><thead><tr><th>Receiver</th><th>Setting</th><th>Corpus</th><th>Pairs</th><th>B - A</th><th>CI</th><th>Wilcoxon p</th></tr></thead>
<tbody>{% for c in comparison %}<tr><td>{{ c.receiver }}</td><td>{{ c.setting }}</td><td>{{ c.corpus }}</td><td>{{ c.n_pairs }}</td>
<td>{{ fmt(c.mean_difference) }}</td><td>[{{ fmt(c.ci_low) }}, {{ fmt(c.ci_high) }}]</td><td>{{ fmt(c.wilcoxon_p, 4) }}</td></tr>{% endfor %}</tbody></table>{% endif %}
<h2>Analyses</h2>
{% for a in analyses %}<h3>{{ a.title }}</h3>
{% if a.image %}<img alt="{{ a.title }}" src="data:image/png;base64,{{ a.image }}">
<ul>{% for line in a.lines %}<li>{{ line }}</li>{% endfor %}</ul>
{% else %}<p class="note">Not run yet: <code>{{ a.command }}</code></p>{% endif %}
{% endfor %}
</body></html>
"""


@dataclass(frozen=True)
class AnalysisSection:
    title: str
    command: str
    image: str | None = None
    lines: tuple[str, ...] = ()


def _fmt(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_lines(results: list[GameResult], table: ResultsTable) -> list[str]:
    failures = Counter(r.failure for r in results if not r.ok)
    lines = [f"{len(results)} games: {len(results) - sum(failures.values())} finished, {sum(failures.values())} failed"
             + (" (" + ", ".join(f"{k}: {v}" for k, v in failures.most_common()) + ")" if failures else ""),
             f"Senders: {', '.join(sorted({r.sender for r in results}))}; Receivers: {', '.join(sorted({r.receiver for r in results}))}; "
             f"corpora: {', '.join(table.corpora)}; claims: {len({r.claim_id for r in results})}"]
    for receiver in dict.fromkeys(r for r, _ in table.rows):
        for setting in table.settings:
            cells = [(s, table.cell(receiver, s, AVERAGE, setting)) for r, s in table.rows if r == receiver]
            cells = [(s, c) for s, c in cells if c and c.estimate.mean is not None]
            if cells:
                best, cell = max(cells, key=lambda sc: sc[1].estimate.mean)
                lines.append(f"Against {receiver}, {setting}: highest average gain {format_cell(cell)} by {best}")
    for receiver, sender in table.rows:
        static, dynamic = (table.cell(receiver, sender, AVERAGE, s) for s in ("static", "dynamic"))
        if static and dynamic and static.estimate.mean is not None and dynamic.estimate.mean is not None:
            lines.append(f"{sender} vs {receiver}: dynamic minus static average gain "
                         f"{dynamic.estimate.mean - static.estimate.mean:+.2f}")
    return lines


def _table_rows(table: ResultsTable) -> tuple[list[str], list[list[str]]]:
    columns = [f"{corpus_title(c)} {s}" for c, s in table.columns]
    rows = [[r, s, *(format_cell(table.cell(r, s, c, st)) for c, st in table.columns)] for r, s in table.rows]
    return columns, rows


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _analysis_lines(name: str, data) -> list[str]:
    if not isinstance(data, dict):
        return []
    if name == "scaling":
        return [f"{f['setting']} vs {f['receiver']}: {f['n_senders']} Senders, slope {_fmt(f['slope'], 3)} per log10 parameter, "
                f"OLS CI [{_fmt(f['ols_low'], 3)}, {_fmt(f['ols_high'], 3)}], claim-bootstrap CI "
                f"[{_fmt(f['bootstrap_low'], 3)}, {_fmt(f['bootstrap_high'], 3)}] {f.get('note', '')}" for f in data.get("fits", [])]
    if name == "similarity":
        return [f"{r['sender']} vs {r['receiver']} {r['turn']}: {_fmt(r['mean'], 3)} [{_fmt(r['ci_low'], 3)}, {_fmt(r['ci_high'], 3)}] "
                f"({r['n_claims']} claims)" for r in data.get("rows", [])]
    if name == "strategies":
        lines = [f"{data.get('messages', 0)} messages classified by {data.get('classifier')}: "
                 f"{data.get('unclassified', 0)} unclassified ({data.get('failed_calls', 0)} failed calls)"]
        for row in data.get("rows", []):
            if row.get("corpus") == "all":
                top = sorted(data.get("strategies", []), key=lambda s: -row.get(s, 0))[:3]
                used = ", ".join(f"{s} ({row.get(s, 0)})" for s in top if row.get(s, 0)) or "none"
                lines.append(f"{row['sender']} vs {row['receiver']}, {row['setting']}: most used {used}")
        return lines
    if name == "confidence":
        counts = data.get("counts", {})
        return [f"{counts.get('used', 0)} finished games with a prior confidence, {counts.get('no_confidence', 0)} without, "
                f"{counts.get('failed', 0)} failed; bins {data.get('edges')}"]
    return []


def analysis_sections(folder: Path, results_dir: Path) -> list[AnalysisSection]:
    sections = []
    for name, (title, command) in ANALYSES.items():
        png = folder / f"{name}.png"
        if not png.exists():
            sections.append(AnalysisSection(title, command.format(dir=results_dir)))
            continue
        image = base64.b64encode(png.read_bytes()).decode("ascii")
        sections.append(AnalysisSection(title, "", image, tuple(_analysis_lines(name, _read_json(folder / f"{name}.json")))))
    return sections


def build_report(results_dir: str | Path, out: str | Path | None = None, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Path:
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise EvalInputError(f"{results_dir}: not a folder (give the --out folder of `persuasion-rl eval`)")
    files = sorted(results_dir.rglob("transcripts.jsonl"))
    results = load_results([results_dir])
    table = build_table(results, n_boot=n_boot, seed=seed)
    columns, rows = _table_rows(table)
    comparison = next((d for d in (_read_json(p) for p in (results_dir / "compare.json", results_dir / "analysis" / "compare.json")) if d), None)
    env = Environment(autoescape=select_autoescape(default=True))
    html = env.from_string(TEMPLATE).render(
        title=str(results_dir), generated=time.strftime("%Y-%m-%d %H:%M"), files=files, summary=summary_lines(results, table),
        columns=columns, rows=rows, level=f"{table.level:.0%}", comparison=comparison, fmt=_fmt,
        analyses=analysis_sections(results_dir / "analysis", results_dir),
    )
    path = Path(out) if out else results_dir / "report.html"
    write_text_atomic(html, path)
    return path
