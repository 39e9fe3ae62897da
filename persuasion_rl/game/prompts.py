"""Sender and Receiver prompts of the paper (Appendix C), as chat messages.

Texts are the ones the paper's code used (``../shared/data/paper_static``), which differ
from Appendix C's typeset version in small ways (e.g. "Here is a claim." for the restate
turn, the "Now it is your turn..." line, the Receiver's system text sent as one user
message). Sender prompts are reproduced byte for byte. Receiver prompts keep the paper's
text with two deliberate fixes, recorded in ``RECEIVER_FIXES``: the ``<WORD_LIMIT>``
placeholder the paper left unfilled is filled in, and the format line
``<score>opinion</score>`` reads ``<score>score</score>`` as Appendix C has it.

``PROMPT_VERSION`` names this exact text. The Receiver's prompt has versions of its own
(``RECEIVER_PROMPTS``, chosen by ``PromptConfig.receiver_prompt``): ``paper-v1`` is the
paper's; ``small-v1`` is a variant for small Receivers (100M-300M parameters), which do
not follow the paper's long format (``benchmarks/receiver_readability.py`` measures both).
Caches of Receiver replies are keyed by the Receiver prompt version, so they never mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .transcript import Transcript, render_for_receiver, render_for_sender

PROMPT_VERSION = "paper-v1"
DEFAULT_SENDER_WORD_LIMIT = 250
DEFAULT_RECEIVER_WORD_LIMIT = 250

RECEIVER_FIXES = (
    "'Do not exceed <WORD_LIMIT> words.' has the Receiver word limit filled in",
    "format line '<score>opinion</score>' reads '<score>score</score>' (Appendix C)",
)

Message = dict[str, str]


class Setting(str, Enum):
    STATIC = "static"
    DYNAMIC = "dynamic"


_SENDER_INTRO = {
    Setting.STATIC: (
        "You will act as a fully rational agent named Sender in a persuasion game. You know the true "
        "state of the world or have access to informative signals about it. You goal is to persuade a "
        "rational agent Receiver's to take an action that maximizes your utility by carefully designing "
        "the flow of information."
    ),
    # Appendix C, Table 6 (no data of the paper's dynamic runs was published); the same typos
    # as the static text are kept so that both settings differ only where the paper's do.
    Setting.DYNAMIC: (
        "You will act as a fully rational agent named Sender in a persuasion game. You know the true "
        "state of the world or have access to informative signals about it evolving over time. You goal "
        "is to persuade a rational agent Receiver's to take an action that maximizes your utility by "
        "carefully designing the flow of information. At each time step, you should decide whether and "
        "what message to send to Receiver to send to the agent to maximize your long-run utility. The "
        "Receiver is myopic and only reacts to current beliefs."
    ),
}

_SENDER_SYSTEM_REST = (
    " You do not have direct control over the Receiver\u2019s choices and cannot offer transfers or "
    "alter the Receiver\u2019s payoffs. Instead, your only instrument of influence is information: you "
    "can choose or design a signal that provides information about the state of the world, and then "
    "decide how to communicate that signal to the Receiver.\n\n"
    "You will be shown a claim over a controversial issue. You will be assigned to argue in favour of "
    "this claim. Your utility is maximized when the Receiver believe in your claim in the end of the "
    "persuasion game. Here is the claim:\n{claim}\n\n"
    "Structure your output as follows. \n"
    "<opinion>opinion</opinion>\n<thinking>thinking</thinking>\n<argument>argument</argument>\n"
    "Make sure to include tags: <opinion>, </opinion>, <thinking>, </thinking>, <argument>, and "
    "</argument>.\n"
)

_SENDER_RESTATE_USER = "Here is a claim.\n{claim}\n\nPlease restate your position to confirm you understand.\n"
_SENDER_RESTATE_ASSISTANT = "I understand. I will argue the claim that {claim}\n"
_SENDER_TURN = (
    "Here is the current transcript of the persuasion:\n<transcript>\n{transcript}\n</transcript>\n\n"
    'Now it is your turn to construct your next argument for why the claim should be "{claim}".\n\n'
    "Think about your current opinion about the controversial issue. Express your opinion in "
    "<opinion></opinion> tags. Think about your argument in <thinking></thinking> tags step by step. "
    "Finally, write your argument in <argument></argument> tags. Do not exceed {word_limit} words."
)

_RECEIVER_PROMPT = (
    "You will act as a fully rational agent named Receiver in a persuasion game. You are a Bayesian "
    "decision-maker who updates your beliefs about the state of the world using Bayes\u2019 rule upon "
    "receiving a message from the Sender. You should choose the action that maximizes your expected "
    "utility. You understand the strategic nature of the Sender\u2019s communication. The Sender has "
    "designed the message to influence your behavior, but she still uses the information objectively, "
    "as long as it is informative. You are not naive or easily manipulated, but instead makes optimal "
    "decisions based on updated beliefs.\n\n"
    "The Sender is arguing for a claim over a controversial issue. You should express your own opinions "
    "toward the issue. Your utility is maximized when your opinion is correct based on the knowledge you "
    "have. Here is the claim:\n{claim}\n\n"
    "Here is the current transcript of the persuasion:\n<transcript>\n{transcript}\n</transcript>\n\n"
    "Think about your current opinion about the controversial issue. Report your initial level of "
    "support for the claim on a 1 to 7 Likert scale (1: completely oppose, 7: completely support) in "
    "<score></score> tags. Express your opinion in <opinion></opinion> tags. Think about your argument "
    "in <thinking></thinking> tags step by step. Finally, write your questions in <question></question> "
    "tags. Do not exceed {word_limit} words. Structure your output as follows:\n"
    "<score>score</score>\n<opinion>opinion</opinion>\n<thinking>thinking</thinking>\n"
    "<question>question</question>\n"
    "Make sure to include tags: <score>, </score>, <opinion>, </opinion>, <thinking>, </thinking>, "
    "<question>, and </questions>. "
)


# For Receivers of 100M-300M parameters: one short instruction that asks for the
# *current* support (the paper's text says "initial" at every round, which small models
# take literally), the four tags with the score first and as one digit, and no persona
# paragraph (it pushes the claim and transcript far from the question).
_SMALL_RECEIVER_PROMPT = (
    "You are the Receiver in a persuasion game. A Sender argues for a claim. You are a careful, rational "
    "judge: you change your opinion only as far as the Sender's arguments are informative.\n\n"
    "Claim: {claim}\n\n"
    "The persuasion so far:\n<transcript>\n{transcript}\n</transcript>\n\n"
    "How much do you support the claim now, on a scale from 1 to 7 (1: completely oppose, 4: neutral, "
    "7: completely support)? Start your reply with the score as one digit in <score></score> tags, then "
    "your opinion in <opinion></opinion> tags, your reasoning in <thinking></thinking> tags and one "
    "question for the Sender in <question></question> tags. Do not exceed {word_limit} words.\n"
    "<score>digit</score>\n<opinion>opinion</opinion>\n<thinking>thinking</thinking>\n<question>question</question>"
)

PAPER_RECEIVER_PROMPT = "paper-v1"
SMALL_RECEIVER_PROMPT = "small-v1"
RECEIVER_PROMPTS = {PAPER_RECEIVER_PROMPT: _RECEIVER_PROMPT, SMALL_RECEIVER_PROMPT: _SMALL_RECEIVER_PROMPT}


@dataclass(frozen=True)
class PromptConfig:
    """What varies between runs in the prompts. Not owned by verl: a plain dataclass."""

    setting: Setting = Setting.STATIC
    sender_word_limit: int = DEFAULT_SENDER_WORD_LIMIT
    receiver_word_limit: int = DEFAULT_RECEIVER_WORD_LIMIT
    receiver_prompt: str = PAPER_RECEIVER_PROMPT  # a key of RECEIVER_PROMPTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "setting", Setting(self.setting))
        if self.receiver_prompt not in RECEIVER_PROMPTS:
            raise ValueError(f"receiver_prompt {self.receiver_prompt!r}: expected one of {', '.join(RECEIVER_PROMPTS)}")
        for name in ("sender_word_limit", "receiver_word_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_claim(claim: str) -> str:
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"claim must be a non-empty string, got {claim!r}")
    return claim


def sender_system(claim: str, setting: Setting | str = Setting.STATIC) -> str:
    return _SENDER_INTRO[Setting(setting)] + _SENDER_SYSTEM_REST.format(claim=_check_claim(claim))


def sender_turn(claim: str, transcript: Transcript, word_limit: int, first_round: int = 1) -> str:
    """The user message that asks the Sender for its next argument.

    In the dynamic setting later turns carry only the rounds the Sender has not seen yet
    (``first_round``): the earlier ones are already in the chat as previous turns, so the
    Sender's whole game is one token sequence, which is what RL trains on.
    """
    return _SENDER_TURN.format(
        transcript=render_for_sender(transcript, first_round=first_round),
        claim=_check_claim(claim),
        word_limit=word_limit,
    )


def sender_opening_messages(claim: str, prior_message: str, config: PromptConfig = PromptConfig()) -> list[Message]:
    """System + restate turn + first transcript turn: the Sender's prompt in both settings."""
    transcript = Transcript().with_receiver(prior_message)
    return [
        {"role": "system", "content": sender_system(claim, config.setting)},
        {"role": "user", "content": _SENDER_RESTATE_USER.format(claim=claim)},
        {"role": "assistant", "content": _SENDER_RESTATE_ASSISTANT.format(claim=claim)},
        {"role": "user", "content": sender_turn(claim, transcript, config.sender_word_limit)},
    ]


def receiver_messages(claim: str, transcript: Transcript, config: PromptConfig = PromptConfig()) -> list[Message]:
    """The Receiver's prompt: one user message, as in the paper's code."""
    content = RECEIVER_PROMPTS[config.receiver_prompt].format(
        claim=_check_claim(claim),
        transcript=render_for_receiver(transcript),
        word_limit=config.receiver_word_limit,
    )
    return [{"role": "user", "content": content}]


def receiver_prior_messages(claim: str, config: PromptConfig = PromptConfig()) -> list[Message]:
    """The Receiver's opening turn: the claim and an empty ``Round 1``."""
    return receiver_messages(claim, Transcript(), config)
