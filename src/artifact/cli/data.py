"""``artifact data inspect``: per-class file statistics and the shortcut audit."""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from artifact.cli.common import (
    SHOW_DEFAULTS,
    choices,
    console,
)
from artifact.data.layouts import Layout
from artifact.data.tasks import Task


def register(commands) -> None:
    data = commands.add_parser("data", **SHOW_DEFAULTS, help="dataset tools")
    data_commands = data.add_subparsers(title="data commands")
    inspect = data_commands.add_parser(
        "inspect", **SHOW_DEFAULTS, help="per-class file statistics and shortcut audit"
    )
    inspect.add_argument("path", nargs="+", help="one or more datasets, read as one")
    inspect.add_argument("--layout", choices=choices(Layout))
    inspect.add_argument("--task", choices=choices(Task), default="binary")
    inspect.add_argument("--limit", type=int, default=2000, help="images sampled per class")
    inspect.add_argument("--canonical-size", type=int, default=256)
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(handler=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    from artifact.data.inspect import inspect_dataset

    report = inspect_dataset(args.path, args.layout, args.task, args.limit, args.canonical_size)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for section in ("files", "canonical"):
        audit = report[section]
        title = "as files" if section == "files" else "after canonicalisation (what the model sees)"
        table = Table(title=f"{report['root']} — {title}")
        for column in (
            "class",
            "images",
            "size (median)",
            "formats",
            "JPEG quality (median)",
            "bytes/pixel",
        ):
            table.add_column(column)
        for name, stats in audit["per_class"].items():
            quality = stats["jpeg_quality"]
            table.add_row(
                name,
                str(stats["images"]),
                f"{stats['width']['median']:.0f}x{stats['height']['median']:.0f}",
                ", ".join(f"{k} {v}" for k, v in stats["formats"].items()),
                f"{quality['median']:.0f}" if quality else "-",
                f"{stats['bytes_per_pixel']['median']:.3f}",
            )
        console.print(table)
        if audit["per_source"]:
            _print_source_audit(audit["per_source"])
        flagged = [k for k, v in audit["shortcuts"].items() if v["shortcut"]]
        scores = ", ".join(f"{k} {v['balanced_accuracy']:.2f}" for k, v in audit["shortcuts"].items())
        console.print(f"one-split tree balanced accuracy per property: {scores}")
        if flagged:
            console.print(f"[bold red]SHORTCUT[/]: {', '.join(flagged)} alone separate the classes")
        else:
            console.print("[green]no single property separates the classes[/]")
        if audit["unreadable"]:
            console.print(f"[yellow]{len(audit['unreadable'])} unreadable files[/]")
    return 0


def _print_source_audit(per_source: dict) -> None:
    table = Table(title="per source: the best single property against the other classes")
    for column in ("source", "class", "images", "size (median)", "formats", "best property", "bal. acc."):
        table.add_column(column)
    for source, entry in per_source.items():
        scores = entry.get("vs_other_classes") or {}
        best = max(scores.items(), key=lambda kv: kv[1]["balanced_accuracy"], default=None)
        flag = best is not None and best[1]["shortcut"]
        table.add_row(
            source,
            entry["class"],
            str(entry["images"]),
            entry["size_median"],
            ", ".join(f"{k} {v}" for k, v in entry["formats"].items()),
            best[0] if best else "-",
            (
                f"[bold red]{best[1]['balanced_accuracy']:.2f}[/]"
                if flag
                else f"{best[1]['balanced_accuracy']:.2f}"
            )
            if best
            else "-",
        )
    console.print(table)
