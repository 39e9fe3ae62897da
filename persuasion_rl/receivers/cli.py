"""``persuasion-rl receiver ...``: a quick look at a Receiver, and serving one over HTTP."""

from __future__ import annotations

import argparse
import asyncio
import logging

from persuasion_rl.game.prompts import PromptConfig
from persuasion_rl.receivers.receiver import ScoringConfig
from persuasion_rl.receivers.scoring import ScoringMode

logger = logging.getLogger(__name__)

SCORING_MODES = [mode.value for mode in ScoringMode]


def register(subparsers) -> None:
    parser = subparsers.add_parser("receiver", help="score an argument with a Receiver, or serve one")
    commands = parser.add_subparsers(dest="receiver_command", required=True)

    score = commands.add_parser("score", help="prior, posterior and gain for one argument")
    score.add_argument("--receiver", default="smollm2", help="smollm2 (default), gemma, tiny, hf:PATH or openai:URL#MODEL")
    score.add_argument("--claim", required=True)
    score.add_argument("--argument", required=True, help="the Sender's argument (plain text)")
    score.add_argument("--mode", choices=SCORING_MODES, default=ScoringConfig.mode.value)
    score.add_argument("--word-limit", type=int, default=PromptConfig.receiver_word_limit, help="Receiver word limit in its prompt")
    add_receiver_prompt_options(score)
    score.set_defaults(func=_score)

    serve = commands.add_parser("serve", help="serve a local model as an OpenAI-compatible endpoint")
    serve.add_argument("--model", required=True, help="local model directory, or 'tiny'")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--name", default=None, help="the model name it serves (default: the folder's name); others get HTTP 404, as from vLLM")
    serve.add_argument("--max-logprobs", type=int, default=20, help="most top_logprobs a request may ask for (vLLM's default: 20)")
    serve.set_defaults(func=_serve)


def _score(args: argparse.Namespace) -> int:
    from persuasion_rl.assets.models import receiver_defaults
    from persuasion_rl.game import Transcript, persuasion_gain
    from persuasion_rl.receivers import Receiver
    from persuasion_rl.receivers.factory import make_backend

    chosen = receiver_defaults(args.receiver, args.receiver_prompt, args.min_digit_mass)
    prompts = PromptConfig(receiver_word_limit=args.word_limit, receiver_prompt=chosen.receiver_prompt)
    min_mass = chosen.min_digit_mass
    receiver = Receiver(make_backend(args.receiver), prompts, ScoringConfig(mode=args.mode, min_digit_mass=min_mass))

    async def run():
        prior = await receiver.prior(args.claim)
        transcript = Transcript().with_receiver(prior.reply.transcript_message).with_sender(args.argument)
        return prior, await receiver.score(args.claim, transcript), await receiver.reply(args.claim, transcript)

    prior, posterior, reply = asyncio.run(run())
    gain = persuasion_gain(prior.mode_score, posterior.score) if prior.ok and posterior.ok else None
    for line in score_lines(f"{receiver.backend.name}, prompt {prompts.receiver_prompt}, min_digit_mass {min_mass}", args.mode, prior, posterior, gain, reply):
        print(line)
    return 0 if gain is not None else 1


def score_lines(name: str, mode: str, prior, posterior, gain, reply) -> list[str]:
    """What ``receiver score`` prints. In expected mode the scores are probability-weighted
    means over the digits after ``<score>``, which differ from the ``<score>N</score>`` the
    sampled reply text shows: each number says which one it is."""
    kind = "expected score, mean over the digits 1-7" if mode == "expected" else "sampled score, the reply's <score>"
    written = prior.reply.score
    lines = [f"receiver : {name} ({mode} scoring)",
             f"prior    : {_fmt(prior.mode_score, prior.error)} ({kind})",
             f"posterior: {_fmt(posterior.score, posterior.error)} ({kind})",
             f"gain     : {_fmt(gain, 'unavailable: a score could not be read')} (posterior minus prior)"]
    if posterior.distribution:
        lines.append("posterior distribution: " + "  ".join(f"{k}:{v:.2f}" for k, v in sorted(posterior.distribution.items())))
    note = ""
    if mode == "expected":
        note = (f" (its <score>{written if written is not None else '?'}</score> was sampled; the prior above is the expected score)")
    lines.append(f"\nReceiver's opening turn{note}:\n{prior.reply.raw}\n\nReceiver's reply to the argument (sampled text):\n{reply.raw}")
    return lines


def add_receiver_prompt_options(p: argparse.ArgumentParser) -> None:
    from persuasion_rl.game.prompts import RECEIVER_PROMPTS

    p.add_argument("--receiver-prompt", choices=list(RECEIVER_PROMPTS), default=None,
                   help="Receiver prompt version (default: the named model's measured one, else paper-v1)")
    p.add_argument("--min-digit-mass", type=float, default=None,
                   help="expected scoring: least probability on the digits for a readable score (default: the named model's, else 0.5)")


def _fmt(value: float | None, error: str | None) -> str:
    return f"{value:.3f}" if value is not None else f"none ({error})"


def _serve(args: argparse.Namespace) -> int:
    from persuasion_rl.receivers.server import serve

    from persuasion_rl.assets.models import named_model_path

    model = str(named_model_path(args.model, "receiver") or args.model)
    serve(model, host=args.host, port=args.port, name=args.name, max_logprobs=args.max_logprobs)
    return 0
