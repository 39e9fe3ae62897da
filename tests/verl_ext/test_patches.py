"""The patches of persuasion_rl/verl_ext/patches.py that are not CPU-only, each against the
verl code it works around: they fail when a verl upgrade makes the patch wrong or unneeded."""

from __future__ import annotations

import asyncio
import inspect

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from persuasion_rl.receivers.base import ReceiverError
from persuasion_rl.receivers.openai_backend import OpenAIChatModel, RetryPolicy
from tests.conftest import LoopbackServer


def _replica() -> FastAPI:
    """Stands in for a vLLM replica: refuses one request as vLLM does, fails another."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def refuse() -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": {"message": "The model `x` does not exist.", "code": 404}})

    @app.post("/v1/broken")
    async def broken() -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": "overloaded"})

    return app


def test_verl_router_still_turns_replica_errors_into_500():
    from verl.experimental.reward_loop.router.naive_router import NaiveRouter

    original = getattr(NaiveRouter._make_async_request, "__wrapped__", NaiveRouter._make_async_request)
    code = inspect.getsource(original)
    assert "response.raise_for_status()" in code and "except aiohttp.ClientResponseError" in code, \
        "verl's router changed how it handles replica errors: review patches.patch_router_client_errors"


def test_router_passes_a_replicas_4xx_through_and_the_client_does_not_retry_it():
    from verl.experimental.reward_loop.router.naive_router import NaiveRouter

    from persuasion_rl.verl_ext.patches import patch_router_client_errors

    patch_router_client_errors()
    assert patch_router_client_errors() is False  # idempotent
    with LoopbackServer(_replica()) as replica:
        router = NaiveRouter(worker_urls=[f"http://{replica.address}"], max_attempts=1, retry_delay=0.0)
        with LoopbackServer(router.app) as served:
            refused = httpx.post(f"http://{served.address}/v1/chat/completions", json={"model": "x"}, timeout=30)
            broken = httpx.post(f"http://{served.address}/v1/broken", json={}, timeout=30)
            client = OpenAIChatModel(served.address, "x", retry=RetryPolicy(max_retries=3, backoff_base_s=0.01))
            with pytest.raises(ReceiverError, match="rejected the request: HTTP 404"):
                asyncio.run(client.next_token_logprobs([{"role": "user", "content": "hi"}], "<score>", 5))
    assert refused.status_code == 404 and "through verl's router" in refused.json()["error"]["message"]
    assert broken.status_code == 500  # a replica's 5xx stays verl's: retried as transient
    assert client.stats.requests == 1 and client.stats.retries == 0
