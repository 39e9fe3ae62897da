"""A Receiver: a frozen chat model playing the paper's Receiver, behind any backend.

It can (a) reply in full (score, opinion, question: the opening turn and dynamic games)
and (b) score only, in ``sample`` or ``expected`` mode. It never invents a score: an
unreadable reply is a ``ScoreResult`` with ``score=None`` and the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from persuasion_rl.game import PromptConfig, Transcript, parse_receiver_reply, receiver_messages
from persuasion_rl.game.turn import ReceiverTurn
from persuasion_rl.game.parsing import ReceiverReply

from .base import TASK_CALL_STATS, CallStats, ChatBackend, GenerationParams, Message
from .scoring import DEFAULT_MIN_DIGIT_MASS, SCORE_PREFIX, SCORE_STOP, ScoreResult, ScoringMode, expected_score, sampled_score


@dataclass(frozen=True)
class ScoringConfig:
    """How the Receiver is asked. Not owned by verl: set from Hydra's ``persuasion`` group."""

    mode: ScoringMode = ScoringMode.EXPECTED
    reply_max_tokens: int = 256  # a full reply (paper: 256-token budget)
    score_max_tokens: int = 256  # sample mode stops right after </score>, usually far sooner
    temperature: float = 0.0  # > 0 to draw several Receiver samples per game
    top_logprobs: int = 20  # vLLM's default cap (max_logprobs)
    min_digit_mass: float = DEFAULT_MIN_DIGIT_MASS

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", ScoringMode(self.mode))
        if self.reply_max_tokens <= 0 or self.score_max_tokens <= 0:
            raise ValueError("reply_max_tokens and score_max_tokens must be positive")
        if not 0.0 <= self.min_digit_mass <= 1.0:
            raise ValueError(f"min_digit_mass must be in [0, 1], got {self.min_digit_mass}")


@dataclass
class Receiver:
    backend: ChatBackend
    prompts: PromptConfig = field(default_factory=PromptConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)

    @property
    def cache_key(self) -> str:
        """Identity of this Receiver's replies, for caches: model, prompt text, settings."""
        return "|".join(map(str, (
            self.backend.name, self.prompts.receiver_prompt, self.prompts.receiver_word_limit, self.scoring.mode.value,
            self.scoring.reply_max_tokens, self.scoring.temperature, self.scoring.top_logprobs,
        )))

    def messages(self, claim: str, transcript: Transcript) -> list[Message]:
        return receiver_messages(claim, transcript, self.prompts)

    async def reply(self, claim: str, transcript: Transcript) -> ReceiverReply:
        params = GenerationParams(max_tokens=self.scoring.reply_max_tokens, temperature=self.scoring.temperature)
        generation = await self.backend.generate(self.messages(claim, transcript), params)
        return parse_receiver_reply(generation.text)

    async def score_messages(self, messages: list[Message]) -> ScoreResult:
        if self.scoring.mode is ScoringMode.EXPECTED:
            top = await self.backend.next_token_logprobs(messages, SCORE_PREFIX, self.scoring.top_logprobs)
            return expected_score(top, self.scoring.min_digit_mass)
        params = GenerationParams(max_tokens=self.scoring.score_max_tokens, temperature=self.scoring.temperature, stop=(SCORE_STOP,))
        generation = await self.backend.generate(messages, params)
        return sampled_score(parse_receiver_reply(generation.text))

    async def score(self, claim: str, transcript: Transcript) -> ScoreResult:
        return await self.score_messages(self.messages(claim, transcript))

    async def turn(self, messages: list[Message], need_reply: bool) -> ReceiverTurn:
        """The Receiver's move in a game: its score in the scoring mode in use and, when
        the Sender must read it (or a transcript is kept), its full reply."""
        if self.scoring.mode is ScoringMode.SAMPLE:
            if not need_reply:
                result = await self.score_messages(messages)
                return ReceiverTurn(result.reply, result.score, error=result.error)
            params = GenerationParams(max_tokens=self.scoring.reply_max_tokens, temperature=self.scoring.temperature)
            reply = parse_receiver_reply((await self.backend.generate(messages, params)).text)
            result = sampled_score(reply)
            return ReceiverTurn(reply, result.score, error=result.error)
        result = await self.score_messages(messages)
        reply = None
        if need_reply:
            params = GenerationParams(max_tokens=self.scoring.reply_max_tokens, temperature=self.scoring.temperature)
            reply = parse_receiver_reply((await self.backend.generate(messages, params)).text)
        return ReceiverTurn(reply, result.score, result.distribution, result.error)

    async def prior(self, claim: str) -> ReceiverTurn:
        """Opening turn: a full reply for the Sender to read and, in expected mode, the
        expected prior score (so that prior and posterior are measured the same way)."""
        reply = await self.reply(claim, Transcript())
        if self.scoring.mode is ScoringMode.SAMPLE:
            result = sampled_score(reply)
        else:
            result = await self.score(claim, Transcript())
        return ReceiverTurn(reply, result.score, result.distribution, result.error)


async def ask_until_scored(ask: Callable[[], Awaitable[Any]], retries: int) -> tuple[Any, int]:
    """Call ``ask`` until its result has a score, at most ``retries`` more times: a fresh
    Receiver sample each time, never a made-up score. ``ask`` returns a ScoreResult or a
    ReceiverTurn (both ``ok`` once scored). Returns (last result, re-asks made); the result
    may still lack a score, for the caller's failure policy."""
    result, attempts = await ask(), 0
    while not result.ok and attempts < retries:
        attempts += 1
        result = await ask()
    return result, attempts


@dataclass
class SampleCalls:
    """What one sample's Receiver calls cost, for its reward's extra info: the re-asks for
    an unreadable score and the client's own retries, timeouts and failed calls. verl runs
    one asyncio task per sample; ``counting`` routes this task's calls here."""

    parse_retries: int = 0
    calls: CallStats = field(default_factory=CallStats)

    @contextmanager
    def counting(self) -> Iterator["SampleCalls"]:
        token = TASK_CALL_STATS.set(self.calls)
        try:
            yield self
        finally:
            TASK_CALL_STATS.reset(token)

    async def ask_until_scored(self, ask: Callable[[], Awaitable[Any]], retries: int) -> Any:
        result, attempts = await ask_until_scored(ask, retries)
        self.parse_retries += attempts
        return result

    def as_extra_info(self) -> dict[str, float]:
        return {"receiver_parse_retries": float(self.parse_retries), "receiver_retries": float(self.calls.retries),
                "receiver_timeouts": float(self.calls.timeouts), "receiver_errors": float(self.calls.errors)}


def run_sync(coroutine):
    """Run a coroutine from synchronous code (CLI, data pipelines)."""
    return asyncio.run(coroutine)


async def gather_limited(coroutines, limit: int = 32):
    semaphore = asyncio.Semaphore(limit)

    async def guarded(coroutine):
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(guarded(c) for c in coroutines))
