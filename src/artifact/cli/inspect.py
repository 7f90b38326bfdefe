"""``artifact inspect``: the provenance evidence a file carries."""

from __future__ import annotations

import argparse
import json

from artifact.cli.common import (
    SHOW_DEFAULTS,
    console,
)


def register(commands) -> None:
    inspect_cmd = commands.add_parser(
        "inspect", **SHOW_DEFAULTS, help="provenance evidence a file carries about its origin"
    )
    inspect_cmd.add_argument("images", nargs="+", help="image files")
    inspect_cmd.add_argument("--json", action="store_true", help="print a JSON array")
    inspect_cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from artifact.config import get_settings
    from artifact.inference.decode import ImageDecodeError, read_limited_bytes
    from artifact.provenance import collect_evidence

    rows = []
    for path in args.images:
        try:
            anchors = get_settings().c2pa_trust_anchors_pem()
            evidence = [e.to_dict() for e in collect_evidence(read_limited_bytes(path), anchors)]
            rows.append({"path": path, "evidence": evidence})
        except ImageDecodeError as exc:
            rows.append({"path": path, "error": exc.message, "error_code": exc.code})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 1 if all(row.get("error") for row in rows) else 0
    for row in rows:
        console.print(f"[bold]{row['path']}[/]")
        if row.get("error"):
            console.print(f"  [red]error:[/] {row['error']}")
        elif not row["evidence"]:
            console.print("  no provenance evidence (which says nothing either way)")
        for item in row.get("evidence", []):
            colour = "red" if item["points_to"] == "ai" else "green"
            console.print(f"  [{colour}]{item['strength']} → {item['points_to']}[/]: {item['summary']}")
    return 1 if all(row.get("error") for row in rows) else 0
