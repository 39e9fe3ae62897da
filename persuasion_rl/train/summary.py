"""The closing summary of a training run, read back from what the run wrote.

verl dumps every validation's samples to ``RUN_DIR/validation/STEP.jsonl`` (one line per
sample: ``input``, ``output``, ``gts`` (the claim, the rows' ground truth), ``score`` and
the reward's extra-info columns: ``gain``, ``prior_score``, ``receiver_score``,
``argument_missing``, ``receiver_ok``, ``receiver_parse_retries``). The summary compares the
first validation (step 0 with ``trainer.val_before_train``: the untrained Sender) with the
last one: the mean persuasion gain over claims with a cluster-bootstrap 95% CI (claims are
the clusters: ``eval.stats``), how many Receiver turns had a readable score, how many
replies had no closed ``<argument>``, and example transcripts from the last validation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from persuasion_rl.errors import UserError
from persuasion_rl.files import read_jsonl
from persuasion_rl.eval.stats import Estimate, cluster_bootstrap
from persuasion_rl.game.parsing import parse_sender_reply
from persuasion_rl.verl_ext.metrics import GROUP_KEYS, GROUP_NAMES, integrity_summary

from .run_files import run_steps, training_steps

EXAMPLES = 3
GAIN_KEY = "persuasion/gain/mean"


class SummaryError(UserError):
    """A run directory without what a summary needs."""


@dataclass(frozen=True)
class ValidationSample:
    claim: str
    reply: str
    reward: float
    gain: float  # NaN where the Receiver was not asked or gave no score
    prior: float
    posterior: float
    argument_missing: bool
    asked: bool  # the Receiver read an argument
    readable: bool  # ... and gave a readable score
    first_try: bool  # ... on its first reply

    @property
    def argument(self) -> str:
        parsed = parse_sender_reply(self.reply)
        return (parsed.argument or self.reply).strip()


@dataclass(frozen=True)
class ValidationSummary:
    step: int
    samples: tuple[ValidationSample, ...]
    gain: Estimate  # mean over claims of the claim's mean gain (read arguments only)
    reward: Estimate  # the same for the reward (missing-argument penalties included)

    @property
    def n(self) -> int:
        return len(self.samples)

    def rate(self, attribute: str, among: str | None = None) -> tuple[int, int]:
        pool = [s for s in self.samples if among is None or getattr(s, among)]
        return sum(bool(getattr(s, attribute)) for s in pool), len(pool)


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    steps: int  # training steps logged
    first: ValidationSummary
    last: ValidationSummary
    train_gain: tuple[float | None, float | None]  # persuasion/gain/mean at the first and last step
    integrity: list[str] = field(default_factory=list)  # verl_ext.metrics.integrity_summary's lines
    groups: dict[str, float] = field(default_factory=dict)  # verl_ext.metrics' group/* metrics, mean over the steps


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _sample(entry: dict, path: Path, line: int) -> ValidationSample:
    missing = [k for k in ("gts", "output", "score", "prior_score", "receiver_score", "argument_missing") if k not in entry]
    if missing:
        raise SummaryError(f"{path}:{line}: validation sample lacks {missing} (not written by persuasion_rl's reward?)")
    gain, posterior = _number(entry.get("gain")), _number(entry["receiver_score"])
    asked = _number(entry.get("receiver_ok")) in (0.0, 1.0) if "receiver_ok" in entry else not _number(entry["argument_missing"]) == 1.0
    readable = math.isfinite(posterior)
    retries = _number(entry.get("receiver_parse_retries"))
    return ValidationSample(
        claim=str(entry["gts"]), reply=str(entry["output"]), reward=_number(entry["score"]), gain=gain,
        prior=_number(entry["prior_score"]), posterior=posterior, argument_missing=_number(entry["argument_missing"]) == 1.0,
        asked=asked or readable, readable=readable, first_try=readable and not retries > 0,
    )


def read_validation(path: Path) -> list[ValidationSample]:
    return [_sample(entry, path, number) for number, entry in read_jsonl(path)]


def _by_claim(samples, value) -> list[list[float]]:
    groups: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        groups[sample.claim].append(value(sample))
    return list(groups.values())


def summarize_validation(path: Path, seed: int = 0) -> ValidationSummary:
    samples = tuple(read_validation(path))
    return ValidationSummary(
        step=int(path.stem), samples=samples,
        gain=cluster_bootstrap(_by_claim(samples, lambda s: s.gain), seed=seed),
        reward=cluster_bootstrap(_by_claim(samples, lambda s: s.reward), seed=seed),
    )


def validation_files(run_dir: Path) -> list[Path]:
    folder = run_dir / "validation"
    files = [p for p in folder.glob("*.jsonl") if p.stem.isdigit()] if folder.is_dir() else []
    return sorted(files, key=lambda p: int(p.stem))


def _train_gains(trained: dict[int, dict]) -> tuple[float | None, float | None]:
    """The first and last mean gain of the training steps."""
    gains = [row.get(GAIN_KEY) for row in trained.values()]
    gains = [g for g in gains if isinstance(g, (int, float)) and math.isfinite(g)]
    return (gains[0], gains[-1]) if gains else (None, None)


def _group_signal(trained: dict[int, dict]) -> dict[str, float]:
    """The mean over the steps of each group metric (``persuasion/group/within_std`` -> ``within_std``)."""
    means = {}
    for key in GROUP_KEYS:
        values = [row[key] for row in trained.values() if isinstance(row.get(key), (int, float)) and math.isfinite(row[key])]
        if values:
            means[key.rsplit("/", 1)[-1]] = sum(values) / len(values)
    return means


def summarize_run(run_dir: str | Path) -> RunSummary:
    run_dir = Path(run_dir)
    files = validation_files(run_dir)
    if not files:
        raise SummaryError(f"{run_dir}/validation has no STEP.jsonl: the run wrote no validation "
                           "(set trainer.test_freq and trainer.val_before_train=true)")
    trained = training_steps(run_steps(run_dir))
    return RunSummary(run_dir, len(trained), summarize_validation(files[0]), summarize_validation(files[-1]),
                      _train_gains(trained), integrity_summary(trained).lines(), _group_signal(trained))


def example_samples(validation: ValidationSummary, count: int = EXAMPLES) -> list[ValidationSample]:
    """The most, the median and the least persuasive read arguments (distinct claims first)."""
    read = sorted((s for s in validation.samples if math.isfinite(s.gain)), key=lambda s: (-s.gain, s.claim))
    if len(read) <= count:
        return read
    picks = [read[0], read[len(read) // 2], read[-1]][:count]
    return list(dict.fromkeys(picks))


def _ci(estimate: Estimate) -> str:
    if estimate.mean is None:
        return "n/a (no read argument)"
    interval = f"[{estimate.low:+.3f}, {estimate.high:+.3f}]" if estimate.has_ci else "(no CI: one claim)"
    return f"{estimate.mean:+.3f}  95% CI {interval}  over {estimate.n_clusters} claims"


def _share(count: tuple[int, int]) -> str:
    hits, total = count
    return f"{hits}/{total} ({hits / total:.0%})" if total else "0/0"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validation_lines(label: str, validation: ValidationSummary) -> list[str]:
    return [
        f"{label} (step {validation.step}, {validation.n} replies):",
        f"  gain (posterior - prior, read arguments)   {_ci(validation.gain)}",
        f"  reward (missing argument = penalty)        {_ci(validation.reward)}",
        f"  readable Receiver scores                   {_share(validation.rate('readable', among='asked'))}"
        f"   (first try {_share(validation.rate('first_try', among='asked'))})",
        f"  replies without an argument              {_share(validation.rate('argument_missing'))}",
    ]


def format_summary(summary: RunSummary, text_limit: int = 400) -> str:
    first, last = summary.first, summary.last
    lines = [f"=== persuasion summary: {summary.run_dir} ({summary.steps} training steps) ==="]
    lines += _validation_lines("first validation", first)
    if last.step != first.step:
        lines += _validation_lines("last validation", last)
        if first.gain.mean is not None and last.gain.mean is not None:
            lines.append(f"change in mean validation gain: {last.gain.mean - first.gain.mean:+.3f} "
                         "(compare the intervals above; `persuasion-rl eval` gives a paired test)")
    else:
        lines.append("(one validation only: set trainer.val_before_train=true and trainer.test_freq to compare)")
    start, end = summary.train_gain
    if start is not None:
        lines.append(f"training gain per step (persuasion/gain/mean): first {start:+.3f}, last {end:+.3f}")
    groups = summary.groups
    if set(GROUP_NAMES) <= groups.keys():
        # GRPO learns from the spread among one claim's replies; a small one means a weak signal
        lines.append(f"reward spread per step (mean): among one claim's replies {groups['within_std']:.3f}, "
                     f"between claims {groups['between_std']:.3f}; groups with one reward for all {groups['flat_share']:.0%}")
    lines += summary.integrity
    examples = example_samples(last)
    if examples:
        lines.append(f"example transcripts (step {last.step}: most, median and least persuasive):")
    for number, sample in enumerate(examples, 1):
        lines += [f"  [{number}] claim: {sample.claim}",
                  f"      argument: {_shorten(sample.argument, text_limit)}",
                  f"      Receiver: {sample.prior:.2f} -> {sample.posterior:.2f} (gain {sample.gain:+.2f})"]
    return "\n".join(lines)
