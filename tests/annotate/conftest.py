"""Fixtures for the annotation platform: synthetic games in the eval's JSON-lines schema,
from several corpora, and a ready study (database, transcripts, invites, test client)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ADMIN_TOKEN = "test-admin-token-0123456789"
CORPORA = ("cmv", "anthropic", "perspectrum")


def game_record(game_id: str, corpus: str, n_rounds: int = 3, *, setting: str = "dynamic",
                scores: list[int | None] | None = None, ok: bool = True) -> dict[str, Any]:
    """One game as the eval writes it. ``scores`` are the prior then one per round."""
    scores = scores if scores is not None else [4 + min(i, 2) for i in range(n_rounds + 1)]

    def receiver(i: int) -> dict[str, Any]:
        opinion = f"I am at {scores[i]} on this claim ({game_id}, message {i})."
        question = f"What evidence would settle point {i}?"
        return {"score": scores[i], "opinion": opinion, "question": question,
                "raw": f"<opinion>{opinion}</opinion><score>{scores[i]}</score><question>{question}</question>"}

    rounds = [
        {"round": r, "sender_argument": f"Argument {r} of {game_id}: studies show the claim holds.",
         "sender_raw": f"<argument>Argument {r} of {game_id}.</argument>", "receiver": receiver(r)}
        for r in range(1, n_rounds + 1)
    ]
    final = scores[-1]
    return {
        "game_id": game_id, "claim_id": f"claim-{game_id}", "claim": f"Claim under debate in {game_id}.",
        "corpus": corpus, "setting": setting, "sender": "sender-model", "receiver": "receiver-model", "sample": 0,
        "prior": receiver(0), "rounds": rounds, "final_score": final,
        "gain": None if final is None or scores[0] is None else float(final - scores[0]),
        "ok": ok, "errors": [] if ok else ["receiver reply unreadable"],
    }


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def standard_games(per_corpus: int = 3, n_rounds: int = 3) -> list[dict[str, Any]]:
    """``per_corpus`` dynamic games in each corpus, listed corpus by corpus."""
    return [game_record(f"{c}-{i}", c, n_rounds) for c in CORPORA for i in range(per_corpus)]


@pytest.fixture
def make_game() -> Callable[..., dict[str, Any]]:
    return game_record


@pytest.fixture
def transcripts_file(tmp_path: Path) -> Path:
    """Nine annotatable dynamic games (3 corpora x 3) and one failed game."""
    records = standard_games() + [game_record("broken-0", "cmv", ok=False)]
    return write_jsonl(tmp_path / "games.jsonl", records)


@dataclass
class StudyEnv:
    db: Path
    store: Any
    client: Any
    tokens: list[str]

    def answer(self, token: str, game_id: str, round_: int, direction: str = "yes", proportion: Any = 5,
               explanation: str = "", **kwargs: Any) -> Any:
        data = {"game_id": game_id, "round": str(round_), "direction": direction, "proportion": str(proportion),
                "explanation": explanation}
        return self.client.post(f"/a/{token}/answer", data=data, follow_redirects=False, **kwargs)

    def rate(self, token: str, game_id: str, quality: Any = 5, confidence: Any = 6, **kwargs: Any) -> Any:
        data = {"game_id": game_id, "quality": str(quality), "confidence": str(confidence)}
        return self.client.post(f"/a/{token}/rating", data=data, follow_redirects=False, **kwargs)

    def assigned(self, token: str) -> list[str]:
        annotator = self.store.annotator_by_token(token)
        return self.store.assignments(annotator)


@pytest.fixture
def study(tmp_path: Path, transcripts_file: Path) -> StudyEnv:
    from fastapi.testclient import TestClient

    from persuasion_rl.annotate.app import create_app
    from persuasion_rl.annotate.storage import Store
    from persuasion_rl.annotate.transcripts import load_games

    db = tmp_path / "study.sqlite"
    store = Store(db)
    store.initialize(ADMIN_TOKEN)
    store.import_games(load_games(transcripts_file))
    tokens = [invite.token for invite in store.create_annotators(4, 3)]
    return StudyEnv(db=db, store=store, client=TestClient(create_app(db)), tokens=tokens)
