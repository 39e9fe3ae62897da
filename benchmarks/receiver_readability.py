"""Are a real small Receiver's scores readable, and do they respond to the argument?

For each Receiver x Receiver prompt version x ``min_digit_mass``, on two claim sets:

* ``project``: the project's own 96 claims (``persuasion_rl/assets/laptop_claims.jsonl`` and
  ``tiny_claims.jsonl``, the laptop recipes' training and validation claims), with
  a generic argument for and against each (the claims come with no arguments);
* ``corpus``: claims sampled (seeded) from Perspectrum in ``../shared/data``, the one shared
  corpus with real arguments on both sides: ``strong`` joins up to three of the claim's
  SUPPORT perspectives, ``against`` up to three UNDERMINE ones.

each claim gets four Receiver turns in expected mode, as in training: the prior (the empty
transcript) and the posterior after a strong, an empty and an against argument. The
Receiver's opening message in the transcript is one fixed neutral text (``OPENING``), not
its own generated reply: generating 256-token replies for hundreds of claims does not fit
on a shared 2-core machine, and the score is read from the next token either way.
Printed: the share of readable turns (digit mass >= ``min_digit_mass``; an unreadable turn
is never given a score), the digit mass, and the mean posterior - prior per argument kind
with a 95% CI over claims (only claims whose prior and posterior are both readable).

    nice -n 10 .venv/bin/python benchmarks/receiver_readability.py --receiver smollm2 --receiver gemma \\
        --prompt paper-v1 --prompt small-v1 --corpus-claims 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from persuasion_rl.train.tiny_data import project_claims
from persuasion_rl.game import PromptConfig, Transcript
from persuasion_rl.game.prompts import RECEIVER_PROMPTS
from persuasion_rl.receivers import Receiver, ScoringConfig

logger = logging.getLogger("receiver_readability")

SHARED_PERSPECTRUM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "perspectrum"
KINDS = ("prior", "strong", "empty", "against")
OPENING = "I am not sure about this claim yet.\nWhat is the strongest evidence for it?"
GENERIC_FOR = ("Independent studies and the experience of places that have tried it show that {claim_lower} "
               "The benefits are large, well measured and outweigh the costs.")
GENERIC_AGAINST = ("Independent studies and the experience of places that have tried it show that this claim is wrong. "
                   "The costs are large, well measured and outweigh any benefit.")


@dataclass(frozen=True)
class Case:
    claim_set: str
    claim: str
    strong: str
    against: str


def project_cases() -> list[Case]:
    cases = []
    for _, row, _ in project_claims():
        claim = row["claim"]
        lower = claim[0].lower() + claim[1:]
        cases.append(Case("project", claim, GENERIC_FOR.format(claim_lower=lower), GENERIC_AGAINST))
    return cases


def corpus_cases(folder: Path, count: int, seed: int) -> list[Case]:
    from persuasion_rl.data.perspectrum import read_perspectrum

    usable = []
    for claim in read_perspectrum(folder):
        sides = {stance: [t for c in claim.perspectives if c.stance_label_3 == stance for t in c.texts[:1]]
                 for stance in ("SUPPORT", "UNDERMINE")}
        if sides["SUPPORT"] and sides["UNDERMINE"]:
            usable.append(Case("corpus", claim.text, _joined(sides["SUPPORT"]), _joined(sides["UNDERMINE"])))
    random.Random(seed).shuffle(usable)
    return usable[:count]


def _joined(perspectives: list[str]) -> str:
    return " ".join(p.rstrip(".") + "." for p in perspectives[:3])


async def _turns(receiver: Receiver, case: Case) -> dict[str, tuple[float | None, float]]:
    """kind -> (score or None, digit mass)."""
    opening = Transcript().with_receiver(OPENING)
    transcripts = {"prior": Transcript(), "strong": opening.with_sender(case.strong), "empty": opening.with_sender(""),
                   "against": opening.with_sender(case.against)}
    results = {}
    for kind, transcript in transcripts.items():
        result = await receiver.score(case.claim, transcript)
        results[kind] = (result.score, result.digit_mass or 0.0)
    return results


def _mean_ci(values: list[float]) -> str:
    if not values:
        return "n/a (no readable pairs)"
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:+.3f} (n=1)"
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values))
    return f"{mean:+.3f} [{mean - half:+.3f}, {mean + half:+.3f}] (n={len(values)})"


def summarize(rows: list[dict], min_mass: float) -> list[str]:
    lines = []
    for claim_set in ("project", "corpus"):
        subset = [r for r in rows if r["claim_set"] == claim_set]
        if not subset:
            continue
        masses = [r[k]["mass"] for r in subset for k in KINDS]
        readable = sum(m >= min_mass and m > 0 for m in masses)
        lines.append(f"  {claim_set:8} claims={len(subset):3d} readable turns {readable}/{len(masses)} = {readable / len(masses):.1%}"
                     f"  digit mass mean {statistics.fmean(masses):.3f} min {min(masses):.3f}")
        for kind in ("strong", "empty", "against"):
            gains = [r[kind]["score"] - r["prior"]["score"] for r in subset
                     if r[kind]["mass"] >= min_mass and r["prior"]["mass"] >= min_mass and r[kind]["score"] is not None
                     and r["prior"]["score"] is not None]
            lines.append(f"           posterior - prior, {kind:7}: {_mean_ci(gains)}")
    return lines


def measure(spec: str, prompt: str, cases: list[Case], batch: int) -> list[dict]:
    from persuasion_rl.receivers.factory import make_backend

    backend = make_backend(spec)
    # min_digit_mass 0 here: the raw scores and masses are kept, each threshold applied after
    receiver = Receiver(backend, PromptConfig(receiver_prompt=prompt), ScoringConfig(min_digit_mass=0.0))

    async def run_all():
        semaphore = asyncio.Semaphore(batch)

        async def one(case):
            async with semaphore:
                result = case, await _turns(receiver, case)
            bar.update()
            return result

        with tqdm(total=len(cases), desc=f"{spec} {prompt}", unit="claim") as bar:
            return await asyncio.gather(*(one(c) for c in cases))

    rows = []
    for case, turns in asyncio.run(run_all()):
        rows.append({"claim_set": case.claim_set, "claim": case.claim,
                     **{k: {"score": s, "mass": m} for k, (s, m) in turns.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receiver", action="append", help="Receiver spec (repeatable; default smollm2 and gemma)")
    parser.add_argument("--prompt", action="append", choices=list(RECEIVER_PROMPTS), help="Receiver prompt version (repeatable)")
    parser.add_argument("--min-digit-mass", type=float, action="append", help="thresholds to report (default 0.5 0.3 0.2)")
    parser.add_argument("--corpus-claims", type=int, default=200)
    parser.add_argument("--project-claims", type=int, default=None, help="default: all")
    parser.add_argument("--perspectrum", type=Path, default=SHARED_PERSPECTRUM)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/receiver_readability"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cases = project_cases()[: args.project_claims] + corpus_cases(args.perspectrum, args.corpus_claims, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.receiver or ["smollm2", "gemma"]:
        for prompt in args.prompt or list(RECEIVER_PROMPTS):
            start = time.perf_counter()
            rows = measure(spec, prompt, cases, args.batch)
            seconds = time.perf_counter() - start
            for min_mass in args.min_digit_mass or [0.5, 0.3, 0.2]:
                print(f"receiver={spec} prompt={prompt} scoring=expected min_digit_mass={min_mass}  ({seconds:.0f} s)")
                print("\n".join(summarize(rows, min_mass)), flush=True)
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{spec}-{prompt}")
            (args.out / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
