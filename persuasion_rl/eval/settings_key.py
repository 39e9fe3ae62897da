"""The settings key of an evaluation: a stable hash of everything that changes a result.

A game's result depends on more than (claim, setting, Sender, Receiver, sample): the
game's rules (word limits, rounds, the missing-argument policy), the Sender's model and
sampling (token cap, temperature, top-p, stop, seed), the Receiver's model, prompts and
scoring (mode, token budgets, temperature, top log-probabilities, digit mass), the
prior-confidence probe, and the evaluation's version. ``eval_settings`` gathers them as
plain JSON, ``settings_key`` hashes it; each transcript record carries both. A rerun
with other settings therefore plays new games instead of reporting the old ones, and
``eval table`` / ``report`` can tell games that must not be pooled.

A local model is identified by its resolved folder and the size and modification time of
its config and weight files (a checkpoint re-exported into the same folder is a new
model); an endpoint by its URL and model name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

KEY_LENGTH = 12
_MODEL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):  # e.g. the guard's control tokens: order-free
        return sorted(_plain(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return value


def model_identity(spec: str, backend: Any) -> dict:
    """What a model spec resolved to, for the key (see the module docstring)."""
    identity: dict[str, Any] = {"spec": spec}
    path = getattr(backend, "path", None)
    if path and Path(str(path)).is_dir():
        folder = Path(str(path)).resolve()
        files = sorted(p for p in folder.iterdir() if p.name in _MODEL_FILES or p.suffix in (".safetensors", ".bin"))
        identity.update(path=str(folder), files={p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files})
    for attribute in ("base_url", "model"):
        value = getattr(backend, attribute, None)
        if isinstance(value, str):
            identity[attribute] = value
    return identity


def eval_settings(config: Any, sender: Any, receiver: Any, version: str) -> dict:
    """The settings of one (Sender, Receiver) pair of an evaluation, as plain JSON.

    ``config`` is the ``EvalConfig``; ``sender`` / ``receiver`` the runner's models. What
    cannot change a score or a recorded result (output folder, concurrency, progress
    bars, bootstrap options, whether the last reply's text is kept) is left out."""
    from ..game.engine import GameConfig

    games = {s: GameConfig(config.prompts(s), missing_argument=config.missing_argument) for s in config.settings}
    return _plain({
        "eval_version": version,
        "game": {s: {"prompts": g.prompts, "rounds": g.rounds, "missing_argument": g.missing_argument,
                     "missing_argument_penalty": g.missing_argument_penalty, "guard": g.guard} for s, g in games.items()},
        "sender": {"model": model_identity(sender.spec, sender.backend), "sampling": config.sender_sampling, "seed": config.seed},
        "receiver": {"model": model_identity(receiver.spec, receiver.receiver.backend), "prompts": receiver.receiver.prompts,
                     "scoring": receiver.receiver.scoring},
        "confidence": {"probe": config.confidence, "top_k": config.confidence_top_k, "min_mass": config.confidence_min_mass},
    })


def settings_key(settings: dict) -> str:
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for k, v in value.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat
    return {prefix: value}


def describe_difference(old: dict | None, new: dict | None, limit: int = 4) -> str:
    """``receiver.scoring.mode: expected -> sample; ...`` (the first ``limit`` fields)."""
    if old is None or new is None:
        return "settings not recorded (transcripts of an earlier version)"
    a, b = _flatten(old), _flatten(new)
    changed = [f"{k}: {json.dumps(a.get(k))} -> {json.dumps(b.get(k))}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    more = f"; and {len(changed) - limit} more" if len(changed) > limit else ""
    return "; ".join(changed[:limit]) + more if changed else "no difference"
