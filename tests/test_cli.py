"""User errors at the command line: one clear line and exit code 2, never a traceback."""

import argparse
import logging
import socket

import pytest

from persuasion_rl.cli import main


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv, message", [
    (["receiver", "score", "--receiver", "/no/such/model", "--claim", "x", "--argument", "y"], "no such local model directory"),
    (["receiver", "score", "--receiver", "openai:http://127.0.0.1:9/v1", "--claim", "x", "--argument", "y"], "needs the model name"),
    (["train", "nosuch_recipe"], "unknown recipe 'nosuch_recipe'"),
    (["export", "/no/such/run", "--out", "/tmp/never"], "no checkpoints found"),
])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "persuasion-rl: error: " in err and message in err and "Traceback" not in err


def test_an_unreachable_receiver_is_reported_after_its_retries(capsys):
    argv = ["receiver", "score", "--receiver", f"openai:http://127.0.0.1:{unused_port()}/v1#m", "--claim", "x", "--argument", "y"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "failed after 5 attempts" in err and "ConnectError" in err and "Traceback" not in err


def _parsers(parser: argparse.ArgumentParser, path: str = "persuasion-rl"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_help_shows_the_defaults() -> None:
    """issue 15.9: `--help` never showed defaults; now every option with a default says it."""
    from persuasion_rl.cli import build_parser

    missing = []
    for path, parser in _parsers(build_parser()):
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            default = action.default
            if not action.option_strings or default in (None, False, argparse.SUPPRESS) or isinstance(action, argparse._HelpAction):
                continue
            if f"{default}" not in text:
                missing.append(f"{path} {action.option_strings[0]} (default {default!r})")
    assert not missing, missing
    eval_help = " ".join(build_parser()._subparsers._group_actions[0].choices["eval"].format_help().split())
    assert "--sender-temperature SENDER_TEMPERATURE (default: 0.7)" in eval_help


def test_httpx_request_lines_are_silenced() -> None:
    """issue 15.9: one httpx INFO line per Receiver request flooded the log."""
    from persuasion_rl.cli import configure_logging

    configure_logging("INFO")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
