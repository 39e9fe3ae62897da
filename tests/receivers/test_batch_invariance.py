"""A greedy or seeded reply does not depend on what else is in the batch (issue 15.10):
the transformers backend micro-batches concurrent requests with left padding, and
seeded sampling used to draw all rows from one global RNG."""

from __future__ import annotations

import pytest

from persuasion_rl.receivers.base import GenerationParams

PROMPTS = [
    "Claim: buses should be free.",
    "Claim: homework should be optional in primary schools, and here is a much longer prompt to pad the others.",
    "Museums?",
    "Claim: a four-day work week makes offices more productive.",
    "Claim: every household should compost.",
]


def replies(model, prompts, params):
    return [g.text for g in model.generate_texts([model.render([{"role": "user", "content": p}]) for p in prompts], params)]


@pytest.mark.parametrize("params", [
    GenerationParams(max_tokens=24, temperature=0.0),
    GenerationParams(max_tokens=24, temperature=1.0, seed=7),
    GenerationParams(max_tokens=24, temperature=0.8, top_p=0.9, seed=3),
], ids=["greedy", "seeded", "seeded-top-p"])
def test_reply_is_the_same_alone_and_in_any_batch(tiny_assets, params) -> None:
    from persuasion_rl.receivers.transformers_backend import TransformersChatModel

    model = TransformersChatModel(tiny_assets.sender, device="cpu")
    alone = [replies(model, [p], params)[0] for p in PROMPTS]
    assert replies(model, PROMPTS, params) == alone
    assert replies(model, list(reversed(PROMPTS)), params) == list(reversed(alone))
    assert replies(model, PROMPTS[1:3], params) == alone[1:3]
    if params.temperature > 0:  # the seed matters: another seed gives other text
        other = replies(model, PROMPTS, GenerationParams(params.max_tokens, params.temperature, params.top_p, seed=params.seed + 1))
        assert other != alone
