"""Parsers for both parties' replies.

A Receiver reply without a readable score is reported as not ok, never defaulted to a
plausible value (the paper's code silently used 4): the reward layer decides what to do
with it and counts it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .likert import LIKERT_MAX, LIKERT_MIN

_SCORE_TAG = re.compile(r"<score>(.*?)</score>", re.S | re.I)
# The score is a Likert point, optionally followed by its label ("5 - somewhat support", "5/7").
_SCORE_VALUE = re.compile(r"^\s*\**\s*([1-7])\s*\**\s*(?:$|[/\-:(,]|\.(?!\d)|\s+[A-Za-z(])")


def _raw_tag(text: str, name: str) -> str | None:
    """Content of the first <name>...</name>, unstripped; an unclosed tag runs to the end
    of the text (a reply cut at its token limit). None when the tag is absent. These are
    the paper's code's rules, which the Sender-side transcript must follow byte for byte."""
    opening = re.search(rf"<{name}>", text, re.I)
    if opening is None:
        return None
    rest = text[opening.end():]
    closing = re.search(re.escape(f"</{name}>"), rest, re.I)
    return rest[: closing.start()] if closing else rest


def _tag(text: str, name: str, close_names: tuple[str, ...] = ()) -> str | None:
    """Like _raw_tag, stripped, also closing on any of ``close_names``."""
    content = _raw_tag(text, name)
    if content is None:
        return None
    closers = "|".join(re.escape(f"</{n}>") for n in close_names)
    if closers:
        content = re.split(closers, content, maxsplit=1, flags=re.I)[0]
    return content.strip()


@dataclass(frozen=True)
class ReceiverReply:
    """A Receiver reply split into its parts. ``score`` is an int in 1..7 or None."""

    raw: str
    score: int | None
    opinion: str | None
    thinking: str | None
    question: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.score is not None

    @property
    def transcript_message(self) -> str:
        """What the other party sees of this reply: opinion, newline, question, with the
        tag contents unstripped as the paper's code rendered them."""
        parts = [part for part in (_raw_tag(self.raw, "opinion"), _raw_tag(self.raw, "question")) if part is not None]
        if not parts:  # neither tag: the reply's text without its score, rather than nothing
            return _SCORE_TAG.sub("", self.raw).strip()
        return "\n".join(parts).strip()


def parse_score(text: str) -> tuple[int | None, str | None]:
    """(score, error): the first <score> tag's Likert point, or None with the reason."""
    match = _SCORE_TAG.search(text)
    if match is None:
        return None, "no <score>...</score> tag"
    value = _SCORE_VALUE.match(match.group(1))
    if value is None:
        return None, f"score {match.group(1).strip()[:40]!r} is not a Likert point {LIKERT_MIN}-{LIKERT_MAX}"
    return int(value.group(1)), None


def parse_receiver_reply(text: str) -> ReceiverReply:
    if not isinstance(text, str):
        raise TypeError(f"Receiver reply must be a string, got {type(text).__name__}")
    score, error = parse_score(text)
    return ReceiverReply(
        raw=text,
        score=score,
        opinion=_tag(text, "opinion"),
        thinking=_tag(text, "thinking"),
        # the paper's prompt itself asks for a closing </questions> tag
        question=_tag(text, "question", close_names=("questions",)),
        error=error,
    )


class ArgumentStatus(str, Enum):
    OK = "ok"
    MISSING = "missing"  # no <argument> tag at all
    UNCLOSED = "unclosed"  # <argument> opened, never closed (cut at the length limit)
    EMPTY = "empty"  # <argument></argument> with nothing inside


@dataclass(frozen=True)
class SenderReply:
    raw: str
    argument: str | None
    status: ArgumentStatus
    opinion: str | None = None
    thinking: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is ArgumentStatus.OK


_ARGUMENT = re.compile(r"<argument>(.*?)</argument>", re.S | re.I)


def parse_sender_reply(text: str, plain: bool = False) -> SenderReply:
    """Extract the Sender's <argument>. Only a closed, non-empty tag counts as an argument;
    the caller's missing-argument policy decides the rest. ``plain``: the prompt asked for
    the argument alone (``ReplyFormat.PLAIN``), so a tagless non-empty reply is the argument."""
    match = _ARGUMENT.search(text)
    if plain and match is None:
        argument = text.strip()
        return SenderReply(text, argument or None, ArgumentStatus.OK if argument else ArgumentStatus.EMPTY)
    opinion, thinking = _tag(text, "opinion"), _tag(text, "thinking")
    if match is None:
        status = ArgumentStatus.UNCLOSED if re.search(r"<argument>", text, re.I) else ArgumentStatus.MISSING
        unclosed = _tag(text, "argument") if status is ArgumentStatus.UNCLOSED else None
        return SenderReply(text, unclosed, status, opinion, thinking)
    argument = match.group(1).strip()
    status = ArgumentStatus.OK if argument else ArgumentStatus.EMPTY
    return SenderReply(text, argument or None, status, opinion, thinking)

