"""On-disk cache of Receiver opening turns, so training pays no Receiver call for the
baseline. Keyed by (Receiver identity incl. prompt version and settings, claim); stored
as append-only JSON lines, so an interrupted fill keeps what it finished."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from persuasion_rl.game import parse_receiver_reply
from persuasion_rl.jsonl import append_records, load_keyed

from .receiver import PriorTurn, Receiver

logger = logging.getLogger(__name__)


def prior_key(receiver_key: str, claim: str) -> str:
    return hashlib.sha256(f"{receiver_key}\n{claim}".encode()).hexdigest()


@dataclass
class PriorCache:
    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._entries: dict[str, dict] = load_keyed(self.path)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, receiver: Receiver, claim: str) -> PriorTurn | None:
        entry = self._entries.get(prior_key(receiver.cache_key, claim))
        if entry is None:
            return None
        distribution = {int(k): v for k, v in entry["distribution"].items()} if entry.get("distribution") else None
        return PriorTurn(claim, parse_receiver_reply(entry["reply"]), entry["score"], distribution, entry.get("error"))

    def put(self, receiver: Receiver, turn: PriorTurn) -> None:
        entry = {
            "key": prior_key(receiver.cache_key, turn.claim), "receiver": receiver.cache_key, "claim": turn.claim,
            "reply": turn.reply.raw, "score": turn.score, "scoring_mode": receiver.scoring.mode.value, "distribution": turn.distribution, "error": turn.error,
        }
        append_records(self.path, [entry])
        self._entries[entry["key"]] = entry

    async def get_or_compute(self, receiver: Receiver, claim: str) -> PriorTurn:
        cached = self.get(receiver, claim)
        if cached is not None:
            return cached
        turn = await receiver.prior(claim)
        self.put(receiver, turn)
        return turn
