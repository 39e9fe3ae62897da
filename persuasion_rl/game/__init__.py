"""The persuasion game of the paper: Likert actions, prompts, transcripts, parsing and
gains. Pure Python: nothing here imports verl, torch or an LLM backend."""

from .gains import persuasion_gain
from .likert import LIKERT_LABELS, LIKERT_MAX, LIKERT_MIN, LIKERT_POINTS
from .parsing import (
    ArgumentStatus,
    ReceiverReply,
    SenderReply,
    parse_receiver_reply,
    parse_sender_reply,
)
from .prompts import PROMPT_VERSION, PromptConfig, Setting, receiver_messages, receiver_prior_messages, sender_opening_messages
from .transcript import Exchange, Transcript

__all__ = [
    "ArgumentStatus", "Exchange", "LIKERT_LABELS", "LIKERT_MAX", "LIKERT_MIN", "LIKERT_POINTS",
    "PROMPT_VERSION", "PromptConfig", "ReceiverReply", "SenderReply", "Setting", "Transcript",
    "parse_receiver_reply", "parse_sender_reply", "persuasion_gain",
    "receiver_messages", "receiver_prior_messages", "sender_opening_messages",
]
