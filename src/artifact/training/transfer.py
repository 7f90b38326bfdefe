"""Train a pretrained-backbone detector on a 2-core CPU: cache the frozen part, train the rest.

A forward pass of MobileNetV2-1.0 at 224 px costs ~40 ms here, so fine-tuning end to end
on ~10k images would take hours per epoch. The frozen lower layers never change, so their
output is computed once for a few augmented views of every training image (and once for
each validation image) and cached as float16; then:

1. the head trains on the frozen backbone (top blocks frozen), with early stopping;
2. the top blocks are unfrozen and trained with the head at a lower learning rate, on a
   cosine schedule with a one-epoch warm-up, again with early stopping on validation loss.

Both stages read only the cache, so an epoch costs the top blocks and the head alone.
"""

from __future__ import annotations

import csv
import logging
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from artifact.data.augment import AugmentConfig
from artifact.data.pipeline import make_view_dataset
from artifact.inference.preprocess import PreprocessConfig
from artifact.training.backbones import BackboneModel, set_top_trainable
from artifact.training.keras_predict import compiled_inference
from artifact.training.progress import backup_callback
from artifact.training.run_dir import RunDir

log = logging.getLogger(__name__)


@dataclass
class FeatureSet:
    """Cached outputs of the frozen part: one row per (image, view)."""

    arrays: list[np.ndarray]  # float16, one per output of the feature model
    index: np.ndarray  # the image each row came from

    def __len__(self) -> int:
        return len(self.index)

    def rows(self, mask: np.ndarray) -> FeatureSet:
        return FeatureSet([a[mask] for a in self.arrays], self.index[mask])


@dataclass
class TransferSettings:
    batch_size: int
    head_epochs: int
    head_learning_rate: float
    fine_tune_epochs: int
    fine_tune_learning_rate: float
    patience: int
    seed: int


def extract_features(
    backbone: BackboneModel,
    pixels: np.ndarray,
    preprocess: PreprocessConfig,
    augment: AugmentConfig,
    *,
    views: int,
    batch_size: int,
    seed: int,
    description: str,
) -> FeatureSet:
    """Run the frozen part over ``views`` augmented copies of every image, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    dataset = make_view_dataset(pixels, preprocess, augment, views=views, batch_size=batch_size, seed=seed)
    features = compiled_inference(backbone.features)
    total = len(pixels) * views
    chunks: list[list[np.ndarray]] = []
    indices: list[np.ndarray] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    interactive = sys.stderr.isatty()
    started, done, next_report = time.monotonic(), 0, 0.1
    with Progress(*columns, disable=total < 50 or not interactive) as progress:
        task = progress.add_task(description, total=total)
        for index, images in dataset:
            outputs = features(images)
            chunks.append([_cached(o, t) for o, t in zip(outputs, backbone.cache_dtypes, strict=True)])
            indices.append(np.asarray(index))
            progress.advance(task, len(index))
            done += len(index)
            if not interactive and done / total >= next_report:  # logs and CI: a line per 10%
                rate = done / (time.monotonic() - started)
                log.info(
                    "%s: %d/%d, %.1f images/s, %.0f s left",
                    description,
                    done,
                    total,
                    rate,
                    (total - done) / rate,
                )
                next_report += 0.1
    arrays = [np.concatenate(parts) for parts in zip(*chunks, strict=True)] if chunks else []
    return FeatureSet(arrays, np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64))


def _cached(output, dtype) -> np.ndarray:
    array = np.asarray(output)
    return np.round(array).astype(dtype) if np.issubdtype(dtype, np.integer) else array.astype(dtype)


def fit_head(
    backbone: BackboneModel,
    train: FeatureSet,
    train_targets: np.ndarray,
    val: FeatureSet,
    val_targets: np.ndarray,
    settings: TransferSettings,
    *,
    history_csv: Path | None = None,
    verbose: int | str = 0,
    image_weights: np.ndarray | None = None,
    backup: RunDir | None = None,
) -> int:
    """Train the head (stage 1), then the top blocks with it (stage 2); returns epochs run.

    With ``backup`` (the run directory) each stage backs up every epoch, so a stopped run
    resumes mid-stage (:mod:`artifact.training.progress`).

    ``train_targets``, ``val_targets`` and ``image_weights`` (loss weight of each training
    image, optional) are per image; rows pick theirs through ``index``.
    """
    y_train = train_targets[train.index]
    weights = None if image_weights is None else image_weights[train.index].astype(np.float32)
    y_val = val_targets[val.index]
    validation = (val.arrays, y_val)

    keras.utils.set_random_seed(settings.seed)
    set_top_trainable(backbone, False)
    # Stage 1 trains only the classifier: the frozen top blocks run once per row, not per epoch.
    pooled_train, pooled_val = _pooled(backbone, train), _pooled(backbone, val)
    backbone.classifier.compile(
        optimizer=keras.optimizers.Adam(settings.head_learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=settings.patience, restore_best_weights=True
    )
    history = backbone.classifier.fit(
        pooled_train,
        y_train,
        sample_weight=weights,
        batch_size=settings.batch_size,
        epochs=settings.head_epochs,
        validation_data=(pooled_val, y_val),
        callbacks=[stop, keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2),
                   *backup_callback(backup, "head")],  # fmt: skip
        shuffle=True,
        verbose=verbose,
    )
    epochs = len(history.epoch)
    rows = _history_rows(history, "head", 0)
    if settings.fine_tune_epochs <= 0:
        _write_history(history_csv, rows)
        return epochs

    set_top_trainable(backbone, True)
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=settings.fine_tune_learning_rate / 10,
        warmup_target=settings.fine_tune_learning_rate,
        warmup_steps=steps_per_epoch,
        decay_steps=max(1, steps_per_epoch * (settings.fine_tune_epochs - 1)),
    )
    backbone.head.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=settings.patience, restore_best_weights=True
    )
    head_best = float(np.min(history.history["val_loss"]))
    head_weights = backbone.head.get_weights()
    history = backbone.head.fit(
        train.arrays,
        y_train,
        sample_weight=weights,
        batch_size=settings.batch_size,
        epochs=epochs + settings.fine_tune_epochs,
        initial_epoch=epochs,
        validation_data=validation,
        callbacks=[stop, *backup_callback(backup, "fine_tune")],
        shuffle=True,
        verbose=verbose,
    )
    set_top_trainable(backbone, False)
    _write_history(history_csv, rows + _history_rows(history, "fine_tune", epochs))
    if float(np.min(history.history["val_loss"])) > head_best:
        log.info("fine-tuning never beat the head alone on validation; keeping the head's weights")
        backbone.head.set_weights(head_weights)
    return epochs + len(history.epoch)


HISTORY_COLUMNS = ("epoch", "stage", "loss", "accuracy", "val_loss", "val_accuracy")


def _history_rows(history: keras.callbacks.History, stage: str, first_epoch: int) -> list[dict]:
    return [
        {"epoch": first_epoch + i, "stage": stage, **{k: float(v[i]) for k, v in history.history.items()}}
        for i in range(len(history.epoch))
    ]


def _write_history(path: Path | None, rows: list[dict]) -> None:
    """history.csv with one column set for both stages (CSVLogger would misalign them)."""
    if path is None:
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HISTORY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _pooled(backbone: BackboneModel, features: FeatureSet, batch_size: int = 256) -> list[np.ndarray]:
    pooled = backbone.top_pooled.predict(features.arrays[0], batch_size=batch_size, verbose=0)
    return [pooled, *features.arrays[1:]]


def source_weights(sources: list[str], targets: np.ndarray) -> np.ndarray:
    """Per-image loss weights giving every source of a class the same total weight (mean 1).

    Small sources (a handful of generators with 80 images each) then count as much as a
    source of thousands, without repeating their images more often.
    """
    targets = np.asarray(targets)
    groups = list(zip(targets.tolist(), sources, strict=True))
    count = Counter(groups)
    per_class = Counter(targets.tolist())
    sources_in_class = Counter(t for t, _ in count)
    weights = np.array(
        [per_class[t] / sources_in_class[t] / count[(t, s)] for t, s in groups], dtype=np.float64
    )
    return weights / weights.mean()


def save_features(path: Path, **parts: FeatureSet) -> None:
    """Keep cached features for experiments on the head (``--keep-features``)."""
    arrays = {}
    for name, features in parts.items():
        arrays[f"{name}_index"] = features.index
        for i, array in enumerate(features.arrays):
            arrays[f"{name}_{i}"] = array
    np.savez(path, **arrays)


def load_features(path: Path, name: str) -> FeatureSet:
    with np.load(path) as stored:
        count = sum(1 for key in stored.files if key.startswith(f"{name}_") and key != f"{name}_index")
        return FeatureSet([stored[f"{name}_{i}"] for i in range(count)], stored[f"{name}_index"])


def predict_head(backbone: BackboneModel, features: FeatureSet, batch_size: int = 256) -> np.ndarray:
    """Class probabilities per row of cached features."""
    return np.asarray(backbone.head.predict(features.arrays, batch_size=batch_size, verbose=0))
