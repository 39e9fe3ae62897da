"""User-facing errors: the CLI prints their message, without a traceback, and exits 2."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


class UserError(Exception):
    """Something the user can fix: a path, a field, an option. The message says what."""


def reject_unknown_fields(dataclass_type: type, values: Mapping[str, Any], where: str, error: type[Exception]) -> None:
    """A config section or kwargs with a key the dataclass does not have is a typo, not
    something to ignore: raise ``error`` naming the keys and the known ones."""
    known = {f.name for f in fields(dataclass_type)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise error(f"unknown {where} {unknown}; known: {sorted(known)}")
