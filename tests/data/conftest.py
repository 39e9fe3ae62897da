"""Shared fixtures of the dataset tests: the reference data in ../shared/data (read in
place, never copied into the repo) and small helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (expected ../shared/data next to the repository)")
    return path


@pytest.fixture
def perspectrum_dir() -> Path:
    return _shared("perspectrum")


@pytest.fixture
def paper_dir() -> Path:
    return _shared("paper_static")


@pytest.fixture
def anthropic_csv() -> Path:
    return _shared("anthropic/anthropic_persuasion_data.openpaws_subset.csv")


@pytest.fixture
def anthropic_statements() -> Path:
    return _shared("anthropic/claims_75.tomap_statements.json")


@pytest.fixture
def cmv_xml_dir() -> Path:
    return _shared("cmv/change-my-view-modes/original")


@pytest.fixture
def cmv_tomap_jsonl() -> Path:
    return _shared("cmv/tomap_debate_cmv/test.sample200.jsonl")


@pytest.fixture
def cmv_dir() -> Path:
    return _shared("cmv")
