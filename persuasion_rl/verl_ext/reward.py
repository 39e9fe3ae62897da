"""The Sender's reward for verl's reward loop: the Receiver's persuasion gain.

verl 0.9.1 calls ``compute_score(data_source, solution_str, ground_truth, extra_info,
reward_router_address=..., reward_model_tokenizer=..., **reward_kwargs)`` — the last two
only when it serves a reward model; ``reward_kwargs`` come from
``reward.custom_reward_function.reward_kwargs`` in the Hydra config. The function builds
the Receiver's prompt with the transcript (the Receiver's cached opening turn from the
row, then the Sender's argument), asks the Receiver through verl's reward-model router
(or a configured endpoint), and returns the gain over the prior as ``score``.

Point verl at it with ``reward.custom_reward_function.path=pkg://persuasion_rl.verl_ext.reward``
and ``name=compute_score``: a file path would load a second, unregistered copy of the module
(its dataclasses fail to build that way, and each copy would keep its own HTTP clients).
Extra-info values are floats; those with no meaning for a sample (the Receiver's score when
it was not asked) are NaN, so aggregate them with ``nanmean``.

Policies (documented in README "Reward"):
- missing argument (no closed ``<argument>`` in the Sender's reply):
  ``penalty`` -> score = ``missing_argument_penalty``, the Receiver is not asked;
  ``raw`` -> the whole reply is the argument (useful for an untrained tiny Sender);
  ``fail`` -> raise. Always counted in ``argument_missing``.
- no Receiver score: an unreadable one is re-asked up to ``parse_retries`` times (a fresh
  sample, not a made-up score); a transport failure is retried with backoff by the client
  (``max_retries``). What still has no score then follows ``parse_failure``:
  ``fail`` -> raise, so the step fails loudly;
  ``skip`` -> the sample is returned with ``receiver_ok = 0`` and a NaN score, never a
  number that could pass for a reward; the trainer leaves it out of the update
  (``persuasion_rl.verl_ext.unscored``). No failure becomes a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from persuasion_rl.data.verl_row import row_prior
from persuasion_rl.errors import reject_unknown_fields
from persuasion_rl.game import PromptConfig, parse_receiver_reply
from persuasion_rl.game.engine import Game, GameAborted, GameConfig
from persuasion_rl.game.turn import ReceiverTurn
from persuasion_rl.receivers.base import ReceiverError, ReceiverRejected
from persuasion_rl.receivers.factory import cached_backend
from persuasion_rl.receivers.receiver import Receiver, SampleCalls, ScoringConfig
from persuasion_rl.game.guard import GuardConfig, tokenizer_control_tokens
from persuasion_rl.receivers.scoring import ScoreResult, ScoringMode
from persuasion_rl.receivers.settings import ReceiverSettings
from persuasion_rl.train.settings import MISSING_ARGUMENT_POLICIES, PARSE_FAILURE_POLICIES, PersuasionSettings

from .unscored import log_skipped

NAN = float("nan")


@dataclass(frozen=True)
class RewardSettings:
    """Everything ``reward_kwargs`` may set. Unknown keys are an error, not ignored. The
    recipes interpolate them from ``persuasion.*``; the defaults are ``PersuasionSettings``'
    and ``ReceiverSettings``' own."""

    scoring_mode: str = PersuasionSettings.scoring_mode
    receiver_endpoint: str | None = None  # used when verl does not serve the Receiver
    receiver_model: str | None = None  # the served model name; default: the reward model's path
    receiver_word_limit: int = PersuasionSettings.receiver_word_limit
    receiver_prompt: str = PersuasionSettings.receiver_prompt
    sender_prompt: str = PersuasionSettings.sender_prompt  # how the Sender's reply is parsed
    score_max_tokens: int = ScoringConfig.score_max_tokens
    temperature: float = ScoringConfig.temperature
    top_logprobs: int = PersuasionSettings.top_logprobs
    min_digit_mass: float = PersuasionSettings.min_digit_mass
    missing_argument: str = PersuasionSettings.missing_argument
    missing_argument_penalty: float = PersuasionSettings.missing_argument_penalty
    parse_failure: str = PersuasionSettings.parse_failure
    parse_retries: int = PersuasionSettings.parse_retries
    max_retries: int = ReceiverSettings.max_retries
    timeout_s: float = ReceiverSettings.timeout_s
    max_concurrency: int = ReceiverSettings.max_concurrency

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> "RewardSettings":
        reject_unknown_fields(cls, kwargs, "reward_kwargs", TypeError)
        settings = cls(**kwargs)
        if settings.missing_argument not in MISSING_ARGUMENT_POLICIES:
            raise ValueError(f"missing_argument must be one of {MISSING_ARGUMENT_POLICIES}, got {settings.missing_argument!r}")
        if settings.parse_failure not in PARSE_FAILURE_POLICIES:
            raise ValueError(f"parse_failure must be one of {PARSE_FAILURE_POLICIES}, got {settings.parse_failure!r}")
        ScoringMode(settings.scoring_mode)
        return settings

    def prompts(self) -> PromptConfig:
        return PromptConfig(receiver_word_limit=self.receiver_word_limit, receiver_prompt=self.receiver_prompt,
                            sender_prompt=self.sender_prompt)

    def receiver_settings(self, address: str | None, tokenizer: Any) -> ReceiverSettings:
        endpoint = address or self.receiver_endpoint
        if not endpoint:
            raise ValueError("no Receiver to ask: verl serves no reward model here and reward_kwargs.receiver_endpoint is unset")
        model = self.receiver_model or getattr(tokenizer, "name_or_path", None) or "receiver"
        return ReceiverSettings("openai", name=model, endpoint=endpoint, timeout_s=self.timeout_s,
                                max_retries=self.max_retries, max_concurrency=self.max_concurrency)


def _receiver(settings: RewardSettings, address: str | None, tokenizer: Any) -> Receiver:
    scoring = ScoringConfig(
        mode=ScoringMode(settings.scoring_mode), score_max_tokens=settings.score_max_tokens,
        temperature=settings.temperature, top_logprobs=settings.top_logprobs, min_digit_mass=settings.min_digit_mass,
    )
    backend = cached_backend(settings.receiver_settings(address, tokenizer))  # one HTTP client per process and endpoint
    return Receiver(backend, settings.prompts(), scoring)


_GUARDS: dict[int, tuple[Any, GuardConfig]] = {}  # id(tokenizer) -> (tokenizer, its guard): one vocabulary scan per process


def _guard(tokenizer: Any) -> GuardConfig:
    """The Sender guard for the Receiver verl serves: its tokenizer (``reward_model_tokenizer``)
    names the control tokens to neutralise; without one (a remote endpoint), the common chat
    formats' control tokens are."""
    if tokenizer is None:
        return GuardConfig()
    cached = _GUARDS.get(id(tokenizer))
    if cached is None or cached[0] is not tokenizer:
        cached = _GUARDS[id(tokenizer)] = (tokenizer, GuardConfig(control_tokens=tokenizer_control_tokens(tokenizer)))
    return cached[1]


async def compute_score(data_source, solution_str, ground_truth, extra_info=None, reward_router_address=None, reward_model_tokenizer=None, **kwargs) -> dict:
    settings = RewardSettings.from_kwargs(kwargs)
    claim, prior_score, prior_reply = row_prior(ground_truth, extra_info, settings.scoring_mode)
    config = GameConfig(settings.prompts(), missing_argument=settings.missing_argument, missing_argument_penalty=settings.missing_argument_penalty,
                        guard=_guard(reward_model_tokenizer))
    game = Game(claim, ReceiverTurn(parse_receiver_reply(prior_reply), prior_score), config)  # the static game: one round
    try:
        record = game.add_sender(solution_str)
    except GameAborted as error:  # missing_argument=fail
        raise ValueError(f"Sender reply has no <argument> and missing_argument=fail: {error}") from error
    # every return carries the same keys: verl builds its extra-info columns from the first sample's
    info = {"prior_score": prior_score, "argument_missing": float(record.argument_status.value != "ok"),
            **SampleCalls().as_extra_info(), "injection_flags": float(game.injection_flags)}
    if game.aborted:  # missing_argument=penalty: the Receiver is not asked
        return {"score": game.reward, "gain": NAN, "receiver_score": NAN, "argument_words": 0.0, "receiver_ok": NAN,
                "receiver_echo": NAN, **info}
    words = float(len(record.sender_argument.split()))
    result, failure = await _ask_receiver(_receiver(settings, reward_router_address, reward_model_tokenizer), game, info, settings)
    if failure:
        if settings.parse_failure == "fail":
            raise ReceiverError(f"no Receiver score for claim {claim[:60]!r}: {failure}")
        log_skipped(claim, failure)
        return {"score": NAN, "gain": NAN, "receiver_score": NAN, "argument_words": words, "receiver_ok": 0.0,
                "receiver_echo": NAN, **info}
    game.add_receiver(ReceiverTurn(result.reply, result.score, result.distribution))
    return {"score": game.reward, "gain": game.reward, "receiver_score": result.score, "argument_words": words,
            "receiver_ok": 1.0, "receiver_echo": float(game.score_echoes > 0), **info}


async def _ask_receiver(receiver: Receiver, game: Game, info: dict, settings: RewardSettings) -> tuple[ScoreResult | None, str | None]:
    """(score, None), or (None, why there is none); this sample's call counts go into ``info``."""
    sample = SampleCalls()
    result, failure = None, None
    with sample.counting():
        try:
            prompt = game.receiver_prompt()
            result = await sample.ask_until_scored(lambda: receiver.score_messages(prompt), settings.parse_retries)
            if not result.ok:
                failure = f"score unreadable after {sample.parse_retries + 1} tries: {result.error}"
        except ReceiverRejected:  # a configuration error: skipping it would silently train on nothing
            raise
        except ReceiverError as error:  # unreachable after the client's own retries
            failure = str(error)
    info.update(sample.as_extra_info())
    return (None, failure) if failure else (result, None)
