"""The report's figures (matplotlib without a display, seaborn for the confusion matrix)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402


def plot_confusion_matrix(
    matrix: np.ndarray, labels: list[str], path: Path, title: str, columns: list[str] | None = None
) -> None:
    """Rows: the true classes (``labels``); columns: ``columns`` (default the same labels)."""
    size = max(4.0, 0.7 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    sns.heatmap(
        matrix,
        annot=True,
        fmt="d",
        cmap="Blues",
        xticklabels=columns or labels,
        yticklabels=labels,
        cbar=False,
        ax=ax,
    )
    ax.set_xlabel("verdict" if columns else "predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_roc(fpr: np.ndarray, tpr: np.ndarray, auc: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AI vs human (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("false positive rate (human called AI)")
    ax.set_ylabel("true positive rate (AI caught)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_training_curves(history_csv: Path, path: Path) -> bool:
    """Loss and accuracy per epoch from Keras' CSVLogger output; False if there is none."""
    if not history_csv.is_file():
        return False
    with history_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return False
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, style in (("", "-"), ("val_", "--")):
            key = prefix + metric
            if key in rows[0]:
                ax.plot(epochs, [float(r[key]) for r in rows], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
