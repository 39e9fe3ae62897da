"""Paired comparison of two evaluations on the same claims (e.g. base vs trained Sender).

For each Receiver and setting, each claim's gain is averaged over its samples in A and in
B; the claims finished in both form the pairs, and the difference is B - A. Reported per
corpus and over all paired claims: the mean difference with a paired (claim) bootstrap
CI, and the two-sided Wilcoxon signed-rank p-value (scipy). Claims finished in only one
run are counted, not paired.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .records import EvalInputError, GameResult, load_results
from ..files import write_text_atomic
from .stats import DEFAULT_BOOTSTRAP, DEFAULT_LEVEL, Estimate, paired_bootstrap, significant, wilcoxon_signed_rank
from .table import claim_groups, to_csv

ALL = "all"


@dataclass(frozen=True)
class Comparison:
    receiver: str
    setting: str
    corpus: str  # a corpus or ALL
    label_a: str
    label_b: str
    n_pairs: int
    only_a: int
    only_b: int
    mean_a: float | None
    mean_b: float | None
    difference: Estimate
    wilcoxon_p: float | None

    def as_row(self) -> dict:
        d = self.difference
        return {"receiver": self.receiver, "setting": self.setting, "corpus": self.corpus, "a": self.label_a, "b": self.label_b,
                "n_pairs": self.n_pairs, "only_a": self.only_a, "only_b": self.only_b, "mean_a": self.mean_a, "mean_b": self.mean_b,
                "mean_difference": d.mean, "ci_low": d.low, "ci_high": d.high, "wilcoxon_p": self.wilcoxon_p}


def _label(results: Sequence[GameResult], path: str | Path, sender: str | None) -> tuple[str, list[GameResult]]:
    if sender is not None:
        chosen = [r for r in results if r.sender == sender]
        if not chosen:
            raise EvalInputError(f"{path}: field 'sender': no games of Sender {sender!r} (it has {sorted({r.sender for r in results})})")
        return sender, chosen
    senders = sorted({r.sender for r in results})
    if len(senders) > 1:
        raise EvalInputError(f"{path}: field 'sender': holds {len(senders)} Senders {senders}; choose one with --sender-a/--sender-b")
    return senders[0], list(results)


def _claim_means(results: Sequence[GameResult]) -> dict[str, float]:
    return {claim: float(np.mean(gains)) for claim, gains in claim_groups(results).items()}


def _compare_group(a: list[GameResult], b: list[GameResult], key: tuple[str, str, str], labels: tuple[str, str],
                   n_boot: int, level: float, seed: int) -> Comparison:
    means_a, means_b = _claim_means(a), _claim_means(b)
    paired = sorted(set(means_a) & set(means_b))
    diffs = [means_b[c] - means_a[c] for c in paired]
    mean = lambda m: float(np.mean([m[c] for c in paired])) if paired else None  # noqa: E731
    return Comparison(*key, *labels, len(paired), len(set(means_a) - set(means_b)), len(set(means_b) - set(means_a)),
                      mean(means_a), mean(means_b), paired_bootstrap(diffs, n_boot=n_boot, level=level, seed=seed),
                      wilcoxon_signed_rank(diffs))


def compare_results(a: Sequence[GameResult], b: Sequence[GameResult], labels: tuple[str, str], *,
                    n_boot: int = DEFAULT_BOOTSTRAP, level: float = DEFAULT_LEVEL, seed: int = 0) -> list[Comparison]:
    groups: dict[tuple[str, str, str], tuple[list, list]] = defaultdict(lambda: ([], []))
    for side, results in enumerate((a, b)):
        for r in results:
            for corpus in (r.corpus, ALL):
                groups[(r.receiver, r.setting, corpus)][side].append(r)
    comparisons = [_compare_group(*groups[k], k, labels, n_boot, level, seed) for k in groups]
    return sorted(comparisons, key=lambda c: (c.receiver, c.setting, c.corpus == ALL, c.corpus))


def compare_files(path_a: str | Path, path_b: str | Path, *, sender_a: str | None = None, sender_b: str | None = None,
                  **options) -> list[Comparison]:
    label_a, a = _label(load_results([path_a]), path_a, sender_a)
    label_b, b = _label(load_results([path_b]), path_b, sender_b)
    if label_a == label_b:
        label_a, label_b = f"{label_a} ({Path(path_a).name})", f"{label_b} ({Path(path_b).name})"
    return compare_results(a, b, (label_a, label_b), **options)


def _fmt(value: float | None, digits: int = 3) -> str:
    return significant(value, digits)


def to_markdown(comparisons: Sequence[Comparison], level: float = DEFAULT_LEVEL) -> str:
    if not comparisons:
        return "No games to compare.\n"
    first = comparisons[0]
    lines = [f"A = {first.label_a}, B = {first.label_b}; difference = B - A per claim.", "",
             "| Receiver | Setting | Corpus | Pairs | Mean A | Mean B | B - A | CI | Wilcoxon p |",
             "|---|---|---|---:|---:|---:|---:|---|---:|"]
    for c in comparisons:
        d = c.difference
        ci = f"[{_fmt(d.low)}, {_fmt(d.high)}]" if d.has_ci else "n/a"
        lines.append(f"| {c.receiver} | {c.setting} | {c.corpus} | {c.n_pairs} | {_fmt(c.mean_a)} | {_fmt(c.mean_b)} | "
                     f"{_fmt(d.mean)} | {ci} | {_fmt(c.wilcoxon_p)} |")
    lines.append(f"\nCI: {level:.0%} paired bootstrap over claims. Wilcoxon signed-rank, two-sided, zero differences "
                 "(below 1e-5, float noise) dropped. With a --seed a game's texts do not depend on what else was batched "
                 "with it, so rerunning the same Sender gives zero differences (p n/a).")
    return "\n".join(lines) + "\n"


def write_comparison(comparisons: Sequence[Comparison], out_dir: str | Path, level: float = DEFAULT_LEVEL) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {"markdown": out / "compare.md", "csv": out / "compare.csv", "json": out / "compare.json"}
    write_text_atomic(to_markdown(comparisons, level), paths["markdown"])
    write_text_atomic(to_csv([c.as_row() for c in comparisons]), paths["csv"])
    payload = [{**c.as_row(), "difference": asdict(c.difference)} for c in comparisons]
    write_text_atomic(json.dumps(payload, indent=2), paths["json"])
    return paths
