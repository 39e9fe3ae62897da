"""persuasion-rl: train language models to be strategic persuaders with RL on verl."""

from .game.parsing import ReceiverReply, parse_receiver_reply

__version__ = "0.1.0"
__all__ = ["ReceiverReply", "parse_receiver_reply", "__version__"]
