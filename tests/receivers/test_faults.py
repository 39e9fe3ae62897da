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


def test_a_request_the_client_gave_up_on_never_reaches_the_model(tiny_receiver_model, monkeypatch):
    """A client that times out and retries must not leave its abandoned request in the
    server's queue: on a busy CPU Receiver every retry would lengthen the queue that made
    it time out (a 32-game dynamic validation failed so). The server drops it, as vLLM
    aborts the request of a client that disconnected."""
    from persuasion_rl.receivers.base import GenerationParams
    from persuasion_rl.receivers.server import create_app
    from tests.conftest import LoopbackServer

    batches, original = [], tiny_receiver_model.generate_texts

    def slow_generate(prompts, params):
        batches.append([next(word for word in ("busy", "abandoned", "after") if word in prompt) for prompt in prompts])
        time.sleep(2.0 if len(batches) == 1 else 0)  # the first batch keeps the model busy
        return original(prompts, params)

    monkeypatch.setattr(tiny_receiver_model, "generate_texts", slow_generate)
    params = GenerationParams(max_tokens=2, temperature=0.0)
    with LoopbackServer(create_app(tiny_receiver_model)) as server:
        patient = OpenAIChatModel(server.address, "tiny-receiver")
        impatient = OpenAIChatModel(server.address, "tiny-receiver", retry=RetryPolicy(max_retries=0, timeout_s=0.5))

        async def run():
            busy = asyncio.ensure_future(patient.generate([{"role": "user", "content": "busy"}], params))
            await asyncio.sleep(0.2)
            with pytest.raises(ReceiverError, match="timeout"):
                await impatient.generate([{"role": "user", "content": "abandoned"}], params)
            await busy
            await patient.generate([{"role": "user", "content": "after"}], params)

        asyncio.run(run())
    assert batches == [["busy"], ["after"]]
    assert impatient.stats.timeouts == 1 and impatient.stats.errors == 1
