"""Claim summarisation with an LLM, for corpora whose posts state no clear claim (DDO).

The prompt is the paper's Table 8, sent as one user message::

    Summarize the claim discussed in the post in one sentence. Only output the claim in an assertive tone.
    <TRANSCRIPT>

where the transcript is the row's ``raw_text`` ("Title: ...\\nContent: ...", Table 9).

Any object with the ``generate`` method of ``GenerateBackend`` will do (the project's
Receiver backends have it). Summaries are expensive, so every answer is appended to a
JSON-lines cache keyed by ``sha256(model name + "\\n" + prompt)`` and flushed after each
batch: a run that is interrupted resumes where it stopped, and a re-run with the same
model costs nothing. A truncated last line (a crash mid-write) is dropped on load. An
empty answer is a failure: counted, reported with its id, left ``needs_summary=True``,
and not cached, so the next run retries it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tqdm.auto import tqdm

from .claims import ORIGIN_SUMMARY_PREFIX, ClaimRecord
from persuasion_rl.files import JsonlError, append_jsonl, load_keyed

from .errors import DataError

log = logging.getLogger(__name__)

SUMMARY_INSTRUCTION = (
    "Summarize the claim discussed in the post in one sentence. Only output the claim in an assertive tone."
)
DEFAULT_MAX_TOKENS = 128
DEFAULT_BATCH_SIZE = 16
Conversation = list[dict[str, str]]


@runtime_checkable
class GenerateBackend(Protocol):
    """What summarisation needs from an LLM backend: batched chat generation.

    Returns one output per conversation, either a ``str`` or an object with a ``text``
    attribute (a backend's richer result type)."""

    def generate(self, conversations: list[Conversation], *, max_tokens: int, temperature: float = 0.0) -> Sequence[Any]: ...


@dataclass(frozen=True)
class SummaryReport:
    total: int
    from_cache: int
    generated: int
    failures: int
    failed_ids: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> int:
        return self.total - self.failures


def summary_prompt(transcript: str) -> str:
    return f"{SUMMARY_INSTRUCTION}\n{transcript}"


def summary_messages(transcript: str) -> Conversation:
    return [{"role": "user", "content": summary_prompt(transcript)}]


def cache_key(model_name: str, prompt: str) -> str:
    return hashlib.sha256(f"{model_name}\n{prompt}".encode()).hexdigest()


def output_text(output: Any) -> str:
    return output if isinstance(output, str) else str(getattr(output, "text", output))


def clean_summary(text: str) -> str:
    """The claim in a model's answer: whitespace collapsed, a leading "Claim:" label and
    enclosing quotes removed. Empty means failure."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"^(?:\*\*)?claim(?:\*\*)?\s*:\s*(?:\*\*)?\s*", "", text, flags=re.I).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


class SummaryCache:
    """Append-only JSON-lines cache of raw model answers, keyed by ``cache_key``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            records = load_keyed(self.path, required=("output",))
        except JsonlError as error:
            raise DataError(self.path, f"{error.problem}; delete the line or the file to start over",
                            record=f"line {error.line}" if error.line else None, field=error.field) from None
        self.entries: dict[str, str] = {key: record["output"] for key, record in records.items()}

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def put_many(self, entries: Sequence[dict[str, str]]) -> None:
        """Append and fsync, so everything returned so far survives a crash."""
        append_jsonl(self.path, entries)
        self.entries.update((entry["key"], entry["output"]) for entry in entries)


def resolve_model_name(backend: object, model_name: str | None) -> str:
    """The name in the cache key: given, else the backend's ``model_name`` or ``name``.
    Without it two models would share cached answers."""
    name = model_name or getattr(backend, "model_name", None) or getattr(backend, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError("pass model_name: the backend has no model_name or name attribute to key the cache by")
    return name


def _generate_batch(backend: GenerateBackend, prompts: Sequence[str], max_tokens: int, temperature: float) -> list[str]:
    conversations = [[{"role": "user", "content": p}] for p in prompts]
    outputs = list(backend.generate(conversations, max_tokens=max_tokens, temperature=temperature))
    if len(outputs) != len(prompts):
        raise RuntimeError(f"backend returned {len(outputs)} outputs for {len(prompts)} conversations")
    return [output_text(o) for o in outputs]


def summarize_texts(
    items: Sequence[tuple[str, str]],
    backend: GenerateBackend,
    *,
    cache_path: str | Path,
    model_name: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float = 0.0,
    progress: bool = True,
) -> tuple[dict[str, str], SummaryReport]:
    """Summaries of ``(id, transcript)`` items: id -> claim for the successes, and a report."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model_name = resolve_model_name(backend, model_name)
    cache = SummaryCache(cache_path)
    prompts = {item_id: summary_prompt(text) for item_id, text in items}
    keys = {item_id: cache_key(model_name, p) for item_id, p in prompts.items()}
    raw = {i: cache.get(k) for i, k in keys.items() if cache.get(k) is not None}
    from_cache = len(raw)
    todo = [i for i in prompts if i not in raw]
    with tqdm(total=len(todo), desc="summarize", unit="claim", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            outputs = _generate_batch(backend, [prompts[i] for i in batch], max_tokens, temperature)
            fresh = [{"key": keys[i], "id": i, "model": model_name, "output": o} for i, o in zip(batch, outputs) if clean_summary(o)]
            cache.put_many(fresh)
            raw.update(zip(batch, outputs))
            bar.update(len(batch))
    summaries = {i: clean_summary(raw[i]) for i in prompts}
    failed = tuple(i for i, s in summaries.items() if not s)
    if failed:
        log.warning("%d of %d summaries are empty (failures, will be retried next run): %s", len(failed), len(prompts), ", ".join(failed[:20]))
    report = SummaryReport(len(prompts), from_cache, len(todo), len(failed), failed)
    return {i: s for i, s in summaries.items() if s}, report


def summarize_claims(
    records: Sequence[ClaimRecord],
    backend: GenerateBackend,
    *,
    cache_path: str | Path,
    model_name: str | None = None,
    corpora: Sequence[str] | None = None,
    include_titled: bool = False,
    **options: Any,
) -> tuple[list[ClaimRecord], SummaryReport]:
    """Replace provisional claims by LLM summaries of their ``raw_text``.

    By default only rows with ``needs_summary`` are summarised; ``include_titled`` also
    re-summarises rows whose claim was cut from a title (CMV), for those who prefer the
    paper's LLM summaries. ``corpora`` restricts the rows further. Other rows pass
    through unchanged; failed rows keep ``needs_summary=True``."""
    wanted = [r for r in records if (r.needs_summary or (include_titled and r.raw_text)) and (corpora is None or r.source in corpora)]
    without_text = [r.id for r in wanted if not r.raw_text]
    if without_text:
        log.warning("%d claims need a summary but have no raw text to summarise: %s", len(without_text), ", ".join(without_text[:20]))
    chosen = [r for r in wanted if r.raw_text]
    summaries, report = summarize_texts([(r.id, r.raw_text or "") for r in chosen], backend, model_name=model_name, cache_path=cache_path, **options)
    model_name = resolve_model_name(backend, model_name)
    origin = f"{ORIGIN_SUMMARY_PREFIX}{model_name}"
    updated = [
        dataclasses.replace(r, claim=summaries[r.id], needs_summary=False, claim_origin=origin) if r.id in summaries else r
        for r in records
    ]
    log.info("summaries: %d asked, %d from cache, %d generated, %d failures", report.total, report.from_cache, report.generated, report.failures)
    return updated, report
