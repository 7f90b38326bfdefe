import io

import numpy as np
import pytest
from PIL import Image

from artifact.data.audit import audit, estimate_jpeg_quality
from artifact.data.canonical import canonicalize_files
from artifact.data.layouts import load_dataset
from artifact.inference.preprocess import PreprocessConfig, canonicalize, crop_boxes, prediction_crops
from tests.support.art import make_art


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95])
def test_jpeg_quality_estimate_recovers_the_encoder_setting(quality):
    buffer = io.BytesIO()
    make_art("human", 64, np.random.default_rng(0)).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    assert estimate_jpeg_quality(Image.open(buffer)) == quality


def test_canonicalisation_gives_one_size_whatever_the_source():
    config = PreprocessConfig(canonical_size=48, input_size=40)
    rng = np.random.default_rng(0)
    for size in [(30, 20), (64, 64), (300, 120)]:
        out = canonicalize(make_art("ai", 64, rng).resize(size), config)
        assert out.shape == (48, 48, 3) and out.dtype == np.uint8


def test_prediction_crops_centre_and_five():
    canonical = np.arange(48 * 48 * 3, dtype=np.uint8).reshape(48, 48, 3)
    center = PreprocessConfig(canonical_size=48, input_size=40, crop_mode="center")
    five = center.model_copy(update={"crop_mode": "five"})
    assert prediction_crops(canonical, center).shape == (1, 40, 40, 3)
    crops = prediction_crops(canonical, five)
    assert crops.shape == (5, 40, 40, 3)
    np.testing.assert_array_equal(crops[1], canonical[:40, :40])
    np.testing.assert_array_equal(crops[4], canonical[8:, 8:])


def test_unreadable_images_are_skipped_and_reported(tmp_path):
    good = tmp_path / "good.jpg"
    make_art("human", 64, np.random.default_rng(0)).save(good)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:300])
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    config = PreprocessConfig(canonical_size=32, input_size=32)
    result = canonicalize_files([str(truncated), str(good), str(fake)], config)
    assert result.kept == [1]
    assert result.pixels.shape == (1, 32, 32, 3)
    assert sorted(p for p, _ in result.errors) == sorted([str(fake), str(truncated)])


def test_audit_flags_size_and_quality_shortcut_and_canonicalisation_removes_it(artbench_root):
    samples = load_dataset(artbench_root).samples
    # Stable Diffusion vs human: 96 px q75 vs 64 px q95, the AI-ArtBench trap in miniature.
    picked = [s for s in samples if s.generator in ("human", "stable_diffusion")]
    groups = [s.generator for s in picked]
    raw = audit(picked, groups)
    assert raw["shortcuts"]["width"]["shortcut"]
    assert raw["shortcuts"]["jpeg_quality"]["shortcut"]
    assert raw["per_class"]["stable_diffusion"]["jpeg_quality"]["median"] == 75
    canonical = audit(picked, groups, canonical=PreprocessConfig(canonical_size=48, input_size=40))
    for name in ("width", "height", "pixels", "jpeg_quality", "format"):
        assert not canonical["shortcuts"][name]["shortcut"], name
    assert canonical["per_class"]["human"]["width"]["median"] == 48


def test_grid_crops_tile_the_whole_image():
    config = PreprocessConfig(canonical_size=100, input_size=32, crop_mode="grid")
    boxes = crop_boxes(config)
    assert len(boxes) == 16
    assert {y for y, _ in boxes} == {0, 23, 45, 68}
    covered = np.zeros((100, 100), bool)
    for y, x in boxes:
        covered[y : y + 32, x : x + 32] = True
    assert covered.all()
