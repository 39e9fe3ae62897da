"""``persuasion-rl report RESULTS_DIR``: one static HTML page of an evaluation folder,
for a paper's appendix.

It gathers the games of every ``transcripts.jsonl`` under the folder (merged by
``records.merge_results``: conflicting copies of a game stop the report unless
``--prefer`` says which wins), rebuilds the results table (three significant digits),
and adds: a summary (games, failures by kind, the best Sender per Receiver and setting,
dynamic minus static); a chart of the gains with their CIs per Sender and setting and the
dynamic games' per-round gains (``report_figures``); failures by kind with an example
message each; example transcripts (highest and lowest gain per Sender, Receiver and
setting) with prior -> posterior; the paired comparison if ``eval compare`` wrote one
there; and every analysis found in ``RESULTS_DIR/analysis`` (figures embedded as data
URIs, so the page is one self-contained file). Analyses not run yet are listed with the
command that makes them; an analysis with no data says so instead of an empty plot.
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
from .records import FAILURE_KINDS, EvalInputError, GameResult, MergeReport, merge_results
from .report_figures import gains_figure, rounds_figure
from .show import ShownGame, load_shown
from .stats import DEFAULT_BOOTSTRAP, significant
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
.game { border: 1px solid #ddd; border-radius: 4px; margin: 0.8em 0; padding: 0.5em 0.8em; }
.game h4 { margin: 0.2em 0; }
.turn { margin: 0.4em 0 0.4em 1em; white-space: pre-wrap; }
.turn b { display: block; font-size: 0.85em; color: #555; }
.sender { border-left: 3px solid #3b7dd8; padding-left: 0.5em; }
.receiver { border-left: 3px solid #d8843b; padding-left: 0.5em; }
</style></head><body>
<h1>Persuasion evaluation</h1>
<p class="note">{{ title }} &middot; generated {{ generated }} from {{ files|length }} transcript file(s) &middot; {{ merged }}</p>
<h2>Summary</h2>
<ul>{% for line in summary %}<li>{{ line }}</li>{% endfor %}</ul>
<h2>Persuasion gains</h2>
<table id="gains"><thead><tr><th>Receiver</th><th>Sender</th>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
<p class="note">Mean persuasion gain (final minus prior Receiver score) over claims, [{{ level }} cluster-bootstrap CI over claims,
samples nested], f = failed games (parse or model-call failures; excluded from the mean, never scored).
Average = mean of the corpus means. Three significant digits.</p>
{% for figure in figures %}<h2>{{ figure.title }}</h2>
{% if figure.image %}<img alt="{{ figure.title }}" src="data:image/png;base64,{{ figure.image }}">{% endif %}
<p class="note">{{ figure.note }}</p>{% endfor %}
<h2>Failures by kind</h2>
{% if failures.rows %}<table id="failures"><thead><tr><th>Receiver</th><th>Sender</th><th>Setting</th><th>Games</th>
{% for k in failures.kinds %}<th>{{ k }}</th>{% endfor %}</tr></thead>
<tbody>{% for r in failures.rows %}<tr>{% for v in r %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
<ul>{% for kind, example in failures.examples %}<li><b>{{ kind }}</b>, e.g.: {{ example }}</li>{% endfor %}</ul>
{% else %}<p>No game failed.</p>{% endif %}
<p class="note">sender_parse: no closed &lt;argument&gt;; receiver_parse: no readable Receiver score or message;
prior: the Receiver's opening turn was unusable; backend: a model call failed after its retries.</p>
<h2>Example transcripts</h2>
<p class="note">For each Sender, Receiver and setting: the game with the highest and the lowest gain. Scores are the ones the gains use.</p>
{% for g in examples %}<div class="game"><h4>{{ g.label }}: [{{ g.game.setting }}] {{ g.game.corpus }} &middot; {{ g.game.sender }} vs {{ g.game.receiver }}
&middot; prior {{ score(g.game.prior) }} &rarr; posterior {{ score(g.game.final) }} (gain {{ score(g.game.gain) }})</h4>
<div>Claim: <i>{{ g.game.claim }}</i></div>
{% for t in g.turns %}<div class="turn {{ t.css }}"><b>{{ t.label }}</b>{{ t.text }}</div>{% endfor %}</div>
{% else %}<p>No finished game.</p>{% endfor %}
{% if comparison %}<h2>Paired comparison</h2>
<p>A = {{ comparison[0].a }}, B = {{ comparison[0].b }}; difference B - A per claim.</p>
<table><thead><tr><th>Receiver</th><th>Setting</th><th>Corpus</th><th>Pairs</th><th>B - A</th><th>CI</th><th>Wilcoxon p</th></tr></thead>
<tbody>{% for c in comparison %}<tr><td>{{ c.receiver }}</td><td>{{ c.setting }}</td><td>{{ c.corpus }}</td><td>{{ c.n_pairs }}</td>
<td>{{ fmt(c.mean_difference) }}</td><td>[{{ fmt(c.ci_low) }}, {{ fmt(c.ci_high) }}]</td><td>{{ fmt(c.wilcoxon_p) }}</td></tr>{% endfor %}</tbody></table>{% endif %}
<h2>Analyses</h2>
{% for a in analyses %}<h3>{{ a.title }}</h3>
{% if a.image %}<img alt="{{ a.title }}" src="data:image/png;base64,{{ a.image }}">
<ul>{% for line in a.lines %}<li>{{ line }}</li>{% endfor %}</ul>
{% elif a.lines %}<ul>{% for line in a.lines %}<li>{{ line }}</li>{% endfor %}</ul>
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


def _fmt(value, digits: int = 3) -> str:
    return significant(value, digits)


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
                         f"{significant(dynamic.estimate.mean - static.estimate.mean)}")
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
        if not counts.get("used"):
            return [f"No finished game has a prior confidence P(yes) (counts: {counts}): nothing to plot. "
                    "Run the eval without --no-confidence, or pass `analyze confidence --priors`."]
        return [f"{counts.get('used', 0)} finished games with a prior confidence, {counts.get('no_confidence', 0)} without, "
                f"{counts.get('failed', 0)} failed; bins {data.get('edges')}"]
    return []


def _has_data(name: str, data) -> bool:
    """An analysis figure with nothing in it (e.g. "static:  vs") is not shown."""
    if not isinstance(data, dict):
        return True
    if name == "confidence":
        return bool(data.get("points"))
    if name in ("similarity", "strategies"):
        return bool(data.get("rows"))
    if name == "scaling":
        return bool(data.get("fits") or data.get("points"))
    return True


# ---- failures and examples --------------------------------------------------------------


def failure_table(results: list[GameResult], shown: list[ShownGame]) -> dict:
    counts: dict[tuple[str, str, str], Counter] = {}
    for r in results:
        counts.setdefault((r.receiver, r.sender, r.setting), Counter())["games"] += 1
        if not r.ok:
            counts[(r.receiver, r.sender, r.setting)][r.failure] += 1
    kinds = [k for k in FAILURE_KINDS if any(c[k] for c in counts.values())]
    rows = [[*key, c["games"], *(c[k] for k in kinds)] for key, c in counts.items() if any(c[k] for k in kinds)]
    examples = {}
    for game in shown:
        if game.failure and game.failure not in examples and game.errors:
            examples[game.failure] = game.errors[0][:300]
    return {"kinds": kinds, "rows": rows, "examples": sorted(examples.items())}


@dataclass(frozen=True)
class ExampleTurn:
    label: str
    text: str
    css: str


@dataclass(frozen=True)
class Example:
    label: str
    game: ShownGame
    turns: tuple[ExampleTurn, ...]


def _turns(game: ShownGame) -> tuple[ExampleTurn, ...]:
    turns, round_number = [], 0
    for t in game.turns:
        if t.speaker == "Sender":
            round_number += 1
            turns.append(ExampleTurn(f"Sender, round {round_number}", t.text, "sender"))
        else:
            where = "prior" if round_number == 0 else f"after round {round_number}"
            turns.append(ExampleTurn(f"Receiver, {where} (score {significant(t.score)})", t.text or "(no text kept)", "receiver"))
    return tuple(turns)


def examples(results: list[GameResult], shown: list[ShownGame]) -> list[Example]:
    """Highest and lowest gain per (Receiver, Sender, setting), among the merged games."""
    by_cell = {}
    for g in shown:
        by_cell.setdefault((*g.key.cell, g.gain), g)
    groups: dict[tuple[str, str, str], list[GameResult]] = {}
    for r in results:
        if r.ok:
            groups.setdefault((r.receiver, r.sender, r.setting), []).append(r)
    chosen = []
    for games in groups.values():
        ranked = sorted(games, key=lambda r: (-r.gain, r.claim_id, r.sample))
        picks = [("Highest gain", ranked[0])] + ([("Lowest gain", ranked[-1])] if len(ranked) > 1 else [])
        for label, r in picks:
            game = by_cell.get((*r.key.cell, r.gain))
            if game:
                chosen.append(Example(label, game, _turns(game)))
    return chosen


def analysis_sections(folder: Path, results_dir: Path) -> list[AnalysisSection]:
    sections = []
    for name, (title, command) in ANALYSES.items():
        png = folder / f"{name}.png"
        if not png.exists():
            sections.append(AnalysisSection(title, command.format(dir=results_dir)))
            continue
        data = _read_json(folder / f"{name}.json")
        image = base64.b64encode(png.read_bytes()).decode("ascii") if _has_data(name, data) else None
        sections.append(AnalysisSection(title, "", image, tuple(_analysis_lines(name, data))))
    return sections


def build_report(results_dir: str | Path, out: str | Path | None = None, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                 prefer=(), settings=()) -> tuple[Path, MergeReport]:
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise EvalInputError(f"{results_dir}: not a folder (give the --out folder of `persuasion-rl eval`)")
    files = sorted(results_dir.rglob("transcripts.jsonl"))
    results, merged = merge_results([results_dir], prefer=prefer, settings=settings)
    shown = load_shown(files)
    table = build_table(results, n_boot=n_boot, seed=seed)
    columns, rows = _table_rows(table)
    comparison = next((d for d in (_read_json(p) for p in (results_dir / "compare.json", results_dir / "analysis" / "compare.json")) if d), None)
    env = Environment(autoescape=select_autoescape(default=True))
    html = env.from_string(TEMPLATE).render(
        title=str(results_dir), generated=time.strftime("%Y-%m-%d %H:%M"), files=files, merged=f"merged {merged.summary()}",
        summary=summary_lines(results, table), columns=columns, rows=rows, level=f"{table.level:.0%}",
        figures=[gains_figure(table), rounds_figure(results, n_boot=n_boot, seed=seed)],
        failures=failure_table(results, shown), examples=examples(results, shown), score=significant,
        comparison=comparison, fmt=_fmt, analyses=analysis_sections(results_dir / "analysis", results_dir),
    )
    path = Path(out) if out else results_dir / "report.html"
    write_text_atomic(html, path)
    return path, merged
