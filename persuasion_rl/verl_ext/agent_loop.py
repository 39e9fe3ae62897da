"""The dynamic persuasion game as a verl 0.9.1 agent loop (``agent_name: persuasion_dynamic``).

The loop drives ``persuasion_rl.game.engine.Game``: the Sender's turns are generated through
verl's server manager (so its tokens, with rollout log-probs, are trained: mask 1); the
Receiver's replies are appended as the user's turns (mask 0). It stops after
``persuasion.rounds`` rounds or when the response budget (``rollout.response_length``,
shared by all turns) is spent, and returns the final gain as ``reward_score`` (verl places
it on the last response token, which is always a Sender token, and skips its reward loop
for the row), with the per-round score trajectory in ``reward_extra_info``.

The Receiver between turns: verl gives agent loops no handle to its reward-model servers,
so the loop reaches the Receiver itself through the project's backends —
``persuasion.receiver.kind=openai`` (an OpenAI-compatible server, e.g. ``vllm serve`` on the
Receiver's GPUs) or ``tiny_cpu``/``hf`` (a transformers model loaded once per worker
process). A per-process semaphore bounds the calls in flight.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any
from uuid import uuid4

from omegaconf import OmegaConf
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register

from persuasion_rl.game import PromptConfig, parse_receiver_reply
from persuasion_rl.game.engine import Game, GameConfig, ReceiverTurn
from persuasion_rl.receivers import Receiver, ScoringConfig
from persuasion_rl.receivers.receiver import ask_until_scored
from persuasion_rl.receivers.base import ChatBackend
from persuasion_rl.verl_ext.reward import row_prior

logger = logging.getLogger(__name__)

AGENT_NAME = "persuasion_dynamic"
_BACKENDS: dict[tuple, ChatBackend] = {}  # one Receiver backend per worker process
_SEMAPHORES: dict[int, asyncio.Semaphore] = {}


def receiver_backend(section: dict[str, Any], fallback_path: str | None) -> ChatBackend:
    kind = section.get("kind")
    if kind == "openai":
        from persuasion_rl.receivers.openai_backend import OpenAIChatModel, RetryPolicy

        key = ("openai", section["endpoint"], section["name"])
        factory = lambda: OpenAIChatModel(section["endpoint"], section["name"], retry=RetryPolicy(max_retries=section.get("max_retries", 4)))
    elif kind in ("tiny_cpu", "hf"):
        from persuasion_rl.receivers.transformers_backend import TransformersChatModel

        path = section.get("path") or fallback_path
        if not path:
            raise ValueError("persuasion.receiver.path (or reward.reward_model.model_path) must name the Receiver model")
        key = ("hf", path)
        factory = lambda: TransformersChatModel(path, name=section.get("name"))
    else:
        raise ValueError(
            f"the dynamic game cannot reach a persuasion.receiver.kind={kind!r} Receiver from its agent loop: "
            "use receiver=openai (an OpenAI-compatible server such as `vllm serve` on the Receiver's GPUs) "
            "or a local model (kind tiny_cpu / hf)"
        )
    if key not in _BACKENDS:
        _BACKENDS[key] = factory()
    return _BACKENDS[key]


def turn_closer_ids(tokenizer) -> list[int]:
    """The tokens a chat template puts after an assistant message's content (ChatML:
    ``<|im_end|>`` and a newline; Llama 3: ``<|eot_id|>``). A Sender turn cut at its token
    limit lacks them; they are appended, untrained, before the next user turn."""
    marker = "\u2063persuasion-rl-marker\u2063"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": marker}], tokenize=False, add_generation_prompt=False
    )
    return tokenizer.encode(text[text.index(marker) + len(marker):], add_special_tokens=False)


@register(AGENT_NAME)
class PersuasionAgentLoop(AgentLoopBase):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        section = OmegaConf.to_container(self.config.persuasion, resolve=True)
        self.settings = section
        self.response_length = self.rollout_config.response_length
        self.sender_turn_tokens = int(section.get("sender_turn_tokens") or self.response_length)
        self.game_config = GameConfig(
            PromptConfig(setting="dynamic", sender_word_limit=section["sender_word_limit"], receiver_word_limit=section["receiver_word_limit"]),
            rounds=int(section.get("rounds", 3)),
            missing_argument=section["missing_argument"],
            missing_argument_penalty=float(section["missing_argument_penalty"]),
        )
        receiver_section = section.get("receiver", {})
        fallback = self.config.reward.get("reward_model", {}).get("model_path")
        scoring = ScoringConfig(
            mode=section["scoring_mode"], reply_max_tokens=int(section.get("receiver_reply_tokens", 256)),
            top_logprobs=int(section["top_logprobs"]), min_digit_mass=float(section.get("min_digit_mass", 0.5)),
        )
        self.receiver = Receiver(receiver_backend(receiver_section, fallback), self.game_config.prompts, scoring)
        self.parse_retries = int(section.get("parse_retries", 2))
        limit = int(receiver_section.get("max_concurrency", 16))
        self.semaphore = _SEMAPHORES.setdefault(limit, asyncio.Semaphore(limit))
        self.closer = turn_closer_ids(self.tokenizer)

    async def _receiver_turn(self, game: Game) -> ReceiverTurn:
        prompt, need_reply = game.receiver_prompt(), not game.is_last_round
        async with self.semaphore:
            turn, _ = await ask_until_scored(lambda: self.receiver.turn(prompt, need_reply=need_reply), self.parse_retries)
        return turn

    async def run(self, sampling_params: dict[str, Any], **kwargs) -> AgentLoopOutput:
        claim, prior_score, prior_reply = row_prior(None, kwargs["extra_info"], self.receiver.scoring.mode.value)
        game = Game(claim, ReceiverTurn(parse_receiver_reply(prior_reply), prior_score), self.game_config)
        messages = list(kwargs["raw_prompt"])
        prompt_ids = await self.ct_build_initial_tokens(messages)
        runtime_ids, mask, logprobs = list(prompt_ids), [], []
        truncated, request_id, metrics = False, uuid4().hex, {}
        while not game.finished:
            budget = self.response_length - len(mask)
            if budget <= 0:
                truncated = True
                break
            params = {**sampling_params, "max_tokens": min(self.sender_turn_tokens, budget)}
            output = await self.server_manager.generate(request_id=request_id, prompt_ids=runtime_ids, sampling_params=params)
            merged, mask, logprobs = await self.ct_merge_assistant_token(runtime_ids, output.token_ids, mask, logprobs, assistant_logprobs=output.log_probs)
            runtime_ids = merged.token_ids
            text = self.tokenizer.decode(output.token_ids, skip_special_tokens=True)
            game.add_sender(text)
            if game.finished:
                break
            game.add_receiver(await self._receiver_turn(game))  # GameAborted: the step fails loudly
            if game.finished:
                break
            closed = self._close_turn(runtime_ids, mask, logprobs, output.token_ids)
            previous = [*messages, {"role": "assistant", "content": text}]  # assistant first: never re-rendered as context
            messages = [*previous, game.sender_followup()]
            merged, new_mask, new_logprobs = await self.ct_merge_context_msg(previous, messages, closed[0], closed[1], closed[2])
            if len(new_mask) >= self.response_length:  # the Receiver's turn does not fit: end on the Sender's tokens
                truncated = True
                break
            runtime_ids, mask, logprobs = merged.token_ids, new_mask, new_logprobs
        response_ids = runtime_ids[len(prompt_ids):]
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids[: self.response_length],
            response_mask=mask[: self.response_length],
            response_logprobs=logprobs[: self.response_length] if logprobs else None,
            reward_score=self._reward(game),
            num_turns=2 * len(game.rounds) + 1,
            metrics=metrics,
            extra_fields={"reward_extra_info": self._extra_info(game, truncated), "turn_scores": game.score_trajectory},
        )

    def _close_turn(self, runtime_ids, mask, logprobs, sender_ids):
        """Append the turn-closing tokens (mask 0) if the Sender's turn was cut short."""
        if not self.closer or (sender_ids and sender_ids[-1] == self.closer[0]):
            return runtime_ids, mask, logprobs
        return runtime_ids + self.closer, mask + [0] * len(self.closer), (logprobs + [0.0] * len(self.closer)) if logprobs else logprobs

    def _reward(self, game: Game) -> float:
        """The final gain; a game cut by the response budget is scored at its last
        completed round (a real Receiver score, not an estimate)."""
        if game.finished:
            return float(game.reward)
        gains = game.gain_per_round()
        return float(gains[-1]) if gains else float(game.config.missing_argument_penalty)

    def _extra_info(self, game: Game, truncated: bool) -> dict[str, float]:
        gains = game.gain_per_round()
        last = game.rounds[-1] if game.rounds else None
        words = len(last.sender_argument.split()) if last and last.sender_argument else math.nan
        info = {
            "score": self._reward(game),
            "gain": gains[-1] if gains and not game.aborted else math.nan,
            "receiver_score": game.score_trajectory[-1] if game.score_trajectory else math.nan,
            "prior_score": game.prior.score,
            "argument_missing": float(any(r.sender_argument is None or r.argument_status.value != "ok" for r in game.rounds)),
            "argument_words": float(words),
            "receiver_parse_retries": 0.0,
            "injection_flags": float(game.injection_flags),
            "turns_completed": float(len(game.score_trajectory)),
            "truncated": float(truncated),
        }
        for i in range(game.config.rounds):
            info[f"gain_round_{i + 1}"] = gains[i] if i < len(gains) else math.nan
        return info
