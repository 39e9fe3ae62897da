"""``persuasion-rl data priors``: the Receiver's opening turn and prior confidence per claim.

    persuasion-rl data priors --receiver SPEC --claims data/claims.parquet --out data/priors.parquet

For every claim of the table (or of ``--split`` / ``--eval-only``) the Receiver's opening
reply is computed through the Receivers' ``PriorCache`` (JSON lines, ``--cache``), and
its calibrated prior confidence, P("yes") from log-probabilities (``receivers/
confidence.py``, paper Figure 3/6), through a ``ConfidenceCache`` (``--confidence-cache``).
Calls run concurrently (the local backend micro-batches them; an endpoint gets them in
parallel) with a progress bar; both caches are appended and fsynced per claim, so an
interrupted run resumes where it stopped and a rerun costs nothing.

The output is the priors table ``data export`` reads (``priors.py``: claim_id, reply,
claim, receiver, prompt_version) with more columns: ``score`` (the prior score in the
scoring mode), ``score_error``, ``scoring_mode``, ``p_yes``, ``yes_mass``, ``no_mass``,
``confidence_error``. A claim whose Receiver call failed has no row (the export then names
it); an unreadable reply is written with ``score`` null and counted. The exit status is 1
when any call failed: rerun to fill the gaps.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ..receivers.confidence import DEFAULT_MIN_MASS, DEFAULT_TOP_K, ConfidenceCache
from ..receivers.prior_cache import PriorCache, PriorRequest, opening_turns
from ..receivers.receiver import ScoringConfig
from ..receivers.scoring import ScoringMode

from ..files import write_parquet_atomic
from .claims import ClaimRecord, count_by_corpus_split, format_counts, read_claims
from .errors import DataError
from .priors import PRIORS_SCHEMA
from .subsets import read_ids, select_ids, stratified_limit

log = logging.getLogger(__name__)

PRIORS_TABLE_SCHEMA = pa.schema([
    *PRIORS_SCHEMA,
    pa.field("score", pa.float64()),
    pa.field("score_error", pa.string()),
    pa.field("scoring_mode", pa.string()),
    pa.field("p_yes", pa.float64()),
    pa.field("yes_mass", pa.float64()),
    pa.field("no_mass", pa.float64()),
    pa.field("confidence_error", pa.string()),
])


@dataclass(frozen=True)
class PriorsOptions:
    concurrency: int = PriorRequest.concurrency
    confidence: bool = True
    confidence_top_k: int = DEFAULT_TOP_K
    confidence_min_mass: float = DEFAULT_MIN_MASS
    progress: bool = True


@dataclass
class PriorsReport:
    claims: int = 0
    cached: int = 0
    unreadable: int = 0  # replies with no score or no message for the Sender
    call_failures: list[str] = field(default_factory=list)  # claim ids
    confidence_unreadable: int = 0


def _row(record: ClaimRecord, outcome, receiver, report: PriorsReport) -> dict | None:
    if outcome.turn is None:
        report.call_failures.append(record.id)
        return None
    turn = outcome.turn
    report.cached += outcome.cached
    report.unreadable += not turn.opens_game
    row = {"claim_id": record.id, "reply": turn.reply.raw, "claim": record.claim, "receiver": receiver.backend.name,
           "prompt_version": receiver.prompts.receiver_prompt, "score": turn.mode_score, "score_error": turn.error,
           "scoring_mode": receiver.scoring.mode.value,
           # the column `data export` reads for the expected mode (NaN here made every row look unscored)
           "expected_score": turn.mode_score if receiver.scoring.mode.value == "expected" else None}
    if outcome.confidence is not None:
        probe = outcome.confidence
        report.confidence_unreadable += not probe.ok
        row.update(p_yes=probe.p_yes, yes_mass=probe.yes_mass, no_mass=probe.no_mass, confidence_error=probe.error)
    return row


async def _opening_turns_then_close(receiver, claims: Sequence[str], request) -> list:
    try:
        return await opening_turns(receiver, claims, request)
    finally:
        close = getattr(receiver.backend, "aclose", None)
        if close is not None:
            await close()


def compute_priors(records: Sequence[ClaimRecord], receiver, cache: str | Path, confidence_cache: str | Path,
                   options: PriorsOptions = PriorsOptions()) -> tuple[list[dict], PriorsReport]:
    """Rows of the priors table for ``records`` (in their order) and what happened."""
    report = PriorsReport(claims=len(records))
    request = PriorRequest(PriorCache(cache), ConfidenceCache(confidence_cache) if options.confidence else None,
                           options.confidence_top_k, options.confidence_min_mass, options.concurrency, options.progress)
    outcomes = asyncio.run(_opening_turns_then_close(receiver, [r.claim for r in records], request))
    rows = [_row(record, outcome, receiver, report) for record, outcome in zip(records, outcomes, strict=True)]
    return [r for r in rows if r is not None], report


def write_priors_table(rows: Sequence[dict], path: str | Path) -> Path:
    path = Path(path)
    full = [{f.name: row.get(f.name) for f in PRIORS_TABLE_SCHEMA} for row in rows]
    write_parquet_atomic(pa.Table.from_pylist(full, schema=PRIORS_TABLE_SCHEMA), path)
    return path


def select_records(records: Sequence[ClaimRecord], splits: Sequence[str] | None, eval_only: bool, limit: int | None,
                   path: Path, ids: Sequence[str] | None = None) -> list[ClaimRecord]:
    """The claims ``--split``, ``--eval-only``, ``--ids`` and ``--limit`` (spread over
    corpora) choose; ``data priors`` and ``data export`` select alike."""
    chosen = [r for r in records if (not splits or r.split in splits) and (not eval_only or r.eval)]
    chosen, unknown = select_ids(chosen, ids, lambda r: r.id)
    if unknown:
        raise DataError(path, f"{len(unknown)} --ids not among the selected claims, e.g. {unknown[:5]}", field="id")
    chosen = stratified_limit(chosen, limit, lambda r: r.source)
    if not chosen:
        raise DataError(path, "no claims selected (check --split / --eval-only / --ids)", field="split" if splits else "eval")
    return chosen


def _cmd_priors(args: argparse.Namespace) -> int:
    from ..assets.models import receiver_defaults
    from ..game import PromptConfig
    from ..receivers import Receiver
    from ..receivers.factory import make_backend

    records = select_records(read_claims(args.claims), args.split, args.eval_only, args.limit, args.claims, read_ids(args.ids))
    chosen = receiver_defaults(args.receiver, args.receiver_prompt, args.min_digit_mass)  # as eval and training play it
    scoring = ScoringConfig(mode=args.mode, reply_max_tokens=args.max_tokens, top_logprobs=args.top_logprobs,
                            min_digit_mass=chosen.min_digit_mass)
    receiver = Receiver(make_backend(args.receiver), PromptConfig(receiver_prompt=chosen.receiver_prompt), scoring)
    out = Path(args.out)
    options = PriorsOptions(args.concurrency, not args.no_confidence, args.confidence_top_k, args.confidence_min_mass, not args.no_progress)
    rows, report = compute_priors(records, receiver, args.cache or out.with_suffix(".cache.jsonl"),
                                  args.confidence_cache or out.with_suffix(".confidence.jsonl"), options)
    write_priors_table(rows, out)
    log.info("wrote %s: %d priors (%d from cache), %d unreadable replies, %d unreadable confidences, %d failed calls",
             out, len(rows), report.cached, report.unreadable, report.confidence_unreadable, len(report.call_failures))
    by_id = {r.id: r for r in records}
    print(format_counts(count_by_corpus_split(by_id[row["claim_id"]] for row in rows)))
    if report.call_failures:
        log.error("%d claims have no prior because the Receiver call failed (e.g. %s); rerun to fill them in",
                  len(report.call_failures), ", ".join(report.call_failures[:5]))
        return 1
    return 0


def add_subset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ids", nargs="+", default=None, metavar="ID_OR_FILE",
                   help="only these claim ids (comma-separated, or files with one id per line)")
    p.add_argument("--limit", type=int, default=None,
                   help="only N of the selected claims, spread evenly over the corpora (the same N claims in every command)")


def add_priors_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("priors", help="compute the Receiver's opening turns and prior confidence P(yes) per claim")
    p.add_argument("--receiver", required=True, help="tiny, hf:PATH or openai:URL#MODEL")
    p.add_argument("--claims", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="priors table to write (parquet), read by `data export`")
    p.add_argument("--cache", type=Path, default=None, help="prior cache, JSON lines (default: <out>.cache.jsonl)")
    p.add_argument("--confidence-cache", type=Path, default=None, help="default: <out>.confidence.jsonl")
    p.add_argument("--split", action="append", default=None, help="only claims of this split (repeatable)")
    p.add_argument("--eval-only", action="store_true", help="only the evaluation subset")
    add_subset_options(p)
    from ..receivers.cli import add_receiver_prompt_options

    add_receiver_prompt_options(p)
    p.add_argument("--mode", choices=[m.value for m in ScoringMode], default=ScoringConfig.mode.value,
                   help="scoring mode of the prior score")
    p.add_argument("--max-tokens", type=int, default=ScoringConfig.reply_max_tokens, help="token budget of the Receiver's reply")
    p.add_argument("--top-logprobs", type=int, default=ScoringConfig.top_logprobs)
    p.add_argument("--no-confidence", action="store_true")
    p.add_argument("--confidence-top-k", type=int, default=DEFAULT_TOP_K, help="next tokens asked for (vLLM caps at 20 by default)")
    p.add_argument("--confidence-min-mass", type=float, default=DEFAULT_MIN_MASS,
                   help="least probability on yes/no for a readable confidence")
    p.add_argument("--concurrency", type=int, default=PriorsOptions.concurrency)
    p.add_argument("--no-progress", action="store_true")
    return p
