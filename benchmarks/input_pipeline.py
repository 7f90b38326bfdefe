"""The recipe's ImageDataGenerator pipeline against ours, same images, same model, one run.

Usage: python benchmarks/input_pipeline.py [--data ../shared/data/art-dev] [--images 400]

Prints images per second for: the input pipeline alone (iterating batches), and training
(model.fit over the pipeline), for the first epoch (which includes decoding) and a later
one; then our/recipe ratios. Where --data is absent, synthetic JPEGs are generated.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def image_list(data: Path, count: int) -> tuple[list[str], list[str]]:
    from artifact.data.layouts import load_dataset

    if data.exists():
        samples = load_dataset(data).samples
        rng = np.random.default_rng(0)
        picked = [samples[i] for i in sorted(rng.permutation(len(samples))[:count])]
        return [s.path for s in picked], [s.label for s in picked]
    from tests.support.art import save_art

    folder = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(count):
        label = "ai" if i % 2 else "human"
        path = folder / f"{i}.jpg"
        save_art(path, label, 512, 90, rng)
        paths.append(str(path))
        labels.append(label)
    return paths, labels


def recipe_pipeline(paths, labels, size, batch):
    import pandas as pd
    import tensorflow as tf

    generator = tf.keras.preprocessing.image.ImageDataGenerator(
        horizontal_flip=True, width_shift_range=0.1, height_shift_range=0.1
    )
    frame = pd.DataFrame({"filename": paths, "class": labels})
    return generator.flow_from_dataframe(
        frame, x_col="filename", y_col="class", target_size=(size, size),
        class_mode="sparse", classes=["human", "ai"], batch_size=batch, seed=0,
    )  # fmt: skip


def our_pipeline(paths, labels, size, batch):
    from artifact.data.augment import AugmentConfig
    from artifact.data.canonical import canonicalize_files
    from artifact.data.pipeline import make_train_dataset
    from artifact.inference.preprocess import PreprocessConfig

    config = PreprocessConfig(canonical_size=max(size, 144), input_size=size)
    canonical = canonicalize_files(paths, config, progress=False)
    targets = np.array([0 if labels[i] == "human" else 1 for i in canonical.kept])
    return make_train_dataset(
        canonical.pixels,
        targets,
        config,
        AugmentConfig.preset("realistic"),
        batch_size=batch,
        seed=0,
    )


def iterate(dataset, steps):
    start = time.perf_counter()
    for i, _ in enumerate(dataset):
        if i + 1 >= steps:
            break
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/art-dev")
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import keras

    from artifact.training.models import create_model

    paths, labels = image_list(Path(args.data), args.images)
    n, size, batch = len(paths), args.image_size, args.batch
    steps = -(-n // batch)
    print(f"{n} images, {size} px model input, batch {batch}, {steps} steps per epoch")
    results: dict[str, dict[str, float]] = {}
    for name, build in (
        ("recipe ImageDataGenerator", recipe_pipeline),
        ("artifact tf.data", our_pipeline),
    ):
        start = time.perf_counter()
        pipeline = build(paths, labels, size, batch)
        setup = time.perf_counter() - start
        first = setup + iterate(pipeline, steps)
        later = [iterate(pipeline, steps) for _ in range(args.repeats)]
        keras.utils.set_random_seed(0)
        model = create_model("small_cnn", input_size=size, num_classes=2, width=16, depth=4)
        model.compile("adam", "sparse_categorical_crossentropy")
        fit_times = []
        for _ in range(2):
            start = time.perf_counter()
            model.fit(pipeline, epochs=1, steps_per_epoch=steps, verbose=0)
            fit_times.append(time.perf_counter() - start)
        results[name] = {
            "pipeline first epoch (img/s)": n / first,
            "pipeline later epochs, median (img/s)": n / statistics.median(later),
            "training epoch with model, 2nd (img/s)": n / fit_times[1],
        }
    names = list(results)
    print(f"{'measure':42s}" + "".join(f"{k:>28s}" for k in names) + f"{'ratio ours/recipe':>20s}")
    for measure in results[names[0]]:
        values = [results[k][measure] for k in names]
        print(f"{measure:42s}" + "".join(f"{v:28.1f}" for v in values) + f"{values[1] / values[0]:20.2f}x")


if __name__ == "__main__":
    main()
