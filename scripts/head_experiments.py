"""Compare head recipes on the frozen features a run kept (``artifact train --keep-features``).

usage: python scripts/head_experiments.py RUN [--extra NAME=DATASET ...] [--seeds 3]

The frozen backbone's features of every training view, validation and test image are in
RUN/features.npz; this script trains only the classifier on them (the top blocks frozen), for
several recipes and seeds, and prints per recipe: ROC-AUC and accuracy at the calibrated
threshold on the art-dev part of the test split, on the rest of it, and the share called AI of
each --extra dataset (e.g. human-paintings, never trained on). Minutes instead of the hours a
re-extraction would cost; the chosen recipe is then trained for real with ``artifact train``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from artifact.data.augment import AugmentConfig  # noqa: E402
from artifact.data.canonical import canonicalize_files  # noqa: E402
from artifact.data.layouts import load_dataset  # noqa: E402
from artifact.data.samples import read_samples, source_of  # noqa: E402
from artifact.inference.preprocess import PreprocessConfig  # noqa: E402
from artifact.training.calibration import calibrate  # noqa: E402
from artifact.training.run_dir import RunDir  # noqa: E402
from artifact.training.transfer import extract_features, load_features, source_weights  # noqa: E402

RECIPES = {
    "mlp256 taps": dict(units=256, taps=True, weighting=False),
    "mlp256 taps, source-weighted": dict(units=256, taps=True, weighting=True),
    "mlp256 no taps": dict(units=256, taps=False, weighting=False),
    "linear taps": dict(units=0, taps=True, weighting=False),
    "mlp512 taps, dropout 0.5": dict(units=512, taps=True, weighting=False, dropout=0.5),
}


def classifier(inputs: int, units: int, dropout: float) -> keras.Model:
    x = features = keras.Input((inputs,))
    x = keras.layers.Dropout(dropout)(x)
    if units:
        x = keras.layers.Dense(units, activation="relu")(x)
        x = keras.layers.Dropout(dropout)(x)
    model = keras.Model(features, keras.layers.Dense(2, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--extra", nargs="*", default=[], help="NAME=DATASET scored whole")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES))
    args = parser.parse_args()
    run = RunDir(Path(args.run))
    config = run.read_config()["config"]
    preprocess = PreprocessConfig(**config["preprocess"])
    model = keras.saving.load_model(run.keras_model, compile=False)
    head = model.get_layer("head")
    top_pooled = head.get_layer("top_pooled")

    def pooled(features) -> np.ndarray:
        top = top_pooled.predict(features.arrays[0], batch_size=256, verbose=0)
        return np.concatenate([top, *features.arrays[1:]], axis=1).astype(np.float32), top.shape[1]

    npz = run.root / "features.npz"
    train, val, test = (load_features(npz, name) for name in ("train", "val", "test"))
    samples = {
        "train": read_samples(run.split("train")),
        "val": read_samples(run.split("val")),
        "test": read_samples(run.root / "features_test_samples.csv"),
    }
    targets = {k: np.array([s.label == "ai" for s in v], dtype=np.int32) for k, v in samples.items()}
    x = {}
    for name, features in (("train", train), ("val", val), ("test", test)):
        x[name], top_width = pooled(features)
    rows = {"train": train.index, "val": val.index, "test": test.index}
    extra_x = {}
    # extract_features needs only a ``.features`` model: the saved model's own.
    frozen = SimpleNamespace(features=model.get_layer("features"))
    for item in args.extra:
        name, path = item.split("=", 1)
        paths = [s.path for s in load_dataset(path).samples]
        canonical = canonicalize_files(paths, preprocess, description=name)
        feats = extract_features(
            frozen, canonical.pixels, preprocess, AugmentConfig.preset("none"), views=1, batch_size=64,
            seed=0, description=name,
        )  # fmt: skip
        extra_x[name] = pooled(feats)[0]
    art_dev = np.array(["/art-dev/" in s.path for s in samples["test"]])[rows["test"]]
    train_sources = [source_of(s) for s in samples["train"]]

    print(f"{'recipe':34s}{'seed':>5s}{'thr':>7s}{'art-dev AUC':>12s}{'acc':>7s}{'fp':>6s}"
          f"{'wide AUC':>10s}{'acc':>7s}" + "".join(f"{n[:12]:>14s}" for n in extra_x))  # fmt: skip
    for recipe in args.recipes:
        spec = RECIPES[recipe]
        columns = slice(None) if spec["taps"] else slice(0, top_width)
        weights = source_weights(train_sources, targets["train"]) if spec["weighting"] else None
        for seed in range(args.seeds):
            keras.utils.set_random_seed(seed)
            clf = classifier(x["train"][:, columns].shape[1], spec["units"], spec.get("dropout", 0.3))
            clf.fit(
                x["train"][:, columns], targets["train"][rows["train"]],
                sample_weight=None if weights is None else weights[rows["train"]],
                validation_data=(x["val"][:, columns], targets["val"][rows["val"]]),
                epochs=15, batch_size=32, verbose=0,
                callbacks=[keras.callbacks.EarlyStopping(patience=4, restore_best_weights=True)],
            )  # fmt: skip
            val_p = clf.predict(x["val"][:, columns], verbose=0)[:, 1]
            threshold = calibrate(
                targets["val"][rows["val"]] == 1, val_p, config.get("max_false_ai")
            ).threshold
            p = clf.predict(x["test"][:, columns], verbose=0)[:, 1]
            y = targets["test"][rows["test"]]
            cells = []
            for part in (art_dev, ~art_dev):
                cells += [roc_auc_score(y[part], p[part]), np.mean((p[part] >= threshold) == y[part])]
            fp = np.mean(p[art_dev & (y == 0)] >= threshold)
            extra = [
                np.mean(clf.predict(v[:, columns], verbose=0)[:, 1] >= threshold) for v in extra_x.values()
            ]
            print(f"{recipe:34s}{seed:5d}{threshold:7.3f}{cells[0]:12.4f}{cells[1]:7.3f}{fp:6.3f}"
                  f"{cells[2]:10.4f}{cells[3]:7.3f}" + "".join(f"{e:14.3f}" for e in extra))  # fmt: skip


if __name__ == "__main__":
    main()
