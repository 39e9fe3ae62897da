"""Shared fixtures: the shared data folder, the tiny models, a loopback Receiver server."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED_DATA} (it sits beside the repository in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_assets():
    """The tiny Sender/Receiver, built once per machine (cached by spec hash)."""
    from persuasion_rl.assets.tiny import build_tiny_models

    return build_tiny_models()


@pytest.fixture(scope="session")
def tiny_receiver_model(tiny_assets):
    from persuasion_rl.receivers.transformers_backend import TransformersChatModel

    return TransformersChatModel(tiny_assets.receiver, name="tiny-receiver")


class LoopbackServer:
    """uvicorn serving an ASGI app on 127.0.0.1 with an ephemeral port, in a thread."""

    def __init__(self, app):
        import uvicorn

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "LoopbackServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("loopback server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def tiny_receiver_server(tiny_receiver_model):
    from persuasion_rl.receivers.server import create_app

    with LoopbackServer(create_app(tiny_receiver_model)) as server:
        yield server
