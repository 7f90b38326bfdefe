"""``artifact explain``: an occlusion heatmap of where the model sees AI traces."""

from __future__ import annotations

import argparse
from pathlib import Path

from artifact.cli.common import (
    SHOW_DEFAULTS,
    console,
    load_predictor,
)


def register(commands) -> None:
    explain = commands.add_parser(
        "explain", **SHOW_DEFAULTS, help="heatmap of where the model sees AI traces"
    )
    explain.add_argument("image")
    explain.add_argument("--out", required=True, help="PNG to write")
    explain.add_argument("--model", help="model directory (default: the bundled model)")
    explain.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import time

    from artifact.errors import UserFacingError
    from artifact.inference.decode import ImageDecodeError, read_image_file
    from artifact.inference.explain import occlusion_map, overlay_png

    predictor = load_predictor(args.model)
    try:
        image = read_image_file(args.image)
    except ImageDecodeError as exc:
        raise UserFacingError(f"{args.image}: {exc.message}") from exc
    started = time.perf_counter()
    heatmap = occlusion_map(predictor, image)
    Path(args.out).write_bytes(overlay_png(image, heatmap))
    console.print(
        f"P(AI) {heatmap.prob_ai:.3f}; occlusion heatmap ({heatmap.sensitivity.shape[0]}² cells, "
        f"{heatmap.evaluations} crops scored in {time.perf_counter() - started:.2f} s) -> {args.out}"
    )
    return 0
