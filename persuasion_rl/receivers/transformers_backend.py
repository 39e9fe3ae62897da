"""A local Hugging Face model as a Receiver backend: batched, CPU or GPU.

The same class serves the tiny CPU Receiver in tests, a real model on a GPU for
evaluation, and the OpenAI-compatible server (``server.py``) that verl's reward loop
reaches on a CPU machine.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Hashable
from functools import cached_property
from pathlib import Path

from .base import Generation, GenerationParams, Message
from .batching import MicroBatcher

logger = logging.getLogger(__name__)


def _load_dtype(dtype: str, device: str):
    """The dtype the model computes in. ``auto`` is the folder's own dtype on an accelerator,
    but float32 on the CPU: a bfloat16 folder (verl's merged export) computed in bfloat16
    on the CPU is slower and rounds every activation, so a trained Sender would play with
    noise its base model, stored in float32, does not have."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    return torch.float32 if str(device).startswith("cpu") else "auto"


class TransformersChatModel:
    def __init__(self, path: str | Path, device: str | None = None, dtype: str = "auto", max_batch_size: int = 16, name: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from persuasion_rl.assets.real import check_causal_lm, fix_for_folder

        self.path = str(path)
        check_causal_lm(self.path, fix_for_folder(self.path))  # one line, before transformers fails obscurely
        self.name = name or Path(self.path).name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.tokenizer.padding_side = "left"  # generation continues at the right edge
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = _load_dtype(dtype, self.device)
        self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch_dtype).to(self.device).eval()
        self._lock = threading.Lock()
        self._batcher = MicroBatcher(self._run_batch, max_batch=max_batch_size)

    @cached_property
    def control_tokens(self) -> frozenset[str]:
        """Every string this tokenizer reads as a control token: the Sender guard rewrites them."""
        from persuasion_rl.game.guard import tokenizer_control_tokens

        return tokenizer_control_tokens(self.tokenizer)

    # ---- prompt rendering -------------------------------------------------------------
    def render(self, messages: list[Message], prefill: str = "") -> str:
        """Chat template with the generation prompt, then the assistant prefill."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + prefill

    # ---- batched, blocking ------------------------------------------------------------
    def generate_texts(self, prompts: list[str], params: GenerationParams) -> list[Generation]:
        import torch

        with self._lock, torch.inference_mode():
            batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            # sampling draws from one generator per request (RowSampler), then generate() picks
            # that token greedily: a reply never depends on what else was in the batch
            processors = [RowSampler(prompts, params, self.device)] if params.temperature > 0 else []
            output = self.model.generate(
                **batch,
                max_new_tokens=params.max_tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                logits_processor=processors,
                stop_strings=list(params.stop) or None,
                tokenizer=self.tokenizer,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        return [self._to_generation(row, params) for row in new_tokens]

    def _to_generation(self, token_ids, params: GenerationParams) -> Generation:
        ids = token_ids.tolist()
        eos = self.tokenizer.eos_token_id
        ended = eos in ids
        if ended:
            ids = ids[: ids.index(eos)]
        ids = [i for i in ids if i != self.tokenizer.pad_token_id]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        for stop in params.stop:  # keep the stop string, cut what follows (batch padding)
            at = text.find(stop)
            if at >= 0:
                text, ended = text[: at + len(stop)], True
        return Generation(text, "stop" if ended else "length", len(ids))

    def top_logprobs_texts(self, prompts: list[str], top_k: int) -> list[dict[str, float]]:
        """Next-token log-probabilities after each prompt, top_k by probability, keyed by
        decoded token text (summing tokens that decode to the same text)."""
        import torch

        with self._lock, torch.inference_mode():
            batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            # only the last position's logits: the LM head over every position costs more
            # than the tiny model's layers, and for a 128k vocabulary it is memory-bound
            logits = self.model(**batch, logits_to_keep=1).logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            values, indices = logprobs.topk(min(top_k, logprobs.shape[-1]), dim=-1)
        results = []
        for row_values, row_indices in zip(values.tolist(), indices.tolist()):
            entry: dict[str, float] = {}
            for logprob, token_id in zip(row_values, row_indices):
                text = self.tokenizer.decode([token_id])
                entry[text] = _logaddexp(entry[text], logprob) if text in entry else logprob
            results.append(entry)
        return results

    def _run_batch(self, key: Hashable, prompts: list[str]):
        kind, value = key
        if kind == "generate":
            return self.generate_texts(prompts, value)
        return self.top_logprobs_texts(prompts, value)

    # ---- ChatBackend ------------------------------------------------------------------
    async def generate(self, messages: list[Message], params: GenerationParams, prefill: str = "") -> Generation:
        return await self._batcher.submit(("generate", params), self.render(messages, prefill))

    async def next_token_logprobs(self, messages: list[Message], prefill: str, top_k: int) -> dict[str, float]:
        return await self._batcher.submit(("logprobs", top_k), self.render(messages, prefill))

    async def complete(self, prompt: str, params: GenerationParams) -> Generation:
        """Raw-prompt generation, for the server's /v1/completions."""
        return await self._batcher.submit(("generate", params), prompt)

    async def prompt_top_logprobs(self, prompt: str, top_k: int) -> dict[str, float]:
        return await self._batcher.submit(("logprobs", top_k), prompt)


def request_seed(seed: int | None, prompt: str) -> int | None:
    """The random stream of one request: its seed and its own prompt, nothing else."""
    if seed is None:
        return None
    return int.from_bytes(hashlib.sha256(f"{seed}\x1f{prompt}".encode()).digest()[:8], "little")


class RowSampler:
    """A logits processor that samples each row with its own ``torch.Generator``.

    ``generate(do_sample=True)`` draws every row of a batch from the global RNG at once, so
    a seeded reply changed with the batch it happened to share (the Wilcoxon p of 0.0625
    for identical reruns, issue 15.10). Here row ``i`` applies temperature and top-p,
    draws its token from its own generator (seeded by ``request_seed``; fresh entropy
    without a seed), and returns logits that leave only that token, which ``generate``
    then picks greedily."""

    def __init__(self, prompts: list[str], params: GenerationParams, device: str) -> None:
        import torch

        self.temperature, self.top_p = params.temperature, params.top_p
        self.generators = []
        for prompt in prompts:
            generator = torch.Generator(device=device)
            seed = request_seed(params.seed, prompt)
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
            self.generators.append(generator)

    def __call__(self, input_ids, scores):
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            ordered, order = probs.sort(dim=-1, descending=True)
            outside = ordered.cumsum(dim=-1) - ordered > self.top_p  # keep the smallest set reaching top_p
            ordered = ordered.masked_fill(outside, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, ordered)
        chosen = torch.stack([torch.multinomial(row, 1, generator=g)[0] for row, g in zip(probs, self.generators)])
        only = torch.full_like(scores, float("-inf"))
        return only.scatter(-1, chosen[:, None], 0.0)


def _logaddexp(a: float, b: float) -> float:
    import math

    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
