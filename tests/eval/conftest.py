"""Fixtures of the evaluation tests: a small claims table (two corpora, two claims each)
and one real evaluation with the tiny models, played once per session through the CLI
and shared by the table, analysis and report tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CLAIMS = (
    ("anthropic", "Cities should make public buses free to ride."),
    ("anthropic", "Homework should be optional in primary schools."),
    ("cmv", "A four-day work week would make most offices more productive."),
    ("cmv", "Museums should be free for everyone."),
)
# tiny, fast and still complete: the primed tiny Receiver writes <opinion>/<question> within 48 tokens
TINY_RUN = ["--sender", "tiny", "--receiver", "tiny", "--sender-max-tokens", "12", "--receiver-max-tokens", "48",
            "--missing-argument", "raw", "--confidence-top-k", "2048", "--confidence-min-mass", "0",
            "--bootstrap", "500", "--no-progress"]


def write_claims_table(path: Path, claims=CLAIMS) -> Path:
    from persuasion_rl.data.claims import ClaimRecord, claim_id, write_claims

    records = [ClaimRecord(claim_id(corpus, text), text, corpus, "test", "tiny.jsonl", i, eval=True)
               for i, (corpus, text) in enumerate(claims)]
    return write_claims(records, path)


@pytest.fixture(scope="session")
def eval_claims(tmp_path_factory) -> Path:
    return write_claims_table(tmp_path_factory.mktemp("claims") / "claims.parquet")


@pytest.fixture(scope="session")
def tiny_eval(tmp_path_factory, eval_claims, tiny_assets) -> Path:
    """Both settings, K=2, tiny Sender vs tiny Receiver: 16 games."""
    from persuasion_rl.cli import main

    out = tmp_path_factory.mktemp("tiny_eval") / "results"
    argv = ["eval", "--claims", str(eval_claims), "--setting", "both", "--samples", "2", "--out", str(out), *TINY_RUN]
    assert main(argv) == 0
    return out


@pytest.fixture
def eval_copy(tiny_eval, tmp_path) -> Path:
    """A private copy of the session's results, for tests that change it."""
    return Path(shutil.copytree(tiny_eval, tmp_path / "results"))


def is_png(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 2000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
