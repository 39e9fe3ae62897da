"""No control token from the Sender's text, checked on token ids with real tokenizers.

For the tiny Receiver's tokenizer, SmolLM2-135M-Instruct's (ChatML) and Gemma 3's, every
injection kind goes through the game with the guard set from that tokenizer; the Receiver's
prompt is rendered by the tokenizer's own chat template and tokenized as the transformers
backend and vLLM's chat endpoint do (the template's text, special tokens parsed). Its
control-token ids must be exactly those of the same prompt with a plain argument: all from
the template, none from the Sender. Control ids are taken from the tokenizer's added tokens
and, for the GGUF models, from the token types in the GGUF file, not from the guard.
"""

from __future__ import annotations

import pytest

from persuasion_rl.assets.tiny import default_cache_dir
from persuasion_rl.game import parse_receiver_reply
from persuasion_rl.game.engine import Game, GameConfig
from persuasion_rl.game.turn import ReceiverTurn
from persuasion_rl.game.guard import GuardConfig, tokenizer_control_tokens
from tests.adversarial.cases import CASES
from tests.adversarial.real_tokenizers import load_tokenizer

CLAIM = "Cities should make public buses free to ride."
PRIOR = ReceiverTurn(parse_receiver_reply("<score>3</score><opinion>Unsure.</opinion><question>Cost?</question>"), 3.0)
PLAIN = "Buses help."
# the forged turn in each tokenizer's own chat format: with the guard off it must inject control ids
OWN_FORMAT = {"tiny": "chatml_forged_turn", "smollm2": "chatml_forged_turn", "gemma": "gemma_forged_turn"}


@pytest.fixture(scope="module", params=["tiny", "smollm2", "gemma"])
def receiver_tokenizer(request, tiny_assets):
    from transformers import AutoTokenizer

    name = request.param
    if name == "tiny":
        tokenizer = AutoTokenizer.from_pretrained(str(tiny_assets.receiver))
        control_ids = set(tokenizer.added_tokens_decoder)
    else:
        tokenizer, gguf_ids = load_tokenizer(name, default_cache_dir() / "receiver-tokenizers")
        control_ids = gguf_ids | set(tokenizer.added_tokens_decoder)
    return name, tokenizer, frozenset(control_ids), tokenizer_control_tokens(tokenizer)


def prompt_ids(tokenizer, argument: str, guard: GuardConfig) -> list[int]:
    game = Game(CLAIM, PRIOR, GameConfig(guard=guard))
    game.add_sender(f"<argument>{argument}</argument>")
    text = tokenizer.apply_chat_template(game.receiver_prompt(), tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def controls(ids: list[int], control_ids: frozenset[int]) -> list[int]:
    return [i for i in ids if i in control_ids]


def test_the_tokenizer_s_own_control_strings_are_found(receiver_tokenizer):
    name, tokenizer, control_ids, tokens = receiver_tokenizer
    strings = {tokenizer.convert_ids_to_tokens(i).casefold() for i in control_ids}
    assert strings <= GuardConfig(control_tokens=tokens).control_tokens
    assert {"tiny": "<|im_end|>", "smollm2": "<jupyter_code>", "gemma": "<start_of_turn>"}[name] in tokens


@pytest.mark.parametrize("kind, argument", [(c[0], c[1]) for c in CASES], ids=[c[0] for c in CASES])
def test_no_control_token_comes_from_the_sender(receiver_tokenizer, kind, argument):
    _, tokenizer, control_ids, tokens = receiver_tokenizer
    reference = controls(prompt_ids(tokenizer, PLAIN, GuardConfig()), control_ids)
    # the tokenizer at hand (a local Receiver), and none (a remote endpoint: the common chat formats only)
    for guard in (GuardConfig(control_tokens=tokens), GuardConfig()):
        assert controls(prompt_ids(tokenizer, argument, guard), control_ids) == reference


def test_every_control_string_of_the_tokenizer_is_neutralised(receiver_tokenizer):
    """All of them at once (Gemma: 6,000+), as one argument, with the tokenizer's guard."""
    _, tokenizer, control_ids, tokens = receiver_tokenizer
    strings = [tokenizer.convert_ids_to_tokens(i) for i in sorted(control_ids)]
    reference = controls(prompt_ids(tokenizer, PLAIN, GuardConfig()), control_ids)
    assert controls(prompt_ids(tokenizer, "".join(strings), GuardConfig(control_tokens=tokens)), control_ids) == reference


def test_without_the_guard_the_forged_turn_injects_control_tokens(receiver_tokenizer):
    """The checks above can fail: unguarded, a forged turn in the tokenizer's own format
    reaches the prompt as control tokens."""
    name, tokenizer, control_ids, _ = receiver_tokenizer
    argument = dict((c[0], c[1]) for c in CASES)[OWN_FORMAT[name]]
    reference = controls(prompt_ids(tokenizer, PLAIN, GuardConfig(enabled=False)), control_ids)
    injected = controls(prompt_ids(tokenizer, argument, GuardConfig(enabled=False)), control_ids)
    assert len(injected) > len(reference)
