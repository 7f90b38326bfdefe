"""``artifact export``: a run to LiteRT, verified against Keras."""

from __future__ import annotations

import argparse

from artifact.cli.common import (
    SHOW_DEFAULTS,
    choices,
    console,
)
from artifact.inference.card import Quantize


def register(commands) -> None:
    export = commands.add_parser("export", **SHOW_DEFAULTS, help="export a run to LiteRT and verify it")
    export.add_argument("--run", required=True, help="run directory")
    export.add_argument("--quantize", choices=choices(Quantize), default="none")
    export.add_argument("--verify-images", type=int, default=200)
    export.set_defaults(handler=run, needs_tensorflow=True)


def run(args: argparse.Namespace) -> int:
    from artifact.training.job import export_only

    card = export_only(args.run, args.quantize, args.verify_images)
    verification = card["export"]["verification"]
    console.print(
        f"exported {card['name']} ({args.quantize}): {verification['compared']} agreement "
        f"{verification[verification['compared'] + '_agreement']:.2%} on "
        f"{verification['images']} held-out images, "
        f"max probability difference {verification['max_probability_difference']:.2e}"
    )
    return 0
