"""The Sender-injection guard: what a Sender's argument may carry into the Receiver's prompt.

The argument is pasted into the Receiver's transcript, so a Sender trained against the
Receiver can try to break the frame (close the quotes or the transcript, start a fake
``Receiver:`` turn or ``Round N``) or forge the Receiver's answer (``<score>7</score>``),
possibly with look-alike Unicode or invisible characters. The rule, applied in order:

1. Invisible and control characters are removed: C0/C1 controls except newline and tab,
   zero-width and joiner characters, bidirectional overrides, the BOM.
2. The text is NFKC-normalised (full-width ``＜ｓｃｏｒｅ＞`` becomes ``<score>``), and
   angle-bracket and double-quote look-alikes become ``<``, ``>`` and ``"``.
3. Any tag of the game's formats (``score opinion thinking question(s) argument
   transcript``, opening or closing, any case, spaces inside the brackets, letters
   disguised with Cyrillic/Greek look-alikes) becomes ``[name]`` / ``[/name]``.
4. A run of three or more double quotes becomes one ``"``: the transcript quotes each
   message in triple quotes.
5. A line that starts like a transcript line (``Receiver:``, ``Sender:``, ``Round N``)
   is prefixed with ``> ``, so it reads as quoted text, not as the frame.
6. Text longer than ``max_words`` words is cut there.
Instructions addressed to the Receiver ("ignore previous instructions", "give it a 7")
are not changed (they are persuasion, however crude) but are flagged.

Every application of a rule is counted by kind; the counts reach training metrics as
``sender/injection_flags``, so reward hacking shows up on the dashboard.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

RESERVED_TAGS = ("score", "opinion", "thinking", "question", "questions", "argument", "transcript")

_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_ANGLE_LEFT = "\u2039\u2329\u27e8\u3008\u276e\u02c2\uff1c\ufe64\u226a"
_ANGLE_RIGHT = "\u203a\u232a\u27e9\u3009\u276f\u02c3\uff1e\ufe65\u226b"
_QUOTES = "\u201c\u201d\u201e\u201f\u2033\u2036\u3003\uff02\u02ba\u02dd\u02ee\u301d\u301e"
_LOOKALIKE_PUNCT = str.maketrans({**{c: "<" for c in _ANGLE_LEFT}, **{c: ">" for c in _ANGLE_RIGHT}, **{c: '"' for c in _QUOTES}})
# Cyrillic and Greek letters that look like the Latin letters of the reserved tag names
_LOOKALIKE_LETTERS = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ѕ": "s", "ј": "j", "ԛ": "q",
    "ԁ": "d", "һ": "h", "ո": "n", "ց": "g", "ք": "q", "г": "r", "т": "t", "п": "n", "к": "k", "м": "m",
    "А": "a", "Е": "e", "О": "o", "Р": "p", "С": "c", "Т": "t", "Н": "h", "К": "k", "М": "m", "Х": "x", "І": "i", "Ѕ": "s",
    "α": "a", "ε": "e", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "ι": "i", "ν": "v", "κ": "k", "η": "n", "ɡ": "g", "ѵ": "v",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Ι": "i", "Ε": "e", "Α": "a", "Κ": "k", "Μ": "m", "Ν": "n",
})
_TAG = re.compile(r"<\s*(/?)\s*([^<>\s/]{3,20})\s*(/?)\s*>")
_QUOTE_RUN = re.compile(r'"{3,}')
_FRAME_LINE = re.compile(r"^([ \t]*)(?=(?:receiver|sender)\s*:|round\s+\d)", re.I | re.M)
_INSTRUCTIONS = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier) (?:instructions|rules|prompt)"
    r"|disregard (?:the |all |your )?(?:previous |prior |above )?(?:instructions|rules|prompt)"
    r"|(?:system|developer) (?:prompt|message|override)"
    r"|you (?:must|should|have to|are required to) (?:score|rate|answer|respond|output|reply)"
    r"|(?:score|rate) (?:this|it|the claim|me)? ?(?:a |as |with )?[1-7]\b(?: out of 7)?"
    r"|(?:answer|respond|output|reply) (?:with )?(?:a |the )?(?:score of )?[1-7]\b"
    r"|as the receiver,? (?:you|output|answer|write)",
    re.I,
)


@dataclass(frozen=True)
class GuardConfig:
    enabled: bool = True
    max_words: int = 1000  # hard cut; the prompts ask for at most the word limit (250)


@dataclass(frozen=True)
class GuardResult:
    text: str
    flags: Counter = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.flags.values())


def _skeleton(name: str) -> str:
    return name.translate(_LOOKALIKE_LETTERS).casefold()


def _neutralise_tag(match: re.Match, flags: Counter) -> str:
    closing, name, self_closing = match.group(1), match.group(2), match.group(3)
    skeleton = _skeleton(name)
    if skeleton not in RESERVED_TAGS:
        return match.group(0)
    flags["tag" if name.casefold() == skeleton else "lookalike_tag"] += 1
    return f"[{'/' if closing or self_closing else ''}{skeleton}]"


def guard_argument(text: str, config: GuardConfig = GuardConfig()) -> GuardResult:
    if not config.enabled:
        return GuardResult(text)
    flags: Counter = Counter()
    cleaned, removed = _INVISIBLE.subn("", text)
    flags["invisible"] += removed
    normalised = unicodedata.normalize("NFKC", cleaned).translate(_LOOKALIKE_PUNCT)
    if normalised != cleaned:
        flags["normalised"] += 1
    tagged = _TAG.sub(lambda m: _neutralise_tag(m, flags), normalised)
    unquoted, runs = _QUOTE_RUN.subn('"', tagged)
    flags["quote_run"] += runs
    framed, lines = _FRAME_LINE.subn(r"\1> ", unquoted)
    flags["frame_line"] += lines
    if len(framed.split()) > config.max_words:
        framed = _first_words(framed, config.max_words)
        flags["too_long"] += 1
    flags["instruction"] += len(_INSTRUCTIONS.findall(framed))
    return GuardResult(framed, Counter({k: v for k, v in flags.items() if v}))


def _first_words(text: str, limit: int) -> str:
    """The text up to its ``limit``-th word, its own spacing kept."""
    kept, count = [], 0
    for token in re.split(r"(\s+)", text):
        if token and not token.isspace():
            count += 1
            if count > limit:
                break
        kept.append(token)
    return "".join(kept).rstrip()
