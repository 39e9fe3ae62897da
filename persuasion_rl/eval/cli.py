"""``persuasion-rl eval | analyze | report``.

    persuasion-rl eval --sender SPEC --receiver SPEC [--receiver SPEC ...] --claims FILE \\
        --setting static|dynamic|both --samples K --out DIR
    persuasion-rl eval table DIR_OR_JSONL ... [--out DIR]       # the results table of several runs
    persuasion-rl eval compare A.jsonl B.jsonl [--out DIR]      # paired: B - A per claim
    persuasion-rl analyze confidence|similarity|strategies|scaling DIR_OR_JSONL ... [--out DIR]
    persuasion-rl report DIR

Model specs: ``tiny``, ``hf:PATH`` or a local folder (an exported checkpoint), a Hugging
Face id already in the local cache, ``openai:http://host:port/v1#model``. Progress goes to
stderr, tables to stdout; bad input exits with status 2 and a message naming the file,
line and field.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..receivers.confidence import DEFAULT_MIN_MASS, DEFAULT_TOP_K
from ..receivers.receiver import ScoringConfig
from ..receivers.scoring import ScoringMode

log = logging.getLogger(__name__)

SETTING_CHOICES = {"static": ("static",), "dynamic": ("dynamic",), "both": ("static", "dynamic")}


# ---- eval -------------------------------------------------------------------------------


def _receivers(args: argparse.Namespace):
    from ..receivers import Receiver, ScoringConfig
    from .inputs import default_name, make_model_backend
    from .runner import ReceiverModel

    from ..assets.models import receiver_defaults
    from ..game import PromptConfig

    models = []
    for spec in args.receiver:
        # a named model is played with its measured prompt version and threshold unless a flag says otherwise
        chosen = receiver_defaults(spec, args.receiver_prompt, args.min_digit_mass)
        scoring = ScoringConfig(mode=args.mode, reply_max_tokens=args.receiver_max_tokens, temperature=args.receiver_temperature,
                                top_logprobs=args.top_logprobs, min_digit_mass=chosen.min_digit_mass)
        prompts = PromptConfig(receiver_prompt=chosen.receiver_prompt)
        backend = make_model_backend(spec, "receiver")
        models.append(ReceiverModel(default_name(spec, backend, "receiver"), Receiver(backend, prompts, scoring), spec))
    return models


def _sender(args: argparse.Namespace):
    from .inputs import count_parameters, default_name, make_model_backend, parse_count
    from .records import EvalInputError
    from .runner import SenderModel

    backend = make_model_backend(args.sender, "sender")
    try:
        params = parse_count(args.sender_params) if args.sender_params else count_parameters(backend)
    except ValueError as error:
        raise EvalInputError(f"--sender-params: {error}") from None
    return SenderModel(args.sender_name or default_name(args.sender, backend, "sender"), backend, args.sender, params)


def _config(args: argparse.Namespace):
    from ..assets.models import sender_defaults
    from .runner import EvalConfig, SenderSampling

    sender = sender_defaults(args.sender, args.sender_prompt, args.sender_word_limit, args.sender_max_tokens)
    sampling = SenderSampling(max_tokens=sender.max_tokens, temperature=args.sender_temperature, top_p=args.sender_top_p)
    return EvalConfig(
        out_dir=args.out, settings=SETTING_CHOICES[args.setting], samples=args.samples, concurrency=args.concurrency,
        missing_argument=args.missing_argument, sender_prompt=sender.sender_prompt, sender_word_limit=sender.sender_word_limit, final_reply=not args.no_final_reply, sender_sampling=sampling,
        confidence=not args.no_confidence, confidence_top_k=args.confidence_top_k, confidence_min_mass=args.confidence_min_mass,
        retry_failed=args.retry_failed, progress=not args.no_progress, seed=args.seed, n_boot=args.bootstrap,
        prior_cache=args.prior_cache,
    )


def _cmd_eval(args: argparse.Namespace) -> int:
    from .inputs import ClaimSelection, load_claims
    from .records import EvalInputError

    missing = [f"--{n}" for n in ("sender", "receiver", "claims", "out") if not getattr(args, n)]
    if missing:
        raise EvalInputError(f"eval needs {', '.join(missing)} (or a subcommand: table, compare)")
    if args.samples > 1 and args.receiver_temperature == 0.0 and args.sender_temperature == 0.0:
        log.warning("--samples %d with both temperatures at 0: the samples will be identical", args.samples)
    claims = load_claims(args.claims, ClaimSelection(args.subset, args.split, args.limit))
    config = _config(args)
    from .runner import run_eval

    report = run_eval(claims, _sender(args), _receivers(args), config)
    print(Path(report.tables["markdown"]).read_text(encoding="utf-8"))
    kinds = f" {dict(report.failures)}" if report.failures else ""
    print(f"games: {report.planned} planned, {report.skipped} already done, {report.played} played "
          f"({report.ok} finished, {sum(report.failures.values())} failed{kinds})")
    print(f"transcripts: {report.transcripts}\ntables: {', '.join(str(p) for p in report.tables.values())}")
    if report.played and report.failures.get("sender_parse", 0) * 2 > report.played:
        print(f"hint: most games failed sender_parse (no closed <argument>): read what the Sender wrote with "
              f"`persuasion-rl show {config.out_dir} --failed`; --missing-argument raw scores the reply itself")
    return 0


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sender", help="Sender model spec")
    p.add_argument("--sender-name", default=None, help="name in the results (default: from the spec)")
    p.add_argument("--sender-params", default=None, help="parameter count for the scaling fit, e.g. 8B (counted for local models)")
    p.add_argument("--receiver", action="append", help="Receiver model spec (repeatable)")
    p.add_argument("--claims", type=Path, help="claims table (parquet) or JSON lines {id, claim, source}")
    p.add_argument("--subset", choices=["auto", "eval", "all"], default="auto",
                   help="auto: the table's evaluation subset when it marks one, else every claim")
    p.add_argument("--split", default=None, help="only claims of this split")
    p.add_argument("--limit", type=int, default=None, help="only N claims, spread evenly over the corpora")
    p.add_argument("--setting", choices=list(SETTING_CHOICES), default="both")
    p.add_argument("--samples", type=int, default=1, help="games per claim, setting and Receiver (K)")
    p.add_argument("--out", type=Path, help="results folder (transcripts.jsonl, results.md/csv; reruns resume)")
    p.add_argument("--mode", choices=[m.value for m in ScoringMode], default=ScoringConfig.mode.value, help="Receiver scoring mode")
    p.add_argument("--receiver-temperature", type=float, default=ScoringConfig.temperature)
    p.add_argument("--receiver-max-tokens", type=int, default=ScoringConfig.reply_max_tokens)
    p.add_argument("--top-logprobs", type=int, default=ScoringConfig.top_logprobs, help="expected scoring: next tokens asked for")
    from ..receivers.cli import add_receiver_prompt_options

    add_receiver_prompt_options(p)
    from ..game.prompts import SENDER_PROMPTS

    p.add_argument("--sender-prompt", choices=list(SENDER_PROMPTS), default=None,
                   help="the Sender prompt's version (default: the named model's, e.g. small-v1 for smollm2; else paper-v1)")
    p.add_argument("--sender-word-limit", type=int, default=None,
                   help="the Sender's word limit in its prompt (default: the named model's, e.g. 40 for smollm2; else 250)")
    p.add_argument("--sender-max-tokens", type=int, default=None,
                   help="a cap on each Sender reply (default: the named model's, e.g. 64 for smollm2; else 1024)")
    p.add_argument("--sender-temperature", type=float, default=0.7)
    p.add_argument("--sender-top-p", type=float, default=1.0)
    p.add_argument("--missing-argument", choices=["penalty", "raw"], default="penalty",
                   help="a reply without <argument>: a failed game (penalty, default) or the raw reply as the argument")
    p.add_argument("--no-final-reply", action="store_true", help="do not generate the Receiver's last reply text")
    p.add_argument("--no-confidence", action="store_true", help="skip the prior-confidence probe")
    p.add_argument("--prior-cache", type=Path, default=None,
                   help="the Receivers' opening turns, JSON lines (default: OUT/priors.jsonl); share one file between "
                        "evaluations of several Senders and each prior is computed once")
    p.add_argument("--confidence-top-k", type=int, default=DEFAULT_TOP_K)
    p.add_argument("--confidence-min-mass", type=float, default=DEFAULT_MIN_MASS)
    p.add_argument("--concurrency", type=int, default=8, help="games in flight")
    p.add_argument("--retry-failed", action="store_true", help="also replay games that failed on parsing")
    p.add_argument("--no-progress", action="store_true")
    _add_stats_options(p)


def _add_stats_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)


def _cmd_table(args: argparse.Namespace) -> int:
    from .records import merge_results
    from .table import build_table, to_markdown, write_table

    results, merged = merge_results(args.inputs, prefer=args.prefer, settings=args.settings)
    table = build_table(results, n_boot=args.bootstrap, seed=args.seed)
    out = args.out or _default_dir(args.inputs)
    paths = write_table(table, out)
    print(to_markdown(table))
    print(f"merged {merged.summary()}; wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _add_merge_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefer", action="append", default=[], metavar="FILE_OR_FOLDER",
                   help="when files hold the same game with different results or settings, take it from here (repeatable)")
    p.add_argument("--settings", action="append", default=[], metavar="KEY",
                   help="only games of this settings key (the records' settings_key; repeatable)")


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_files, to_markdown, write_comparison

    comparisons = compare_files(args.a, args.b, sender_a=args.sender_a, sender_b=args.sender_b, n_boot=args.bootstrap, seed=args.seed)
    print(to_markdown(comparisons))
    if args.out:
        paths = write_comparison(comparisons, args.out)
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _add_eval(subparsers) -> None:
    p = subparsers.add_parser("eval", help="play evaluation games; tables and paired comparisons of results",
                              description="Play a Sender against Receivers on claims (resumable), or a subcommand.")
    _add_run_options(p)
    p.set_defaults(func=_cmd_eval)
    sub = p.add_subparsers(dest="eval_command", metavar="{table,compare}")
    table = sub.add_parser("table", help="the results table of one or more runs")
    table.add_argument("inputs", nargs="+", help="transcripts files or results folders")
    table.add_argument("--out", type=Path, default=None, help="folder for results.md/csv (default: the first folder)")
    _add_merge_options(table)
    _add_stats_options(table)
    table.set_defaults(func=_cmd_table)
    compare = sub.add_parser("compare", help="paired per-claim comparison of two runs (B - A)")
    compare.add_argument("a", type=Path, help="transcripts of A (e.g. the base Sender)")
    compare.add_argument("b", type=Path, help="transcripts of B (e.g. the trained Sender)")
    compare.add_argument("--sender-a", default=None, help="Sender of A when the file holds several")
    compare.add_argument("--sender-b", default=None)
    compare.add_argument("--out", type=Path, default=None, help="folder for compare.md/csv/json")
    _add_stats_options(compare)
    compare.set_defaults(func=_cmd_compare)


# ---- analyze ----------------------------------------------------------------------------


def _default_dir(inputs) -> Path:
    first = Path(inputs[0])
    return first if first.is_dir() else first.parent


def _analysis_out(args: argparse.Namespace) -> Path:
    return args.out or _default_dir(args.inputs) / "analysis"


def _print_paths(paths: dict[str, Path]) -> int:
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _cmd_confidence(args: argparse.Namespace) -> int:
    from .analysis.confidence import parse_edges, run_confidence_analysis

    return _print_paths(run_confidence_analysis(args.inputs, _analysis_out(args), edges=parse_edges(args.edges), priors=args.priors,
                                                priors_receiver=args.priors_receiver, n_boot=args.bootstrap, seed=args.seed))


def _cmd_similarity(args: argparse.Namespace) -> int:
    from .analysis.similarity import run_similarity_analysis

    return _print_paths(run_similarity_analysis(args.inputs, _analysis_out(args), across=args.across, n_boot=args.bootstrap, seed=args.seed))


def _cmd_strategies(args: argparse.Namespace) -> int:
    from .analysis.strategies import run_strategy_analysis
    from .inputs import make_model_backend

    classifier = make_model_backend(args.classifier, "receiver")
    return _print_paths(run_strategy_analysis(args.inputs, _analysis_out(args), classifier, max_tokens=args.max_tokens,
                                              concurrency=args.concurrency, progress=not args.no_progress))


def _cmd_scaling(args: argparse.Namespace) -> int:
    from .analysis.scaling import parse_params, run_scaling_analysis

    return _print_paths(run_scaling_analysis(args.inputs, _analysis_out(args), params=parse_params(args.params),
                                             n_boot=args.bootstrap, seed=args.seed))


def _analysis_parser(sub, name: str, help_text: str, handler) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text)
    p.add_argument("inputs", nargs="+", help="transcripts files or results folders")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: <first folder>/analysis)")
    _add_stats_options(p)
    p.set_defaults(func=handler)
    return p


def _add_analyze(subparsers) -> None:
    p = subparsers.add_parser("analyze", help="analyses of evaluation transcripts (PNG + CSV/JSON)")
    sub = p.add_subparsers(dest="analyze_command", required=True)
    confidence = _analysis_parser(sub, "confidence", "gains by the Receiver's prior confidence P(yes) (Figure 3)", _cmd_confidence)
    confidence.add_argument("--edges", default="0,0.25,0.5,0.75,1", help="bin edges of P(yes)")
    confidence.add_argument("--priors", type=Path, default=None, help="priors table of `data priors` with p_yes")
    confidence.add_argument("--priors-receiver", default=None, help="Receiver (as named in the transcripts) the table is for")
    similarity = _analysis_parser(sub, "similarity", "semantic similarity of Sender messages per turn (Figure 4)", _cmd_similarity)
    similarity.add_argument("--across", choices=["claims", "samples", "receivers"], default="claims")
    strategies = _analysis_parser(sub, "strategies", "strategy mix by an LLM classifier (Table 12, Figures 7-8)", _cmd_strategies)
    strategies.add_argument("--classifier", required=True, help="model spec of the classifier LLM")
    strategies.add_argument("--max-tokens", type=int, default=128)
    strategies.add_argument("--concurrency", type=int, default=8)
    strategies.add_argument("--no-progress", action="store_true")
    scaling = _analysis_parser(sub, "scaling", "gain against log10 Sender parameters: slope with CIs", _cmd_scaling)
    scaling.add_argument("--params", nargs="*", default=[], metavar="NAME=COUNT", help="parameter counts, e.g. llama-8b=8B")


# ---- show -------------------------------------------------------------------------------


def _cmd_show(args: argparse.Namespace) -> int:
    from .show import ShowFilter, load_shown, render_all, select

    games = load_shown(args.inputs)
    how = ShowFilter(claim=args.claim, corpus=args.corpus, sender=args.sender, setting=args.setting, min_gain=args.min_gain,
                     max_gain=args.max_gain, failed=args.failed, limit=args.limit or None, sort=args.sort)
    try:
        print(render_all(select(games, how), len(games), args.width), flush=True)
    except BrokenPipeError:  # `show ... | head` closed the pipe: not an error
        import os
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _add_show(subparsers) -> None:
    p = subparsers.add_parser("show", help="read transcripts in the terminal (eval folders, training validation files)",
                              description="Print games of eval folders (transcripts.jsonl) or of a training run's "
                                          "validation/*.jsonl, filtered and sorted.")
    p.add_argument("inputs", nargs="+", help="eval folders, transcripts.jsonl files, run folders or validation files")
    p.add_argument("--claim", default=None, help="a claim id, or words of the claim")
    p.add_argument("--corpus", default=None)
    p.add_argument("--sender", default=None, help="part of the Sender's name")
    p.add_argument("--setting", choices=["static", "dynamic"], default=None)
    p.add_argument("--min-gain", type=float, default=None)
    p.add_argument("--max-gain", type=float, default=None)
    p.add_argument("--failed", action="store_true", help="only games that failed (with their reason)")
    p.add_argument("--sort", choices=["file", "gain", "-gain"], default="file", help="gain: highest first; -gain: lowest first")
    p.add_argument("--limit", type=int, default=10, help="games to print (0: all)")
    p.add_argument("--width", type=int, default=None, help="line width (default: the terminal's, at most 110)")
    p.set_defaults(func=_cmd_show)


# ---- report -----------------------------------------------------------------------------


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    path, merged = build_report(args.results_dir, args.out, n_boot=args.bootstrap, seed=args.seed, prefer=args.prefer,
                                settings=args.settings)
    print(f"merged {merged.summary()}\nreport: {path}")
    return 0


def _add_report(subparsers) -> None:
    p = subparsers.add_parser("report", help="one static HTML page: table, plots, summary")
    p.add_argument("results_dir", type=Path)
    p.add_argument("--out", type=Path, default=None, help="HTML file (default: RESULTS_DIR/report.html)")
    _add_merge_options(p)
    _add_stats_options(p)
    p.set_defaults(func=_cmd_report)


def register(subparsers) -> None:
    _add_eval(subparsers)
    _add_show(subparsers)
    _add_analyze(subparsers)
    _add_report(subparsers)
