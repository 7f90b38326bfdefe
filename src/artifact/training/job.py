"""One command, one complete run directory: train, then evaluate, then export."""

from __future__ import annotations

import logging
from pathlib import Path

from artifact.errors import UserFacingError
from artifact.training.config import TrainConfig
from artifact.training.evaluate import evaluate_run
from artifact.training.export import Quantize, export_run
from artifact.training.run_dir import RunDir
from artifact.training.train import train

log = logging.getLogger(__name__)


def run_training(
    config: TrainConfig, out_dir: str | Path, quantize: Quantize = "none", *, resume: bool = False
) -> tuple[RunDir, dict, dict]:
    """Train, evaluate on the held-out test split, export and verify the export.

    ``resume``: ``out_dir`` is a stopped run; training continues where it stopped, or is skipped
    when it had finished (a run stopped while evaluating or exporting).
    """
    run = RunDir(Path(out_dir))
    if resume and run.keras_model.is_file():
        log.info("resuming: training had finished; evaluating and exporting")
    else:
        run = train(config, out_dir, resume=resume)
    metrics = evaluate_run(run.root)
    card = export_run(run.root, quantize)
    return run, metrics, card


def resumable_config(run_dir: str | Path) -> TrainConfig:
    """The settings of a stopped run, read back from its ``config.json``."""
    run = RunDir(Path(run_dir))
    if not run.config.is_file():
        raise UserFacingError(f"{run_dir} is not a training run (no config.json): nothing to resume")
    if run.tflite.is_file():
        raise UserFacingError(f"{run_dir} is a finished run (model.tflite is there): nothing to resume")
    return TrainConfig.model_validate(run.read_config()["config"])


def evaluate_only(run_dir, data=None, layout=None, robustness_limit=None) -> dict:
    _require_run(run_dir)
    metrics = evaluate_run(run_dir, data, layout, robustness_limit)
    # The card carries the metrics and threshold; refresh it if the run was exported.
    run = RunDir(Path(run_dir))
    if run.card.is_file() and data is None:
        import json

        quantize = json.loads(run.card.read_text())["export"]["quantize"]
        export_run(run_dir, quantize)
    return metrics


def export_only(run_dir, quantize: Quantize = "none", verify_images: int = 200) -> dict:
    _require_run(run_dir)
    return export_run(run_dir, quantize, verify_images)


def _require_run(run_dir) -> None:
    run = RunDir(Path(run_dir))
    if not run.config.is_file() or not run.keras_model.is_file():
        raise UserFacingError(f"{run_dir} is not a finished training run (no config.json/model.keras)")
