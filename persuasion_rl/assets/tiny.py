"""Tiny models the project builds itself, so every feature runs on a CPU with no download.

``build_tiny_models()`` trains a small byte-level BPE tokenizer on the project's own text
(``tiny_corpus.txt``, the claims in ``tiny_claims.jsonl`` and the game's prompts), adds a
ChatML chat template, and saves random-weight Qwen2 causal LMs: a Sender and a Receiver.
The Receiver is then *format-primed*: a few seconds of training on synthetic replies so
that it answers ``<score>N</score><opinion>...`` like an instruct model; its scores are
still arbitrary. Everything is deterministic from the seed and cached on disk by a hash
of the spec, so a second call is free.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from persuasion_rl.files import atomic_dir, parse_jsonl, write_text_atomic

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# ChatML, as Qwen2 uses; transformers' continue_final_message works with it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape of one tiny causal LM. Defaults: ~130k parameters."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 8192
    tie_word_embeddings: bool = True  # as Llama-3.2-3B: exercises the tied-export path
    format_prime_steps: int = 0


@dataclass(frozen=True)
class TinyAssetsSpec:
    seed: int = 0
    # raised when the build writes something else for the same fields (a new digest, so caches
    # rebuild); 2: the models are built and primed with the tokenizer as consumers load it;
    # 3: the priming check reads the saved Receiver through the Receiver backend
    build: int = 3
    vocab_size: int = 2048
    sender: TinyModelSpec = field(default_factory=TinyModelSpec)
    # 600: at 300 the Receiver primed on an AVX2 CPU wrote all four tags in 4 of 16 replies (15 of 16 at
    # 600); the build checks it either way (prime_until_readable)
    receiver: TinyModelSpec = field(default_factory=lambda: TinyModelSpec(format_prime_steps=600))

    def digest(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True) + _asset_text("tiny_corpus.txt")
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


# Tiny models vLLM can serve: its CPU attention needs a head size of at least 32 (the
# default tiny models have 4 heads of 16). Same width, tokenizer and priming, 2 heads of 32,
# so they cost what the default ones cost to build.
VLLM_TINY = TinyAssetsSpec(
    sender=TinyModelSpec(num_attention_heads=2, num_key_value_heads=2),
    receiver=TinyModelSpec(num_attention_heads=2, num_key_value_heads=2, format_prime_steps=300),
)


@dataclass(frozen=True)
class TinyAssets:
    root: Path
    sender: Path
    receiver: Path
    claims: Path


def default_cache_dir() -> Path:
    home = os.environ.get("PERSUASION_RL_HOME") or Path.home() / ".cache" / "persuasion-rl"
    return Path(home) / "assets"


def _asset_text(name: str) -> str:
    return resources.files("persuasion_rl.assets").joinpath(name).read_text(encoding="utf-8")


def tiny_claims() -> list[dict]:
    return [record for _, record in parse_jsonl(_asset_text("tiny_claims.jsonl"), "tiny_claims.jsonl")]


def _training_text() -> list[str]:
    """The tokenizer's training text: the corpus, the claims and rendered prompts, so that
    the prompt scaffolding (tags, quotes, round headers) gets compact tokens."""
    from persuasion_rl.game import Transcript, receiver_messages, sender_opening_messages

    lines = _asset_text("tiny_corpus.txt").splitlines()
    for row in tiny_claims()[:4]:
        claim = row["claim"]
        lines += [m["content"] for m in sender_opening_messages(claim, "I am neutral.\nWhy?")]
        transcript = Transcript().with_receiver("I am neutral.").with_sender("It helps.")
        lines += [m["content"] for m in receiver_messages(claim, transcript)]
    lines += [row["claim"] for row in tiny_claims()]
    return lines


def build_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return _as_consumers_load_it(wrapped)


def _as_consumers_load_it(tokenizer):
    """The tokenizer as every consumer (verl, vLLM, the Receiver backend) gets it from a model
    folder: ``AutoTokenizer`` beside a Qwen2 config. transformers 5 forces ``Qwen2Tokenizer`` on
    model type qwen2 (``tokenization_auto.MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS``), which
    rebuilds the pre-tokenizer as Qwen2's and so splits text unlike the one trained here (22 of
    56 Receiver prompts and corpus lines encoded alike). Priming with the trained one taught the
    Receiver token sequences no consumer feeds it: its check passed at build (16 of 16) while the
    saved Receiver wrote complete replies to 14 of 16 and a readable opening to 31 of 32 claims."""
    import tempfile

    from transformers import AutoTokenizer, Qwen2Config

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        Qwen2Config(vocab_size=len(tokenizer)).save_pretrained(tmp)
        return AutoTokenizer.from_pretrained(tmp)


def build_model(tokenizer, spec: TinyModelSpec, seed: int):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=spec.tie_word_embeddings,
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def _synthetic_receiver_reply(rng: random.Random, sentences: list[str]) -> str:
    opinion, thinking, question = (rng.choice(sentences) for _ in range(3))
    return (
        f"<score>{rng.randint(1, 7)}</score>\n<opinion>{opinion}</opinion>\n"
        f"<thinking>{thinking}</thinking>\n<question>{question}</question>"
    )


def _random_receiver_game(rng: random.Random, claims: list[str], sentences: list[str]):
    """A claim and a game before the Receiver's turn (prior or after 1-3 rounds), random content."""
    from persuasion_rl.game import Transcript

    transcript = Transcript()
    for _ in range(rng.randint(0, 3)):
        transcript = transcript.with_receiver(rng.choice(sentences)).with_sender(rng.choice(sentences))
    return rng.choice(claims), transcript


def _priming_texts() -> tuple[list[str], list[str]]:
    """The claims and sentences random Receiver prompts are drawn from (priming and its check)."""
    sentences = [s for s in _asset_text("tiny_corpus.txt").splitlines() if 20 < len(s) < 90]
    return [row["claim"] for row in tiny_claims()], sentences


def _random_prompt_ids(tokenizer, rng: random.Random, claims: list[str], sentences: list[str]) -> list[int]:
    from persuasion_rl.game import receiver_messages

    prompt = tokenizer.apply_chat_template(
        receiver_messages(*_random_receiver_game(rng, claims, sentences)), tokenize=False, add_generation_prompt=True
    )
    return tokenizer(prompt, add_special_tokens=False)["input_ids"]


def format_prime(model, tokenizer, steps: int, seed: int) -> None:
    """Teach the Receiver the reply format (score first) on synthetic replies after real
    Receiver prompts with random content. Only the reply tokens are trained."""
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    claims, sentences = _priming_texts()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    from tqdm.auto import tqdm

    for _ in tqdm(range(steps), desc="priming the tiny Receiver", unit="step", leave=False):
        examples = [_priming_example(tokenizer, rng, claims, sentences) for _ in range(8)]
        width = max(len(ids) for ids, _ in examples)
        pad = tokenizer.pad_token_id
        # right padding: the causal mask keeps pads from affecting the real tokens
        ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in examples])
        labels = torch.tensor([y + [-100] * (width - len(y)) for _, y in examples])
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    logger.info("format-primed the tiny Receiver for %d steps (final loss %.3f)", steps, loss.item())


# The priming check: greedy replies to fresh Receiver prompts must carry a score, an opinion
# and a question (what the dynamic game reads), and the opening reply to every tiny claim a
# readable score (what the tiny training data's priors need: tiny_data.receiver_priors). The
# same steps give other weights on another CPU's float kernels (300 steps: 4 of 16 complete
# replies on an AVX2 host, 16 of 16 on an AVX-512 one), so the build checks what it primed
# instead of trusting the step count. Before the openings were checked, one claim's opening
# reply "<score>4</opinion>..." failed every tiny training on an AMX host. It checks the saved
# folder through the Receiver backend, so what passes is what verl, vLLM and eval will load.
FORMAT_CHECK_PROMPTS = 16
FORMAT_CHECK_MIN_READABLE = 15
FORMAT_CHECK_REPLY_TOKENS = 64
FORMAT_EXTRA_ROUNDS = 3


@dataclass(frozen=True)
class FormatCheck:
    complete: int  # of FORMAT_CHECK_PROMPTS unseen prompts: replies with score, opinion and question
    openings: int  # of ``claims`` opening prompts: replies with a readable score
    claims: int

    @property
    def passed(self) -> bool:
        return self.complete >= FORMAT_CHECK_MIN_READABLE and self.openings == self.claims

    def __str__(self) -> str:
        return (f"{self.complete} of {FORMAT_CHECK_PROMPTS} replies with score, opinion and question "
                f"(need {FORMAT_CHECK_MIN_READABLE}), {self.openings} of {self.claims} opening replies with a "
                f"readable score (need all)")


def format_check(folder: Path, seed: int) -> FormatCheck:
    """The saved Receiver in ``folder``, loaded and asked as every consumer asks it (the
    Receiver backend's factory and the game's ``Receiver``, greedy): its replies to
    ``FORMAT_CHECK_PROMPTS`` unseen Receiver prompts (complete: score, opinion and question)
    and to each tiny claim's opening prompt (a readable score)."""
    import asyncio

    from persuasion_rl.game import Transcript
    from persuasion_rl.receivers import Receiver, ScoringConfig, run_sync
    from persuasion_rl.receivers.factory import make_backend
    from persuasion_rl.receivers.settings import ReceiverSettings

    receiver = Receiver(make_backend(ReceiverSettings("tiny_cpu", path=str(folder), device="cpu")),
                        scoring=ScoringConfig(reply_max_tokens=FORMAT_CHECK_REPLY_TOKENS, temperature=0.0))
    rng = random.Random(f"format-check-{seed}")  # prompts the priming never drew
    claims, sentences = _priming_texts()
    games = [_random_receiver_game(rng, claims, sentences) for _ in range(FORMAT_CHECK_PROMPTS)]
    games += [(claim, Transcript()) for claim in claims]

    async def reply_to_all():
        return await asyncio.gather(*(receiver.reply(claim, transcript) for claim, transcript in games))

    replies = run_sync(reply_to_all())
    unseen, openings = replies[:FORMAT_CHECK_PROMPTS], replies[FORMAT_CHECK_PROMPTS:]
    return FormatCheck(complete=sum(r.ok and bool(r.opinion) and bool(r.question) for r in unseen),
                       openings=sum(r.ok for r in openings), claims=len(claims))


def prime_until_readable(model, tokenizer, steps: int, seed: int, folder: Path) -> None:
    """``steps`` of priming, then up to ``FORMAT_EXTRA_ROUNDS`` more rounds of half as many
    until the check of the Receiver saved in ``folder`` passes; a Receiver that still fails
    stops the build with the figures."""
    format_prime(model, tokenizer, steps, seed)
    for extra in range(FORMAT_EXTRA_ROUNDS + 1):
        write_model(model, tokenizer, folder)
        check = format_check(folder, seed)
        logger.info("tiny Receiver priming check: %s", check)
        if check.passed:
            return
        if extra < FORMAT_EXTRA_ROUNDS:
            format_prime(model, tokenizer, max(steps // 2, 1), seed + 1 + extra)
    raise RuntimeError(
        f"the tiny Receiver's greedy replies after {steps} + {FORMAT_EXTRA_ROUNDS} x {max(steps // 2, 1)} priming "
        f"steps: {check}; raise format_prime_steps in persuasion_rl/assets/tiny.py")


def _priming_example(tokenizer, rng, claims, sentences) -> tuple[list[int], list[int]]:
    p_ids = _random_prompt_ids(tokenizer, rng, claims, sentences)  # drawn before the reply, as always
    reply = _synthetic_receiver_reply(rng, sentences) + "<|im_end|>"
    r_ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
    return p_ids + r_ids, [-100] * len(p_ids) + r_ids


def write_model(model, tokenizer, folder: Path) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def save_model(model, tokenizer, path: Path) -> None:
    """Write to a temporary directory, then rename: an interrupted build leaves no
    half-written model that a later call would mistake for a cached one."""
    with atomic_dir(path) as tmp:
        write_model(model, tokenizer, tmp)


def build_tiny_models(cache_dir: Path | None = None, spec: TinyAssetsSpec = TinyAssetsSpec(), force: bool = False) -> TinyAssets:
    """Build (or reuse from the cache) the tiny tokenizer, Sender and Receiver."""
    root = Path(cache_dir or default_cache_dir()) / f"tiny-{spec.digest()}"
    assets = TinyAssets(root, root / "sender", root / "receiver", root / "claims.jsonl")
    if not force and all(p.exists() for p in (assets.sender, assets.receiver, assets.claims)):
        return assets
    root.mkdir(parents=True, exist_ok=True)
    logger.info("building the tiny models once (1-2.5 min on 2 CPU cores), cached in %s", root)
    tokenizer = build_tokenizer(spec.vocab_size)
    for path, model_spec, seed in ((assets.sender, spec.sender, spec.seed), (assets.receiver, spec.receiver, spec.seed + 1)):
        model = build_model(tokenizer, model_spec, seed)
        # the Receiver is checked in the folder it is saved to, renamed into the cache only if it passes
        with atomic_dir(path) as tmp:
            write_model(model, tokenizer, tmp)
            if model_spec.format_prime_steps:
                prime_until_readable(model, tokenizer, model_spec.format_prime_steps, seed, tmp)
    write_text_atomic(_asset_text("tiny_claims.jsonl"), assets.claims)
    logger.info("tiny models written to %s", root)
    return assets
