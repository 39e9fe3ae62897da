"""``persuasion-rl data ...``: build, merge, summarise and export the claims.

Typical run::

    persuasion-rl data build --source perspectrum --input perspectrum/ --out data/
    persuasion-rl data build --source anthropic --input persuasion_data.csv --out data/
    persuasion-rl data summarize --claims data/ddo.claims.parquet --out data/ddo.claims.parquet \\
        --cache data/summaries.jsonl --model openai:http://host:8000/v1#<model>
    persuasion-rl data priors --receiver openai:http://host:8000/v1#<model> \\
        --claims data/claims.parquet --out data/priors.parquet
    persuasion-rl data merge data/*.claims.parquet --out data/claims.parquet
    persuasion-rl data export --claims data/claims.parquet --priors data/priors.parquet \\
        --setting static --out data/static/

Progress and details go to the log; each command prints one table of counts per corpus
and split to stdout. Bad input exits with status 2 and the ``DataError`` message.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..game.prompts import DEFAULT_SENDER_WORD_LIMIT, PromptConfig, Setting
from .build import HUB_SOURCES, SOURCES, build_from_hub, build_source, write_build
from .claims import ALLOCATIONS, DEFAULT_EVAL_SIZE, SPLITS, count_by_corpus_split, format_counts, merge_claims, read_claims, write_claims
from .errors import DataError
from .export import export_splits
from .priors import load_prior_files
from .priors_cli import _cmd_priors, add_priors_parser, add_subset_options, select_records
from .subsets import read_ids
from .summarize import DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS, summarize_claims

log = logging.getLogger(__name__)

DEFAULT_SUMMARY_BACKEND = "persuasion_rl.data.chat_adapter:make"


def _fractions(text: str) -> tuple[tuple[str, float], ...]:
    """``"0.8,0.1,0.1"`` -> train/dev/test fractions."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three numbers like 0.8,0.1,0.1, got {text!r}") from None
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected three non-negative numbers like 0.8,0.1,0.1, got {text!r}")
    return tuple(zip(SPLITS, values))


def _usage_error(message: str) -> None:
    log.error("%s", message)
    raise SystemExit(2)


def _print_counts(records) -> None:
    print(format_counts(count_by_corpus_split(records)))


def _cmd_build(args: argparse.Namespace) -> None:
    if (args.input is None) == (args.hub is None):
        _usage_error(f"data build: give either --input PATH or --hub [NAME] (online, {'/'.join(HUB_SOURCES)} only)")
    if args.hub is not None:  # pragma: no cover - needs network
        if args.source not in HUB_SOURCES or (args.source == "cmv" and not args.hub):
            _usage_error(f"data build: --hub supports {'/'.join(HUB_SOURCES)}; cmv needs a dataset name")
        result = build_from_hub(args.source, args.hub or None, split=args.hub_split, split_fractions=args.split_fractions)
    else:
        result = build_source(args.source, args.input, split_fractions=args.split_fractions)
    write_build(result, args.out)
    if result.priors:
        log.info("%d Receiver priors taken from the input", len(result.priors))
    _print_counts(result.claims)


def _cmd_merge(args: argparse.Namespace) -> None:
    tables = [read_claims(path) for path in args.inputs]
    merged = merge_claims(tables, eval_size=args.eval_size, allocation=args.eval_allocation, seed=args.seed)
    write_claims(merged, args.out)
    log.info("wrote %s (%d claims, %d in the evaluation subset)", args.out, len(merged), sum(r.eval for r in merged))
    _print_counts(merged)


def _export_selection(records, args: argparse.Namespace, priors) -> list:
    """``--ids`` / ``--limit`` as ``data priors`` chooses them (over the claims of the
    splits written); ``--only-with-priors`` keeps the claims that have a prior."""
    if args.ids or args.limit is not None:
        records = select_records(records, args.splits, False, args.limit, args.claims, read_ids(args.ids))
    if args.only_with_priors:
        kept = [r for r in records if r.id in priors or any(d in priors for d in r.duplicate_ids)]
        log.warning("--only-with-priors: exporting %d of %d claims (the others have no Receiver prior)", len(kept), len(records))
        records = kept
    return records


def _cmd_export(args: argparse.Namespace) -> None:
    records = read_claims(args.claims)
    priors = load_prior_files(args.priors, records, receiver=args.receiver)
    records = _export_selection(records, args, priors)
    config = PromptConfig(setting=Setting(args.setting), sender_word_limit=args.sender_word_limit)
    paths = export_splits(
        records, priors, args.setting, args.out, splits=args.splits, include_eval=not args.no_eval,
        config=config, allow_unsummarized=args.allow_unsummarized,
        priors_name=", ".join(str(p) for p in args.priors),
    )
    exported = [r for r in records if r.split in paths]
    log.info("evaluation subset: %d rows", sum(r.eval for r in exported) if "eval" in paths else 0)
    _print_counts(exported)


def load_backend(spec: str, model: str) -> Any:
    """``"package.module:factory"`` -> ``factory(model)``: any object with ``generate``."""
    module_name, _, attr = spec.partition(":")
    if not attr:
        _usage_error(f"--backend must look like package.module:factory, got {spec!r}")
    factory: Callable[[str], Any] = getattr(importlib.import_module(module_name), attr)
    return factory(model)


def _cmd_summarize(args: argparse.Namespace) -> None:
    records = read_claims(args.claims)
    backend = load_backend(args.backend, args.model)
    try:
        updated, report = summarize_claims(
            records, backend, model_name=args.model_name or args.model, cache_path=args.cache,
            corpora=args.corpus, include_titled=args.include_titled,
            batch_size=args.batch_size, max_tokens=args.max_tokens, progress=not args.no_progress,
        )
    finally:
        if hasattr(backend, "close"):
            backend.close()
    write_claims(updated, args.out)
    log.info("wrote %s; %d summarised, %d failures, %d still need a summary", args.out, report.ok, report.failures, sum(r.needs_summary for r in updated))
    _print_counts(updated)


def _run(handler: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int]:
    """Exit status 2 with the error's message for bad input, instead of a traceback; else
    the handler's status (0 when it returns None)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args) or 0
        except DataError as exc:
            log.error("%s", exc)
            return 2

    return run


def _add_build(sub) -> None:
    p = sub.add_parser("build", help="read one corpus in its upstream format into a claims table")
    p.add_argument("--source", required=True, choices=SOURCES)
    p.add_argument("--input", type=Path, help="the upstream file or folder")
    p.add_argument("--hub", nargs="?", const="", default=None, metavar="NAME",
                   help=f"online only, untested: load {'/'.join(HUB_SOURCES)} with the datasets library "
                        "(anthropic defaults to Anthropic/persuasion)")
    p.add_argument("--hub-split", default="train", help="split of the hub dataset")
    p.add_argument("--out", required=True, type=Path, help="folder for <source>.claims.parquet (+ priors)")
    p.add_argument("--split-fractions", type=_fractions, default=_fractions("0.8,0.1,0.1"),
                   help="train,dev,test fractions of the hash split, for corpora without their own split")
    p.set_defaults(func=_run(_cmd_build))


def _add_merge(sub) -> None:
    p = sub.add_parser("merge", help="join claims tables, drop duplicates, choose the evaluation subset")
    p.add_argument("inputs", nargs="+", type=Path, help="claims tables (*.claims.parquet)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--eval-size", type=int, default=DEFAULT_EVAL_SIZE)
    p.add_argument("--eval-allocation", choices=ALLOCATIONS, default="proportional")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation draw")
    p.set_defaults(func=_run(_cmd_merge))


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write verl RL parquet files for one setting")
    p.add_argument("--claims", required=True, type=Path)
    p.add_argument("--priors", required=True, type=Path, nargs="+",
                   help="prior tables (*.priors.parquet) or Receiver prior caches (*.jsonl); later ones win")
    p.add_argument("--receiver", default=None, help="which Receiver's priors to take from a *.jsonl cache holding several")
    p.add_argument("--setting", required=True, choices=[s.value for s in Setting])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--splits", nargs="+", default=None, help="splits to write (default: all present)")
    p.add_argument("--no-eval", action="store_true", help="do not write eval.parquet")
    add_subset_options(p)
    p.add_argument("--only-with-priors", action="store_true",
                   help="export only the claims with a Receiver prior (by default every selected claim needs one)")
    p.add_argument("--sender-word-limit", type=int, default=DEFAULT_SENDER_WORD_LIMIT)
    p.add_argument("--allow-unsummarized", action="store_true", help="export provisional (title) claims as they are")
    p.set_defaults(func=_run(_cmd_export))


def _add_summarize(sub) -> None:
    p = sub.add_parser("summarize", help="summarise provisional claims with an LLM (paper Table 8)")
    p.add_argument("--claims", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="claims table to write (may be --claims)")
    p.add_argument("--cache", required=True, type=Path, help="JSON-lines summary cache (resumable)")
    p.add_argument("--backend", default=DEFAULT_SUMMARY_BACKEND,
                   help="package.module:factory, called with --model (the project's backends, "
                        "for which --model is tiny, hf:PATH or openai:URL#MODEL)")
    p.add_argument("--model", required=True)
    p.add_argument("--model-name", default=None, help="name in the cache key (default: --model)")
    p.add_argument("--corpus", action="append", default=None, help="only these corpora (repeatable)")
    p.add_argument("--include-titled", action="store_true", help="also summarise claims cut from titles (CMV)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run(_cmd_summarize))


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``data`` command and its subcommands to a top-level CLI."""
    data = subparsers.add_parser("data", help="build, merge, summarise and export the claims datasets")
    sub = data.add_subparsers(dest="data_command", metavar="{build,merge,export,summarize,priors}", required=True)
    for add in (_add_build, _add_merge, _add_export, _add_summarize):
        add(sub)
    add_priors_parser(sub).set_defaults(func=_run(_cmd_priors))
    return data
