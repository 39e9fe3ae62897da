"""On-disk cache of Receiver opening turns, so training pays no Receiver call for the
baseline. Keyed by (Receiver identity incl. prompt version and settings, claim); stored
as append-only JSON lines, so an interrupted fill keeps what it finished."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from persuasion_rl.game import parse_receiver_reply

from .receiver import PriorTurn, Receiver

logger = logging.getLogger(__name__)


def prior_key(receiver_key: str, claim: str) -> str:
    return hashlib.sha256(f"{receiver_key}\n{claim}".encode()).hexdigest()


@dataclass
class PriorCache:
    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._entries: dict[str, dict] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    self._entries[entry["key"]] = entry
                except (json.JSONDecodeError, KeyError) as error:
                    # a line cut by a crash mid-write is the only expected damage: say so, go on
                    logger.warning("%s line %d: unreadable prior cache entry skipped (%s)", self.path, number, error)

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
            "reply": turn.reply.raw, "score": turn.score, "distribution": turn.distribution, "error": turn.error,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._entries[entry["key"]] = entry

    async def get_or_compute(self, receiver: Receiver, claim: str) -> PriorTurn:
        cached = self.get(receiver, claim)
        if cached is not None:
            return cached
        turn = await receiver.prior(claim)
        self.put(receiver, turn)
        return turn
