"""Server-side validation of what an annotator submits.

Nothing the browser sends is trusted: the HTML form's ``required`` attributes are a
convenience only. Every problem is reported per field in words an annotator understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCALE_MIN, SCALE_MAX = 1, 7
MAX_EXPLANATION_CHARS = 5000
MAX_ID_CHARS = 500


class FormError(ValueError):
    """One or more fields are invalid; ``fields`` maps a field name to its message."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class RoundForm:
    game_id: str
    round: int
    direction_ok: bool
    proportion: int
    explanation: str


@dataclass(frozen=True)
class RatingForm:
    game_id: str
    quality: int
    confidence: int


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):  # a field sent twice: refuse rather than pick one
        raise ValueError("was sent more than once")
    return str(value).strip()


def _scale(value: Any, what: str) -> int:
    """A 1-7 answer. Integers only: 3.5 or 'seven' is refused, not rounded or guessed."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number from {SCALE_MIN} to {SCALE_MAX}")
    text = _text(value)
    if not text:
        raise ValueError(f"Please choose {what.lower()} ({SCALE_MIN} to {SCALE_MAX}).")
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise ValueError(f"{what} must be a whole number from {SCALE_MIN} to {SCALE_MAX}; got {text[:20]!r}.")
    number = int(text)
    if not SCALE_MIN <= number <= SCALE_MAX:
        raise ValueError(f"{what} must be between {SCALE_MIN} and {SCALE_MAX}; got {number}.")
    return number


def _direction(value: Any) -> bool:
    text = _text(value).lower()
    if text in ("yes", "no"):
        return text == "yes"
    if not text:
        raise ValueError("Please answer yes or no.")
    raise ValueError(f"The answer must be yes or no; got {text[:20]!r}.")


def _game_id(value: Any) -> str:
    text = _text(value)
    if not text or len(text) > MAX_ID_CHARS:
        raise ValueError("The transcript is missing from the submission; reload the page and try again.")
    return text


def _round_number(value: Any) -> int:
    text = _text(value)
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"The round must be a positive whole number; got {text[:20]!r}.")
    return int(text)


def _explanation(value: Any) -> str:
    text = _text(value)
    if len(text) > MAX_EXPLANATION_CHARS:
        raise ValueError(f"Please keep the explanation under {MAX_EXPLANATION_CHARS} characters (it has {len(text)}).")
    return text


def _collect(data: Mapping[str, Any], parsers: dict[str, Any]) -> dict[str, Any]:
    """Run every field's parser and report all failures together, not just the first."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, parse in parsers.items():
        try:
            values[name] = parse(data.get(name))
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise FormError(errors)
    return values


def parse_round_form(data: Mapping[str, Any]) -> RoundForm:
    values = _collect(data, {
        "game_id": _game_id,
        "round": _round_number,
        "direction": _direction,
        "proportion": lambda v: _scale(v, "The proportion rating"),
        "explanation": _explanation,
    })
    return RoundForm(values["game_id"], values["round"], values["direction"], values["proportion"], values["explanation"])


def parse_rating_form(data: Mapping[str, Any]) -> RatingForm:
    values = _collect(data, {
        "game_id": _game_id,
        "quality": lambda v: _scale(v, "The quality rating"),
        "confidence": lambda v: _scale(v, "The confidence rating"),
    })
    return RatingForm(values["game_id"], values["quality"], values["confidence"])
