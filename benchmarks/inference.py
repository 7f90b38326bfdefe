"""LiteRT engine against Keras on the same model and images, plus ``artifact scan`` throughput.

Usage: python benchmarks/inference.py [--run DIR] [--data ../shared/data/art-dev] [--compare DIR ...]
       [--side 1024] [--compare-only]

--run defaults to the bundled model. --compare adds other model directories (e.g. the round-1
CNN: ``git show a6f4164:models/default/model.tflite``, and its model.json, into a folder): for
each model, side by side, its size, crops per image and LiteRT latency per image (all crops).

--run needs model.tflite and model.keras (a training run directory); without model.keras
the Keras side is skipped. Prints single-image latency (median, p95), batch throughput and
ratios, then the end-to-end engine latency (decode + canonicalise + predict) and scan
throughput on a folder of 500 images.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1e3, ordered[int(0.95 * (len(ordered) - 1))] * 1e3


def image_paths(data: Path, count: int) -> list[str]:
    if data.exists():
        from artifact.data.layouts import load_dataset

        samples = load_dataset(data).samples
        return [samples[i % len(samples)].path for i in range(count)]
    from tests.support.art import save_art

    folder = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    paths = []
    for i in range(min(count, 100)):
        path = folder / f"{i}.jpg"
        save_art(path, "ai" if i % 2 else "human", 512, 90, rng)
        paths.append(str(path))
    return [paths[i % len(paths)] for i in range(count)]


def compare_models(model_dirs: list[Path], paths: list[str], repeats: int, side: int | None) -> None:
    """Per model, side by side in one run: file size, views per image, LiteRT time for one
    image's views, the whole prediction (views + model), and the occlusion heatmap; ratios
    against the first model. ``side``: images resized to side x side first (the time budget is
    stated for 1024 x 1024)."""
    from PIL import Image

    from artifact.inference.engine import Predictor
    from artifact.inference.explain import occlusion_map, overlay_png
    from artifact.inference.preprocess import model_views

    images = [Image.open(p).convert("RGB") for p in paths]
    if side:
        images = [image.resize((side, side), Image.Resampling.BICUBIC) for image in images]
    print(f"images: {len(images)}, {images[0].size[0]}x{images[0].size[1]}")
    print(f"{'model':34s}{'view':>10s}{'MB':>7s}{'views':>7s}{'model ms':>10s}{'ratio':>7s}"
          f"{'predict ms':>12s}{'ratio':>7s}{'heatmap ms':>12s}")  # fmt: skip
    baseline = None
    for folder in model_dirs:
        predictor = Predictor(folder)
        config = predictor.card.preprocess
        views = [model_views(image, config) for image in images]
        model_ms = _median_ms(lambda n, p=predictor, v=views: p.model.predict(v[n % len(v)]), repeats)
        predict_ms = _median_ms(
            lambda n, p=predictor: p.probabilities([images[n % len(images)]]), repeats // 4
        )
        heat_ms = _median_ms(lambda n, p=predictor: overlay_png(images[0], occlusion_map(p, images[0])), 3)
        baseline = baseline or (model_ms, predict_ms)
        size = (predictor.model_dir / "model.tflite").stat().st_size / 1e6
        name = f"{predictor.card.name} ({folder})"[:33]
        print(
            f"{name:34s}{config.view:>10s}{size:7.2f}{np.mean([len(v) for v in views]):7.1f}{model_ms:10.1f}"
            f"{model_ms / baseline[0]:7.2f}{predict_ms:12.1f}{predict_ms / baseline[1]:7.2f}{heat_ms:12.0f}"
        )


def _median_ms(call, repeats: int) -> float:
    """Median milliseconds of ``call(n)`` for n = 0, 1, ... (after one warm-up call)."""
    call(0)
    times = []
    for n in range(max(3, repeats)):
        start = time.perf_counter()
        call(n)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", help="model or run directory (default: the bundled model)")
    parser.add_argument("--compare", nargs="*", default=[], help="other model directories, side by side")
    parser.add_argument("--data", default="../shared/data/art-dev")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--scan-images", type=int, default=500)
    parser.add_argument(
        "--side", type=int, default=1024, help="compare on images resized to SIDE x SIDE (0: as they are)"
    )
    parser.add_argument("--compare-only", action="store_true", help="only the side-by-side comparison")
    args = parser.parse_args()

    from PIL import Image

    from artifact.inference.engine import Predictor
    from artifact.inference.preprocess import canonicalize, prediction_crops

    predictor = Predictor(args.run)
    run = predictor.model_dir
    config = predictor.card.preprocess
    paths = image_paths(Path(args.data), max(args.scan_images, 64))
    compare_models([run, *map(Path, args.compare)], paths[:20], args.repeats, args.side or None)
    if args.compare_only:
        return
    crops = np.concatenate(
        [prediction_crops(canonicalize(Image.open(p).convert("RGB"), config), config)[:1] for p in paths[:32]]
    )
    single, batch = crops[:1], crops[:32]
    rows = {}
    rows["LiteRT engine"] = (
        summary(timed(lambda: predictor.model.predict(single), args.repeats)),
        32 / statistics.median(timed(lambda: predictor.model.predict(batch), 20)),
    )
    if (run / "model.keras").is_file():
        import keras

        model = keras.saving.load_model(run / "model.keras", compile=False)
        rows["Keras model.predict"] = (
            summary(timed(lambda: model.predict(single, verbose=0), args.repeats)),
            32 / statistics.median(timed(lambda: model.predict(batch, verbose=0), 20)),
        )
        rows["Keras model(x)"] = (
            summary(timed(lambda: model(single, training=False), args.repeats)),
            32 / statistics.median(timed(lambda: model(batch, training=False), 20)),
        )
    print(
        f"model {predictor.card.name}: input {config.input_size} px, crops/image {len(prediction_crops(np.zeros((config.canonical_size,) * 2 + (3,), np.uint8), config))}"
    )
    print(f"{'':22s}{'median ms':>12s}{'p95 ms':>10s}{'batch-32 img/s':>16s}")
    for name, ((median, p95), throughput) in rows.items():
        print(f"{name:22s}{median:12.2f}{p95:10.2f}{throughput:16.1f}")
    lite_median = rows["LiteRT engine"][0][0]
    for name in rows:
        if name != "LiteRT engine":
            print(
                f"LiteRT is {rows[name][0][0] / lite_median:.1f}x faster per single image than {name}; "
                f"batch throughput ratio {rows['LiteRT engine'][1] / rows[name][1]:.2f}x"
            )

    end_to_end = timed(lambda: predictor.predict_file(paths[0]), 50)
    median, p95 = summary(end_to_end)
    print(
        f"end to end (read + decode + canonicalise + predict), one file: median {median:.1f} ms, p95 {p95:.1f} ms"
    )

    from artifact.inference.explain import occlusion_map, overlay_png

    image = Image.open(paths[0]).convert("RGB")
    heat = timed(lambda: overlay_png(image, occlusion_map(predictor, image)), 10)
    evaluations = occlusion_map(predictor, image).evaluations
    print(
        f"occlusion heatmap + PNG overlay ({evaluations} crops scored): median {statistics.median(heat) * 1e3:.0f} ms, max {max(heat) * 1e3:.0f} ms"
    )

    from artifact.scanning.local import scan_folder

    folder = Path(tempfile.mkdtemp())
    for i, path in enumerate(paths[: args.scan_images]):
        shutil.copy(path, folder / f"{i:04d}{Path(path).suffix}")
    report = folder / "report.csv"
    start = time.perf_counter()
    summary_ = scan_folder(folder, report, run, workers=2, progress=False)
    elapsed = time.perf_counter() - start
    print(
        f"artifact scan, {summary_.scanned} images, 2 workers: {summary_.scanned / elapsed:.1f} images/s ({elapsed:.1f} s)"
    )
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
