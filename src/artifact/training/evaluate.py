"""Evaluate a run on held-out data and write its ``report/``.

The report holds the confusion matrix (PNG), the classification report (text and JSON),
ROC curve and AUC, training curves, error rates per generator and per style, the decision
rule fitted on the validation split, the served verdict mix (``ai`` / ``uncertain`` /
``human`` shares per class, source and generator, through the rule the engine applies) and a
robustness table.
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

from artifact.data.layouts import DatasetError, Layout, load_dataset
from artifact.data.samples import HUMAN, Sample, read_samples, source_of
from artifact.data.tasks import usable_samples
from artifact.inference.decision import DecisionRule, verdict_mix
from artifact.inference.preprocess import PreprocessConfig
from artifact.training.calibration import expected_calibration_error, fit_decision_rule
from artifact.training.config import TrainConfig
from artifact.training.invariance import invariance_audit
from artifact.training.keras_predict import predict_files, predict_images
from artifact.training.plots import plot_confusion_matrix, plot_roc, plot_training_curves
from artifact.training.robustness import PERTURBATIONS
from artifact.training.run_dir import RunDir, write_json
from artifact.training.served import mix_by

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
    # Read back through TrainConfig: a setting an older run lacks gets today's default from it.
    config = TrainConfig.model_validate(described["config"])
    task, class_names = config.task, described["class_names"]
    preprocess = config.preprocess
    model = keras.saving.load_model(run.keras_model, compile=False)
    test_samples, source, report_dir = _evaluation_samples(run, described, data, layout)
    test_samples, _ = usable_samples(task, test_samples, class_names)
    if not test_samples:
        raise DatasetError("no test images the model's task can label")

    rule = _fit_rule_on_validation(run, model, preprocess, task, class_names, config)
    kept, errors, probs = predict_files(model, [s.path for s in test_samples], preprocess, description="test")
    test_samples = [test_samples[i] for i in kept]
    _, targets = usable_samples(task, test_samples, class_names)
    y_true = np.array(targets)
    y_pred = decide(probs, class_names, rule)
    # (calibrated P(AI), verdict) per test image, decided once for every figure below.
    served = rule.decide(1.0 - probs[:, 0]) if rule is not None else None

    report_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict = {
        "evaluated_on": source,
        "test_images": len(test_samples),
        "skipped_unreadable": len(errors),
        "task": task,
        "class_names": class_names,
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "balanced_accuracy": round(float(balanced_accuracy_score(y_true, y_pred)), 4),
    }
    labels = list(range(len(class_names)))
    matrix = _classification_figures(metrics, y_true, y_pred, labels, class_names, report_dir)
    if rule is None:
        plot_confusion_matrix(
            matrix, class_names, report_dir / "confusion_matrix.png", f"{task} task, test split"
        )
    else:
        metrics.update(
            _served_figures(rule, served, y_true, probs, test_samples, class_names, report_dir, task)
        )
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
    limit = config.robustness_limit if robustness_limit is None else robustness_limit
    metrics["robustness"] = _robustness(
        model,
        test_samples,
        y_true,
        preprocess,
        class_names,
        rule,
        limit,
        baseline=metrics["accuracy"],
    )
    per_class = config.invariance_per_class
    if rule is not None and per_class and run.split("val").is_file():
        val, _ = usable_samples(task, read_samples(run.split("val")), class_names)
        metrics["invariance"] = invariance_audit(
            _keras_scorer(model, preprocess), val, rule, per_class=per_class, seed=config.seed
        )
    metrics["training_curves"] = plot_training_curves(run.history, report_dir / "training_curves.png")
    _write_predictions(
        report_dir / "predictions.csv", test_samples, y_true, y_pred, probs, class_names, served
    )
    write_json(report_dir / "metrics.json", metrics)
    return metrics


def _classification_figures(metrics: dict, y_true, y_pred, labels, class_names, report_dir: Path):
    """The confusion matrix (returned, and in ``metrics``) and the classification report files."""
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    metrics["confusion_matrix"] = matrix.tolist()
    report_kwargs = dict(labels=labels, target_names=class_names, zero_division=0, digits=4)
    (report_dir / "classification_report.txt").write_text(
        classification_report(y_true, y_pred, **report_kwargs) + "\n"
    )
    write_json(
        report_dir / "classification_report.json",
        classification_report(y_true, y_pred, output_dict=True, **report_kwargs),
    )
    return matrix


def _served_figures(rule, served, y_true, probs, test_samples, class_names, report_dir: Path, task) -> dict:
    """Human-vs-AI figures of the verdicts served: their confusion matrix, the rule, calibration,
    ROC-AUC of P(AI), the verdict mix per class, source and generator."""
    is_ai = y_true != 0
    score = 1.0 - probs[:, 0]
    prob_ai, verdicts = served
    confusion = served_confusion(is_ai, verdicts)
    figures: dict = {"served_confusion_matrix": {"rows": class_names, "columns": list(VERDICT_COLUMNS),
                                                 "counts": confusion.tolist()}}  # fmt: skip
    plot_confusion_matrix(
        confusion, class_names, report_dir / "confusion_matrix.png",
        f"{task} task, test split: verdicts served", columns=list(VERDICT_COLUMNS),
    )  # fmt: skip
    figures["decision"] = rule.model_dump()
    figures["calibration"] = {
        **(rule.guarantees or {}).get("calibration", {}),
        "test_ece_before": round(expected_calibration_error(is_ai, score), 4),
        "test_ece_after": round(expected_calibration_error(is_ai, prob_ai), 4),
    }
    if is_ai.any() and (~is_ai).any():
        auc = float(roc_auc_score(is_ai, prob_ai))
        fpr, tpr, _ = roc_curve(is_ai, prob_ai)
        plot_roc(fpr, tpr, auc, report_dir / "roc.png")
        figures["roc_auc"] = round(auc, 4)
    figures.update(served_summary(is_ai, verdicts))
    figures["per_source"] = mix_by(test_samples, verdicts, lambda s: f"{source_of(s)} ({s.label})")
    figures["per_generator_served"] = mix_by(test_samples, verdicts, lambda s: s.generator or s.label)
    return figures


VERDICT_COLUMNS = ("human", "uncertain", "ai")


def _keras_scorer(model, preprocess: PreprocessConfig):
    """Decoded images -> raw scores, through the same canonicalisation and crops as serving."""

    def score(images) -> np.ndarray:
        return 1.0 - predict_images(model, images, preprocess)[:, 0]

    return score


def decide(probs: np.ndarray, class_names: list[str], rule: DecisionRule | None) -> np.ndarray:
    """Predicted class per image: for human-vs-AI, 1 where the served verdict is ``ai``
    (``uncertain`` counts as not called AI); for other tasks, argmax."""
    if rule is not None and class_names == [HUMAN, "ai"]:
        _, verdicts = rule.decide(1.0 - probs[:, 0])
        return (verdicts == "ai").astype(int)
    return probs.argmax(axis=1)


def served_summary(is_ai: np.ndarray, verdicts: np.ndarray) -> dict:
    """The headline figures: per class, the share of each verdict served."""
    human, ai = verdict_mix(verdicts[~is_ai]), verdict_mix(verdicts[is_ai])
    return {
        "served": {"human": human, "ai": ai},
        "human_called_ai_rate": human["ai"],
        "ai_called_ai_rate": ai["ai"],
        "ai_called_human_rate": ai["human"],
        "uncertain_rate": round(float(np.mean(verdicts == "uncertain")), 4),
    }


def served_confusion(is_ai: np.ndarray, verdicts: np.ndarray) -> np.ndarray:
    """Counts: rows human, ai (the truth); columns human, uncertain, ai (the verdict)."""
    return np.array(
        [[int(np.sum(verdicts[truth] == v)) for v in VERDICT_COLUMNS] for truth in (~is_ai, is_ai)]
    )


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


def _fit_rule_on_validation(
    run, model, preprocess, task, class_names, config: TrainConfig
) -> DecisionRule | None:
    """The decision rule fitted on the run's validation split (None: not a human-vs-AI task)."""
    if class_names[0] != HUMAN or not run.split("val").is_file():
        return None
    val, targets = usable_samples(task, read_samples(run.split("val")), class_names)
    kept, _, probs = predict_files(model, [s.path for s in val], preprocess, description="validation")
    if not kept:
        raise DatasetError("no readable validation images to fit the decision rule on")
    is_ai = np.array(targets)[kept] != 0
    rule, _ = fit_decision_rule(
        is_ai,
        1.0 - probs[:, 0],
        max_false_ai=config.max_false_ai,
        max_missed_ai=config.max_missed_ai,
        sources=[source_of(val[i]) for i in kept],
        false_ai_scope=config.false_ai_scope,
    )
    return rule


def _robustness(model, samples, y_true, preprocess, class_names, rule, limit, baseline):
    """Accuracy after each degradation, on the first ``limit`` test images (a seeded subset)."""
    if limit == 0:
        return {}
    rng = np.random.default_rng(0)
    chosen = np.sort(rng.permutation(len(samples))[:limit])
    paths = [samples[i].path for i in chosen]
    table = {"images": len(chosen), "clean": baseline if len(chosen) == len(samples) else None}
    for name, perturb in PERTURBATIONS.items():
        kept, _, probs = predict_files(model, paths, preprocess, perturb=perturb, description=name)
        predicted = decide(probs, class_names, rule)
        table[name] = round(float(np.mean(predicted == y_true[chosen][kept])), 4)
    if table["clean"] is None:
        kept, _, probs = predict_files(model, paths, preprocess, description="clean")
        predicted = decide(probs, class_names, rule)
        table["clean"] = round(float(np.mean(predicted == y_true[chosen][kept])), 4)
    return table


def _group_errors(samples: list[Sample], correct: np.ndarray, key) -> dict[str, dict]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for sample, ok in zip(samples, correct, strict=True):
        groups[key(sample)].append(bool(ok))
    return {
        name: {"images": len(oks), "error_rate": round(1 - float(np.mean(oks)), 4)}
        for name, oks in sorted(groups.items())
    }


def _write_predictions(path, samples, y_true, y_pred, probs, class_names, served) -> None:
    """One row per test image; with served verdicts also its score, P(AI) and verdict."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        extra = ["score", "prob_ai", "verdict"] if served is not None else []
        writer.writerow(
            ["path", "generator", "style", "true", "predicted", *[f"p_{c}" for c in class_names], *extra]
        )
        for i, (sample, t, p, row) in enumerate(zip(samples, y_true, y_pred, probs, strict=True)):
            decided = (
                [f"{1.0 - row[0]:.6f}", f"{served[0][i]:.6f}", served[1][i]] if served is not None else []
            )
            writer.writerow(
                [
                    sample.path,
                    sample.generator,
                    sample.style,
                    class_names[t],
                    class_names[p],
                    *[f"{v:.6f}" for v in row],
                    *decided,
                ]
            )
