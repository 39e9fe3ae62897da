"""The mix of persuasion strategies in Sender messages (paper Appendix F.1, Figures 7-8).

Every Sender message of a finished game is classified zero-shot by an LLM (any of the
project's backends: ``--classifier SPEC``) with the paper's Table 12 prompt: the
Receiver's message it answered as ``<PRIOR>``, the Sender's message as ``<INFORMATION>``,
and the eight-strategy taxonomy of Chen & Yang (2021). The answer's ``<strategy>`` tags
are read; a tag counts only if it names one of the eight strategies (case and
punctuation aside, optionally followed by ``:`` and a gloss), at most three distinct ones.
A message with no valid label is *unclassified* and counted as such: no label is ever
guessed. Answers are cached per (classifier, prompt) in ``strategies_cache.jsonl`` so a
rerun is free and an interrupted one resumes; a failed call is counted, not cached.

Reported per Receiver, Sender, setting and corpus (and over all corpora): messages, how
many used each strategy (share = count / messages), unclassified and failed calls.
Writes ``strategies.png``, ``strategies.csv`` and ``strategies.json``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ...files import append_jsonl, load_keyed
from ...receivers.base import ChatBackend, GenerationParams, ReceiverError
from ..plots import pyplot, save_figure, write_csv, write_json
from ...game.record import SETTINGS
from ..records import GameResult, load_results

log = logging.getLogger(__name__)

STRATEGIES = ("commitment", "emotion", "politeness", "reciprocity", "scarcity", "credibility", "evidence", "impact")
UNCLASSIFIED = "unclassified"
ALL_CORPORA = "all"
MAX_LABELS = 3
STRATEGY_PROMPT = (
    "Given a textual transcript from a persuasion, list the 3 main strategies used by the Sender in the information "
    "to persuade the Receiver.\n\n"
    "Potential strategies include:\n\n"
    "- Commitment: The persuaders indicating their intentions to take acts or justify their earlier decisions to "
    "convince others that they have made the correct choice.\n"
    "- Emotion: Making request full of emotional valence and arousal affect to influence others.\n"
    "- Politeness: The usage of polite language in requests.\n"
    "- Reciprocity: Responding to a positive action with another positive action. People are more likely to help if "
    "they have received help themselves.\n"
    "- Scarcity: People emphasizing on the urgency, rare of their needs.\n"
    "- Credibility: The uses of credentials impacts to establish credibility and earn others\u2019 trust.\n"
    "- Evidence: Providing concrete facts or evidence for the narrative or request.\n"
    "- Impact: Emphasizing the importance or impact of the request.\n\n"
    "Receiver: <prior>{prior}</prior>\n\n"
    "Sender: <information>{information}</information>\n\n"
    "Structure your response as lists of strategies. Make sure to use <strategy> and </strategy> to list each "
    "strategy. <strategies> <strategy><STRATEGY></strategy> </strategies>"
)
_TAG = re.compile(r"<strategy>(.*?)</strategy>", re.S | re.I)


def strategy_messages(prior: str, information: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": STRATEGY_PROMPT.format(prior=prior, information=information)}]


def _label(text: str) -> str | None:
    head = re.split(r"[:\u2013\u2014]| - ", text, maxsplit=1)[0]
    word = re.sub(r"[^a-z]", "", head.casefold())
    return word if word in STRATEGIES else None


def parse_strategies(answer: str) -> tuple[str, ...]:
    """The valid, distinct strategy labels of an answer, in order, at most three."""
    labels: list[str] = []
    for content in _TAG.findall(answer or ""):
        label = _label(content.strip())
        if label and label not in labels:
            labels.append(label)
    return tuple(labels[:MAX_LABELS])


@dataclass(frozen=True)
class Item:
    result: GameResult
    round: int
    prior: str
    information: str

    @property
    def messages(self) -> list[dict[str, str]]:
        return strategy_messages(self.prior, self.information)


@dataclass(frozen=True)
class Classification:
    labels: tuple[str, ...]
    failed: bool = False  # the call failed (not the same as no valid label)


class AnswerCache:
    """Append-only JSON lines: sha256(classifier + prompt) -> raw answer (read and written
    by ``persuasion_rl.files``: a torn last line is ignored, any other bad line an error)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, str] = {k: e["answer"] for k, e in load_keyed(self.path, required=("answer",)).items()}

    @staticmethod
    def key(classifier: str, prompt: str) -> str:
        return hashlib.sha256(f"{classifier}\n{prompt}".encode()).hexdigest()

    def put(self, key: str, answer: str) -> None:
        append_jsonl(self.path, [{"key": key, "answer": answer}])
        self.entries[key] = answer


def collect_items(results: Sequence[GameResult]) -> list[Item]:
    return [Item(r, i + 1, prior, text) for r in results if r.ok
            for i, (text, prior) in enumerate(zip(r.sender_messages, r.receiver_messages))]


async def classify_items(items: Sequence[Item], backend: ChatBackend, cache: AnswerCache, *, max_tokens: int = 128,
                         concurrency: int = 8, progress: bool = True) -> list[Classification]:
    """One call per distinct prompt not in the cache; a failed call is counted, not cached."""
    params = GenerationParams(max_tokens=max_tokens, temperature=0.0)
    keys = [AnswerCache.key(backend.name, item.messages[0]["content"]) for item in items]
    todo = {k: item for k, item in zip(keys, items) if k not in cache.entries}
    failed: set[str] = set()
    semaphore = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(todo), desc="strategies", unit="prompt", disable=not progress)

    async def one(key: str, item: Item) -> None:
        try:
            async with semaphore:
                cache.put(key, (await backend.generate(item.messages, params)).text)
        except ReceiverError as error:
            log.warning("strategy classification failed for %s round %d: %s", item.result.key.game_id, item.round, error)
            failed.add(key)
        bar.update(1)

    try:
        await asyncio.gather(*(one(k, i) for k, i in todo.items()))
    finally:
        bar.close()
    return [Classification((), failed=True) if k in failed else Classification(parse_strategies(cache.entries[k])) for k in keys]


# ---- aggregation --------------------------------------------------------------------------


@dataclass
class StrategyCounts:
    receiver: str
    sender: str
    setting: str
    corpus: str
    messages: int = 0
    unclassified: int = 0
    failed_calls: int = 0
    counts: Counter = field(default_factory=Counter)

    def as_row(self) -> dict:
        row = {"receiver": self.receiver, "sender": self.sender, "setting": self.setting, "corpus": self.corpus,
               "messages": self.messages, "unclassified": self.unclassified, "failed_calls": self.failed_calls}
        for s in STRATEGIES:
            row[s] = self.counts.get(s, 0)
            row[f"{s}_share"] = self.counts.get(s, 0) / self.messages if self.messages else None
        row["unclassified_share"] = self.unclassified / self.messages if self.messages else None
        return row


def aggregate(items: Sequence[Item], classified: Sequence[Classification]) -> list[StrategyCounts]:
    table: dict[tuple[str, str, str, str], StrategyCounts] = {}
    for item, result in zip(items, classified, strict=True):
        r = item.result
        for corpus in (r.corpus, ALL_CORPORA):
            key = (r.receiver, r.sender, r.setting, corpus)
            counts = table.setdefault(key, StrategyCounts(*key))
            counts.messages += 1
            counts.failed_calls += result.failed
            counts.unclassified += not result.labels
            counts.counts.update(result.labels)
    return [table[k] for k in sorted(table, key=lambda k: (k[0], k[1], SETTINGS.index(k[2]), k[3] == ALL_CORPORA, k[3]))]


def plot_strategies(rows: list[StrategyCounts], path: Path) -> Path:
    plt = pyplot()
    pairs = sorted({(r.receiver, r.sender) for r in rows}) or [("", "")]
    settings = [s for s in SETTINGS if any(r.setting == s for r in rows)] or ["static"]
    labels = [*STRATEGIES, UNCLASSIFIED]
    fig, axes = plt.subplots(len(pairs), len(settings), figsize=(7.5 * len(settings), 3.6 * len(pairs)), squeeze=False)
    for i, (receiver, sender) in enumerate(pairs):
        for j, setting in enumerate(settings):
            ax = axes[i][j]
            chosen = [r for r in rows if (r.receiver, r.sender, r.setting) == (receiver, sender, setting)]
            if len(chosen) == 2:  # one corpus: its "all" row repeats it
                chosen = [r for r in chosen if r.corpus != ALL_CORPORA]
            width = 0.8 / max(1, len(chosen))
            for k, r in enumerate(chosen):
                shares = [r.counts.get(s, 0) / r.messages for s in STRATEGIES] + [r.unclassified / r.messages]
                ax.bar(np.arange(len(labels)) + (k - (len(chosen) - 1) / 2) * width, shares, width=width,
                       label=f"{r.corpus} (n={r.messages})")
            ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
            ax.set_ylim(0, 1)
            ax.set_ylabel("share of messages")
            ax.set_title(f"{setting}: {sender} vs {receiver}")
            if chosen:
                ax.legend(fontsize=7)
    fig.suptitle("Persuasion strategies in Sender messages (Table 12 taxonomy)")
    fig.tight_layout()
    return save_figure(fig, path)


def run_strategy_analysis(inputs: Sequence[str | Path], out_dir: str | Path, classifier: ChatBackend, *,
                          max_tokens: int = 128, concurrency: int = 8, progress: bool = True) -> dict[str, Path]:
    out = Path(out_dir)
    items = collect_items(load_results(inputs))
    cache = AnswerCache(out / "strategies_cache.jsonl")

    async def classify_and_close() -> list[Classification]:
        try:
            return await classify_items(items, classifier, cache, max_tokens=max_tokens, concurrency=concurrency, progress=progress)
        finally:
            close = getattr(classifier, "aclose", None)
            if close is not None:
                await close()

    classified = asyncio.run(classify_and_close())
    rows = aggregate(items, classified)
    unclassified = sum(not c.labels for c in classified)
    log.info("%d messages classified: %d unclassified (%d failed calls)", len(items), unclassified, sum(c.failed for c in classified))
    summary = {"classifier": classifier.name, "strategies": list(STRATEGIES), "messages": len(items),
               "unclassified": unclassified, "failed_calls": sum(c.failed for c in classified),
               "rows": [r.as_row() for r in rows]}
    return {"png": plot_strategies(rows, out / "strategies.png"),
            "csv": write_csv([r.as_row() for r in rows], out / "strategies.csv"),
            "json": write_json(summary, out / "strategies.json")}
