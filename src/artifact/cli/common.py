"""What the commands share: the consoles, the help formatter, the metrics and verdict tables,
loading a model, and the service's settings and database for serve, worker and users."""

from __future__ import annotations

import argparse
import os
import typing
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


class HelpWithDefaults(argparse.HelpFormatter):
    """Shows an option's default beside its help, unless the help already says it or there
    is none worth saying (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def choices(literal) -> list[str]:
    """An option's choices from the ``Literal`` type that is their one source."""
    return list(typing.get_args(literal))


# Every command's --help shows each option's default beside its help.
SHOW_DEFAULTS = {"formatter_class": HelpWithDefaults}


def print_metrics(metrics: dict) -> None:
    keys = (
        "test_images",
        "accuracy",
        "balanced_accuracy",
        "roc_auc",
        "human_called_ai_rate",
        "ai_missed_rate",
        "uncertain_rate",
    )
    table = Table(title=f"evaluation ({metrics.get('evaluated_on', '')})")
    table.add_column("metric")
    table.add_column("value")
    for key in keys:
        if metrics.get(key) is not None:
            table.add_row(key, str(metrics[key]))
    for name, value in (metrics.get("robustness") or {}).items():
        table.add_row(f"robustness {name}", str(value))
    console.print(table)


def load_predictor(model_dir: str | None):
    from artifact.errors import UserFacingError
    from artifact.inference.engine import ModelNotFoundError, Predictor

    try:
        return Predictor(model_dir)
    except ModelNotFoundError as exc:
        raise UserFacingError(str(exc)) from exc


def print_served(metrics: dict) -> None:
    table = Table(title=f"verdicts served on {metrics['images']} images")
    for column in ("group", "images", "ai", "uncertain", "human"):
        table.add_column(column)
    rows = [(f"class {k}", v) for k, v in metrics["served"].items()]
    rows += list(metrics["per_source"].items())
    for name, mix in rows:
        table.add_row(name, str(mix["images"]), *(f"{mix[v]:.1%}" for v in ("ai", "uncertain", "human")))
    console.print(table)
    if "roc_auc" in metrics:
        console.print(
            f"ROC-AUC {metrics['roc_auc']:.4f}; calibration error {metrics['ece_before']:.4f} (raw) "
            f"-> {metrics['ece_after']:.4f} (served)"
        )


def apply_service_options(args: argparse.Namespace) -> None:
    """Pass CLI overrides to the service through its environment (workers inherit it)."""
    if getattr(args, "data_dir", None):
        os.environ["ARTIFACT_DATA_DIR"] = str(Path(args.data_dir).resolve())
    if getattr(args, "model", None):
        os.environ["ARTIFACT_MODEL_DIR"] = str(Path(args.model).resolve())


def migrated_engine(settings):
    """A writer engine on the service's database, its data directory created and schema current."""
    from artifact.storage.database import create_db_engine, migrate

    settings.prepare()
    engine = create_db_engine(settings.resolved_database_url, writer=True)
    migrate(engine)
    return engine
