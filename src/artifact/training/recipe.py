"""Named training recipes: TOML files of :class:`~artifact.training.config.TrainConfig` fields.

``artifact train --recipe default`` starts from ``recipes/default.toml`` (package data, the
bundled model's recipe); a path to a ``.toml`` file works too. Options given on the command
line override the recipe, which overrides TrainConfig's defaults.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from artifact.errors import UserFacingError


def recipe_names() -> list[str]:
    folder = resources.files("artifact.training") / "recipes"
    return sorted(item.name.removesuffix(".toml") for item in folder.iterdir() if item.name.endswith(".toml"))


def load_recipe(name_or_path: str) -> dict:
    """The recipe's settings; raises a clear error for an unknown name or field."""
    from artifact.training.config import TrainConfig

    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise UserFacingError(f"no recipe file {path}")
        text = path.read_text()
    else:
        item = resources.files("artifact.training") / "recipes" / f"{name_or_path}.toml"
        if not item.is_file():
            raise UserFacingError(
                f"no recipe named {name_or_path!r}; known: {', '.join(recipe_names())} (or a .toml path)"
            )
        text = item.read_text()
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserFacingError(f"recipe {name_or_path}: {exc}") from None
    unknown = sorted(set(values) - set(TrainConfig.model_fields))
    if unknown:
        raise UserFacingError(f"recipe {name_or_path}: unknown settings {', '.join(unknown)}")
    return values
