"""``artifact calibrate``: refit an exported model's decision rule on its validation split."""

from __future__ import annotations

import argparse

from artifact.cli.common import (
    SHOW_DEFAULTS,
    choices,
    console,
    print_served,
)
from artifact.inference.decision import FalseAiScope


def register(commands) -> None:
    calibrate = commands.add_parser(
        "calibrate",
        **SHOW_DEFAULTS,
        help="refit an exported model's decision rule on its own validation split",
    )
    calibrate.add_argument("--model", required=True, help="model directory (model.json is rewritten)")
    calibrate.add_argument(
        "--data", action="append", required=True, help="the datasets it was trained on, in order"
    )
    calibrate.add_argument("--max-false-ai", type=float, help="default: the card's training setting")
    calibrate.add_argument("--max-missed-ai", type=float, help="default: the card's training setting")
    calibrate.add_argument("--false-ai-scope", choices=choices(FalseAiScope))
    calibrate.set_defaults(handler=run, needs_tensorflow=True)


def run(args: argparse.Namespace) -> int:
    from artifact.training.recalibrate import recalibrate_model

    card = recalibrate_model(
        args.model, args.data, max_false_ai=args.max_false_ai, max_missed_ai=args.max_missed_ai,
        false_ai_scope=args.false_ai_scope,
    )  # fmt: skip
    rule = card["decision"]
    console.print(
        f"{card['name']}: human at P(AI) <= {rule['human_cut']}, ai at >= {rule['ai_cut']} "
        f"({rule['calibration']['method']} calibration)"
    )
    print_served(card["metrics"]["served_test"])
    return 0
