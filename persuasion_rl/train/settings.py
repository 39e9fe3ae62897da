"""Typed views of the config sections verl does not own: ``persuasion`` and ``run``.

verl checks its own sections (``verl.utils.config.validate_config`` and its dataclasses);
these dataclasses check ours at composition time, with messages that name the field.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

from persuasion_rl.errors import UserError
from persuasion_rl.game.prompts import Setting
from persuasion_rl.receivers.scoring import ScoringMode
from persuasion_rl.verl_ext.reward import MISSING_ARGUMENT_POLICIES, PARSE_FAILURE_POLICIES

SETTINGS = tuple(setting.value for setting in Setting)
SCORING_MODES = tuple(mode.value for mode in ScoringMode)
PLATFORMS = ("cpu", "gpu")
RECEIVER_KINDS = ("tiny_cpu", "vllm", "openai")


class SettingsError(UserError, ValueError):
    pass


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}")


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise SettingsError(f"{name}={value!r}: expected a positive integer")


@dataclass(frozen=True)
class ReceiverSettings:
    kind: str
    name: Optional[str] = None
    endpoint: Optional[str] = None
    path: Optional[str] = None  # a local Receiver model for the dynamic game's agent loop
    max_concurrency: Optional[int] = None
    max_retries: Optional[int] = None

    def __post_init__(self) -> None:
        _choice("persuasion.receiver.kind", self.kind, RECEIVER_KINDS)


@dataclass(frozen=True)
class PersuasionSettings:
    """The ``persuasion`` section (configs/persuasion/*.yaml)."""

    setting: str
    sender_word_limit: int
    receiver_word_limit: int
    scoring_mode: str
    top_logprobs: int
    min_digit_mass: float
    missing_argument: str
    missing_argument_penalty: float
    parse_failure: str
    parse_retries: int
    platform: str
    receiver: ReceiverSettings
    # the dynamic game (configs/persuasion/dynamic.yaml)
    agent_loop_config: Optional[str] = None
    rounds: int = 1
    sender_turn_tokens: Optional[int] = None
    receiver_reply_tokens: int = 256

    def __post_init__(self) -> None:
        _choice("persuasion.setting", self.setting, SETTINGS)
        _choice("persuasion.scoring_mode", self.scoring_mode, SCORING_MODES)
        _choice("persuasion.missing_argument", self.missing_argument, MISSING_ARGUMENT_POLICIES)
        _choice("persuasion.parse_failure", self.parse_failure, PARSE_FAILURE_POLICIES)
        if self.parse_failure == "skip" and self.setting == "dynamic":
            # the agent loop plays the Receiver's turns itself; only the static reward flags unscored samples
            raise SettingsError("persuasion.parse_failure=skip is implemented for the static game only; "
                                "the dynamic game fails the step on a missing Receiver score (parse_failure=fail)")
        _choice("persuasion.platform", self.platform, PLATFORMS)
        for name in ("sender_word_limit", "receiver_word_limit", "top_logprobs", "rounds", "receiver_reply_tokens"):
            _positive(f"persuasion.{name}", getattr(self, name))
        if not 0.0 <= float(self.min_digit_mass) <= 1.0:
            raise SettingsError(f"persuasion.min_digit_mass={self.min_digit_mass!r}: expected a probability in [0, 1]")
        if not isinstance(self.parse_retries, int) or self.parse_retries < 0:
            raise SettingsError(f"persuasion.parse_retries={self.parse_retries!r}: expected an integer >= 0")

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "PersuasionSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise SettingsError(f"unknown persuasion.* field(s) {unknown}; known: {sorted(known)}")
        values = dict(section)
        try:
            values["receiver"] = ReceiverSettings(**values.get("receiver", {}))
            return cls(**values)
        except TypeError as error:  # a field missing from the yaml
            raise SettingsError(f"persuasion.*: {error}") from error


@dataclass(frozen=True)
class RunSettings:
    """The ``run`` section: where a run writes and what the CLI prepares first."""

    root: str
    dir: str
    prepare_tiny: bool = False

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> "RunSettings":
        return cls(**section)
