"""Warnings verl prints that say nothing about this project's runs, filtered by message.

verl 0.9.1's ``verl/workers/engine/__init__.py`` tries every optional training engine at
import and warns for each one that is not installed ("torchtitan engine is not
available: ImportError(...)"); every Ray worker imports it, so a CPU run's log repeats
five such lines per worker. These runs use FSDP only. The filters match those messages
exactly (Python's ``PYTHONWARNINGS`` matches the start of a message), so any other warning,
ours or verl's, still shows.
"""

from __future__ import annotations

import os
import warnings

# the optional engines verl 0.9.1 probes (verl/workers/engine/__init__.py)
OPTIONAL_ENGINES = ("torchtitan", "veomni", "automodel", "mindspeed", "megatron")
IGNORED_PREFIXES = tuple(f"{engine} engine is not available" for engine in OPTIONAL_ENGINES)


def pythonwarnings(existing: str | None = None) -> str:
    """``PYTHONWARNINGS`` for every process of a run (Ray workers get it through the
    runtime env): the user's own filters first, then ours."""
    ours = [f"ignore:{prefix}" for prefix in IGNORED_PREFIXES]
    theirs = [f for f in (existing or "").split(",") if f]
    return ",".join(dict.fromkeys([*theirs, *ours]))


def silence_in_process() -> None:
    """The same filters in a process that is already running (the driver)."""
    for prefix in IGNORED_PREFIXES:
        warnings.filterwarnings("ignore", message=f"^{prefix}")


def run_env() -> dict[str, str]:
    return {"PYTHONWARNINGS": pythonwarnings(os.environ.get("PYTHONWARNINGS"))}
