"""Does a Receiver's hidden state tell an argument for a claim from one against it?

``receiver_readability.py`` found that SmolLM2's score hardly moves between three
supporting and three opposing Perspectrum perspectives. This asks whether the model holds
that information anywhere a score could be read from: the same Receiver prompts the game
asks in expected mode (``small-v1``, after the ``<score>`` prefill; ``corpus_cases`` and
``OPENING`` of receiver_readability.py), hidden states of several layers at the scoring
position and averaged over the prompt, and a logistic-regression probe (support vs
undermine) fitted on some claims and tested on held-out claims (both arguments of a claim
fall on the same side of the split, so the probe cannot recognise the claim). Its weight
decay is chosen on a validation part of the training claims, never on the test claims.

Printed per layer and pooling: held-out accuracy with its 95% Wilson interval (chance 50%).
The control set (``--control``) is the project's claims with the readability benchmark's
generic for/against texts, which differ in plain words: a probe that finds nothing there
would be broken, not the model.

    nice -n 10 .venv/bin/python benchmarks/receiver_stance_probe.py --receiver smollm2 --claims 150
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.receiver_readability import OPENING, SHARED_PERSPECTRUM, Case, corpus_cases, project_cases  # noqa: E402

logger = logging.getLogger("receiver_stance_probe")

LAYERS = (8, 15, 22, 26, 30)
WEIGHT_DECAYS = (1.0, 0.1, 0.01)


def _prompts(model, cases: list[Case], receiver_prompt: str) -> tuple[list[str], list[int], list[int]]:
    """(scoring prompt texts, label 1 = supporting, claim index) for both arguments of each case."""
    from persuasion_rl.game import PromptConfig, Transcript
    from persuasion_rl.game.prompts import receiver_messages
    from persuasion_rl.receivers.scoring import SCORE_PREFIX

    prompts = PromptConfig(receiver_prompt=receiver_prompt)
    opened = Transcript().with_receiver(OPENING)
    texts, labels, groups = [], [], []
    for index, case in enumerate(cases):
        for label, argument in ((1, case.strong), (0, case.against)):
            texts.append(model.render(receiver_messages(case.claim, opened.with_sender(argument), prompts), SCORE_PREFIX))
            labels.append(label)
            groups.append(index)
    return texts, labels, groups


def hidden_features(model, texts: list[str], layers: tuple[int, ...], batch: int) -> dict[tuple[str, int], "torch.Tensor"]:
    """(pooling, layer) -> one row per text: the scoring position's hidden state and the prompt's mean."""
    import torch
    from tqdm.auto import tqdm

    rows: dict[tuple[str, int], list] = {(pool, layer): [] for pool in ("last", "mean") for layer in layers}
    with torch.inference_mode(), tqdm(total=len(texts), desc="hidden states", unit="prompt") as bar:
        for start in range(0, len(texts), batch):
            encoded = model.tokenizer(texts[start:start + batch], return_tensors="pt", padding=True,
                                      add_special_tokens=False).to(model.device)
            states = model.model.model(**encoded, output_hidden_states=True).hidden_states
            mask = encoded["attention_mask"][..., None].float()  # left padding: the last position is the prompt's
            for layer in layers:
                rows[("last", layer)].append(states[layer][:, -1].float().cpu())
                rows[("mean", layer)].append(((states[layer] * mask).sum(1) / mask.sum(1)).float().cpu())
            bar.update(len(texts[start:start + batch]))
    return {key: torch.cat(value) for key, value in rows.items()}


def _fit(features, labels, weight_decay: float, steps: int = 300):
    import torch

    weights = torch.zeros(features.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([weights, bias], lr=0.01)
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(features @ weights + bias, labels)
        loss = loss + weight_decay * (weights ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lambda x: (x @ weights.detach() + bias.detach() > 0).float()


def probe_accuracy(features, labels: list[int], groups: list[int], seed: int) -> tuple[int, int, float]:
    """(correct, tested, chosen weight decay): train/validation/test split by claim (60/20/20)."""
    import torch

    claims = sorted(set(groups))
    random.Random(seed).shuffle(claims)
    cut1, cut2 = int(0.6 * len(claims)), int(0.8 * len(claims))
    part = {claim: ("train" if i < cut1 else "val" if i < cut2 else "test") for i, claim in enumerate(claims)}
    masks = {name: torch.tensor([part[g] == name for g in groups]) for name in ("train", "val", "test")}
    y = torch.tensor(labels, dtype=torch.float32)
    mean, std = features[masks["train"]].mean(0), features[masks["train"]].std(0) + 1e-6
    x = (features - mean) / std

    def accuracy(predict, name):
        return float((predict(x[masks[name]]) == y[masks[name]]).float().mean())

    chosen = max(WEIGHT_DECAYS, key=lambda wd: accuracy(_fit(x[masks["train"]], y[masks["train"]], wd), "val"))
    fit_on = masks["train"] | masks["val"]
    predict = _fit(x[fit_on], y[fit_on], chosen)
    tested = int(masks["test"].sum())
    correct = int((predict(x[masks["test"]]) == y[masks["test"]]).sum())
    return correct, tested, chosen


def wilson(correct: int, total: int) -> tuple[float, float]:
    if total == 0:
        return float("nan"), float("nan")
    p, z = correct / total, 1.96
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return centre - half, centre + half


def report(name: str, model, cases: list[Case], receiver_prompt: str, batch: int, seed: int) -> list[str]:
    texts, labels, groups = _prompts(model, cases, receiver_prompt)
    features = hidden_features(model, texts, tuple(l for l in LAYERS if l < model.model.config.num_hidden_layers + 1), batch)
    lines = [f"{name}: {len(cases)} claims, {len(texts)} prompts; held-out accuracy, support vs undermine (chance 50%)"]
    for (pool, layer), rows in sorted(features.items()):
        correct, tested, chosen = probe_accuracy(rows, labels, groups, seed)
        low, high = wilson(correct, tested)
        lines.append(f"  layer {layer:2d} {pool:4}: {correct}/{tested} = {correct / tested:.0%} [{low:.0%}, {high:.0%}]"
                     f"  (weight decay {chosen:g})")
    return lines


def main(argv: list[str] | None = None) -> int:
    from persuasion_rl.game.prompts import RECEIVER_PROMPTS, SMALL_RECEIVER_PROMPT
    from persuasion_rl.receivers.factory import make_backend
    from persuasion_rl.receivers.transformers_backend import TransformersChatModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receiver", default="smollm2", help="a local Receiver spec (smollm2, hf:PATH): its hidden states are read")
    parser.add_argument("--prompt", choices=list(RECEIVER_PROMPTS), default=SMALL_RECEIVER_PROMPT)
    parser.add_argument("--claims", type=int, default=150, help="Perspectrum claims with perspectives on both sides")
    parser.add_argument("--control", type=int, default=32, help="project claims with the generic texts (0: none)")
    parser.add_argument("--perspectrum", type=Path, default=SHARED_PERSPECTRUM)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.perspectrum.is_dir():
        raise SystemExit(f"{args.perspectrum}: not found; pass --perspectrum (the Perspectrum v1.0 release folder)")
    model = make_backend(args.receiver)  # the project's one Receiver factory
    if not isinstance(model, TransformersChatModel):
        raise SystemExit(f"--receiver {args.receiver}: an endpoint gives no hidden states; give a local model (smollm2, hf:PATH)")
    lines = report("perspectrum", model, corpus_cases(args.perspectrum, args.claims, args.seed), args.prompt, args.batch, args.seed)
    if args.control:
        lines += report("control (generic texts)", model, project_cases()[: args.control], args.prompt, args.batch, args.seed)
    print(f"receiver={args.receiver} prompt={args.prompt}\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
