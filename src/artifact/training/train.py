"""The training loop: data -> splits -> balance -> canonical cache -> fit -> run directory."""

from __future__ import annotations

import csv
import logging
import random
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from artifact.data.augment import AugmentConfig
from artifact.data.canonical import canonicalize_files, native_windows
from artifact.data.layouts import DatasetError, LabelledData, load_dataset
from artifact.data.pipeline import make_eval_dataset, make_train_dataset
from artifact.data.samples import Sample, read_samples, write_samples
from artifact.data.sources import balance_by_source, cap_per_source, load_datasets, source_counts
from artifact.data.splits import class_weights, stratified_split, undersample
from artifact.data.tasks import class_names_for, usable_samples
from artifact.training.config import TrainConfig
from artifact.training.models import create_model
from artifact.training.progress import backup_callback
from artifact.training.run_dir import RunDir, write_json

log = logging.getLogger(__name__)


@dataclass
class Splits:
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    class_names: list[str]


def plan_splits(data: LabelledData, config: TrainConfig) -> Splits:
    """Choose train / validation / test samples, balanced as configured.

    An official test split (AI-ArtBench's ``test/``) is used as the test set and never for
    training or early stopping; otherwise a stratified, seeded fraction is held out.
    """
    class_names = class_names_for(config.task, data.samples)
    samples, targets = usable_samples(config.task, data.samples, class_names)
    if config.max_per_source:
        keep = cap_per_source(samples, targets, config.max_per_source, config.seed + 4)
        samples, targets = [samples[i] for i in keep], [targets[i] for i in keep]
    if data.has_official_test:
        pool = [i for i, s in enumerate(samples) if s.official_split != "test"]
        test = [samples[i] for i, s in enumerate(samples) if s.official_split == "test"]
    else:
        pool, held = stratified_split(samples, targets, config.test_fraction, config.seed)
        test = [samples[i] for i in held]
    pool_samples = [samples[i] for i in pool]
    pool_targets = [targets[i] for i in pool]
    _require_every_class(pool_targets, class_names, "the training data")
    train_idx, val_idx = stratified_split(pool_samples, pool_targets, config.val_fraction, config.seed + 1)
    train = [pool_samples[i] for i in train_idx]
    train_targets = [pool_targets[i] for i in train_idx]
    for extra in config.extra_train:
        extra_samples, extra_targets = usable_samples(config.task, load_dataset(extra).samples, class_names)
        train.extend(extra_samples)
        train_targets.extend(extra_targets)
    if config.balance == "undersample":
        keep = undersample(train_targets, config.seed + 2)
        train = [train[i] for i in keep]
    elif config.balance == "source":
        keep = balance_by_source(train, train_targets, config.seed + 2)
        train = [train[i] for i in keep]
    if config.max_per_class:
        train = _cap_per_class(train, config, class_names)
    return Splits(train, [pool_samples[i] for i in val_idx], test, class_names)


def _cap_per_class(train: list[Sample], config: TrainConfig, class_names: list[str]) -> list[Sample]:
    rng = random.Random(config.seed + 3)
    by_class: dict[int, list[Sample]] = {}
    for sample, target in zip(*usable_samples(config.task, train, class_names), strict=True):
        by_class.setdefault(target, []).append(sample)
    capped = []
    for members in by_class.values():
        capped.extend(rng.sample(members, min(len(members), config.max_per_class or 0)))
    return sorted(capped, key=lambda s: s.path)


def _require_every_class(targets: list[int], class_names: list[str], where: str) -> None:
    counts = Counter(targets)
    empty = [name for index, name in enumerate(class_names) if counts[index] == 0]
    if empty:
        raise DatasetError(f"{where} has no images of class: {', '.join(empty)}")


def train(config: TrainConfig, out_dir: str | Path, *, resume: bool = False) -> RunDir:
    """Train a model and write config, splits, history and weights into ``out_dir``.

    ``resume``: continue the stopped run in ``out_dir`` (its own config) from what it had
    finished (:mod:`artifact.training.progress`).

    Returns:
        The run directory, ready for :func:`artifact.training.evaluate.evaluate_run`.
    """
    if config.uses_backbone:
        from artifact.training.backbones import require_pretrained_weights

        require_pretrained_weights(config.backbone_weights)
    if config.aligned_fakes:
        from artifact.training.tiny_autoencoder import weight_files

        weight_files(config.autoencoder_weights or "")  # refused before any data is read
    run = RunDir(Path(out_dir))
    fresh = not run.root.exists()
    run.root.mkdir(parents=True, exist_ok=True)
    try:
        return _train(config, run, resume)
    except KeyboardInterrupt:
        if _resumable(run):
            log.warning("stopped; continue it with: artifact train --resume %s", run.root)
        elif fresh:
            shutil.rmtree(run.root, ignore_errors=True)
        raise
    except BaseException:
        # A run that failed leaves nothing behind (an existing folder stays).
        if fresh:
            shutil.rmtree(run.root, ignore_errors=True)
        raise


def _resumable(run: RunDir) -> bool:
    return run.progress.is_file() or (run.root / "backup").is_dir()


def _require_same_splits(run: RunDir, splits: Splits) -> None:
    """A resumed run must re-plan exactly the splits it recorded (same data, same seed)."""
    for name in ("train", "val", "test"):
        recorded = [s.path for s in read_samples(run.split(name))] if run.split(name).is_file() else None
        if recorded is not None and recorded != [s.path for s in getattr(splits, name)]:
            raise DatasetError(
                f"cannot resume {run.root}: its {name} split is no longer what the data gives "
                "(files were added, removed or moved); start a new run"
            )


def _train(config: TrainConfig, run: RunDir, resume: bool = False) -> RunDir:
    keras.utils.set_random_seed(config.seed)
    data = load_datasets(config.data, config.layout)
    splits = plan_splits(data, config)
    if config.aligned_fakes:
        from artifact.training.aligned_fakes import make_aligned_fakes

        splits.train = splits.train + make_aligned_fakes(
            splits.train,
            config.aligned_fakes,
            config.autoencoder_weights or "",
            config.preprocess.canonical_size,
            run.root / "cache" / "aligned_fakes",
            config.seed + 5,
        )
    if resume:
        _require_same_splits(run, splits)
    log.info(
        "classes %s; train %d, validation %d, test %d images",
        splits.class_names,
        len(splits.train),
        len(splits.val),
        len(splits.test),
    )
    skipped: list[tuple[str, str]] = []
    arrays = {}
    for name in ("train", "val"):
        samples = getattr(splits, name)
        # Only training images get the shared processing chain; validation and test stay as
        # the files are, as a user's uploads arrive.
        process = (
            config.processing.for_split([s.label != "human" for s in samples], config.seed)
            if name == "train" and config.processing is not None
            else None
        )
        if config.preprocess.view == "native":
            process = native_windows(config.preprocess, process, config.seed if name == "train" else None)
        result = canonicalize_files(
            [s.path for s in samples],
            config.preprocess,
            process=process,
            cache_file=run.root / "cache" / f"{name}.npy",
            description=f"canonicalising {name}",
        )
        skipped.extend(result.errors)
        kept = [samples[i] for i in result.kept]
        setattr(splits, name, kept)
        _, targets = usable_samples(config.task, kept, splits.class_names)
        arrays[name] = (result.pixels, np.array(targets, dtype=np.int32))
    _require_every_class(arrays["train"][1].tolist(), splits.class_names, "the training split")
    if len(arrays["val"][1]) == 0:
        raise DatasetError("the validation split is empty: add images or raise --val-fraction")
    for name in ("train", "val", "test"):
        write_samples(getattr(splits, name), run.split(name))
    _write_skipped(run, skipped)

    write_json(run.config, _describe(config, data, splits, skipped))
    if config.uses_backbone:
        from artifact.training.backbone_training import fit_backbone

        model = fit_backbone(config, run, splits, arrays)
        run.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        model.save(run.checkpoint)  # early stopping already restored the best weights
    else:
        model = _fit_cnn(config, run, splits, arrays)
    model.save(run.keras_model)
    _drop_cache(run)
    # Training is complete: what only a resume needed goes.
    for leftover in (run.progress, run.head_weights, run.initial_head_weights):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(run.root / "backup", ignore_errors=True)
    return run


def _fit_cnn(config: TrainConfig, run: RunDir, splits: Splits, arrays: dict) -> keras.Model:
    """The from-scratch CNN: every epoch augments and runs the whole network."""
    preprocess = config.preprocess
    augment = AugmentConfig.preset(config.augment)
    train_ds = make_train_dataset(
        *arrays["train"],
        preprocess,
        augment,
        batch_size=config.batch_size,
        seed=config.seed,
        crops_per_image=config.crops_per_image,
    )
    val_ds = make_eval_dataset(*arrays["val"], preprocess, batch_size=config.batch_size)
    model = create_model(
        config.architecture,
        input_size=preprocess.input_size,
        num_classes=len(splits.class_names),
        width=config.width,
        depth=config.depth,
        dropout=config.dropout,
        stem=config.stem,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    run.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.ModelCheckpoint(run.checkpoint, monitor="val_loss", save_best_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
        # Model, optimizer and epoch after every epoch, for --resume (Keras removes it at the end);
        # before the history line, so a stop between the two never repeats an epoch's line.
        *backup_callback(run, "cnn"),
        # append: a resumed run continues the history it wrote before it stopped.
        keras.callbacks.CSVLogger(str(run.history), append=True),
    ]
    weights = (
        class_weights(arrays["train"][1].tolist(), len(splits.class_names))
        if config.balance == "class_weights"
        else None
    )
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        callbacks=callbacks,
        class_weight=weights,
        shuffle=False,  # the tf.data pipeline shuffles itself
        # A live progress bar on a terminal, one line per epoch in logs and CI.
        verbose="auto" if sys.stdout.isatty() else 2,
    )
    return model


def _describe(config: TrainConfig, data: LabelledData, splits: Splits, skipped) -> dict:
    def counts(samples: list[Sample]) -> dict[str, int]:
        return dict(sorted(Counter(s.generator or s.label for s in samples).items()))

    described = {
        "config": config.model_dump(mode="json"),
        "class_names": splits.class_names,
        "dataset": {
            "root": str(data.root),
            "roots": [str(Path(path).expanduser().resolve()) for path in config.data],
            "layout": data.layout,
            "images_found": len(data.samples),
            "skipped_unreadable": len(skipped),
            "train_by_source": counts(splits.train),
            "val_by_source": counts(splits.val),
            "test_by_source": counts(splits.test),
            "train_by_collection": source_counts(splits.train),
            "test_by_collection": source_counts(splits.test),
        },
    }
    if config.uses_backbone:
        from artifact.training.backbones import weights_identity

        described["backbone_weights"] = weights_identity(config.backbone_weights, config.architecture)
    if config.aligned_fakes:
        from artifact.training.aligned_fakes import SOURCE as FAKES_SOURCE
        from artifact.training.backbones import weights_sha256
        from artifact.training.tiny_autoencoder import weight_files

        files = weight_files(config.autoencoder_weights or "")
        described["aligned_fakes"] = {
            "made": sum(s.source == FAKES_SOURCE for s in splits.train),
            "autoencoder": {file.name: weights_sha256(file) for file in files},
        }
    return described


def _write_skipped(run: RunDir, skipped: list[tuple[str, str]]) -> None:
    with run.skipped.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "error"])
        writer.writerows(skipped)


def _drop_cache(run: RunDir) -> None:
    shutil.rmtree(run.root / "cache", ignore_errors=True)
