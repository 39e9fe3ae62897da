"""The dynamic persuasion game as a verl 0.9.1 agent loop (``agent_name: persuasion_dynamic``).

The loop drives ``persuasion_rl.game.engine.Game``: the Sender's turns are generated through
verl's server manager (so its tokens, with rollout log-probs, are trained: mask 1); the
Receiver's replies are appended as the user's turns (mask 0). It stops after
``persuasion.rounds`` rounds or when the response budget (``rollout.response_length``,
shared by all turns) is spent, and returns the final gain as ``reward_score`` (verl places
it on the last response token, which is always a Sender token, and skips its reward loop
for the row), with the per-round score trajectory in ``reward_extra_info``.

The Receiver between turns is, by default, the one verl's reward loop serves on its own
pool (``receiver=vllm``; on the CPU ``tiny_cpu``/``hf``, the project's hf replica): the
agent-loop manager (``agent_loop_manager.py``) writes its router's address into
``persuasion.receiver.endpoint`` and the loop asks it there, under the name verl's replicas
serve it by, through the one backend factory (``receivers/factory.py``) and the same
``PersuasionSettings`` the CLI checked. ``receiver=openai`` is any external endpoint; a
local ``tiny_cpu``/``hf`` Receiver with verl's reward model disabled is loaded once per
worker process (the unit tests). The backend bounds the calls in flight (``persuasion.receiver.max_concurrency``:
the HTTP client's limit, or the local model's largest batch). Each sample's Receiver costs
(re-asks for an unreadable score, transport retries, timeouts) go into its extra info.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any
from uuid import uuid4

from omegaconf import OmegaConf
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register

from persuasion_rl.data.verl_row import row_prior
from persuasion_rl.game import parse_receiver_reply
from persuasion_rl.game.engine import Game, GameAborted
from persuasion_rl.game.turn import ReceiverTurn
from persuasion_rl.game.guard import GuardConfig, tokenizer_control_tokens
from persuasion_rl.receivers import Receiver
from persuasion_rl.receivers.base import backend_control_tokens
from persuasion_rl.receivers.factory import cached_backend
from persuasion_rl.receivers.receiver import SampleCalls
from persuasion_rl.receivers.settings import LOCAL_KINDS, ReceiverSettings, ReceiverSpecError
from persuasion_rl.train.settings import PersuasionSettings

from .agent_loop_manager import MANAGER_CLASS, served_receiver_name, serves_receiver
from .unscored import log_skipped

AGENT_NAME = "persuasion_dynamic"


def loop_receiver(settings: ReceiverSettings, config) -> ReceiverSettings:
    """Where the loop asks the Receiver: verl's reward-model router when verl serves it (its
    address set by the agent-loop manager), an external endpoint as configured, or a local
    model (by default at the reward model's path) loaded in this worker."""
    if serves_receiver(config):
        if not settings.endpoint:
            raise ReceiverSpecError(
                "the dynamic game's Receiver is verl's reward model, but the agent loop got no router address: set "
                f"actor_rollout_ref.rollout.agent.agent_loop_manager_class={MANAGER_CLASS} (configs/persuasion/dynamic.yaml)")
        return settings.served_at(settings.endpoint, served_receiver_name(config))
    reward_model_path = OmegaConf.select(config, "reward.reward_model.model_path", default=None)
    if settings.kind in LOCAL_KINDS and not settings.path and reward_model_path:
        return replace(settings, path=reward_model_path)
    return settings


def receiver_control_tokens(backend, config) -> frozenset[str]:
    """The control tokens of the Receiver's tokenizer, for the Sender guard: a local model's,
    or, for the Receiver verl serves, its tokenizer's, loaded as verl loads the static
    reward's ``reward_model_tokenizer`` (``RewardLoopWorker._init_reward_fn``)."""
    if serves_receiver(config):
        return _served_control_tokens(str(config.reward.reward_model.model_path))
    return backend_control_tokens(backend)


@functools.lru_cache(maxsize=None)
def _served_control_tokens(model_path: str) -> frozenset[str]:
    """Once per worker process: verl builds an agent loop per sample."""
    from verl.utils import hf_tokenizer
    from verl.utils.fs import copy_to_local

    return tokenizer_control_tokens(hf_tokenizer(copy_to_local(model_path), trust_remote_code=True))


def turn_closer_ids(tokenizer) -> list[int]:
    """The tokens a chat template puts after an assistant message's content (ChatML:
    ``<|im_end|>`` and a newline; Llama 3: ``<|eot_id|>``). A Sender turn cut at its token
    limit lacks them; they are appended, untrained, before the next user turn."""
    marker = "\u2063persuasion-rl-marker\u2063"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": marker}], tokenize=False, add_generation_prompt=False
    )
    return tokenizer.encode(text[text.index(marker) + len(marker):], add_special_tokens=False)


@dataclass
class _Turns:
    """The token stream being built: ids (prompt first), loss mask and log-probs of the response."""

    ids: list[int]
    mask: list[int]
    logprobs: list[float]


class _Unscored(Exception):
    """A Receiver turn without a readable score under ``parse_failure=skip``."""


@register(AGENT_NAME)
class PersuasionAgentLoop(AgentLoopBase):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = PersuasionSettings.from_config(OmegaConf.to_container(self.config.persuasion, resolve=True))
        self.response_length = self.rollout_config.response_length
        self.sender_turn_tokens = self.settings.sender_turn_tokens or self.response_length
        self.game_config = self.settings.game_config()
        # one backend per worker process; the backend bounds the calls in flight (max_concurrency)
        backend = cached_backend(loop_receiver(self.settings.receiver, self.config))
        # the Sender guard knows the Receiver tokenizer's control tokens (local, or the one verl serves)
        self.game_config = replace(self.game_config, guard=GuardConfig(control_tokens=receiver_control_tokens(backend, self.config)))
        self.receiver = Receiver(backend, self.game_config.prompts, self.settings.scoring())
        self.closer = turn_closer_ids(self.tokenizer)

    async def _receiver_turn(self, game: Game, calls: SampleCalls) -> ReceiverTurn:
        prompt, need_reply = game.receiver_prompt(), not game.is_last_round
        return await calls.ask_until_scored(lambda: self.receiver.turn(prompt, need_reply=need_reply), self.settings.parse_retries)

    async def run(self, sampling_params: dict[str, Any], **kwargs) -> AgentLoopOutput:
        claim, prior_score, prior_reply = row_prior(None, kwargs["extra_info"], self.receiver.scoring.mode.value)
        game = Game(claim, ReceiverTurn(parse_receiver_reply(prior_reply), prior_score), self.game_config)
        messages = list(kwargs["raw_prompt"])
        prompt_ids = await self.ct_build_initial_tokens(messages)
        turns = _Turns(list(prompt_ids), [], [])
        calls = SampleCalls()
        unscored = None
        with calls.counting():  # this sample's Receiver calls: re-asks, retries, timeouts
            try:
                truncated = await self._play(game, messages, turns, sampling_params, calls)
            except _Unscored as error:  # parse_failure=skip: left out of the update (verl_ext/unscored.py)
                truncated, unscored = False, str(error)
                log_skipped(claim, error)
        response_ids = turns.ids[len(prompt_ids):]
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids[: self.response_length],
            response_mask=turns.mask[: self.response_length],
            response_logprobs=turns.logprobs[: self.response_length] if turns.logprobs else None,
            reward_score=math.nan if unscored else self._reward(game),  # NaN: never a number that could pass for a reward
            num_turns=2 * len(game.rounds) + 1,
            metrics={},
            extra_fields={"reward_extra_info": self._extra_info(game, truncated, calls, unscored is None),
                          "turn_scores": game.score_trajectory},
        )

    async def _play(self, game: Game, messages: list[dict], turns: "_Turns", sampling_params: dict[str, Any], calls: SampleCalls) -> bool:
        """Alternate Sender and Receiver turns into ``turns``; True if the budget cut the game."""
        request_id = uuid4().hex
        while not game.finished:
            budget = self.response_length - len(turns.mask)
            if budget <= 0:
                return True
            params = {**sampling_params, "max_tokens": min(self.sender_turn_tokens, budget)}
            output = await self.server_manager.generate(request_id=request_id, prompt_ids=turns.ids, sampling_params=params)
            merged, turns.mask, turns.logprobs = await self.ct_merge_assistant_token(
                turns.ids, output.token_ids, turns.mask, turns.logprobs, assistant_logprobs=output.log_probs)
            turns.ids = merged.token_ids
            text = self.tokenizer.decode(output.token_ids, skip_special_tokens=True)
            game.add_sender(text)
            if game.finished:
                break
            try:
                game.add_receiver(await self._receiver_turn(game, calls))
            except GameAborted as error:  # no readable score after the re-asks: parse_failure decides
                if self.settings.parse_failure != "skip":
                    raise  # fail: the step fails loudly
                raise _Unscored(str(error)) from error
            if game.finished:
                break
            closed = self._close_turn(turns.ids, turns.mask, turns.logprobs, output.token_ids)
            previous = [*messages, {"role": "assistant", "content": text}]  # assistant first: never re-rendered as context
            messages = [*previous, game.sender_followup()]
            merged, new_mask, new_logprobs = await self.ct_merge_context_msg(previous, messages, closed[0], closed[1], closed[2])
            if len(new_mask) >= self.response_length:  # the Receiver's turn does not fit: end on the Sender's tokens
                return True
            turns.ids, turns.mask, turns.logprobs = merged.token_ids, new_mask, new_logprobs
        return False

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

    def _extra_info(self, game: Game, truncated: bool, calls: SampleCalls, scored: bool) -> dict[str, float]:
        gains = game.gain_per_round()
        last = game.rounds[-1] if game.rounds else None
        words = len(last.sender_argument.split()) if last and last.sender_argument else math.nan
        info = {
            "score": self._reward(game) if scored else math.nan,
            # metrics.RECEIVER_OK, as the static reward writes it: 1 scored, 0 left out of the update
            # (verl_ext/unscored.py), NaN the Receiver was never asked (a missing first argument)
            "receiver_ok": (1.0 if game.score_trajectory else math.nan) if scored else 0.0,
            "gain": gains[-1] if scored and gains and not game.aborted else math.nan,
            "receiver_score": game.score_trajectory[-1] if scored and game.score_trajectory else math.nan,
            "prior_score": game.prior.mode_score,
            "argument_missing": float(any(r.sender_argument is None or r.argument_status.value != "ok" for r in game.rounds)),
            "argument_words": float(words),
            **calls.as_extra_info(),  # re-asks for unreadable scores, transport retries, timeouts, failed calls
            "injection_flags": float(game.injection_flags),
            "receiver_echo": float(game.score_echoes > 0) if game.score_trajectory else math.nan,
            "turns_completed": float(len(game.score_trajectory)),
            "truncated": float(truncated),
        }
        for i in range(game.config.rounds):
            info[f"gain_round_{i + 1}"] = gains[i] if i < len(gains) else math.nan
        return info
