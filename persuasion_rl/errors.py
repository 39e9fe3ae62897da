"""User-facing errors: the CLI prints their message, without a traceback, and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: a path, a field, an option. The message says what."""
