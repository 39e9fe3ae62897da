"""Any OpenAI-compatible chat endpoint as a Receiver backend.

Serves vLLM ``serve``, SGLang, verl's reward-model router (``reward_router_address``),
this project's ``persuasion-rl receiver serve`` and hosted APIs. Every call has a
timeout and bounded retries with exponential backoff and jitter; what still fails is
counted and raised as ``ReceiverError`` — never turned into a score.

The assistant prefill (``<score>`` for expected scoring) uses vLLM's chat extension
``continue_final_message``; a hosted API without it cannot do expected scoring, and
says so through the error it returns.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

import httpx

from .base import CallStats, Generation, GenerationParams, Message, ReceiverError, ReceiverRejected, count_call

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    # per call, queueing on the server included: openai-python's default. On two CPU cores a
    # batch of 8 64-token Receiver replies took 106 s, and a 32-game dynamic validation
    # queues 4 such batches: 120 s timed the queue out, and every retry lengthened it.
    timeout_s: float = 600.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    jitter: float = 0.5  # +-50% of the delay: retries from many samples do not stampede

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.backoff_max_s, self.backoff_base_s * 2**attempt)
        return max(0.0, base * (1 + self.jitter * (2 * rng.random() - 1)))


class _Retryable(Exception):
    def __init__(self, message: str, timeout: bool = False):
        super().__init__(message)
        self.timeout = timeout


def normalise_base_url(address: str) -> str:
    """verl passes ``reward_router_address`` as ``ip:port`` with no scheme."""
    url = address if "://" in address else f"http://{address}"
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


class OpenAIChatModel:
    def __init__(self, base_url: str, model: str, api_key: str | None = None, retry: RetryPolicy = RetryPolicy(),
                 max_concurrency: int = 64, name: str | None = None, seed: int | None = None):
        self.base_url = normalise_base_url(base_url)
        self.model = model
        self.name = name or model
        self.retry = retry
        self.stats = CallStats()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._max_concurrency = max_concurrency
        self._rng = random.Random(seed)
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def _session(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:  # clients are bound to a loop
            self._client = httpx.AsyncClient(timeout=self.retry.timeout_s, headers=self._headers)
            self._semaphore = asyncio.Semaphore(self._max_concurrency)
            self._client_loop = loop
        return self._client, self._semaphore

    async def _post(self, path: str, body: dict) -> dict:
        client, semaphore = self._session()
        last_error = "no attempt made"
        for attempt in range(self.retry.max_retries + 1):
            if attempt:
                count_call("retries", backend_stats=self.stats)
                await asyncio.sleep(self.retry.delay(attempt - 1, self._rng))
            count_call("requests", backend_stats=self.stats)
            try:
                async with semaphore:
                    return await self._post_once(client, path, body)
            except _Retryable as error:
                last_error = str(error)
                count_call("timeouts", int(error.timeout), backend_stats=self.stats)
                logger.warning("Receiver call to %s failed (attempt %d/%d): %s", self.base_url + path, attempt + 1, self.retry.max_retries + 1, error)
        count_call("errors", backend_stats=self.stats)
        raise ReceiverError(f"Receiver at {self.base_url}{path} failed after {self.retry.max_retries + 1} attempts: {last_error}")

    async def _post_once(self, client: httpx.AsyncClient, path: str, body: dict) -> dict:
        try:
            response = await client.post(self.base_url + path, json=body)
        except httpx.TimeoutException as error:
            raise _Retryable(f"timeout after {self.retry.timeout_s}s ({type(error).__name__})", timeout=True) from error
        except httpx.TransportError as error:  # refused, reset, DNS...
            raise _Retryable(f"{type(error).__name__}: {error}") from error
        if response.status_code in _RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:  # a request the server will never accept: no retry
            count_call("errors", backend_stats=self.stats)
            raise ReceiverRejected(f"Receiver at {self.base_url} rejected the request: HTTP {response.status_code}: {response.text[:300]}")
        try:
            payload = response.json()
            payload["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise _Retryable(f"malformed response body: {response.text[:200]!r}") from error
        return payload

    def _chat_body(self, messages: list[Message], prefill: str, max_tokens: int, temperature: float) -> dict:
        body: dict = {"model": self.model, "messages": list(messages), "max_tokens": max_tokens, "temperature": temperature}
        if prefill:
            body["messages"].append({"role": "assistant", "content": prefill})
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    async def generate(self, messages: list[Message], params: GenerationParams, prefill: str = "") -> Generation:
        body = self._chat_body(messages, prefill, params.max_tokens, params.temperature)
        body["top_p"] = params.top_p
        if params.stop:
            # vLLM drops the stop string from the text unless asked to keep it
            body.update(stop=list(params.stop), include_stop_str_in_output=True)
        if params.seed is not None:
            body["seed"] = params.seed
        payload = await self._post("/chat/completions", body)
        choice = payload["choices"][0]
        text = (choice.get("message") or {}).get("content")
        if not isinstance(text, str):
            count_call("errors", backend_stats=self.stats)
            raise ReceiverError(f"Receiver at {self.base_url} returned no message content: {choice!r:.200}")
        finish = choice.get("finish_reason") or "stop"
        if finish == "stop" and choice.get("stop_reason") in params.stop and not text.endswith(choice["stop_reason"]):
            text += choice["stop_reason"]  # a server that ignored include_stop_str_in_output
        usage = payload.get("usage") or {}
        return Generation(text, "length" if finish == "length" else "stop", int(usage.get("completion_tokens", 0)))

    async def next_token_logprobs(self, messages: list[Message], prefill: str, top_k: int) -> dict[str, float]:
        body = self._chat_body(messages, prefill, max_tokens=1, temperature=0.0)
        body.update(logprobs=True, top_logprobs=top_k)
        choice = (await self._post("/chat/completions", body))["choices"][0]
        try:
            first = choice["logprobs"]["content"][0]["top_logprobs"]
            return {entry["token"]: float(entry["logprob"]) for entry in first}
        except (KeyError, IndexError, TypeError, ValueError) as error:
            count_call("errors", backend_stats=self.stats)
            raise ReceiverError(f"Receiver at {self.base_url} returned no top_logprobs (does it support logprobs?): {choice!r:.200}") from error

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
