"""``persuasion-rl assets tiny``: build (or find in the cache) the project's tiny models."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("assets", help="the project's own tiny models")
    commands = parser.add_subparsers(dest="assets_command", required=True)
    tiny = commands.add_parser("tiny", help="build the tiny tokenizer, Sender and Receiver (cached)")
    tiny.add_argument("--cache-dir", type=Path, default=None, help="default: $PERSUASION_RL_HOME/assets or ~/.cache/persuasion-rl/assets")
    tiny.add_argument("--force", action="store_true", help="rebuild even if cached")
    tiny.set_defaults(func=_tiny)


def _tiny(args: argparse.Namespace) -> int:
    from .tiny import build_tiny_models

    assets = build_tiny_models(args.cache_dir, force=args.force)
    print(f"sender   : {assets.sender}\nreceiver : {assets.receiver}\nclaims   : {assets.claims}")
    return 0
