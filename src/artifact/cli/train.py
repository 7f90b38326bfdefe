"""``artifact train``: its options are derived from :class:`~artifact.training.config.TrainConfig`,
the one source of training defaults; a named recipe (``--recipe``) sits between those defaults
and the options given.

Precedence: TrainConfig's defaults < the recipe < options on the command line. Every option's
argparse default is ``SUPPRESS``, so what the user typed is told apart from what they did not.
"""

from __future__ import annotations

import argparse
import types
import typing

from pydantic.fields import FieldInfo

from artifact.cli.common import SHOW_DEFAULTS, choices, console, print_metrics
from artifact.inference.card import Quantize
from artifact.inference.preprocess import CropMode, ViewMode

# Fields with an option of their own shape (below); every other field gets one derived from it.
SPECIAL = {"data", "preprocess", "processing", "max_false_ai", "backbone_taps"}
# The image-size options (they fill TrainConfig.preprocess).
PREPROCESS_OPTIONS = ("canonical_size", "crop_mode", "jpeg_quality", "view", "max_crops")  # same names
SHAPE_OPTIONS = ("image_size", *PREPROCESS_OPTIONS)
# How an option's value is shown in --help.
METAVARS = {"backbone_weights": "imagenet|PATH|none", "extra_train": "PATH", "autoencoder_weights": "DIR"}


def register(commands) -> None:
    from artifact.training.config import TrainConfig

    parser = commands.add_parser("train", **SHOW_DEFAULTS, help="train, evaluate and export a model")
    parser.add_argument(
        "--data", action="append", metavar="PATH",
        help="dataset folder (layout detected); repeat to read several as one, split together",
    )  # fmt: skip
    parser.add_argument("--out", help="run directory to write")
    parser.add_argument(
        "--resume", metavar="RUN",
        help="continue a stopped run from what it had finished, with its own settings (nothing else given)",
    )  # fmt: skip
    parser.add_argument(
        "--recipe", metavar="NAME|FILE.toml",
        help="start from a named recipe (`default` is the bundled model's) or a TOML file of settings",
    )  # fmt: skip
    for name, field in TrainConfig.model_fields.items():
        if name not in SPECIAL:
            _add_field_option(parser, name, field)
    shapes = parser.add_argument_group("image sizes (default: the architecture's own)")
    shapes.add_argument("--image-size", type=int, default=argparse.SUPPRESS, help="model input side")
    shapes.add_argument("--canonical-size", type=int, default=argparse.SUPPRESS, help="canonical image side")
    shapes.add_argument(
        "--crop-mode", choices=choices(CropMode), default=argparse.SUPPRESS,
        help="crops averaged at prediction",
    )  # fmt: skip
    shapes.add_argument(
        "--jpeg-quality", type=int, default=argparse.SUPPRESS, help="canonical JPEG round trip (90; 0 off)"
    )
    shapes.add_argument(
        "--view", choices=choices(ViewMode), default=argparse.SUPPRESS,
        help="canonical: the whole image resized to the canonical size; native: crops at the image's "
        "own scale (shorter side kept within the scale range) plus one canonical view, logits averaged",
    )  # fmt: skip
    shapes.add_argument(
        "--max-crops", type=int, default=argparse.SUPPRESS, help="native view: most crops per image (9)"
    )
    parser.add_argument(
        "--processing", choices=["aligned", "none"], default=argparse.SUPPRESS,
        help="aligned (default): every training image of both classes draws one shared processing "
        "history (downscale, JPEG/WebP, palette, blur; AI images compressed once first); none: files as is",
    )  # fmt: skip
    parser.add_argument(
        "--max-false-ai", type=float, default=argparse.SUPPRESS,
        help=f"AI cut: at most this share of validation human art called ai (default "
        f"{TrainConfig.model_fields['max_false_ai'].default}; -1: the cut of best balanced accuracy)",
    )  # fmt: skip
    parser.add_argument(
        "--no-taps", dest="backbone_taps", action="store_false", default=argparse.SUPPRESS,
        help="the head sees only the last block",
    )  # fmt: skip
    parser.add_argument("--quantize", choices=choices(Quantize), default="none")
    parser.set_defaults(handler=run, needs_tensorflow=True)


def _add_field_option(parser: argparse.ArgumentParser, name: str, field: FieldInfo) -> None:
    flag = "--" + name.replace("_", "-")
    kind = _unwrap_optional(field.annotation)
    default = field.get_default(call_default_factory=True)
    words = field.description or ""
    shown = f"default {default}" if default not in (None, [], False) else ""
    help_text = "; ".join(part for part in (words, shown) if part) or None
    common = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
    if kind is bool:
        parser.add_argument(flag, action="store_true", **common)
    elif typing.get_origin(kind) is typing.Literal:
        parser.add_argument(flag, choices=list(typing.get_args(kind)), **common)
    elif typing.get_origin(kind) is list:
        parser.add_argument(flag, action="append", type=str, metavar=METAVARS.get(name, "VALUE"), **common)
    elif kind in (int, float, str):
        parser.add_argument(flag, type=kind, metavar=METAVARS.get(name), **common)
    else:
        raise TypeError(f"TrainConfig.{name}: no command-line shape for {kind!r}")


def _unwrap_optional(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def train_config(args: argparse.Namespace):
    """The run's TrainConfig: defaults, then the recipe, then the options given."""
    from artifact.data.processing import ProcessingChain
    from artifact.training.architectures import default_preprocess
    from artifact.training.config import TrainConfig
    from artifact.training.recipe import load_recipe

    given = vars(args)
    values = load_recipe(args.recipe) if getattr(args, "recipe", None) else {}
    values.update({name: given[name] for name in TrainConfig.model_fields if name in given})
    architecture = values.get("architecture", TrainConfig.model_fields["architecture"].default)
    if "max_false_ai" in values and values["max_false_ai"] is not None and values["max_false_ai"] < 0:
        values["max_false_ai"] = None
    processing = values.get("processing", "aligned")
    if isinstance(processing, str):
        values["processing"] = ProcessingChain() if processing == "aligned" else None
    preprocess = dict(values.get("preprocess") or default_preprocess(architecture))
    if "image_size" in given:
        preprocess["input_size"] = given["image_size"]
        preprocess["canonical_size"] = max(given["image_size"], preprocess.get("canonical_size", 256))
        if given["image_size"] == preprocess["canonical_size"]:
            preprocess["crop_mode"] = "center"  # one crop covers the whole image
    for option in PREPROCESS_OPTIONS:
        if option in given:
            preprocess[option] = given[option]
    values["preprocess"] = preprocess
    return TrainConfig.model_validate(values)


def run(args: argparse.Namespace) -> int:
    from artifact.errors import UserFacingError
    from artifact.training.job import run_training

    if args.resume:
        from artifact.training.config import TrainConfig
        from artifact.training.job import resumable_config

        # Every setting's option defaults to SUPPRESS: present in args means typed (--data is None).
        settings = (*TrainConfig.model_fields, *SHAPE_OPTIONS)
        given = [n for n in vars(args) if n in settings and n != "data"]
        if given or args.data or args.out or args.recipe:
            raise UserFacingError("--resume continues a run with its own settings: give it alone")
        config, out = resumable_config(args.resume), args.resume
    else:
        if not args.data or not args.out:
            raise UserFacingError("artifact train needs --data and --out (or --resume RUN)")
        try:
            config = train_config(args)
        except ValueError as exc:
            raise UserFacingError(str(exc)) from exc
        out = args.out
    run_dir, metrics, card = run_training(config, out, quantize=args.quantize, resume=bool(args.resume))
    print_metrics(metrics)
    console.print(f"run directory: [bold]{run_dir.root}[/] (model.tflite sha256 {card['sha256'][:12]}…)")
    return 0
