"""Micro-batching of concurrent async calls into one batched model call.

The reward loop and agent loops issue one Receiver request per sample, concurrently. A
local model is far faster on a batch than on the same requests one by one (verl #1962:
a sequential judge made a step 7x slower), so requests that arrive within a few
milliseconds of each other, with the same parameters, are run as one batch. The one
batcher of the project: the local Receiver backend and the "hf" rollout server
(``verl_ext/hf_rollout.py``) both use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Request:
    item: Any
    future: asyncio.Future
    arrived_s: float  # event-loop clock


class MicroBatcher:
    """One batch at a time (the model is not re-entrant), each of one key (one kind of
    call: a Receiver's replies, its scorings, one set of sampling parameters).

    The batcher keeps serving the key it is on while requests of that key wait: a game
    round's replies then run in full batches, as they did before this class bounded
    starvation. It switches early only when another key's oldest request has waited
    ``starve_after_s``: a dynamic validation whose replies kept coming once starved its
    scorings past the client's timeout. When the current key runs dry, the key with the
    oldest request goes next. A request whose caller gave up (its task was cancelled, e.g.
    the HTTP client disconnected) is dropped before it costs a model call."""

    def __init__(
        self,
        run_batch: Callable[[Hashable, list[Any]], list[Any]],
        max_batch: int = 16,
        max_wait_s: float = 0.005,
        starve_after_s: float = 60.0,
    ):
        self._run_batch = run_batch  # blocking; runs in a worker thread
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._starve_after_s = starve_after_s
        self._pending: dict[Hashable, list[_Request]] = {}
        self._current_key: Hashable | None = None
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (e.g. a new asyncio.run): fresh state
            self._loop, self._pending, self._current_key, self._draining = loop, {}, None, False

    async def submit(self, key: Hashable, item: Any) -> Any:
        self._bind_loop()
        future = self._loop.create_future()
        self._pending.setdefault(key, []).append(_Request(item, future, self._loop.time()))
        if not self._draining:  # the drain that is running picks this request up
            self._draining = True
            self._loop.call_later(self._max_wait_s, lambda: asyncio.ensure_future(self._drain()))
        return await future

    def _drop_abandoned(self) -> None:
        for key in list(self._pending):
            self._pending[key] = [request for request in self._pending[key] if not request.future.done()]
            if not self._pending[key]:
                del self._pending[key]

    def _next_key(self) -> Hashable | None:
        self._drop_abandoned()
        if not self._pending:
            return None
        oldest_key = min(self._pending, key=lambda key: self._pending[key][0].arrived_s)
        starved = self._loop.time() - self._pending[oldest_key][0].arrived_s >= self._starve_after_s
        if self._current_key in self._pending and not starved:
            return self._current_key
        return oldest_key

    async def _drain(self) -> None:
        try:
            while (key := self._next_key()) is not None:
                self._current_key = key
                batch = self._pending[key][: self._max_batch]
                self._pending[key] = self._pending[key][self._max_batch:]
                await self._run(key, batch)
        finally:
            self._draining = False

    async def _run(self, key: Hashable, batch: list[_Request]) -> None:
        try:
            results = await asyncio.to_thread(self._run_batch, key, [request.item for request in batch])
        except Exception as error:  # every waiter learns of the failure; none gets a value
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            return
        for request, result in zip(batch, results, strict=True):
            if not request.future.done():
                request.future.set_result(result)
