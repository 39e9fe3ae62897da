"""Receiver faults against real servers on loopback: a restart mid-run, and the retry
schedule (bounded, exponential, jittered)."""

import asyncio
import random
import socket
import threading
import time

import pytest

from persuasion_rl.receivers.base import ReceiverError
from persuasion_rl.receivers.openai_backend import OpenAIChatModel, RetryPolicy
from persuasion_rl.receivers.receiver import Receiver
from tests.receivers.faulty_server import scripted_app

MESSAGES = [{"role": "user", "content": "score it"}]


class RestartableServer:
    """A server on a fixed loopback port that can be stopped and started again."""

    def __init__(self, app):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.app, self.current = app, None

    def start(self):
        import uvicorn

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        self.current = (server, thread)

    def stop(self):
        server, thread = self.current
        server.should_exit = True
        thread.join(timeout=10)


def test_a_receiver_restart_mid_run_is_survived_with_every_score_real():
    app, log = scripted_app(["ok"], score_token="6")
    server = RestartableServer(app)
    server.start()
    client = OpenAIChatModel(f"127.0.0.1:{server.port}", "m", retry=RetryPolicy(max_retries=6, backoff_base_s=0.2, backoff_max_s=1.0))
    receiver = Receiver(client)

    async def run():
        scores = []
        for i in range(6):
            if i == 2:
                server.stop()  # the Receiver goes down...
                asyncio.get_running_loop().call_later(0.6, server.start)  # ...and comes back
            scores.append((await receiver.score_messages(MESSAGES)).score)
        return scores

    scores = asyncio.run(run())
    server.stop()
    assert all(s == pytest.approx(6.0, abs=0.3) for s in scores) and len(scores) == 6
    assert client.stats.retries >= 1 and client.stats.errors == 0
    assert len(log) == 6  # every score came from a real reply


def test_retry_delays_are_bounded_exponential_and_jittered():
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=8.0, jitter=0.5)
    rng = random.Random(0)
    for attempt, base in enumerate([1.0, 2.0, 4.0, 8.0, 8.0]):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert base * 0.5 <= min(delays) and max(delays) <= base * 1.5
        assert max(delays) - min(delays) > base * 0.5  # really jittered


def test_down_for_good_fails_after_the_bounded_retries():
    app, _ = scripted_app(["ok"])
    server = RestartableServer(app)  # never started: connection refused
    client = OpenAIChatModel(f"127.0.0.1:{server.port}", "m", retry=RetryPolicy(max_retries=2, backoff_base_s=0.05))
    start = time.monotonic()
    with pytest.raises(ReceiverError, match="3 attempts"):
        asyncio.run(Receiver(client).score_messages(MESSAGES))
    assert client.stats.as_metrics() == {"receiver/requests": 3, "receiver/errors": 1, "receiver/retries": 2, "receiver/timeouts": 0}
    assert time.monotonic() - start < 5
