"""Scripted chat backends: deterministic Senders and Receivers whose behaviour depends on
words in the prompt, for testing the evaluation's bookkeeping without a model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from persuasion_rl.receivers.base import Generation, GenerationParams, ReceiverError

RECEIVER_REPLY = "<score>{score}</score><opinion>I now lean {score}.</opinion><question>What about cost?</question>"


@dataclass
class ScriptedSender:
    """Argues with tags; writes no tags when the claim mentions "tagless"; fails the first
    ``fail_times`` calls when it mentions "flaky"."""

    name: str = "scripted-sender"
    fail_times: int = 1
    calls: list[str] = field(default_factory=list)

    async def generate(self, messages, params: GenerationParams, prefill: str = "") -> Generation:
        prompt = messages[0]["content"]
        self.calls.append(prompt)
        if "flaky" in prompt and sum("flaky" in c for c in self.calls) <= self.fail_times:
            raise ReceiverError("HTTP 503 after retries (scripted)")
        if "tagless" in prompt:
            return Generation("Just some words with no tags.", "stop")
        return Generation(f"<opinion>yes</opinion><thinking>t</thinking><argument>Argument {len(self.calls)}.</argument>", "stop")

    async def next_token_logprobs(self, messages, prefill, top_k):  # pragma: no cover - a Sender is not scored
        raise NotImplementedError


@dataclass
class ScriptedReceiver:
    """Prior 3, then 5 after any argument; no readable score after an argument when the
    claim mentions "mute". P(yes) is 0.8 for claims mentioning "likely", else 0.2."""

    name: str = "scripted-receiver"

    async def generate(self, messages, params: GenerationParams, prefill: str = "") -> Generation:
        prompt = messages[0]["content"]
        argued = 'Sender: """' in prompt
        if argued and "mute" in prompt:
            return Generation("<opinion>...</opinion><question>?</question>", "stop")
        return Generation(RECEIVER_REPLY.format(score=5 if argued else 3), "stop")

    async def next_token_logprobs(self, messages, prefill, top_k):
        prompt = messages[0]["content"]
        if prefill == "<score>":
            if 'Sender: """' in prompt and "mute" in prompt:
                return {"<": 0.0}
            return {"5" if 'Sender: """' in prompt else "3": math.log(0.9), "4": math.log(0.1)}
        yes = 0.8 if "likely" in prompt else 0.2
        return {"Yes": math.log(yes), " no": math.log(1 - yes)}
