"""`artifact train`'s options come from TrainConfig (one source of defaults) and recipes."""

from __future__ import annotations

import argparse

import pytest

from artifact.cli import build_parser
from artifact.cli.train import SPECIAL, train_config
from artifact.training.config import TrainConfig


def config_of(*options: str) -> TrainConfig:
    return train_config(build_parser().parse_args(["train", "--data", "d", "--out", "o", *options]))


def test_every_setting_has_an_option_and_the_defaults_are_train_configs():
    parser_options = {action.dest for action in build_parser()._subparsers._group_actions[0].choices["train"]._actions}
    assert set(TrainConfig.model_fields) - SPECIAL <= parser_options
    plain = config_of()
    # Nothing given: exactly TrainConfig's own defaults (the CLI keeps none of its own).
    assert plain == TrainConfig(data=["d"])
    assert plain.architecture == "mobilenet_v2_1.0" and plain.preprocess.canonical_size == 224
    assert config_of("--architecture", "small_cnn").preprocess.input_size == 128  # the architecture's sizes


def test_the_help_states_train_configs_defaults():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    by_dest = {action.dest: action for action in train._actions}
    for name, field in TrainConfig.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if name in SPECIAL or default in (None, False, []):
            continue
        assert f"default {default}" in (by_dest[name].help or ""), name


def test_recipe_then_options_override_it(tmp_path):
    recipe = config_of("--recipe", "default")
    assert (recipe.balance, recipe.max_per_source, recipe.fine_tune_epochs) == ("source", 1500, 3)
    assert (recipe.preprocess.canonical_size, recipe.preprocess.crop_mode) == (320, "five")
    assert recipe.false_ai_scope == "worst_source" and recipe.processing is not None
    mine = config_of("--recipe", "default", "--epochs", "2", "--processing", "none", "--max-false-ai", "-1")
    assert (mine.epochs, mine.processing, mine.max_false_ai, mine.balance) == (2, None, None, "source")
    own = tmp_path / "quick.toml"
    own.write_text('epochs = 4\narchitecture = "small_cnn"\n')
    assert (config_of("--recipe", str(own)).epochs, config_of("--recipe", str(own)).preprocess.input_size) == (4, 128)


def test_each_experiment_recipe_is_the_default_but_for_what_it_measures():
    """An experiment's figures stand beside the bundled model's only if one thing differs."""
    from artifact.training.recipe import recipe_names

    assert {"default", "native", "residual", "aligned"} <= set(recipe_names())
    # The autoencoder's folder is the user's, like the data: given on the command line.
    user = {"aligned": ("--autoencoder-weights", "taesd")}
    default = config_of("--recipe", "default").model_dump()
    differs = {
        name: {
            k
            for k, v in config_of("--recipe", name, *user.get(name, ())).model_dump().items()
            if v != default[k] and k != "autoencoder_weights"
        }
        for name in recipe_names()
    }
    assert differs["residual"] == {"residual_branch"} and config_of("--recipe", "residual").residual_branch
    assert differs["native"] == {"preprocess"}
    assert differs["aligned"] == {"aligned_fakes"}
    with pytest.raises(ValueError, match="--aligned-fakes needs --autoencoder-weights"):
        config_of("--recipe", "aligned")


def test_a_bad_recipe_says_what_is_wrong(tmp_path):
    from artifact.errors import UserFacingError

    with pytest.raises(UserFacingError, match="no recipe named 'nope'; known: aligned, default, native"):
        config_of("--recipe", "nope")
    typo = tmp_path / "typo.toml"
    typo.write_text("epoch = 4\n")
    with pytest.raises(UserFacingError, match="unknown settings epoch"):
        config_of("--recipe", str(typo))


def test_every_command_is_a_module_that_registers_a_parser_with_a_handler():
    from artifact.cli import COMMANDS

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices

    def leaves(sub):
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        if not nested:
            return [sub]
        return [leaf for child in nested[0].choices.values() for leaf in leaves(child)]

    assert len(commands) == len(COMMANDS)
    heavy = set()
    for name, sub in commands.items():
        for leaf in leaves(sub):
            defaults = leaf._defaults
            assert callable(defaults.get("handler")), f"{leaf.prog} has no handler"
            if defaults.get("needs_tensorflow"):
                heavy.add(name)
    # Only the training side loads TensorFlow; predict, scan, serve ... stay LiteRT-only.
    assert heavy == {"train", "evaluate", "calibrate", "export"}
    assert commands["serve"]._defaults.get("serving") is True
