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

The Sender's prompt has versions too (``SENDER_PROMPTS``, ``PromptConfig.sender_prompt``):
``paper-v1`` is the paper's (a ~460-token system text, a restate turn, and a reply in
``<opinion>``/``<thinking>``/``<argument>`` tags); ``small-v1`` is for small Senders
(100M-300M parameters), which never write the paper's tags: one short system line, the
transcript, and a reply that *is* the argument (``reply_format`` "plain"). Each version
says how its replies are parsed, so the tag rules never score a format the prompt did
not ask for.
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


class ReplyFormat(str, Enum):
    TAGGED = "tagged"  # the argument is inside <argument></argument>
    PLAIN = "plain"  # the whole reply is the argument


@dataclass(frozen=True)
class SenderPrompt:
    """One version of the Sender's prompt: its texts and the format its replies take."""

    intro: dict[Setting, str]  # the system text's opening, per setting
    system_rest: str  # the rest of the system text ({claim})
    turn: str  # the user turn asking for the next argument ({transcript}, {claim}, {word_limit})
    restate: bool  # the paper's "restate your position" exchange before the first turn
    reply_format: ReplyFormat
    first_turn: str | None = None  # the first user turn ({claim}, {word_limit}), when it differs from ``turn``


# For Senders of 100M-300M parameters (SmolLM2-135M never opened an <argument> tag in 0/8
# replies with the paper's prompt, nor with short prompts asking for the tag): a prompt a
# quarter the paper's length, whose reply is the argument itself. The first turn does not
# quote the Receiver's opening reply: a small Receiver's opening text mostly repeats its own
# prompt ("The persuasion so far: <transcript> Round 1 ..."), and a small Sender copied it
# word for word instead of arguing. Later turns (dynamic) show the Receiver's replies in the
# paper's transcript format.
_SMALL_SENDER_INTRO = {
    Setting.STATIC: "You are the Sender in a persuasion game: you argue for a claim to convince the Receiver, a careful and rational judge.",
    Setting.DYNAMIC: ("You are the Sender in a persuasion game over several rounds: you argue for a claim to convince the Receiver, "
                      "a careful and rational judge, who answers each argument with its opinion and a question."),
}
_SMALL_SENDER_FIRST_TURN = "Claim: {claim}\n\nWrite an argument for the claim. Reply with the argument only, in at most {word_limit} words."
_SMALL_SENDER_TURN = (
    "Claim: {claim}\n\nThe persuasion so far:\n<transcript>\n{transcript}\n</transcript>\n\n"
    "Write your next argument for the claim. Reply with the argument only, in at most {word_limit} words."
)

PAPER_SENDER_PROMPT = "paper-v1"
SMALL_SENDER_PROMPT = "small-v1"
SENDER_PROMPTS = {
    PAPER_SENDER_PROMPT: SenderPrompt(_SENDER_INTRO, _SENDER_SYSTEM_REST, _SENDER_TURN, restate=True, reply_format=ReplyFormat.TAGGED),
    SMALL_SENDER_PROMPT: SenderPrompt(_SMALL_SENDER_INTRO, "", _SMALL_SENDER_TURN, restate=False, reply_format=ReplyFormat.PLAIN,
                                      first_turn=_SMALL_SENDER_FIRST_TURN),
}


@dataclass(frozen=True)
class PromptConfig:
    """What varies between runs in the prompts. Not owned by verl: a plain dataclass."""

    setting: Setting = Setting.STATIC
    sender_word_limit: int = DEFAULT_SENDER_WORD_LIMIT
    receiver_word_limit: int = DEFAULT_RECEIVER_WORD_LIMIT
    receiver_prompt: str = PAPER_RECEIVER_PROMPT  # a key of RECEIVER_PROMPTS
    sender_prompt: str = PAPER_SENDER_PROMPT  # a key of SENDER_PROMPTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "setting", Setting(self.setting))
        if self.receiver_prompt not in RECEIVER_PROMPTS:
            raise ValueError(f"receiver_prompt {self.receiver_prompt!r}: expected one of {', '.join(RECEIVER_PROMPTS)}")
        if self.sender_prompt not in SENDER_PROMPTS:
            raise ValueError(f"sender_prompt {self.sender_prompt!r}: expected one of {', '.join(SENDER_PROMPTS)}")
        for name in ("sender_word_limit", "receiver_word_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def sender(self) -> SenderPrompt:
        return SENDER_PROMPTS[self.sender_prompt]


def _check_claim(claim: str) -> str:
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"claim must be a non-empty string, got {claim!r}")
    return claim


def sender_system(claim: str, setting: Setting | str = Setting.STATIC, version: str = PAPER_SENDER_PROMPT) -> str:
    prompt = SENDER_PROMPTS[version]
    return prompt.intro[Setting(setting)] + prompt.system_rest.format(claim=_check_claim(claim))


def sender_turn(claim: str, transcript: Transcript, word_limit: int, first_round: int = 1,
                version: str = PAPER_SENDER_PROMPT) -> str:
    """The user message that asks the Sender for its next argument.

    In the dynamic setting later turns carry only the rounds the Sender has not seen yet
    (``first_round``): the earlier ones are already in the chat as previous turns, so the
    Sender's whole game is one token sequence, which is what RL trains on.
    """
    return SENDER_PROMPTS[version].turn.format(
        transcript=render_for_sender(transcript, first_round=first_round),
        claim=_check_claim(claim),
        word_limit=word_limit,
    )


def sender_opening_messages(claim: str, prior_message: str, config: PromptConfig = PromptConfig()) -> list[Message]:
    """System + restate turn + first transcript turn: the Sender's prompt in both settings."""
    transcript = Transcript().with_receiver(prior_message)
    messages = [{"role": "system", "content": sender_system(claim, config.setting, config.sender_prompt)}]
    if config.sender.restate:
        messages += [{"role": "user", "content": _SENDER_RESTATE_USER.format(claim=claim)},
                     {"role": "assistant", "content": _SENDER_RESTATE_ASSISTANT.format(claim=claim)}]
    first = config.sender.first_turn
    turn = (first.format(claim=_check_claim(claim), word_limit=config.sender_word_limit) if first is not None
            else sender_turn(claim, transcript, config.sender_word_limit, version=config.sender_prompt))
    messages.append({"role": "user", "content": turn})
    return messages


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
