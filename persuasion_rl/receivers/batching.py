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
    def __init__(self, run_batch: Callable[[Hashable, list[Any]], list[Any]], max_batch: int = 16, max_wait_s: float = 0.005):
        self._run_batch = run_batch  # blocking; runs in a worker thread
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._pending: dict[Hashable, list[tuple[Any, asyncio.Future]]] = {}
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (e.g. a new asyncio.run): fresh state
            self._loop, self._lock, self._pending = loop, asyncio.Lock(), {}

    async def submit(self, key: Hashable, item: Any) -> Any:
        self._bind_loop()
        future = self._loop.create_future()
        group = self._pending.setdefault(key, [])
        group.append((item, future))
        if len(group) == 1:
            self._loop.call_later(self._max_wait_s, lambda: asyncio.ensure_future(self._flush(key)))
        return await future

    async def _flush(self, key: Hashable) -> None:
        async with self._lock:  # one batch at a time: the model is not re-entrant
            while self._pending.get(key):
                batch = self._pending[key][: self._max_batch]
                self._pending[key] = self._pending[key][self._max_batch:]
                await self._run(key, batch)
            self._pending.pop(key, None)

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
