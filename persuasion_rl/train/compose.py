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
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from persuasion_rl.errors import UserError
from persuasion_rl.files import write_text_atomic

from .paths import CONFIGS_ENV, configs_dir, recipe_config


class ComposeError(UserError, ValueError):
    pass


def register_resolvers() -> None:
    from .tiny_data import real_path, tiny_path

    if not OmegaConf.has_resolver("prl_tiny"):
        # ${prl_tiny:KIND[,setting,sender_word_limit,receiver_word_limit]}: a tiny asset's path
        OmegaConf.register_new_resolver("prl_tiny", tiny_path)
    if not OmegaConf.has_resolver("prl_real"):
        # ${prl_real:model,NAME} or ${prl_real:train|val,RECEIVER,setting,sender_word_limit,receiver_word_limit,min_digit_mass}
        OmegaConf.register_new_resolver("prl_real", real_path)


def compose_recipe(recipe: str, overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The recipe's config with ``overrides`` (Hydra syntax), unresolved."""
    from hydra import compose, initialize_config_dir

    config_file = recipe_config(recipe)
    os.environ.setdefault(CONFIGS_ENV, str(configs_dir()))
    register_resolvers()
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=str(config_file.parent), version_base=None):
            config = compose(config_name=config_file.stem, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as error:  # a typo in an override, an unknown option
        raise ComposeError(f"cannot compose {recipe} with {list(overrides)}: {error}") from error
    with open_dict(config):
        config.pop("hydra", None)
    return config


def resolve(config: DictConfig) -> DictConfig:
    """Resolve every interpolation now (a missing mandatory value raises here, by name)."""
    try:
        OmegaConf.resolve(config)
    except MissingMandatoryValue as error:
        raise ComposeError(f"{error.full_key} must be set (it is ??? in the config): add {error.full_key}=... "
                           "to the command line") from error
    except OmegaConfBaseException as error:
        raise ComposeError(f"cannot resolve the config: {error}") from error
    missing = sorted(OmegaConf.missing_keys(config))  # ??? values survive resolve()
    if missing:
        raise ComposeError(f"these fields must be set (they are ??? in the config): {', '.join(missing)}; "
                           f"add e.g. {missing[0]}=... to the command line")
    return config


def to_yaml(config: DictConfig) -> str:
    return OmegaConf.to_yaml(config, resolve=False)


def save(config: DictConfig, path: Path) -> Path:
    return write_text_atomic(to_yaml(config), path)
