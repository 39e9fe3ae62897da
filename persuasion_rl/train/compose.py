"""Compose a recipe's Hydra config: verl's ppo_trainer + configs/ + the recipe + overrides.

The recipe's ``config.yaml`` is the primary config: it declares ``hydra.searchpath``
(verl's ``pkg://verl.trainer.config`` and this project's ``configs/``, found through
``PERSUASION_RL_CONFIGS``, which is set here) and lists ``persuasion_trainer`` in its
defaults. The composed config is then resolved completely in this process, so the
project's resolvers never need to exist in Ray workers.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from .paths import CONFIGS_ENV, configs_dir, recipe_config

RESOLVERS = ("prl_tiny",)


def register_resolvers() -> None:
    from .tiny_data import tiny_path

    if not OmegaConf.has_resolver("prl_tiny"):
        # ${prl_tiny:KIND[,setting,sender_word_limit,receiver_word_limit]}: a tiny asset's path
        OmegaConf.register_new_resolver("prl_tiny", tiny_path)


def compose_recipe(recipe: str, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The recipe's config with ``overrides`` (Hydra syntax), unresolved."""
    from hydra import compose, initialize_config_dir

    config_file = recipe_config(recipe)
    os.environ.setdefault(CONFIGS_ENV, str(configs_dir()))
    register_resolvers()
    with initialize_config_dir(config_dir=str(config_file.parent), version_base=None):
        config = compose(config_name=config_file.stem, overrides=list(overrides))
    with open_dict(config):
        config.pop("hydra", None)
    return config


def resolve(config: DictConfig) -> DictConfig:
    """Resolve every interpolation now (a missing mandatory value raises here, by name)."""
    OmegaConf.resolve(config)
    return config


def to_yaml(config: DictConfig) -> str:
    return OmegaConf.to_yaml(config, resolve=False)


def save(config: DictConfig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(config), encoding="utf-8")
    return path
