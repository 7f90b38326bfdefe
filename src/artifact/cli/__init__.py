"""The ``artifact`` command line: one module per command (``register(commands)`` adds its
parser, its handler runs it). Heavy modules (TensorFlow) are imported only by the commands that
need them (``needs_tensorflow``), so ``artifact predict`` starts fast on a LiteRT-only install.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from artifact.cli import (
    calibrate,
    data,
    evaluate,
    explain,
    export,
    inspect,
    predict,
    scan,
    serve,
    train,
    users,
    worker,
)
from artifact.cli.common import HelpWithDefaults, err_console
from artifact.native_logs import VERBOSE_ENV, import_tensorflow_quietly

# TensorFlow's C++ start-up chatter hides our own output; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# In the order `artifact --help` lists them.
COMMANDS = (train, evaluate, calibrate, export, predict, inspect, explain, scan, serve, worker, users, data)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from artifact.api.request_context import LOG_FORMAT, install_request_logging

    serving = getattr(args, "serving", False)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        # The service's lines carry their request's id; a command's own lines need none.
        format=LOG_FORMAT if serving else "%(levelname)s %(name)s: %(message)s",
    )
    install_request_logging()  # every record gets its request id ("-" outside a request)
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:
        # Their start-up chatter (plugins, migrations, tracing) says nothing a user acts on.
        for noisy in ("alembic", "absl", "tensorflow"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    if getattr(args, "needs_tensorflow", False):
        import_tensorflow_quietly()
    from artifact.errors import ArtifactError

    try:
        return args.handler(args) or 0
    except ArtifactError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artifact",
        description="ArtiFact: tell whether an artwork image was made by a person or generated "
        "by AI, how sure that is, and why.",
        formatter_class=HelpWithDefaults,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, and TensorFlow's and LiteRT's notices"
    )
    parser.add_argument("--version", action="version", version=_version_text())
    commands = parser.add_subparsers(title="commands")
    for command in COMMANDS:
        command.register(commands)
    return parser


def _version_text() -> str:
    """The package version and the bundled model's name, digest and card format."""
    import json

    from artifact import __version__
    from artifact.inference.engine import bundled_model_dir

    try:
        card = json.loads((bundled_model_dir() / "model.json").read_text())
        model = (
            f"bundled model {card['name']} (sha256 {card['sha256'][:12]}, card format {card['card_format']})"
        )
    except (OSError, ValueError, KeyError):
        model = "no bundled model"
    return f"artifact {__version__}; {model}"


if __name__ == "__main__":
    sys.exit(main())
