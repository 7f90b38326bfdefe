"""What every command shares: the consoles, the help formatter, the metrics table."""

from __future__ import annotations

import argparse

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
