"""On-disk cache of Receiver opening turns, so training pays no Receiver call for the
baseline. Keyed by (Receiver identity incl. prompt version and settings, claim); stored
as append-only JSON lines, so an interrupted fill keeps what it finished.

``opening_turns`` is the one prior computation, through this cache: ``data priors``,
evaluation and the tiny training data all call it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from persuasion_rl.files import append_jsonl, load_keyed
from persuasion_rl.game import parse_receiver_reply
from persuasion_rl.game.turn import ReceiverTurn

from .base import ReceiverError
from .confidence import DEFAULT_MIN_MASS, DEFAULT_TOP_K, Confidence, ConfidenceCache
from .receiver import Receiver

logger = logging.getLogger(__name__)


def prior_key(receiver_key: str, claim: str) -> str:
    return hashlib.sha256(f"{receiver_key}\n{claim}".encode()).hexdigest()


@dataclass
class PriorCache:
    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._entries: dict[str, dict] = load_keyed(self.path, required=("reply", "score"))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, receiver: Receiver, claim: str) -> ReceiverTurn | None:
        entry = self._entries.get(prior_key(receiver.cache_key, claim))
        if entry is None:
            return None
        distribution = {int(k): v for k, v in entry["distribution"].items()} if entry.get("distribution") else None
        return ReceiverTurn(parse_receiver_reply(entry["reply"]), entry["score"], distribution, entry.get("error"))

    def put(self, receiver: Receiver, claim: str, turn: ReceiverTurn) -> None:
        # "score" is the turn's mode_score (the cache's field name since its first version)
        entry = {
            "key": prior_key(receiver.cache_key, claim), "receiver": receiver.cache_key, "claim": claim,
            "reply": turn.reply.raw, "score": turn.mode_score, "scoring_mode": receiver.scoring.mode.value,
            "distribution": turn.distribution, "error": turn.error,
        }
        append_jsonl(self.path, [entry])
        self._entries[entry["key"]] = entry

    async def get_or_compute(self, receiver: Receiver, claim: str) -> ReceiverTurn:
        cached = self.get(receiver, claim)
        if cached is not None:
            return cached
        turn = await receiver.prior(claim)
        self.put(receiver, claim, turn)
        return turn


@dataclass(frozen=True)
class PriorLookup:
    """A claim's opening turn (None when the call failed: ``error`` says why), whether it
    came from the cache, and the prior confidence P("yes") when it was asked for."""

    claim: str
    turn: ReceiverTurn | None
    cached: bool = False
    confidence: Confidence | None = None
    error: str | None = None


@dataclass(frozen=True)
class PriorRequest:
    """Where the opening turns are cached and what else each claim needs."""

    cache: PriorCache
    confidence: ConfidenceCache | None = None  # None: no confidence probe
    confidence_top_k: int = DEFAULT_TOP_K
    confidence_min_mass: float = DEFAULT_MIN_MASS
    concurrency: int = 16
    progress: bool = True
    failures: tuple[type[BaseException], ...] = (ReceiverError,)  # call failures recorded, not raised


async def opening_turns(receiver: Receiver, claims: Sequence[str], request: PriorRequest) -> list[PriorLookup]:
    """The Receiver's opening turn for each claim (in order), through the cache: the one
    prior computation of ``data priors``, evaluation and the tiny training data. Calls run
    concurrently (a local model micro-batches them) under a progress bar."""
    semaphore = asyncio.Semaphore(request.concurrency)
    with tqdm(total=len(claims), desc=f"priors {receiver.backend.name}", unit="claim", disable=not request.progress) as bar:
        async def one(claim: str) -> PriorLookup:
            async with semaphore:
                outcome = await _opening_turn(receiver, claim, request)
            bar.update(1)
            return outcome

        return list(await asyncio.gather(*(one(c) for c in claims)))


async def _opening_turn(receiver: Receiver, claim: str, request: PriorRequest) -> PriorLookup:
    cached = request.cache.get(receiver, claim) is not None
    try:
        turn = await request.cache.get_or_compute(receiver, claim)
    except request.failures as error:
        logger.warning("Receiver opening turn failed for %r: %s", claim[:60], error)
        return PriorLookup(claim, None, error=f"{type(error).__name__}: {error}")
    confidence = None
    if request.confidence is not None:
        confidence = await request.confidence.get_or_compute(receiver.backend, claim, request.confidence_top_k,
                                                             request.confidence_min_mass)
    return PriorLookup(claim, turn, cached, confidence)
