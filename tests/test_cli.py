"""User errors at the command line: one clear line and exit code 2, never a traceback."""

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
