"""Where the project's Hydra configs and recipes live.

They sit at the repository root (``configs/``, ``recipes/``), beside the package: an
editable install (``pip install -e .``) finds them from the package's location.
``PERSUASION_RL_ROOT`` points elsewhere (a copy of the repository next to a
non-editable install).
"""

from __future__ import annotations

import os
from pathlib import Path

from persuasion_rl.errors import UserError

ROOT_ENV = "PERSUASION_RL_ROOT"
CONFIGS_ENV = "PERSUASION_RL_CONFIGS"


class ProjectLayoutError(UserError, FileNotFoundError):
    pass


def project_root() -> Path:
    override = os.environ.get(ROOT_ENV)
    root = Path(override) if override else Path(__file__).resolve().parents[2]
    if not (root / "configs").is_dir():
        raise ProjectLayoutError(
            f"no configs/ folder under {root}: run from a clone of the repository (pip install -e .) "
            f"or set {ROOT_ENV} to one"
        )
    return root


def configs_dir() -> Path:
    return project_root() / "configs"


def recipes_dir() -> Path:
    return project_root() / "recipes"


def package_parent() -> Path:
    """The folder holding the ``persuasion_rl`` package (put on Ray workers' PYTHONPATH)."""
    return Path(__file__).resolve().parents[2]


def available_recipes() -> list[str]:
    folder = recipes_dir()
    return sorted(p.name for p in folder.iterdir() if (p / "config.yaml").is_file()) if folder.is_dir() else []


def recipe_config(recipe: str) -> Path:
    """``recipes/<name>/config.yaml``, or a path to a recipe folder or yaml file."""
    candidate = Path(recipe)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate.resolve()
    if (candidate / "config.yaml").is_file():
        return (candidate / "config.yaml").resolve()
    named = recipes_dir() / recipe / "config.yaml"
    if named.is_file():
        return named
    known = ", ".join(available_recipes()) or "none"
    raise ProjectLayoutError(f"unknown recipe {recipe!r}: expected one of [{known}] or a path to a recipe config.yaml")
