"""Typed views of the config sections verl does not own: ``persuasion`` and ``run``.

verl checks its own sections (``verl.utils.config.validate_config`` and its dataclasses);
these dataclasses check ours at composition time, with messages that name the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from persuasion_rl.errors import UserError, reject_unknown_fields
from persuasion_rl.game.engine import GameConfig, MissingArgument
from persuasion_rl.game.prompts import RECEIVER_PROMPTS, SENDER_PROMPTS, PromptConfig, Setting
from persuasion_rl.receivers.receiver import ScoringConfig
from persuasion_rl.receivers.scoring import ScoringMode
from persuasion_rl.receivers.settings import ReceiverSettings

SETTINGS = tuple(setting.value for setting in Setting)
SCORING_MODES = tuple(mode.value for mode in ScoringMode)
MISSING_ARGUMENT_POLICIES = tuple(policy.value for policy in MissingArgument)
PARSE_FAILURE_POLICIES = ("fail", "skip")
PLATFORMS = ("cpu", "gpu")


class SettingsError(UserError, ValueError):
    pass


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}")


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise SettingsError(f"{name}={value!r}: expected a positive integer")


@dataclass(frozen=True)
class PersuasionSettings:
    """The ``persuasion`` section (configs/persuasion/*.yaml), read once: the static reward's
    kwargs are interpolated from it and the dynamic agent loop builds its game from it.

    The defaults are those of the game's and the Receiver's own dataclasses (``PromptConfig``,
    ``GameConfig``, ``ScoringConfig``); the YAML names each field so that a Hydra override
    needs no ``+``, and ``tests/train/test_config.py`` checks that its values are these."""

    platform: str
    receiver: ReceiverSettings
    setting: str = PromptConfig.setting.value
    sender_word_limit: int = PromptConfig.sender_word_limit
    receiver_word_limit: int = PromptConfig.receiver_word_limit
    receiver_prompt: str = PromptConfig.receiver_prompt  # the Receiver prompt's version (game/prompts.py)
    sender_prompt: str = PromptConfig.sender_prompt  # the Sender prompt's version (game/prompts.py)
    scoring_mode: str = ScoringConfig.mode.value
    top_logprobs: int = ScoringConfig.top_logprobs
    min_digit_mass: float = ScoringConfig.min_digit_mass
    missing_argument: str = GameConfig.missing_argument.value
    missing_argument_penalty: float = GameConfig.missing_argument_penalty
    parse_failure: str = PARSE_FAILURE_POLICIES[0]
    parse_retries: int = 2  # fresh Receiver samples after an unreadable score
    # the dynamic game (configs/persuasion/dynamic.yaml)
    agent_loop_config: Optional[str] = None
    rounds: Optional[int] = None  # None: the game's default for the setting (1 static, 3 dynamic)
    sender_turn_tokens: Optional[int] = None  # None: the whole response length
    receiver_reply_tokens: int = ScoringConfig.reply_max_tokens

    def __post_init__(self) -> None:
        _choice("persuasion.setting", self.setting, SETTINGS)
        _choice("persuasion.scoring_mode", self.scoring_mode, SCORING_MODES)
        _choice("persuasion.missing_argument", self.missing_argument, MISSING_ARGUMENT_POLICIES)
        _choice("persuasion.parse_failure", self.parse_failure, PARSE_FAILURE_POLICIES)
        _choice("persuasion.platform", self.platform, PLATFORMS)
        _choice("persuasion.receiver_prompt", self.receiver_prompt, tuple(RECEIVER_PROMPTS))
        _choice("persuasion.sender_prompt", self.sender_prompt, tuple(SENDER_PROMPTS))
        for name in ("sender_word_limit", "receiver_word_limit", "top_logprobs", "receiver_reply_tokens"):
            _positive(f"persuasion.{name}", getattr(self, name))
        for name in ("rounds", "sender_turn_tokens"):
            if getattr(self, name) is not None:
                _positive(f"persuasion.{name}", getattr(self, name))
        if not 0.0 <= float(self.min_digit_mass) <= 1.0:
            raise SettingsError(f"persuasion.min_digit_mass={self.min_digit_mass!r}: expected a probability in [0, 1]")
        if not isinstance(self.parse_retries, int) or self.parse_retries < 0:
            raise SettingsError(f"persuasion.parse_retries={self.parse_retries!r}: expected an integer >= 0")
        try:
            self.game_config()
        except ValueError as error:  # e.g. a static game with rounds != 1
            raise SettingsError(f"persuasion.*: {error}") from error

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "PersuasionSettings":
        reject_unknown_fields(cls, section, "persuasion.* field(s)", SettingsError)
        values = dict(section)
        try:
            values["receiver"] = ReceiverSettings.from_config(dict(values.get("receiver") or {}))
            return cls(**values)
        except TypeError as error:  # a field missing from the yaml
            raise SettingsError(f"persuasion.*: {error}") from error

    def prompts(self) -> PromptConfig:
        return PromptConfig(setting=self.setting, sender_word_limit=self.sender_word_limit, receiver_word_limit=self.receiver_word_limit,
                            receiver_prompt=self.receiver_prompt, sender_prompt=self.sender_prompt)

    def game_config(self) -> GameConfig:
        return GameConfig(self.prompts(), rounds=self.rounds, missing_argument=self.missing_argument,
                          missing_argument_penalty=float(self.missing_argument_penalty))

    def scoring(self) -> ScoringConfig:
        return ScoringConfig(mode=self.scoring_mode, reply_max_tokens=self.receiver_reply_tokens,
                             top_logprobs=self.top_logprobs, min_digit_mass=float(self.min_digit_mass))


@dataclass(frozen=True)
class RunSettings:
    """The ``run`` section: where a run writes and what the CLI prepares first."""

    root: str
    dir: str
    prepare_tiny: bool = False
    # a real model (persuasion_rl.assets.real): convert it, and the Sender's if real, and
    # build the project's claims with its priors before training (configs/smol_cpu.yaml)
    prepare_real: Optional[str] = None

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "RunSettings":
        return cls(**section)
