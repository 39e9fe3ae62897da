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
from typing import Any


class MicroBatcher:
    """Requests queue in arrival order; each batch takes the oldest request's key and the
    next requests of that key, up to ``max_batch``. Serving in arrival order keeps one kind
    of call (a Receiver's replies) from starving another (its scorings) while new calls of
    the first kind keep coming; a request whose caller gave up (its task was cancelled,
    e.g. the HTTP client disconnected) is dropped before it costs a model call."""

    def __init__(self, run_batch: Callable[[Hashable, list[Any]], list[Any]], max_batch: int = 16, max_wait_s: float = 0.005):
        self._run_batch = run_batch  # blocking; runs in a worker thread
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._queue: list[tuple[Hashable, Any, asyncio.Future]] = []
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (e.g. a new asyncio.run): fresh state
            self._loop, self._queue, self._draining = loop, [], False

    async def submit(self, key: Hashable, item: Any) -> Any:
        self._bind_loop()
        future = self._loop.create_future()
        self._queue.append((key, item, future))
        if not self._draining:  # the drain that is running picks this request up
            self._draining = True
            self._loop.call_later(self._max_wait_s, lambda: asyncio.ensure_future(self._drain()))
        return await future

    def _next_batch(self) -> tuple[Hashable, list[tuple[Any, asyncio.Future]]]:
        self._queue = [entry for entry in self._queue if not entry[2].done()]  # callers that gave up
        if not self._queue:
            return None, []
        key = self._queue[0][0]
        chosen = [entry for entry in self._queue if entry[0] == key][: self._max_batch]
        taken = {id(entry) for entry in chosen}
        self._queue = [entry for entry in self._queue if id(entry) not in taken]
        return key, [(item, future) for _, item, future in chosen]

    async def _drain(self) -> None:
        try:  # one batch at a time: the model is not re-entrant
            while True:
                key, batch = self._next_batch()
                if not batch:
                    return
                await self._run(key, batch)
        finally:
            self._draining = False

    async def _run(self, key: Hashable, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            results = await asyncio.to_thread(self._run_batch, key, [item for item, _ in batch])
        except Exception as error:  # every waiter learns of the failure; none gets a value
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
