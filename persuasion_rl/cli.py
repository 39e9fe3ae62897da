"""The ``persuasion-rl`` command. Each package registers its own subcommands; this file
only composes them, and turns user errors into a one-line message instead of a traceback."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# (module, what it adds). Modules import their heavy dependencies (torch, verl) lazily,
# inside the command, so `persuasion-rl --help` stays fast.
SUBCOMMAND_MODULES = (
    "persuasion_rl.train.cli",  # train, export
    "persuasion_rl.receivers.cli",  # receiver score / serve
    "persuasion_rl.data.cli",  # data build / merge / export / summarize / priors
    "persuasion_rl.eval.cli",  # eval, report, analyses
    "persuasion_rl.annotate.cli",  # annotate serve / invite / export
    "persuasion_rl.assets.cli",  # assets tiny
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="persuasion-rl", description="Train and evaluate strategic persuaders with RL on verl.")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if not (error.name and name.startswith(error.name)):  # a dependency is missing: say so
                raise
            continue
        module.register(subparsers)
    return parser


def _user_error_types() -> tuple[type[BaseException], ...]:
    from .errors import UserError
    from .receivers.base import ReceiverError

    # a Receiver that stays unreachable after its retries is an operational error with a
    # complete message (endpoint, attempts, last failure): no traceback adds to it
    types: list[type[BaseException]] = [UserError, ReceiverError]  # ReceiverSpecError is a UserError
    try:
        from .data.errors import DataError

        types.append(DataError)
    except ImportError:
        pass
    return tuple(types)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except _user_error_types() as error:
        print(f"persuasion-rl: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
