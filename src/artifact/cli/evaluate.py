"""``artifact evaluate``: a run's report, or an exported model measured as served."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from artifact.cli.common import (
    SHOW_DEFAULTS,
    choices,
    console,
    print_metrics,
    print_served,
)
from artifact.data.layouts import Layout


def register(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        **SHOW_DEFAULTS,
        help="write a run's evaluation report, or measure an exported model as served",
    )
    evaluate.add_argument(
        "--model", required=True, help="run directory, or a model directory (model.tflite + model.json)"
    )
    evaluate.add_argument("--data", help="dataset (default: the run's held-out test split)")
    evaluate.add_argument("--layout", choices=choices(Layout))
    evaluate.add_argument("--robustness-limit", type=int)
    evaluate.add_argument("--json-out", help="an exported model's figures as JSON, to this file")
    evaluate.add_argument(
        "--invariance",
        type=int,
        nargs="?",
        const=100,
        default=0,
        metavar="PER_CLASS",
        help="an exported model: also the invariance audit on PER_CLASS images per class (100)",
    )
    evaluate.set_defaults(handler=run, needs_tensorflow=True)


def run(args: argparse.Namespace) -> int:
    if (Path(args.model) / "model.json").is_file() and not (Path(args.model) / "config.json").is_file():
        return _evaluate_served(args)
    from artifact.training.job import evaluate_only

    metrics = evaluate_only(args.model, args.data, args.layout, args.robustness_limit)
    print_metrics(metrics)
    return 0


def _evaluate_served(args: argparse.Namespace) -> int:
    """An exported model, measured through the engine and its card's decision rule."""
    from artifact.data.layouts import load_dataset
    from artifact.errors import UserFacingError
    from artifact.training.served import evaluate_served

    if not args.data:
        raise UserFacingError("an exported model has no recorded splits: give --data")
    dataset = load_dataset(args.data, args.layout)
    samples = [s for s in dataset.samples if not dataset.has_official_test or s.official_split == "test"]
    metrics = evaluate_served(args.model, samples, invariance_per_class=args.invariance)
    print_served(metrics)
    if "invariance" in metrics:
        _print_invariance(metrics["invariance"])
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(metrics, indent=1) + "\n")
    return 0


def _print_invariance(audit: dict) -> None:
    table = Table(title="invariance: share called ai (shift from the original) per variant")
    for column in ("variant", "human", "ai", "mean |Δ P(AI)| human / ai"):
        table.add_column(column)
    for name, entry in audit["variants"].items():
        cells = [f"{entry[c]['called_ai']:.1%} ({entry[c]['shift']:+.1%})" if c in entry else "-"
                 for c in ("human", "ai")]  # fmt: skip
        deltas = " / ".join(f"{entry[c]['mean_abs_delta_prob']:.3f}" for c in ("human", "ai") if c in entry)
        table.add_row(name, *cells, deltas)
    console.print(table)
    verdict = "within" if audit["within_target"] else "[bold red]outside[/]"
    console.print(f"worst shift {audit['worst_shift']:.1%}: {verdict} the {audit['target_shift']:.0%} target")
