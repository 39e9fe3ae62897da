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


# third-party loggers that report every request at INFO (httpx: one line per Receiver call)
CHATTY_LOGGERS = ("httpx", "httpcore")


def _shows_default(action: argparse.Action) -> bool:
    default = action.default
    hidden = default is None or default is False or default is argparse.SUPPRESS or isinstance(action, argparse._HelpAction)
    return bool(action.option_strings) and not hidden


class DefaultsFormatter(argparse.HelpFormatter):
    """argparse's ArgumentDefaultsHelpFormatter without the noise of ``(default: None)``
    and ``(default: False)`` on flags; a help text that already explains its default
    (the word "default") is left as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if _shows_default(action) and "%(default)" not in text and "default" not in text:
            text = f"{text} (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """Every parser of the command, subcommands included (``add_subparsers`` makes its
    children of the parent's class), shows defaults in ``--help``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        if not action.help and _shows_default(action):
            action.help = "(default: %(default)s)"  # argparse prints nothing for an option without help
        return action


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="persuasion-rl", description="Train and evaluate strategic persuaders with RL on verl.")
    parser.add_argument("--log-level", default="INFO", help="logging level")
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
    configure_logging(args.log_level)
    try:
        return args.func(args)
    except _user_error_types() as error:
        print(f"persuasion-rl: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
