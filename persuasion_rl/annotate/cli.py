"""`persuasion-rl annotate ...`: set up, serve and export the human evaluation study.

  init    create the database; prints the admin token once (or sets a given one)
  serve   load transcripts and run the web app
  invite  add annotators; prints one secret link per annotator
  export  write answers (CSV) and the Appendix B.3 summary (JSON + Markdown)
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .storage import StorageError, Store
from .transcripts import TranscriptFileError, load_games

log = logging.getLogger(__name__)

ADMIN_TOKEN_ENV = "PERSUASION_RL_ADMIN_TOKEN"
DEFAULT_PORT = 8000


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `annotate` command and its subcommands to a top-level parser."""
    parser = subparsers.add_parser("annotate", help="human evaluation of Receiver belief updates (paper Appendix B)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="annotate_command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="create the study database and its admin token")
    init.add_argument("--db", required=True, type=Path, help="SQLite file of the study")
    init.add_argument("--admin-token", help=f"use this admin token instead of a random one (default: ${ADMIN_TOKEN_ENV} if set)")
    init.add_argument("--rotate-admin-token", action="store_true", help="replace the admin token of an existing database")
    init.set_defaults(func=_cmd_init)

    serve = commands.add_parser("serve", help="run the annotation web app")
    serve.add_argument("--transcripts", required=True, type=Path, help="JSON-lines file of games (the eval's output)")
    serve.add_argument("--db", required=True, type=Path, help="SQLite file of the study (created if missing)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port")
    serve.add_argument("--title", default="Persuasion study", help="study name shown on every page")
    serve.add_argument("--completion-url", help="link shown to annotators who have finished (e.g. a crowdsourcing completion URL)")
    serve.set_defaults(func=_cmd_serve)

    invite = commands.add_parser("invite", help="add annotators and print their secret links")
    invite.add_argument("--db", required=True, type=Path, help="SQLite file of the study (created if missing)")
    invite.add_argument("--count", required=True, type=int, help="number of annotators to add")
    invite.add_argument("--per-annotator", type=int, default=3, help="transcripts per annotator")
    invite.add_argument("--base-url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="public address of the server")
    invite.set_defaults(func=_cmd_invite)

    export = commands.add_parser("export", help="write answers.csv, transcripts.csv, summary.json, summary.md")
    export.add_argument("--db", required=True, type=Path, help="SQLite file of the study")
    export.add_argument("--out", required=True, type=Path, help="directory to write into")
    export.add_argument("--admin-token", help=f"the study's admin token (default: ${ADMIN_TOKEN_ENV})")
    export.set_defaults(func=_cmd_export)
    return parser


def _friendly(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Problems with the inputs end the command with a clear message, not a traceback."""

    @functools.wraps(command)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (TranscriptFileError, StorageError) as exc:
            raise SystemExit(f"annotate {args.annotate_command}: {exc}") from exc

    return wrapped


def _print_admin_token(token: str) -> None:
    # Printed once: only its hash is stored, so this is the one chance to copy it.
    print(f"admin token (shown once, keep it): {token}")


def _open_or_create(db: Path, admin_token: str | None = None) -> Store:
    store = Store(db)
    created = store.initialize(admin_token or os.environ.get(ADMIN_TOKEN_ENV))
    if created is not None:
        _print_admin_token(created)
    return store


@_friendly
def _cmd_init(args: argparse.Namespace) -> int:
    existed = Store(args.db).exists()
    store = _open_or_create(args.db, args.admin_token)
    if existed and args.rotate_admin_token:
        _print_admin_token(store.set_admin_token(args.admin_token))
    elif existed:
        print(f"{args.db} already exists; its admin token is unchanged (use --rotate-admin-token to replace it)")
    return 0


@_friendly
def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn  # imported here: the other commands should not pay for the web stack

    from .app import StudyConfig, create_app

    games = load_games(args.transcripts)
    store = _open_or_create(args.db)
    report = store.import_games(games)
    log.info("transcripts %s: %d games (%d new, %d changed), %d can be annotated; %d earlier games no longer assigned",
             args.transcripts, len(games), report.added, report.updated, report.annotatable, report.deactivated)
    if report.annotatable == 0:
        log.warning("no game in %s can be annotated (need ok=true and every message present)", args.transcripts)
    app = create_app(args.db, StudyConfig(title=args.title, completion_url=args.completion_url))
    print(f"serving the annotation study on http://{args.host}:{args.port}", flush=True)
    # No access log: request paths contain the annotators' secret tokens.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")
    return 0


@_friendly
def _cmd_invite(args: argparse.Namespace) -> int:
    if args.count < 1 or args.per_annotator < 1:
        raise SystemExit("annotate invite: --count and --per-annotator must be at least 1")
    store = _open_or_create(args.db)
    base = args.base_url.rstrip("/")
    for invite in store.create_annotators(args.count, args.per_annotator):
        print(f"{invite.label}\t{base}/a/{invite.token}")
    return 0


@_friendly
def _cmd_export(args: argparse.Namespace) -> int:
    from .summary import write_export

    store = Store(args.db)
    store.require()
    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    if not store.check_admin_token(token):
        what = "the admin token is wrong" if token else f"the export needs the admin token (--admin-token or ${ADMIN_TOKEN_ENV})"
        raise SystemExit(f"annotate export: {what}")
    for path in write_export(store, args.out):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (python -m persuasion_rl.annotate ...), same commands."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..cli import Parser

    parser = Parser(prog="persuasion-rl")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
