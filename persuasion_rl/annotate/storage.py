"""SQLite storage of the annotation study: transcripts, annotators, assignments, answers.

Durability rules: WAL journal with synchronous=FULL, and every submission is one
``BEGIN IMMEDIATE`` transaction, so a server killed between two submissions loses
nothing and never leaves half an answer. Answers are upserts keyed by
(annotator, transcript, round), so a double submit rewrites the same row.

Secrets (annotator links, the admin token) are stored only as SHA-256 hashes: a copy of
the database does not grant access to the study.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .assignment import Candidate, choose_transcripts
from ..game.record import GameRecord, record_to_dict
from .transcripts import game_from_json

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
TOKEN_BYTES = 24  # 192 bits: unguessable, and still a short link

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transcripts (
    game_id     TEXT PRIMARY KEY,
    corpus      TEXT NOT NULL,
    setting     TEXT NOT NULL,
    n_rounds    INTEGER NOT NULL,
    file_order  INTEGER NOT NULL,
    annotatable INTEGER NOT NULL CHECK (annotatable IN (0, 1)),
    active      INTEGER NOT NULL CHECK (active IN (0, 1)),
    sha256      TEXT NOT NULL,
    record      TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS annotators (
    id            INTEGER PRIMARY KEY,
    label         TEXT NOT NULL UNIQUE,
    token_hash    TEXT NOT NULL UNIQUE,
    n_transcripts INTEGER NOT NULL CHECK (n_transcripts >= 1),
    created_at    TEXT NOT NULL,
    first_seen_at TEXT
);
CREATE TABLE IF NOT EXISTS assignments (
    annotator_id INTEGER NOT NULL REFERENCES annotators(id),
    game_id      TEXT NOT NULL REFERENCES transcripts(game_id),
    position     INTEGER NOT NULL CHECK (position >= 1),
    assigned_at  TEXT NOT NULL,
    PRIMARY KEY (annotator_id, game_id),
    UNIQUE (annotator_id, position)
);
CREATE TABLE IF NOT EXISTS round_answers (
    annotator_id INTEGER NOT NULL,
    game_id      TEXT NOT NULL,
    round        INTEGER NOT NULL CHECK (round >= 1),
    direction_ok INTEGER NOT NULL CHECK (direction_ok IN (0, 1)),
    proportion   INTEGER NOT NULL CHECK (proportion BETWEEN 1 AND 7),
    explanation  TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (annotator_id, game_id, round),
    FOREIGN KEY (annotator_id, game_id) REFERENCES assignments(annotator_id, game_id)
);
CREATE TABLE IF NOT EXISTS ratings (
    annotator_id INTEGER NOT NULL,
    game_id      TEXT NOT NULL,
    quality      INTEGER NOT NULL CHECK (quality BETWEEN 1 AND 7),
    confidence   INTEGER NOT NULL CHECK (confidence BETWEEN 1 AND 7),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (annotator_id, game_id),
    FOREIGN KEY (annotator_id, game_id) REFERENCES assignments(annotator_id, game_id)
);
"""


class StorageError(RuntimeError):
    """The database cannot be used as asked (missing, wrong version, conflicting data)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A URL-safe token that does not start with "-": ``--admin-token -x...`` would read as an
    option on the command line (1 token in 64 did; a CI run failed on one)."""
    while (token := secrets.token_urlsafe(TOKEN_BYTES)).startswith("-"):
        pass
    return token


@dataclass(frozen=True)
class Annotator:
    id: int
    label: str
    n_transcripts: int


@dataclass(frozen=True)
class Invite:
    """A new annotator and its secret token; the token is never stored in clear."""

    label: str
    token: str


@dataclass(frozen=True)
class RoundAnswer:
    annotator_id: int
    game_id: str
    round: int
    direction_ok: bool
    proportion: int
    explanation: str


@dataclass(frozen=True)
class Rating:
    annotator_id: int
    game_id: str
    quality: int
    confidence: int


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    unchanged: int
    annotatable: int
    deactivated: int


class Store:
    """The study database. Opens a short-lived connection per operation, which is what a
    threaded web server needs (sqlite3 connections must not be shared across threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: we issue BEGIN ourselves, so each submission is exactly
        # one transaction; timeout waits for a concurrent writer instead of failing.
        conn = sqlite3.connect(self.path, timeout=15, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with the write lock at once (no upgrade deadlock)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- setup ---------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def initialize(self, admin_token: str | None = None) -> str | None:
        """Create the schema if needed. On a new database, set the admin token (the given
        one or a fresh one) and return it, so the caller can show it once; else None."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
        with self._write() as conn:
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is not None:
                if version["value"] != SCHEMA_VERSION:
                    raise StorageError(f"{self.path}: schema version {version['value']}, expected {SCHEMA_VERSION}")
                return None
            token = admin_token or new_token()
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            conn.execute("INSERT INTO meta VALUES ('admin_token_sha256', ?)", (hash_token(token),))
        log.info("created annotation database %s", self.path)
        return token

    def require(self) -> None:
        if not self.exists():
            raise StorageError(f"{self.path}: no annotation database here (run `persuasion-rl annotate init --db {self.path}`)")
        self.initialize()

    def set_admin_token(self, token: str | None = None) -> str:
        """Replace the admin token (rotation); returns the new token."""
        token = token or new_token()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta VALUES ('admin_token_sha256', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (hash_token(token),),
            )
        return token

    def check_admin_token(self, token: str | None) -> bool:
        if not token:
            return False
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'admin_token_sha256'").fetchone()
        return row is not None and hmac.compare_digest(row["value"], hash_token(token))

    # -- transcripts ---------------------------------------------------------------------

    def import_games(self, games: list[GameRecord]) -> ImportReport:
        """Load the served file's games. Games not in the file stop being assigned to new
        annotators but stay readable for those who have them. A game whose content
        changed is refused once someone has it: their answers would describe other text."""
        added = updated = unchanged = 0
        with self._write() as conn:
            was_active = {r[0] for r in conn.execute("SELECT game_id FROM transcripts WHERE active = 1")}
            conn.execute("UPDATE transcripts SET active = 0 WHERE active = 1")
            for order, game in enumerate(games):
                record = json.dumps(record_to_dict(game), ensure_ascii=False, sort_keys=True)
                digest = hashlib.sha256(record.encode("utf-8")).hexdigest()
                old = conn.execute("SELECT sha256 FROM transcripts WHERE game_id = ?", (game.game_id,)).fetchone()
                if old is not None and old["sha256"] != digest and self._has_assignments(conn, game.game_id):
                    raise StorageError(
                        f"game {game.game_id!r} changed since it was assigned to annotators; "
                        "give the new version a new game_id or use a new database"
                    )
                conn.execute(
                    """INSERT INTO transcripts VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
                       ON CONFLICT(game_id) DO UPDATE SET corpus = excluded.corpus, setting = excluded.setting,
                         n_rounds = excluded.n_rounds, file_order = excluded.file_order,
                         annotatable = excluded.annotatable, active = 1, sha256 = excluded.sha256,
                         record = excluded.record""",
                    (game.game_id, game.corpus, game.setting, game.n_rounds, order, int(game.annotatable), digest, record, _now()),
                )
                if old is None:
                    added += 1
                elif old["sha256"] != digest:
                    updated += 1
                else:
                    unchanged += 1
        deactivated = len(was_active - {g.game_id for g in games})
        return ImportReport(added, updated, unchanged, sum(g.annotatable for g in games), deactivated)

    @staticmethod
    def _has_assignments(conn: sqlite3.Connection, game_id: str) -> bool:
        return conn.execute("SELECT 1 FROM assignments WHERE game_id = ? LIMIT 1", (game_id,)).fetchone() is not None

    def game(self, game_id: str) -> GameRecord:
        with self._connect() as conn:
            row = conn.execute("SELECT record FROM transcripts WHERE game_id = ?", (game_id,)).fetchone()
        if row is None:
            raise KeyError(game_id)
        return game_from_json(row["record"])

    def all_games(self) -> dict[str, GameRecord]:
        with self._connect() as conn:
            rows = conn.execute("SELECT record FROM transcripts").fetchall()
        games = [game_from_json(r["record"]) for r in rows]
        return {g.game_id: g for g in games}

    # -- annotators and assignments --------------------------------------------------------

    def create_annotators(self, count: int, n_transcripts: int) -> list[Invite]:
        """Add ``count`` annotators labelled A001, A002, ... continuing the numbering."""
        if count < 1 or n_transcripts < 1:
            raise ValueError("count and transcripts per annotator must be at least 1")
        invites: list[Invite] = []
        with self._write() as conn:
            start = conn.execute("SELECT COALESCE(MAX(id), 0) FROM annotators").fetchone()[0]
            for i in range(start + 1, start + count + 1):
                token = new_token()
                label = f"A{i:03d}"
                conn.execute(
                    "INSERT INTO annotators (id, label, token_hash, n_transcripts, created_at) VALUES (?, ?, ?, ?, ?)",
                    (i, label, hash_token(token), n_transcripts, _now()),
                )
                invites.append(Invite(label, token))
        return invites

    def annotator_by_token(self, token: str) -> Annotator | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, label, n_transcripts FROM annotators WHERE token_hash = ?", (hash_token(token),)
            ).fetchone()
        return Annotator(row["id"], row["label"], row["n_transcripts"]) if row else None

    def assignments(self, annotator: Annotator) -> list[str]:
        """The annotator's game ids in order, assigning them on the first visit.

        Assigning at first visit, not at invite time, balances transcripts over the
        people who actually show up: unused links hold nothing back.
        """
        with self._connect() as conn:
            existing = self._assigned(conn, annotator.id)
        if existing:
            return existing
        with self._write() as conn:
            existing = self._assigned(conn, annotator.id)  # another request may have won
            if existing:
                return existing
            chosen = choose_transcripts(self._candidates(conn), annotator.n_transcripts) if self._any_candidate(conn) else []
            now = _now()
            for position, game_id in enumerate(chosen, start=1):
                conn.execute("INSERT INTO assignments VALUES (?, ?, ?, ?)", (annotator.id, game_id, position, now))
            conn.execute("UPDATE annotators SET first_seen_at = ? WHERE id = ? AND first_seen_at IS NULL", (now, annotator.id))
        if chosen:
            log.info("assigned %s: %s", annotator.label, ", ".join(chosen))
        return chosen

    @staticmethod
    def _assigned(conn: sqlite3.Connection, annotator_id: int) -> list[str]:
        rows = conn.execute("SELECT game_id FROM assignments WHERE annotator_id = ? ORDER BY position", (annotator_id,))
        return [r["game_id"] for r in rows]

    @staticmethod
    def _any_candidate(conn: sqlite3.Connection) -> bool:
        return conn.execute("SELECT 1 FROM transcripts WHERE active = 1 AND annotatable = 1 LIMIT 1").fetchone() is not None

    @staticmethod
    def _candidates(conn: sqlite3.Connection) -> list[Candidate]:
        rows = conn.execute(
            """SELECT t.game_id, t.corpus, t.setting, t.file_order, COUNT(a.annotator_id) AS assigned
               FROM transcripts t LEFT JOIN assignments a ON a.game_id = t.game_id
               WHERE t.active = 1 AND t.annotatable = 1
               GROUP BY t.game_id"""
        ).fetchall()
        return [Candidate(r["game_id"], r["corpus"], r["file_order"], r["assigned"], r["setting"]) for r in rows]

    # -- answers ---------------------------------------------------------------------------

    def save_round_answer(self, answer: RoundAnswer) -> None:
        now = _now()
        with self._write() as conn:
            conn.execute(
                """INSERT INTO round_answers VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(annotator_id, game_id, round) DO UPDATE SET
                     direction_ok = excluded.direction_ok, proportion = excluded.proportion,
                     explanation = excluded.explanation, updated_at = excluded.updated_at""",
                (answer.annotator_id, answer.game_id, answer.round, int(answer.direction_ok),
                 answer.proportion, answer.explanation, now, now),
            )

    def save_rating(self, rating: Rating) -> None:
        now = _now()
        with self._write() as conn:
            conn.execute(
                """INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(annotator_id, game_id) DO UPDATE SET
                     quality = excluded.quality, confidence = excluded.confidence, updated_at = excluded.updated_at""",
                (rating.annotator_id, rating.game_id, rating.quality, rating.confidence, now, now),
            )

    def round_answers(self, annotator_id: int, game_id: str) -> dict[int, RoundAnswer]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM round_answers WHERE annotator_id = ? AND game_id = ?", (annotator_id, game_id)
            ).fetchall()
        return {r["round"]: _round_answer(r) for r in rows}

    def rating(self, annotator_id: int, game_id: str) -> Rating | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM ratings WHERE annotator_id = ? AND game_id = ?", (annotator_id, game_id)
            ).fetchone()
        return Rating(row["annotator_id"], row["game_id"], row["quality"], row["confidence"]) if row else None

    # -- export ----------------------------------------------------------------------------

    def export_rows(self) -> tuple[list[sqlite3.Row], list[sqlite3.Row], list[sqlite3.Row]]:
        """(assignments with annotator labels, round answers, ratings), read in one snapshot."""
        with self._connect() as conn:
            conn.execute("BEGIN")  # one read transaction: a consistent view of all three tables
            assignments = conn.execute(
                """SELECT a.annotator_id, n.label, a.game_id, a.position, a.assigned_at
                   FROM assignments a JOIN annotators n ON n.id = a.annotator_id
                   ORDER BY a.annotator_id, a.position"""
            ).fetchall()
            answers = conn.execute("SELECT * FROM round_answers ORDER BY annotator_id, game_id, round").fetchall()
            ratings = conn.execute("SELECT * FROM ratings ORDER BY annotator_id, game_id").fetchall()
            conn.execute("COMMIT")
        return assignments, answers, ratings


def _round_answer(row: sqlite3.Row) -> RoundAnswer:
    return RoundAnswer(
        annotator_id=row["annotator_id"], game_id=row["game_id"], round=row["round"],
        direction_ok=bool(row["direction_ok"]), proportion=row["proportion"], explanation=row["explanation"],
    )
