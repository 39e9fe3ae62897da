"""Claim summarisation: the paper's prompt, the cache, resuming and failure counts.

The backend is a small deterministic object with the ``generate`` signature; the run
with the tiny transformers model comes with the Receiver backends."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from persuasion_rl.data.claims import ClaimRecord, claim_id
from persuasion_rl.data.summarize import (
    GenerateBackend,
    SummaryCache,
    cache_key,
    clean_summary,
    summarize_claims,
    summarize_texts,
    summary_messages,
)


@dataclass
class EchoBackend:
    """Answers with the post's title turned into a sentence; '' for posts marked EMPTY."""

    model_name: str = "echo-1"
    calls: list[int] = field(default_factory=list)
    fail_after_calls: int | None = None

    def generate(self, conversations, *, max_tokens, temperature=0.0):
        if self.fail_after_calls is not None and len(self.calls) >= self.fail_after_calls:
            raise KeyboardInterrupt("simulated interruption")
        self.calls.append(len(conversations))
        return [self._answer(c[0]["content"]) for c in conversations]

    @staticmethod
    def _answer(prompt: str) -> str:
        title = prompt.split("Title: ", 1)[1].split("\n", 1)[0]
        return "" if "EMPTY" in title else f'Claim: "{title} is true."'


@dataclass
class Generation:
    text: str


class ObjectBackend(EchoBackend):
    def generate(self, conversations, *, max_tokens, temperature=0.0):
        return [Generation(t) for t in super().generate(conversations, max_tokens=max_tokens, temperature=temperature)]


def items(n: int, empty: tuple[int, ...] = ()) -> list[tuple[str, str]]:
    return [(f"id{i}", f"Title: {'EMPTY' if i in empty else f'Topic {i}'}\nContent: body {i}") for i in range(n)]


def test_prompt_is_the_papers_table_8() -> None:
    assert summary_messages("Title: T\nContent: C") == [{
        "role": "user",
        "content": "Summarize the claim discussed in the post in one sentence. Only output the claim in an assertive tone.\nTitle: T\nContent: C",
    }]
    assert isinstance(EchoBackend(), GenerateBackend)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("  Claim: Cats rule.\n", "Cats rule."), ('"Cats rule."', "Cats rule."), ("**Claim:** Cats rule.", "Cats rule."), ("  ", "")],
)
def test_clean_summary(raw: str, clean: str) -> None:
    assert clean_summary(raw) == clean


def test_summaries_are_cached_per_model_and_prompt(tmp_path: Path) -> None:
    cache = tmp_path / "cache.jsonl"
    backend = EchoBackend()
    summaries, report = summarize_texts(items(5), backend, cache_path=cache, batch_size=2, progress=False)
    assert summaries["id0"] == "Topic 0 is true."
    assert (report.total, report.from_cache, report.generated, report.failures) == (5, 0, 5, 0)
    assert backend.calls == [2, 2, 1]
    again, report = summarize_texts(items(5), backend, cache_path=cache, progress=False)
    assert again == summaries and report.from_cache == 5 and backend.calls == [2, 2, 1]
    other = EchoBackend(model_name="echo-2")
    summarize_texts(items(5), other, cache_path=cache, progress=False)
    assert other.calls == [5], "another model does not reuse the first one's answers"
    first = json.loads(cache.read_text().splitlines()[0])
    assert first["key"] == cache_key("echo-1", summary_messages(items(1)[0][1])[0]["content"])


def test_resume_after_an_interruption(tmp_path: Path) -> None:
    cache = tmp_path / "cache.jsonl"
    with pytest.raises(KeyboardInterrupt):
        summarize_texts(items(6), EchoBackend(fail_after_calls=2), cache_path=cache, batch_size=2, progress=False)
    assert len(cache.read_text().splitlines()) == 4, "finished batches were saved"
    with cache.open("a") as handle:  # a crash in the middle of writing a line
        handle.write('{"key": "abc", "outp')
    backend = EchoBackend()
    summaries, report = summarize_texts(items(6), backend, cache_path=cache, batch_size=2, progress=False)
    assert report.from_cache == 4 and report.generated == 2 and backend.calls == [2]
    assert len(summaries) == 6
    assert all(json.loads(line) for line in cache.read_text().splitlines())


def test_empty_answers_are_failures_counted_and_retried(tmp_path: Path) -> None:
    cache = tmp_path / "cache.jsonl"
    summaries, report = summarize_texts(items(4, empty=(1, 3)), EchoBackend(), cache_path=cache, progress=False)
    assert report.failures == 2 and report.failed_ids == ("id1", "id3") and report.ok == 2
    assert set(summaries) == {"id0", "id2"}
    backend = EchoBackend()
    _, report = summarize_texts(items(4, empty=(1, 3)), backend, cache_path=cache, progress=False)
    assert backend.calls == [2] and report.failures == 2, "failures are not cached"


def test_summarize_claims_replaces_only_provisional_claims(tmp_path: Path) -> None:
    ddo = ClaimRecord(claim_id("ddo", "a"), "Abortion", "ddo", "train", "d.json", 0, needs_summary=True,
                      raw_text="Title: Abortion\nContent: x", claim_origin="title")
    failed = ClaimRecord(claim_id("ddo", "b"), "EMPTY", "ddo", "train", "d.json", 1, needs_summary=True,
                         raw_text="Title: EMPTY\nContent: y", claim_origin="title")
    cmv = ClaimRecord(claim_id("cmv", "c"), "Zoos are cruel", "cmv", "test", "c.xml", 0,
                      raw_text="Title: CMV: Zoos are cruel\nContent: z", claim_origin="title")
    updated, report = summarize_claims([ddo, failed, cmv], ObjectBackend(), cache_path=tmp_path / "c.jsonl", progress=False)
    assert report.total == 2 and report.failures == 1
    assert updated[0].claim == "Abortion is true." and not updated[0].needs_summary
    assert updated[0].claim_origin == "summary:echo-1" and updated[0].id == ddo.id
    assert updated[1] == failed and updated[2] == cmv
    updated, _ = summarize_claims([cmv], EchoBackend(), cache_path=tmp_path / "c.jsonl", include_titled=True, progress=False)
    assert updated[0].claim == "CMV: Zoos are cruel is true."


def test_cache_needs_a_model_name(tmp_path: Path) -> None:
    class Anonymous:
        def generate(self, conversations, *, max_tokens, temperature=0.0):
            return ["x"] * len(conversations)

    with pytest.raises(ValueError, match="model_name"):
        summarize_texts(items(1), Anonymous(), cache_path=tmp_path / "c.jsonl", progress=False)
    summaries, _ = summarize_texts(items(1), Anonymous(), model_name="anon", cache_path=tmp_path / "c.jsonl", progress=False)
    assert summaries == {"id0": "x"}


def test_corrupt_cache_line_is_an_error(tmp_path: Path) -> None:
    from persuasion_rl.data.errors import DataError

    cache = tmp_path / "c.jsonl"
    cache.write_text('{"key": "a", "output": "x"}\nnot json\n{"key": "b", "output": "y"}\n')
    with pytest.raises(DataError, match="line 2"):
        SummaryCache(cache)
