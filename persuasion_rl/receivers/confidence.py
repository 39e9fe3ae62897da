"""The Receiver's calibrated prior confidence in a claim: P("yes") from log-probabilities.

The paper (section 5, Appendix D.2, Figures 3 and 6) measures a Receiver's prior belief
by "the probability assigned to discriminative tokens (e.g. *yes*) under prompts
containing the claim". Here the Receiver is asked, in one user turn, whether the claim is
true and to answer Yes or No (``confidence_messages``); one forward pass gives the
next-token distribution of its first reply token, and

    p_yes = P(yes) / (P(yes) + P(no))

where P(yes) sums every top token that reads "yes" once whitespace is stripped and case
folded ("Yes", " yes", "YES"), and likewise for "no". Normalising over the two answers
is the usual calibration of a yes/no probe; the raw masses are kept. When less than
``min_mass`` of the probability is on the two answers the model is not answering the
question and the confidence is unreadable (``p_yes=None`` with the reason), never
guessed. An OpenAI-compatible server gives at most ``top_k`` tokens (vLLM caps it at 20);
a local model can be asked for its whole vocabulary.

``ConfidenceCache`` stores results as append-only JSON lines keyed by (backend name,
prompt version, top_k, claim), as ``PriorCache`` does for opening turns.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from persuasion_rl.files import append_jsonl, load_keyed

from .base import ChatBackend, Message, ReceiverError

logger = logging.getLogger(__name__)

CONFIDENCE_PROMPT_VERSION = "yes-no-v1"
CONFIDENCE_PROMPT = (
    "Here is a claim over a controversial issue:\n{claim}\n\n"
    "Do you think the claim is true? Answer with a single word: Yes or No."
)
DEFAULT_TOP_K = 20
DEFAULT_MIN_MASS = 0.5
YES_TOKENS = frozenset({"yes"})
NO_TOKENS = frozenset({"no"})


@dataclass(frozen=True)
class Confidence:
    """One yes/no probe. ``p_yes`` is None when it could not be read (see ``error``)."""

    p_yes: float | None
    yes_mass: float
    no_mass: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.p_yes is not None

    @property
    def mass(self) -> float:
        return self.yes_mass + self.no_mass

    def as_dict(self) -> dict:
        return {**asdict(self), "mass": self.mass}

    @classmethod
    def from_dict(cls, data: dict) -> "Confidence":
        return cls(data.get("p_yes"), float(data.get("yes_mass") or 0.0), float(data.get("no_mass") or 0.0), data.get("error"))


def confidence_messages(claim: str) -> list[Message]:
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"claim must be a non-empty string, got {claim!r}")
    return [{"role": "user", "content": CONFIDENCE_PROMPT.format(claim=claim)}]


def yes_no_confidence(top_logprobs: dict[str, float], min_mass: float = DEFAULT_MIN_MASS) -> Confidence:
    """P(yes) normalised over yes/no from next-token log-probabilities (keyed by token text)."""
    import math

    if not 0.0 <= min_mass <= 1.0:
        raise ValueError(f"min_mass must be in [0, 1], got {min_mass}")
    yes = no = 0.0
    for token, logprob in top_logprobs.items():
        word = token.strip().casefold()
        if word in YES_TOKENS:
            yes += math.exp(logprob)
        elif word in NO_TOKENS:
            no += math.exp(logprob)
    return judge(yes, no, min_mass)


def judge(yes: float, no: float, min_mass: float = DEFAULT_MIN_MASS) -> Confidence:
    """The confidence from the probabilities of the two answers."""
    total = yes + no
    if total <= 0.0:
        return Confidence(None, yes, no, "neither 'yes' nor 'no' is among the most likely first tokens")
    if total < min_mass:
        return Confidence(None, yes, no, f"only {total:.3f} of the next-token probability is on yes/no (need {min_mass})")
    return Confidence(yes / total, yes, no)


async def prior_confidence(backend: ChatBackend, claim: str, top_k: int = DEFAULT_TOP_K,
                           min_mass: float = DEFAULT_MIN_MASS) -> Confidence:
    """Ask the backend the yes/no question; a failed call is an unreadable confidence."""
    try:
        top = await backend.next_token_logprobs(confidence_messages(claim), "", top_k)
    except ReceiverError as error:
        return Confidence(None, 0.0, 0.0, f"backend error: {error}")
    return yes_no_confidence(top, min_mass)


def confidence_key(backend_name: str, claim: str, top_k: int) -> str:
    text = f"{backend_name}|{CONFIDENCE_PROMPT_VERSION}|{top_k}\n{claim}"
    return hashlib.sha256(text.encode()).hexdigest()


class ConfidenceCache:
    """Append-only JSON lines of probes (persuasion_rl.files: a torn last line left by a crash is ignored).
    The threshold ``min_mass`` is applied when reading, so it can change without a rerun."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict] = load_keyed(self.path, required=("yes_mass", "no_mass"))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, backend_name: str, claim: str, top_k: int, min_mass: float = DEFAULT_MIN_MASS) -> Confidence | None:
        entry = self._entries.get(confidence_key(backend_name, claim, top_k))
        if entry is None:
            return None
        if (entry.get("error") or "").startswith("backend error"):
            return None  # a failed call is retried, not remembered
        return judge(float(entry["yes_mass"]), float(entry["no_mass"]), min_mass)

    def put(self, backend_name: str, claim: str, top_k: int, confidence: Confidence) -> None:
        entry = {"key": confidence_key(backend_name, claim, top_k), "backend": backend_name, "claim": claim,
                 "top_k": top_k, "prompt_version": CONFIDENCE_PROMPT_VERSION, **confidence.as_dict()}
        append_jsonl(self.path, [entry])
        self._entries[entry["key"]] = entry

    async def get_or_compute(self, backend: ChatBackend, claim: str, top_k: int = DEFAULT_TOP_K,
                             min_mass: float = DEFAULT_MIN_MASS) -> Confidence:
        cached = self.get(backend.name, claim, top_k, min_mass)
        if cached is not None:
            return cached
        result = await prior_confidence(backend, claim, top_k, min_mass)
        self.put(backend.name, claim, top_k, result)
        return result

