"""The built wheel holds everything the installed package reads, and works installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.api import image_bytes

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("artifact-*.whl")
    return built


def test_wheel_holds_the_model_the_web_page_and_the_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "artifact/models/default/model.tflite",
        "artifact/models/default/model.json",
        "artifact/models/default/report/metrics.json",
        "artifact/api/static/index.html",
        "artifact/api/static/app.js",
        "artifact/api/static/style.css",
        "artifact/storage/migrations/env.py",
        "artifact/storage/migrations/script.py.mako",
        "artifact/py.typed",
    ):
        assert required in names, required
    assert any(n.startswith("artifact/storage/migrations/versions/") and n.endswith(".py") for n in names)
    assert not any(n.endswith((".jpg", ".jpeg", ".webp")) for n in names), "no dataset images in the wheel"


def test_installed_copy_predicts_with_its_bundled_model(wheel, tmp_path):
    """Installed from the wheel (not editable) and run outside the source tree."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    image = tmp_path / "art.jpg"
    image.write_bytes(image_bytes(size=300))
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("ARTIFACT_MODEL_DIR", None)
    where = subprocess.run(
        [sys.executable, "-c", "import artifact, artifact.inference.engine as e; print(artifact.__file__); print(e.bundled_model_dir())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert all(Path(p).is_relative_to(target) for p in where), where
    result = subprocess.run(
        [sys.executable, "-m", "artifact", "predict", "--json", str(image)],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)[0]
    from tests.support.api import card_cut_points, expected_verdict

    # The verdict the installed copy's own card gives for the probability it returned.
    cuts = card_cut_points(target / "artifact" / "models" / "default")
    assert 0 <= row["prob_ai"] <= 1 and row["verdict"] == expected_verdict(row["prob_ai"], cuts)
