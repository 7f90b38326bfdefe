"""Occlusion heatmaps with the LiteRT model: faithful to the model, bounded in cost."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from artifact.cli import main
from artifact.data.samples import read_samples
from artifact.inference.engine import Predictor
from artifact.inference.explain import occlusion_map, overlay_png
from artifact.inference.preprocess import crop_boxes
from tests.support.api import assert_error, image_bytes, register, upload

pytestmark = pytest.mark.slow


def test_occlusion_measures_the_models_own_response(artbench_run):
    predictor = Predictor(artbench_run)
    path = next(s.path for s in read_samples(artbench_run / "splits/test.csv") if s.label == "ai")
    image = Image.open(path).convert("RGB")
    heatmap = occlusion_map(predictor, image, max_evaluations=64)
    crops = len(crop_boxes(predictor.card.preprocess))
    cells = max(4, int(np.sqrt(64 / crops)))
    assert heatmap.sensitivity.shape == (cells, cells)
    assert heatmap.evaluations <= (cells * cells + 1) * crops <= 64 + 5 * crops
    assert heatmap.prob_ai == pytest.approx(predictor.probabilities([image])[0][1], abs=1e-5)
    # Some cell must matter to the model (a constant map would explain nothing).
    assert np.abs(heatmap.sensitivity).max() > 0
    png = overlay_png(image, heatmap)
    overlay = Image.open(io.BytesIO(png))
    assert overlay.format == "PNG" and overlay.size[0] == overlay.size[1]


def test_the_map_is_every_occlusion_scored_whole_though_only_the_crops_it_reaches_are(artbench_run):
    from artifact.inference.preprocess import canonicalize, prediction_crops

    predictor = Predictor(artbench_run)
    config = predictor.card.preprocess
    # The test image the model is least sure of: its map has cells that matter.
    images = [Image.open(s.path).convert("RGB") for s in read_samples(artbench_run / "splits/test.csv")]
    image = images[int(np.argmin(np.abs(predictor.probabilities(images)[:, 1] - 0.5)))]
    heatmap = occlusion_map(predictor, image, max_evaluations=192)
    assert np.abs(heatmap.sensitivity).max() > 0.05
    # The reference: the whole canonical image greyed cell by cell, all five crops scored.
    canonical = canonicalize(image, config).astype(np.float32)
    cells = heatmap.sensitivity.shape[0]
    edges = np.linspace(0, config.canonical_size, cells + 1).round().astype(int)
    side, reached = config.input_size, 0
    expected = np.empty((cells, cells))
    for i in range(cells):
        for j in range(cells):
            copy = canonical.copy()
            copy[edges[i] : edges[i + 1], edges[j] : edges[j + 1]] = 127.0
            expected[i, j] = (1.0 - predictor.model.predict(prediction_crops(copy, config))[:, 0]).mean()
            mask = np.zeros(canonical.shape[:2], bool)
            mask[edges[i] : edges[i + 1], edges[j] : edges[j + 1]] = True
            reached += sum(mask[y : y + side, x : x + side].any() for y, x in crop_boxes(config))
    np.testing.assert_allclose(heatmap.sensitivity, heatmap.prob_ai - expected, atol=1e-5)
    crops = len(crop_boxes(config))
    assert heatmap.evaluations == crops + reached < (cells * cells + 1) * crops  # work was saved


def test_explain_cli_writes_a_png(artbench_run, tmp_path, capsys):
    path = read_samples(artbench_run / "splits/test.csv")[0].path
    out = tmp_path / "heat.png"
    assert main(["explain", path, "--out", str(out), "--model", str(artbench_run)]) == 0
    assert Image.open(out).format == "PNG"
    assert "occlusion heatmap" in capsys.readouterr().out
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    assert main(["explain", str(bad), "--out", str(out), "--model", str(artbench_run)]) == 2


def test_heatmap_endpoint(client):
    headers = register(client, "ann")
    analysis = upload(client, headers).json()
    response = client.get(f"/v1/analyses/{analysis['id']}/heatmap", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).format == "PNG"
    assert_error(client.get(f"/v1/analyses/{analysis['id']}/heatmap", headers=register(client, "bob")), 404)


def test_heatmaps_are_computed_once_per_image_and_model(client, monkeypatch):
    import artifact.inference.explain as explain

    calls = []
    real = explain.occlusion_map
    monkeypatch.setattr(explain, "occlusion_map", lambda *a, **k: calls.append(1) or real(*a, **k))
    headers = register(client, "cached")
    first = upload(client, headers, image_bytes(size=200, seed=77)).json()
    again = upload(client, headers, image_bytes(size=200, seed=77)).json()  # the same bytes
    pngs = [
        client.get(f"/v1/analyses/{a['id']}/heatmap", headers=headers).content for a in (first, again, first)
    ]
    assert len(calls) == 1 and pngs[0] == pngs[1] == pngs[2] and pngs[0].startswith(b"\x89PNG")


def test_concurrent_heatmap_misses_compute_once_and_the_cache_is_bounded(tmp_path):
    import threading
    import time

    from artifact.inference.heatmap_cache import HeatmapCache

    cache = HeatmapCache(tmp_path / "heat", max_bytes=3000)
    calls = []

    def make() -> bytes:
        calls.append(1)
        time.sleep(0.3)
        return b"p" * 1000

    threads = [threading.Thread(target=cache.get_or_make, args=("m" * 64, "a" * 64, make)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1  # six simultaneous misses, one computation
    for name in "bcde":  # 1,000 bytes each against a 3,000-byte bound
        time.sleep(0.02)
        cache.get_or_make("m" * 64, name * 64, lambda: b"q" * 1000)
    kept = sorted(p.stem[0] for p in (tmp_path / "heat").glob("*/*.png"))
    assert kept == ["c", "d", "e"]  # least recently used out first


def test_a_heatmap_scores_occlusions_in_bounded_batches(artbench_run, monkeypatch):
    from artifact.inference import explain

    predictor = Predictor(artbench_run)
    sizes = []
    real = predictor.model.predict
    monkeypatch.setattr(
        predictor.model, "predict", lambda batch, *a, **k: sizes.append(len(batch)) or real(batch, *a, **k)
    )
    image = Image.new("RGB", (300, 200), (90, 120, 30))
    explain.occlusion_map(predictor, image, max_evaluations=192)
    assert max(sizes) <= explain.OCCLUSION_BATCH_CROPS + 5 and sum(sizes) > 100
