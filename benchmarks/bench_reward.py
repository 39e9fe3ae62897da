"""Receiver seconds per reward: ``sample`` vs ``expected`` scoring, measured side by side.

For each Receiver (the tiny primed one, a ~25M-parameter random one, and with ``--real``
the real small models: SmolLM2-135M-Instruct and Gemma 3 270M), a batch of
rewards is computed three ways on the same prompts:
  sample/full     generate up to 256 tokens, parse <score> (the paper's way)
  sample/stop     generate, but stop right after </score> (this project's sample mode)
  expected        one forward pass after the prefix <score> (this project's expected mode)
and the ratio of seconds per reward is printed. Target: expected >= 10x cheaper than the
paper's sample. Run: ``.venv/bin/python benchmarks/bench_reward.py [--batch 16] [--repeats 2] [--real smollm2 gemma]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from pathlib import Path

from persuasion_rl.assets.tiny import (
    TinyAssetsSpec, TinyModelSpec, build_model, build_tiny_models, build_tokenizer, default_cache_dir, save_model, tiny_claims,
)
from persuasion_rl.game import Transcript
from persuasion_rl.receivers import GenerationParams, Receiver, ScoringConfig
from persuasion_rl.receivers.scoring import SCORE_STOP
from persuasion_rl.receivers.transformers_backend import TransformersChatModel

logger = logging.getLogger("bench_reward")

# A ~25M-parameter Receiver: big enough that a forward pass, not Python overhead, dominates.
BENCH_RECEIVER = TinyModelSpec(
    hidden_size=512, intermediate_size=1376, num_hidden_layers=8, num_attention_heads=8,
    num_key_value_heads=4, format_prime_steps=0,
)


def build_bench_receiver(seed: int = 0) -> Path:
    """The ~25M-parameter random Receiver with the tiny tokenizer, cached next to the tiny models."""
    spec = TinyAssetsSpec(seed=seed)
    path = default_cache_dir() / f"bench-receiver-{spec.digest()}"
    if not path.exists():
        tokenizer = build_tokenizer(spec.vocab_size)
        save_model(build_model(tokenizer, BENCH_RECEIVER, seed), tokenizer, path)
    return path


def _prompts(receiver: Receiver, batch: int) -> list[list[dict]]:
    claims = [row["claim"] for row in tiny_claims()]
    transcript = Transcript().with_receiver("I am neutral.\nWhat is the evidence?").with_sender(
        "Cities that tried it saw more riders, less traffic and cleaner air within two years.")
    return [receiver.messages(claims[i % len(claims)], transcript) for i in range(batch)]


async def _time_batch(calls) -> float:
    start = time.perf_counter()
    await asyncio.gather(*calls)
    return time.perf_counter() - start


def measure(model: TransformersChatModel, batch: int, repeats: int) -> dict[str, float]:
    receiver = Receiver(model, scoring=ScoringConfig(mode="expected"))
    prompts = _prompts(receiver, batch)
    full = GenerationParams(max_tokens=256, temperature=1.0)
    stop = GenerationParams(max_tokens=256, temperature=1.0, stop=(SCORE_STOP,))
    ways = {
        "sample/full": lambda: [model.generate(p, full) for p in prompts],
        "sample/stop": lambda: [model.generate(p, stop) for p in prompts],
        "expected": lambda: [receiver.score_messages(p) for p in prompts],
    }
    asyncio.run(_time_batch(ways["expected"]()))  # warm-up
    return {name: min(asyncio.run(_time_batch(make())) for _ in range(repeats)) / batch for name, make in ways.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--real", nargs="*", default=[], metavar="NAME", help="also these real models (smollm2, gemma)")
    parser.add_argument("--no-tiny", action="store_true", help="only the real models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    models = {} if args.no_tiny else {
        "tiny (primed)": TransformersChatModel(build_tiny_models().receiver, max_batch_size=args.batch),
        "bench (~25M, random)": TransformersChatModel(build_bench_receiver(), max_batch_size=args.batch),
    }
    for name in args.real:
        from persuasion_rl.assets.models import named_model_path

        models[name] = TransformersChatModel(named_model_path(name, "receiver"), max_batch_size=args.batch)
    print(f"seconds per reward, batch {args.batch}, best of {args.repeats}")
    print(f"{'receiver':<22}{'params':>8}{'sample/full':>13}{'sample/stop':>13}{'expected':>10}{'full/exp':>10}{'stop/exp':>10}")
    for name, model in models.items():
        params = sum(p.numel() for p in model.model.parameters()) / 1e6
        t = measure(model, args.batch, args.repeats)
        print(f"{name:<22}{params:>7.1f}M{t['sample/full']:>13.4f}{t['sample/stop']:>13.4f}{t['expected']:>10.4f}"
              f"{t['sample/full'] / t['expected']:>9.1f}x{t['sample/stop'] / t['expected']:>9.1f}x")


if __name__ == "__main__":
    main()
