"""Evaluate a run on held-out data and write its ``report/``.

The report holds the confusion matrix (PNG), the classification report (text and JSON),
ROC curve and AUC, training curves, error rates per generator and per style, the decision
threshold and uncertain band calibrated on the validation split, and a robustness table.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import defaultdict
from pathlib import Path

import keras
import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    classification_report,
    confusion_matrix,
    roc_auc_score,
    roc_curve,
)

from artifact.data.canonical import canonicalize_files
from artifact.data.layouts import DatasetError, Layout, load_dataset
from artifact.data.samples import HUMAN, Sample, read_samples, source_of
from artifact.data.tasks import usable_samples
from artifact.inference.preprocess import PreprocessConfig
from artifact.training.calibration import Calibration, calibrate
from artifact.training.keras_predict import predict_probabilities
from artifact.training.plots import plot_confusion_matrix, plot_roc, plot_training_curves
from artifact.training.robustness import PERTURBATIONS
from artifact.training.run_dir import RunDir, write_json

log = logging.getLogger(__name__)


def evaluate_run(
    run_dir: str | Path,
    data: str | Path | None = None,
    layout: Layout | None = None,
    robustness_limit: int | None = None,
) -> dict:
    """Evaluate the run's model and write ``report/``; returns the metrics written.

    Args:
        run_dir: a directory written by :func:`artifact.training.train.train`.
        data: a dataset to evaluate on. Omitted, or the training dataset itself: the run's
            held-out test split. Another dataset: its official test split if it has one,
            else every image the task can label. The report of another dataset goes to
            ``report/on-<dataset folder name>/`` so the run's own report stays intact.
        robustness_limit: test images per robustness check (default: the run's setting).
    """
    run = RunDir(Path(run_dir))
    described = run.read_config()
    config = described["config"]
    task, class_names = config["task"], described["class_names"]
    preprocess = PreprocessConfig(**config["preprocess"])
    model = keras.saving.load_model(run.keras_model, compile=False)
    test_samples, source, report_dir = _evaluation_samples(run, described, data, layout)
    test_samples, _ = usable_samples(task, test_samples, class_names)
    if not test_samples:
        raise DatasetError("no test images the model's task can label")

    calibration = _calibrate_on_validation(
        run, model, preprocess, task, class_names, config.get("max_false_ai")
    )
    canonical = canonicalize_files([s.path for s in test_samples], preprocess, description="test")
    test_samples = [test_samples[i] for i in canonical.kept]
    _, targets = usable_samples(task, test_samples, class_names)
    y_true = np.array(targets)
    probs = predict_probabilities(model, canonical.pixels, preprocess)
    y_pred = decide(probs, class_names, calibration)

    report_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict = {
        "evaluated_on": source,
        "test_images": len(test_samples),
        "skipped_unreadable": len(canonical.errors),
        "task": task,
        "class_names": class_names,
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "balanced_accuracy": round(float(balanced_accuracy_score(y_true, y_pred)), 4),
    }
    labels = list(range(len(class_names)))
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    metrics["confusion_matrix"] = matrix.tolist()
    plot_confusion_matrix(
        matrix, class_names, report_dir / "confusion_matrix.png", f"{task} task, test split"
    )
    report_kwargs = dict(labels=labels, target_names=class_names, zero_division=0, digits=4)
    (report_dir / "classification_report.txt").write_text(
        classification_report(y_true, y_pred, **report_kwargs) + "\n"
    )
    write_json(
        report_dir / "classification_report.json",
        classification_report(y_true, y_pred, output_dict=True, **report_kwargs),
    )

    detects_ai = class_names[0] == HUMAN
    if detects_ai:
        is_ai = y_true != 0
        prob_ai = 1.0 - probs[:, 0]
        metrics["calibration"] = calibration.model_dump()
        if is_ai.any() and (~is_ai).any():
            auc = float(roc_auc_score(is_ai, prob_ai))
            fpr, tpr, _ = roc_curve(is_ai, prob_ai)
            plot_roc(fpr, tpr, auc, report_dir / "roc.png")
            metrics["roc_auc"] = round(auc, 4)
        flagged = prob_ai >= calibration.threshold
        metrics["human_called_ai_rate"] = _rate(flagged[~is_ai])
        metrics["ai_missed_rate"] = _rate(~flagged[is_ai])
        uncertain = (prob_ai >= calibration.uncertain_low) & (prob_ai <= calibration.uncertain_high)
        metrics["uncertain_rate"] = round(float(uncertain.mean()), 4)
        confident = ~uncertain
        metrics["confident_accuracy"] = _rate((flagged == is_ai)[confident])
        metrics["per_source"] = _called_ai_by_source(test_samples, flagged)
        if run.leave_one_source_out.is_file() and report_dir == run.report:
            metrics["leave_one_source_out"] = json.loads(run.leave_one_source_out.read_text())
    if len(class_names) > 2:
        try:
            metrics["roc_auc_macro_ovr"] = round(
                float(roc_auc_score(y_true, probs, multi_class="ovr", labels=labels)), 4
            )
        except ValueError as exc:  # a class absent from the test split
            log.info("macro AUC not computed: %s", exc)
    correct = y_pred == y_true
    metrics["per_generator"] = _group_errors(test_samples, correct, lambda s: s.generator or s.label)
    metrics["per_style"] = _group_errors(test_samples, correct, lambda s: s.style or "unknown")
    limit = config.get("robustness_limit", 1000) if robustness_limit is None else robustness_limit
    metrics["robustness"] = _robustness(
        model,
        test_samples,
        y_true,
        preprocess,
        class_names,
        calibration,
        limit,
        baseline=metrics["accuracy"],
    )
    metrics["training_curves"] = plot_training_curves(run.history, report_dir / "training_curves.png")
    _write_predictions(report_dir / "predictions.csv", test_samples, y_true, y_pred, probs, class_names)
    write_json(report_dir / "metrics.json", metrics)
    return metrics


def decide(probs: np.ndarray, class_names: list[str], calibration: Calibration) -> np.ndarray:
    """Predicted class per image: the calibrated threshold for human-vs-AI, else argmax."""
    if class_names == [HUMAN, "ai"]:
        return (1.0 - probs[:, 0] >= calibration.threshold).astype(int)
    return probs.argmax(axis=1)


def _evaluation_samples(
    run: RunDir, described: dict, data: str | Path | None, layout: Layout | None
) -> tuple[list[Sample], str, Path]:
    trained_on = [Path(p) for p in described["dataset"].get("roots", [described["dataset"]["root"]])]
    if data is None or Path(data).expanduser().resolve() in trained_on:
        where = ", ".join(map(str, trained_on))
        return read_samples(run.split("test")), f"held-out test split of {where}", run.report
    dataset = load_dataset(data, layout)
    report_dir = run.report / f"on-{dataset.root.name}"
    if dataset.has_official_test:
        test = [s for s in dataset.samples if s.official_split == "test"]
        return test, f"test split of {dataset.root}", report_dir
    return dataset.samples, f"all of {dataset.root}", report_dir


def _calibrate_on_validation(run, model, preprocess, task, class_names, max_false_ai=None) -> Calibration:
    if class_names[0] != HUMAN or not run.split("val").is_file():
        return Calibration()
    val, targets = usable_samples(task, read_samples(run.split("val")), class_names)
    canonical = canonicalize_files([s.path for s in val], preprocess, description="validation")
    if not canonical.kept:
        return Calibration()
    is_ai = np.array(targets)[canonical.kept] != 0
    probs = predict_probabilities(model, canonical.pixels, preprocess)
    return calibrate(is_ai, 1.0 - probs[:, 0], max_false_ai)


def _robustness(model, samples, y_true, preprocess, class_names, calibration, limit, baseline):
    """Accuracy after each degradation, on the first ``limit`` test images (a seeded subset)."""
    if limit == 0:
        return {}
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.permutation(len(samples))[:limit])
    paths = [samples[i].path for i in chosen]
    table = {"images": len(chosen), "clean": baseline if len(chosen) == len(samples) else None}
    for name, perturb in PERTURBATIONS.items():
        canonical = canonicalize_files(paths, preprocess, perturb=perturb, description=name)
        probs = predict_probabilities(model, canonical.pixels, preprocess)
        predicted = decide(probs, class_names, calibration)
        table[name] = round(float(np.mean(predicted == y_true[chosen][canonical.kept])), 4)
    if table["clean"] is None:
        canonical = canonicalize_files(paths, preprocess, description="clean")
        predicted = decide(
            predict_probabilities(model, canonical.pixels, preprocess), class_names, calibration
        )
        table["clean"] = round(float(np.mean(predicted == y_true[chosen][canonical.kept])), 4)
    return table


def _called_ai_by_source(samples: list[Sample], flagged: np.ndarray) -> dict[str, dict]:
    """Share of each source called ``ai`` at the calibrated threshold (false positives for a
    human source, detection rate for an AI source)."""
    groups: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for sample, called in zip(samples, flagged, strict=True):
        groups[(source_of(sample), sample.label)].append(bool(called))
    return {
        f"{source} ({label})": {
            "label": label,
            "images": len(calls),
            "called_ai": round(float(np.mean(calls)), 4),
        }
        for (source, label), calls in sorted(groups.items())
    }


def _group_errors(samples: list[Sample], correct: np.ndarray, key) -> dict[str, dict]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for sample, ok in zip(samples, correct, strict=True):
        groups[key(sample)].append(bool(ok))
    return {
        name: {"images": len(oks), "error_rate": round(1 - float(np.mean(oks)), 4)}
        for name, oks in sorted(groups.items())
    }


def _rate(mask: np.ndarray) -> float | None:
    return round(float(np.mean(mask)), 4) if len(mask) else None


def _write_predictions(path, samples, y_true, y_pred, probs, class_names) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "generator", "style", "true", "predicted", *[f"p_{c}" for c in class_names]])
        for sample, t, p, row in zip(samples, y_true, y_pred, probs, strict=True):
            writer.writerow(
                [
                    sample.path,
                    sample.generator,
                    sample.style,
                    class_names[t],
                    class_names[p],
                    *[f"{v:.6f}" for v in row],
                ]
            )
