"""The native view: crops at the image's own scale, planned, bounded, aggregated by mean logit,
trained on scales drawn the same for both classes, served and explained through the same crops."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from artifact.inference.preprocess import (
    MAX_ASPECT,
    PreprocessConfig,
    aggregate,
    model_views,
    native_short_side,
    native_window,
    plan_crops,
    window_short_side,
)
from tests.support.art import TINY, make_art

NATIVE = PreprocessConfig(
    view="native", canonical_size=256, input_size=224, scale_range=(256, 512), max_crops=9
)


def _coverage(width: int, height: int, side: int, corners) -> np.ndarray:
    covered = np.zeros((height, width), dtype=bool)
    for y, x in corners:
        covered[y : y + side, x : x + side] = True
    return covered


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(224, 224, 1), (256, 256, 4), (512, 512, 9), (640, 480, 9), (300, 224, 2), (224, 600, 3)],
)
def test_crops_cover_the_whole_image_within_the_bound(width, height, expected):
    corners = plan_crops(width, height, 224, max_crops=9)
    assert len(corners) == expected
    assert _coverage(width, height, 224, corners).all()
    assert all(0 <= y <= height - 224 and 0 <= x <= width - 224 for y, x in corners)


@pytest.mark.parametrize(("width", "height"), [(4000, 4000), (512, 4096), (4096, 300), (1000, 999)])
def test_past_the_bound_crops_stay_evenly_spread_edge_to_edge(width, height):
    corners = plan_crops(width, height, 224, max_crops=9)
    assert len(corners) <= 9
    ys, xs = sorted({y for y, _ in corners}), sorted({x for _, x in corners})
    # The first and last rows and columns touch the image's edges: the spread spans all of it.
    assert ys[0] == 0 and ys[-1] == height - 224 if len(ys) > 1 else True
    assert xs[0] == 0 and xs[-1] == width - 224 if len(xs) > 1 else True
    assert len(corners) == len(ys) * len(xs)
    # A long strip spends its crops along its length.
    if width > 4 * height:
        assert len(xs) == 9 and len(ys) == 1


def test_an_image_smaller_than_a_crop_is_refused_by_the_planner():
    with pytest.raises(ValueError, match="smaller than one 224 px crop"):
        plan_crops(100, 300, 224, max_crops=9)


@pytest.mark.parametrize(
    ("size", "short", "views"),
    [
        ((64, 48), 256, 1 + 4),  # upscaled into the range: 256 x 341
        ((300, 300), 300, 1 + 4),  # its own scale
        ((512, 768), 512, 1 + 8),  # 3 x 4 capped: 2 x 4 covers as much as 3 x 3, with fewer
        ((2048, 2048), 512, 1 + 9),  # brought down to the range's top
        ((6000, 200), 256, 1 + 9),  # a strip past 8:1 is judged on its middle 8:1
    ],
)
def test_views_are_the_whole_plus_crops_at_the_served_scale(size, short, views):
    assert native_short_side(size, NATIVE) == short
    image = Image.new("RGB", size, (120, 80, 40))
    crops = model_views(image, NATIVE)
    assert crops.shape == (views, 224, 224, 3) and crops.dtype == np.float32


def test_the_native_crops_keep_fine_texture_the_canonical_view_erases():
    # A one-pixel checkerboard at 512 px: the native crops see it at full contrast, the whole
    # image shrunk to the canonical square blurs it to grey.
    y, x = np.mgrid[0:512, 0:512]
    image = Image.fromarray(np.where((x + y) % 2, 230, 25).astype(np.uint8)).convert("RGB")
    views = model_views(image, NATIVE)
    whole, crops = views[0], views[1:]
    assert crops.std() > 60
    assert whole.std() < crops.std() / 2


def test_views_are_aggregated_by_mean_logit():
    probs = np.array([[0.01, 0.99], [0.6, 0.4], [0.6, 0.4]], dtype=np.float32)
    logit = np.log(probs[:, 1] / probs[:, 0]).mean()
    expected_ai = 1 / (1 + np.exp(-logit))
    assert aggregate(probs, NATIVE)[1] == pytest.approx(expected_ai, abs=1e-6)
    # The canonical view keeps the mean probability its models were calibrated with.
    assert aggregate(probs, PreprocessConfig())[1] == pytest.approx(probs[:, 1].mean(), abs=1e-6)
    assert aggregate(probs, NATIVE)[1] > 0.6  # one sure crop outweighs two unsure ones


def test_training_scales_are_drawn_the_same_for_every_image_size():
    small = [window_short_side((224, 300), NATIVE, np.random.default_rng([7, i, 1])) for i in range(400)]
    large = [window_short_side((1024, 1536), NATIVE, np.random.default_rng([7, i, 1])) for i in range(400)]
    assert small == large  # the draw never looks at the image: resolution is no class trait
    assert min(small) <= 270 and max(small) >= 500 and all(256 <= s <= 512 for s in small)
    # Served (no rng): the image's own scale, brought into the range.
    assert window_short_side((1024, 1536), NATIVE, None) == 512
    assert window_short_side((300, 400), NATIVE, None) == 300


def test_the_training_window_is_a_canonical_square_at_the_drawn_scale():
    image = make_art("ai", 700, np.random.default_rng(0))
    rng = np.random.default_rng(3)
    window = native_window(image, NATIVE, rng)
    assert window.size == (256, 256)
    served = native_window(image, NATIVE, None)
    assert served.size == (256, 256)
    # The served window is the centre of the image at 512 px: the same pixels as cropping it.
    expected = image.resize((512, 512), Image.Resampling.BICUBIC).crop((128, 128, 384, 384))
    assert np.array_equal(np.asarray(served), np.asarray(expected))


def test_a_native_view_needs_a_consistent_range():
    with pytest.raises(ValueError, match="scale_range"):
        PreprocessConfig(view="native", canonical_size=320, input_size=224, scale_range=(256, 512))


def test_extreme_aspect_is_clipped_before_scaling():
    image = Image.new("RGB", (10, 4000))
    views = model_views(image, NATIVE)
    # 10 x 80 kept (8:1), upscaled to 256 x 2048: at most 9 crops, never a 256 x 102,400 strip.
    assert len(views) <= 1 + NATIVE.max_crops
    assert MAX_ASPECT == 8.0


# --- a tiny native-view model, trained, exported and served -------------------------------------


@pytest.fixture(scope="module")
def native_run(artbench_root, tmp_path_factory):
    from artifact.cli import main

    folder = tmp_path_factory.mktemp("native")
    recipe = folder / "native.toml"
    recipe.write_text(
        '[preprocess]\nview = "native"\ncanonical_size = 48\nscale_range = [48, 96]\n'
        'input_size = 40\ncrop_mode = "five"\nmax_crops = 4\n'
    )
    out = folder / "run"
    args = ["train", "--data", str(artbench_root), "--out", str(out), "--epochs", "6", "--recipe", str(recipe)]
    assert main([*args, *TINY]) == 0
    return out


def test_a_native_run_records_its_view_and_serves_through_it(native_run):
    card = json.loads((native_run / "model.json").read_text())
    assert card["preprocess"]["view"] == "native"
    assert card["preprocess"]["scale_range"] == [48, 96]
    config = json.loads((native_run / "config.json").read_text())["config"]
    assert config["preprocess"]["view"] == "native"


def test_served_probability_is_the_mean_logit_of_litert_over_the_planned_views(native_run):
    from artifact.inference.engine import Predictor
    from artifact.inference.litert import LiteRTModel

    predictor = Predictor(native_run)
    config = predictor.card.preprocess
    interpreter = LiteRTModel(native_run / "model.tflite")
    image = make_art("ai", 150, np.random.default_rng(5))
    views = model_views(image, config)
    assert len(views) == 1 + 4  # brought down to 96 px: a 3 x 3 grid, capped at 4 crops (2 x 2)
    probs = interpreter.predict(views)
    logit = np.log(np.clip(probs[:, 1], 1e-7, 1) / np.clip(probs[:, 0], 1e-7, 1)).mean()
    prediction = predictor.predict_images([image], ["x"])[0]
    assert prediction.score == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-5)
    assert prediction.verdict == predictor.card.rule.decide(prediction.score)[1]


def test_keras_and_litert_agree_on_native_views_within_1e4(native_run):
    import keras

    from artifact.inference.engine import Predictor
    from artifact.training.keras_predict import predict_images

    model = keras.saving.load_model(native_run / "model.keras", compile=False)
    predictor = Predictor(native_run)
    rng = np.random.default_rng(11)
    images = [make_art(kind, size, rng) for kind, size in (("ai", 64), ("human", 200), ("ai", 97))]
    keras_probs = predict_images(model, images, predictor.card.preprocess)
    litert_probs = predictor.probabilities(images)
    assert np.abs(keras_probs - litert_probs).max() < 1e-4


def test_the_report_measures_what_the_native_engine_serves(native_run):
    import csv

    from artifact.inference.engine import Predictor

    predictor = Predictor(native_run)
    with (native_run / "report" / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))[:12]
    for row in rows:
        served = predictor.predict_file(row["path"])
        assert float(row["score"]) == pytest.approx(served.score, abs=1e-4)
        assert row["verdict"] == served.verdict


def test_the_native_heatmap_covers_the_whole_image_within_the_bound(native_run):
    from artifact.inference.engine import Predictor
    from artifact.inference.explain import occlusion_map, overlay_png

    predictor = Predictor(native_run)
    image = make_art("ai", 120, np.random.default_rng(2)).resize((240, 120))
    heatmap = occlusion_map(predictor, image, max_evaluations=192)
    assert heatmap.whole_image
    assert heatmap.evaluations <= 192
    assert heatmap.sensitivity.shape[0] >= 2
    overlay = Image.open(__import__("io").BytesIO(overlay_png(image, heatmap)))
    assert overlay.size == (240, 120)  # all of the image, not its centre square
