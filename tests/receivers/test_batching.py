"""The one micro-batcher: full batches of one kind of call, bounded starvation of the others, and callers that gave up."""

import asyncio
import threading

from persuasion_rl.receivers.batching import MicroBatcher


class RecordingModel:
    """A blocking batch function that records each batch and holds the first one until
    released, so that the test can queue requests while a batch runs."""

    def __init__(self):
        self.batches: list[tuple[str, list[str]]] = []
        self.first_started, self.release_first = threading.Event(), threading.Event()

    def run_batch(self, key, items):
        self.batches.append((key, list(items)))
        if len(self.batches) == 1:
            self.first_started.set()
            self.release_first.wait(timeout=10)
        return [f"{key}:{item}" for item in items]


async def _queue_behind_first_batch(model: RecordingModel, batcher: MicroBatcher, later: list[tuple[str, str]]):
    first = asyncio.ensure_future(batcher.submit("reply", "r1"))
    await asyncio.to_thread(model.first_started.wait, 10)
    tasks = []
    for key, item in later:  # arrive while the first batch runs, in this order
        tasks.append(asyncio.ensure_future(batcher.submit(key, item)))
        await asyncio.sleep(0.01)
    return first, tasks


def _serve_behind_first_batch(later: list[tuple[str, str]], starve_after_s: float):
    """Queues ``later`` while a first reply batch runs, then releases it: every caller's
    result, and the batches in the order the model ran them."""
    model = RecordingModel()
    batcher = MicroBatcher(model.run_batch, max_batch=8, starve_after_s=starve_after_s)

    async def run():
        first, tasks = await _queue_behind_first_batch(model, batcher, later)
        model.release_first.set()
        return [await first] + [await task for task in tasks]

    return asyncio.run(run()), model.batches


SCORING_AMID_REPLIES = [("score", "s1"), ("reply", "r2"), ("reply", "r3")]


def test_the_current_key_is_served_while_its_requests_wait():
    """Replies that keep coming run in full batches before the batcher switches kinds of
    call (as the per-key batcher did, which kept a game round's replies together); the
    scoring waits, but for less than ``starve_after_s``."""
    results, batches = _serve_behind_first_batch(SCORING_AMID_REPLIES, starve_after_s=60.0)
    assert results == ["reply:r1", "score:s1", "reply:r2", "reply:r3"]  # every caller gets its own result
    assert batches == [("reply", ["r1"]), ("reply", ["r2", "r3"]), ("score", ["s1"])]


def test_a_key_that_waited_starve_after_s_is_served_next():
    """Scorings are not starved by replies that keep coming: once the oldest scoring has
    waited ``starve_after_s``, it runs before the replies that came after it (a 32-game
    dynamic validation had timed its scorings out so)."""
    results, batches = _serve_behind_first_batch(SCORING_AMID_REPLIES, starve_after_s=0.01)
    assert results == ["reply:r1", "score:s1", "reply:r2", "reply:r3"]
    assert batches == [("reply", ["r1"]), ("score", ["s1"]), ("reply", ["r2", "r3"])]


def test_when_the_current_key_runs_dry_the_oldest_key_goes_next():
    _, batches = _serve_behind_first_batch([("score", "s1"), ("other", "o1"), ("score", "s2")], starve_after_s=60.0)
    assert batches == [("reply", ["r1"]), ("score", ["s1", "s2"]), ("other", ["o1"])]


def test_a_batch_holds_at_most_max_batch_requests_of_one_key():
    model = RecordingModel()
    batcher = MicroBatcher(model.run_batch, max_batch=2)

    async def run():
        first, tasks = await _queue_behind_first_batch(model, batcher, [("reply", f"r{i}") for i in range(2, 7)])
        model.release_first.set()
        await asyncio.gather(first, *tasks)

    asyncio.run(run())
    assert [items for _, items in model.batches] == [["r1"], ["r2", "r3"], ["r4", "r5"], ["r6"]]


def test_a_request_whose_caller_gave_up_costs_no_model_call():
    """A timed-out HTTP client's request is cancelled by the server: it must leave the
    queue, not take a place in the next batch."""
    model = RecordingModel()
    batcher = MicroBatcher(model.run_batch, max_batch=8)

    async def run():
        first, (abandoned, kept) = await _queue_behind_first_batch(model, batcher, [("reply", "gave-up"), ("reply", "r2")])
        abandoned.cancel()
        await asyncio.sleep(0.01)
        model.release_first.set()
        return await first, await kept, abandoned.cancelled()

    assert asyncio.run(run()) == ("reply:r1", "reply:r2", True)
    assert model.batches == [("reply", ["r1"]), ("reply", ["r2"])]


def test_a_failed_batch_fails_its_callers_and_the_queue_goes_on():
    calls = []

    def run_batch(key, items):
        calls.append(list(items))
        if items == ["bad"]:
            raise RuntimeError("model failed")
        return items

    batcher = MicroBatcher(run_batch, max_batch=8)

    async def run():
        bad = asyncio.ensure_future(batcher.submit("a", "bad"))
        await asyncio.sleep(0.05)
        good = await batcher.submit("a", "good")
        return good, await asyncio.gather(bad, return_exceptions=True)

    good, (error,) = asyncio.run(run())
    assert good == "good" and isinstance(error, RuntimeError) and calls == [["bad"], ["good"]]
