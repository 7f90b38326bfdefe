"""Fit a pretrained-backbone detector, and measure it with each source held out in turn."""

from __future__ import annotations

import csv
import logging
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from sklearn.metrics import roc_auc_score

from artifact.data.augment import AugmentConfig
from artifact.data.canonical import canonicalize_files, native_windows
from artifact.data.samples import HUMAN, Sample, source_of, write_samples
from artifact.data.tasks import usable_samples
from artifact.inference.decision import DEFAULT_MAX_MISSED_AI, FalseAiScope, verdict_mix
from artifact.training.backbones import create_backbone_model
from artifact.training.calibration import fit_decision_rule
from artifact.training.config import TrainConfig
from artifact.training.progress import RunProgress
from artifact.training.run_dir import RunDir, atomic_write, write_json
from artifact.training.transfer import (
    FeatureSet,
    TransferSettings,
    extract_features,
    fit_head,
    load_features,
    predict_head,
    save_features,
    source_weights,
)

log = logging.getLogger(__name__)


def fit_backbone(config: TrainConfig, run: RunDir, splits, arrays: dict) -> keras.Model:
    """Cache the frozen features, fit head and top blocks, optionally run leave-one-source-out.

    Returns:
        The whole model (image 0..255 -> probabilities), ready to save and export.
    """
    preprocess = config.preprocess
    backbone = create_backbone_model(
        config.architecture,
        input_size=preprocess.input_size,
        num_classes=len(splits.class_names),
        weights=config.backbone_weights,
        dropout=config.dropout,
        head_units=config.head_units,
        taps=config.backbone_taps,
        residual_branch=config.residual_branch,
    )
    train_pixels, train_targets = arrays["train"]
    val_pixels, val_targets = arrays["val"]
    progress = RunProgress(run)
    train_features, val_features = _cached_features(backbone, config, run, progress, train_pixels, val_pixels)
    settings = TransferSettings(
        batch_size=config.batch_size,
        head_epochs=config.epochs,
        head_learning_rate=config.learning_rate,
        fine_tune_epochs=config.fine_tune_epochs,
        fine_tune_learning_rate=config.fine_tune_learning_rate,
        patience=config.patience,
        seed=config.seed,
    )
    initial = _initial_head(backbone, run)
    weights = None
    if config.source_weighting:
        weights = source_weights([source_of(s) for s in splits.train], train_targets)
    if progress.has("head") and run.head_weights.is_file():
        log.info("resuming: the trained head read from %s", run.head_weights)
        backbone.head.load_weights(run.head_weights)
    else:
        fit_head(
            backbone, train_features, train_targets, val_features, val_targets, settings,
            history_csv=run.history, verbose="auto" if sys.stdout.isatty() else 2,
            image_weights=weights, backup=run,
        )  # fmt: skip
        backbone.head.save_weights(run.head_weights)
        progress.mark("head")
    if config.leave_one_source_out or config.keep_features:
        test = canonicalize_files(
            [s.path for s in splits.test],
            preprocess,
            # The native view's one centre square at the served scale, as validation has.
            process=native_windows(preprocess, None, None) if preprocess.view == "native" else None,
            description="canonicalising test",
        )
        test_samples = [splits.test[i] for i in test.kept]
        _, test_targets = usable_samples(config.task, test_samples, splits.class_names)
        test_features = _plain_features(backbone, test.pixels, config, "backbone features, test")
    if config.keep_features:
        write_samples(test_samples, run.root / "features_test_samples.csv")
        save_features(run.root / "features.npz", train=train_features, val=val_features, test=test_features)
    if config.leave_one_source_out and splits.class_names[0] == HUMAN:
        trained = backbone.head.get_weights()
        table = leave_one_source_out(
            backbone,
            initial,
            settings,
            (train_features, splits.train, train_targets),
            (val_features, splits.val, val_targets),
            (test_features, test_samples, np.array(test_targets, dtype=np.int32)),
            max_false_ai=config.max_false_ai,
            max_missed_ai=config.max_missed_ai,
            false_ai_scope=config.false_ai_scope,
            min_images=config.loso_min_images,
            source_weighting=config.source_weighting,
            done=progress.folds(),
            on_fold=progress.record_fold,
            predictions=run.fold_predictions,
        )
        write_json(run.leave_one_source_out, table)
        backbone.head.set_weights(trained)
    return backbone.model


def _cached_features(
    backbone, config: TrainConfig, run: RunDir, progress: RunProgress, train_pixels, val_pixels
):
    """(train, validation) features of the frozen part: computed once, kept for a resume."""
    features_file = run.root / "cache" / "features.npz"
    if progress.has("features") and features_file.is_file():
        log.info("resuming: backbone features read from %s", features_file)
        return tuple(load_features(features_file, name) for name in ("train", "val"))
    train_features = extract_features(
        backbone,
        train_pixels,
        config.preprocess,
        AugmentConfig.preset(config.augment),
        views=config.feature_views,
        batch_size=config.batch_size,
        seed=config.seed,
        description=f"backbone features, {config.feature_views} views",
    )
    val_features = _plain_features(backbone, val_pixels, config, "backbone features, validation")
    features_file.parent.mkdir(parents=True, exist_ok=True)
    save_features(features_file, train=train_features, val=val_features)
    progress.mark("features")
    return train_features, val_features


def _initial_head(backbone, run: RunDir) -> list:
    """The untrained head's weights, kept: every leave-one-source-out fold starts from them,
    a resumed run's too."""
    initial_file = run.initial_head_weights
    initial_file.parent.mkdir(parents=True, exist_ok=True)
    if initial_file.is_file():
        backbone.head.load_weights(initial_file)
    else:
        backbone.head.save_weights(initial_file)
    return backbone.head.get_weights()


def _plain_features(backbone, pixels: np.ndarray, config: TrainConfig, description: str) -> FeatureSet:
    """One un-augmented (centre) view per image."""
    return extract_features(
        backbone,
        pixels,
        config.preprocess,
        AugmentConfig.preset("none"),
        views=1,
        batch_size=config.batch_size,
        seed=config.seed,
        description=description,
    )


Part = tuple[FeatureSet, list[Sample], np.ndarray]


def _images_per_source(names: list[str], index: np.ndarray) -> dict[str, int]:
    """Distinct training images per source among the rows ``index`` names."""
    return dict(sorted(Counter(names[i] for i in set(index.tolist())).items()))


FOLD_PREDICTION_COLUMNS = ("role", "path", "source", "true", "score", "prob_ai", "verdict")


def _write_fold_predictions(path: Path, rule, *parts: tuple[str, list[Sample], np.ndarray]) -> None:
    """One row per image: raw score, and P(AI) and verdict under the fold's own rule."""
    with atomic_write(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(FOLD_PREDICTION_COLUMNS)
        for role, samples, scores in parts:
            prob, verdicts = rule.decide(np.asarray(scores))
            for sample, score, p, verdict in zip(samples, scores, prob, verdicts, strict=True):
                writer.writerow(
                    [role, sample.path, source_of(sample), sample.label, f"{score:.6f}", f"{p:.6f}", verdict]
                )


def leave_one_source_out(
    backbone,
    initial_weights: list,
    settings: TransferSettings,
    train: Part,
    val: Part,
    test: Part,
    *,
    max_false_ai: float | None,
    min_images: int,
    max_missed_ai: float = DEFAULT_MAX_MISSED_AI,
    false_ai_scope: FalseAiScope = "pooled",
    source_weighting: bool = False,
    done: dict[str, dict] | None = None,
    on_fold: Callable[[str, dict], None] | None = None,
    predictions: Callable[[str], Path] | None = None,
) -> dict:
    """Retrain the head once per source with that whole source left out, and score the source.

    The held-out source is scored on its validation and test images (its training images
    never reached that fold either). For each fold the decision rule is fitted on the
    fold's own validation images, as a deployed model's would be, and the held-out source's
    verdicts come from that rule.

    Returns:
        ``{"sources": {source: {label, images, called_ai, uncertain, human, ...}}, ...}``;
        ``called_ai`` is the share of the held-out source whose verdict is ``ai`` (a
        false-positive rate for a human source, the detection rate for an AI source);
        ``roc_auc`` compares it with the other class's test images from the remaining sources.
        Folds in ``done`` (a stopped run's) are taken as they were; ``on_fold`` hears each new one.
        ``predictions(source)``, where given, names the file a fold's scores are written to
        (before ``on_fold``, so a recorded fold always has its file).
    """
    sources = {
        name: [source_of(s) for s in part[1]]
        for name, part in (("train", train), ("val", val), ("test", test))
    }
    labels = Counter()
    for part, names in zip((train, val, test), sources.values(), strict=True):
        for sample, source in zip(part[1], names, strict=True):
            labels[(source, sample.label)] += 1
    totals = Counter()
    for (source, _), count in labels.items():
        totals[source] += count
    train_named = list(zip(sources["train"], train[1], strict=True))
    results: dict[str, dict] = {}
    # The source of every cached row (rows repeat images once per view); the same for all folds.
    row_source = {
        name: np.array(names)[part[0].index]
        for name, names, part in zip(sources, sources.values(), (train, val, test), strict=True)
    }
    # A source with nothing to score (aligned fakes live in the training split only) has no fold.
    scored = set(sources["val"]) | set(sources["test"])
    for source in sorted(s for s, n in totals.items() if n >= min_images and s in scored):
        if done and source in done:
            results[source] = done[source]
            continue
        label = max((lab for (src, lab) in labels if src == source), key=lambda lab: labels[(source, lab)])
        # The held-out source leaves with what was made from it (aligned fakes of its images).
        held_out = np.array([source in (name, s.derived_from) for name, s in train_named])
        fold_train = train[0].rows(~held_out[train[0].index])
        fold_val = val[0].rows(row_source["val"] != source)
        remaining = set(train[2][fold_train.index].tolist())
        if len(remaining) < 2:
            results[source] = {"label": label, "skipped": "the only training source of its class"}
            continue
        backbone.head.set_weights(initial_weights)
        weights = None
        if source_weighting:
            # Weights over the fold's own images; the held-out source's rows never train.
            kept = ~held_out
            weights = np.zeros(len(train[1]))
            weights[kept] = source_weights(
                [s for s, k in zip(sources["train"], kept, strict=True) if k], train[2][kept]
            )
        fit_head(backbone, fold_train, train[2], fold_val, val[2], settings, image_weights=weights)
        val_prob_ai = 1.0 - predict_head(backbone, fold_val)[:, 0]
        fold_val_sources = row_source["val"][row_source["val"] != source]
        rule, guarantees = fit_decision_rule(
            val[2][fold_val.index] != 0, val_prob_ai, max_false_ai, max_missed_ai,
            sources=list(fold_val_sources), false_ai_scope=false_ai_scope,
        )  # fmt: skip
        held_val = val[0].rows(row_source["val"] == source)
        held_test = test[0].rows(row_source["test"] == source)
        held = np.concatenate(
            [1.0 - predict_head(backbone, part)[:, 0] for part in (held_val, held_test) if len(part)]
        )
        held_samples = [val[1][i] for i in held_val.index] + [test[1][i] for i in held_test.index]
        others = test[0].rows(row_source["test"] != source)
        other_prob = 1.0 - predict_head(backbone, others)[:, 0]
        other_is_ai = test[2][others.index] != 0
        held_is_ai = label != HUMAN
        opposite = other_prob[other_is_ai != held_is_ai]
        mix = verdict_mix(rule.decide(held)[1])
        entry = {
            "label": label,
            "images": int(len(held)),
            "called_ai": mix["ai"],
            "uncertain": mix["uncertain"],
            "human": mix["human"],
            "cut_points": {"human": rule.human_cut, "ai": rule.ai_cut},
            "fold_validation_false_ai": guarantees["validation_human_called_ai"],
            # Read from the rows the fold's head was fitted on: the held-out source is never here.
            "trained_on": _images_per_source(sources["train"], fold_train.index),
        }
        if len(opposite):
            truth = np.concatenate([np.full(len(held), held_is_ai), np.full(len(opposite), not held_is_ai)])
            entry["roc_auc"] = round(float(roc_auc_score(truth, np.concatenate([held, opposite]))), 4)
        results[source] = entry
        if predictions is not None:
            _write_fold_predictions(
                predictions(source), rule,
                ("held_out", held_samples, held),
                ("fold_validation", [val[1][i] for i in fold_val.index], val_prob_ai),
            )  # fmt: skip
        if on_fold is not None:
            on_fold(source, entry)
        log.info("left out %s (%s): %s", source, label, entry)
    return {
        "description": "each source held out of training in turn; its validation and test images scored",
        "max_false_ai": max_false_ai,
        "false_ai_scope": false_ai_scope,
        "sources": results,
    }
