"""``artifact predict``: the verdict on one or more images."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from artifact.cli.common import (
    SHOW_DEFAULTS,
    console,
    load_predictor,
)


def register(commands) -> None:
    predict = commands.add_parser("predict", **SHOW_DEFAULTS, help="human or AI? for one or more images")
    predict.add_argument("images", nargs="+", help="image files")
    predict.add_argument("--model", help="model directory (default: the bundled model)")
    predict.add_argument("--json", action="store_true", help="print a JSON array")
    predict.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from artifact.scanning.rows import analyse_path

    predictor = load_predictor(args.model)
    rows = [analyse_path(predictor, path, thumbnails=False) for path in args.images]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table(title=f"model {predictor.card.name}")
        for column in ("file", "verdict", "P(AI)", "sha256"):
            table.add_column(column)
        for row in rows:
            if row.get("error"):
                table.add_row(row["path"], "[red]error[/]", "", row["error"])
            else:
                prob = row["prob_ai"]
                table.add_row(
                    row["path"],
                    row["verdict"],
                    "" if prob is None else f"{prob:.3f}",
                    row["sha256"][:16],
                )
        console.print(table)
    return 1 if all(row.get("error") for row in rows) else 0
