"""Synthetic artworks and tiny datasets in the real layouts.

The synthetic images carry a learnable texture signal (AI images have diagonal stripes, human
ones smooth gradients) and, like AI-ArtBench, a size/compression shortcut (Stable Diffusion
images larger and more compressed) that the pipeline must neutralise.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

# A tiny model: trains in seconds on the fixtures, still a real CNN and a real export.
TINY = ["--architecture", "small_cnn", "--image-size", "40", "--canonical-size", "48", "--width", "8", "--depth", "2",
        "--batch-size", "16", "--robustness-limit", "30"]  # fmt: skip

STYLES = (
    "art_nouveau", "baroque", "expressionism", "impressionism", "post_impressionism",
    "realism", "renaissance", "romanticism", "surrealism", "ukiyo_e",
)  # fmt: skip


def make_art(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    """A synthetic 'artwork': smooth colour field, plus stripes for AI images."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(40, 200, 3)
    slope = rng.uniform(-60, 60, (2, 3))
    image = base + x[..., None] * slope[0] + y[..., None] * slope[1]
    image += rng.normal(0, 4, image.shape)
    if kind != "human":
        period = size / rng.uniform(5, 7)
        phase = rng.uniform(0, 2 * np.pi)
        stripes = 28 * np.sin(2 * np.pi * (x + y) * size / period + phase)
        image += stripes[..., None]
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def save_art(path: Path, kind: str, size: int, quality: int, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_art(kind, size, rng).save(path, format="JPEG", quality=quality)


def build_artbench(root: Path, per_folder: dict[str, int], seed: int = 0) -> Path:
    """AI-ArtBench's exact layout: train/ and test/, 30 folders each, under one extra level."""
    rng = np.random.default_rng(seed)
    base = root / "Real_AI_SD_LD_Dataset"
    for split, count in per_folder.items():
        for style in STYLES:
            ai_style = style.replace("ukiyo_e", "ukiyo-e")
            folders = {
                style: ("human", 64, 95),
                f"AI_LD_{ai_style}": ("ld", 64, 95),
                f"AI_SD_{ai_style}": ("sd", 96, 75),
            }
            for folder, (kind, size, quality) in folders.items():
                for i in range(count):
                    save_art(base / split / folder / f"{i}.jpg", kind, size, quality, rng)
    return root


def build_manifest(root: Path, per_generator: int = 12, seed: int = 1) -> Path:
    """A ``labels.csv`` dataset as in ../shared/data (human vs two generators)."""
    rng = np.random.default_rng(seed)
    rows = []
    for generator in ("human", "dalle", "midjourney"):
        for i in range(per_generator):
            label = "human" if generator == "human" else "ai"
            rel = f"{label}/{generator}/img_{i:03d}.jpg"
            save_art(root / rel, generator, 64, 90, rng)
            rows.append(
                {
                    "path": rel,
                    "label": label,
                    "generator": generator,
                    "style": STYLES[i % 10],
                    "category": "x",
                }
            )
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def build_folders(root: Path, per_class: int = 10, seed: int = 2) -> Path:
    """Folder-per-class: human/ flat, ai/ with one sub-folder per generator."""
    rng = np.random.default_rng(seed)
    for i in range(per_class):
        save_art(root / "human" / f"h{i}.jpg", "human", 64, 90, rng)
        save_art(root / "ai" / ("gen_a" if i % 2 else "gen_b") / f"a{i}.png", "ai", 64, 90, rng)
    return root


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def gradient(size=(40, 30), mode="RGB") -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    rgb = np.stack(
        np.broadcast_arrays(x[None, :], x[::-1][None, :], np.full((size[1], 1), 128, np.uint8)), -1
    )
    return Image.fromarray(np.ascontiguousarray(rgb.astype(np.uint8))).convert(mode)


A1111 = "a castle at dawn, oil painting\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512"


def picture() -> Image.Image:
    return Image.new("RGB", (32, 32), (120, 80, 40))


def png(**texts: str) -> bytes:
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    picture().save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def build_multi_source_manifest(root: Path, per_source: int = 14) -> Path:
    """Three human and two AI sources, each with its own size and format, as in the wide set."""
    rng = np.random.default_rng(3)
    rows = []
    spec = {("human", "wiki", 40, "JPEG"), ("human", "anime", 56, "PNG"), ("human", "photos", 64, "JPEG"),
            ("ai", "sd", 64, "PNG"), ("ai", "flux", 48, "JPEG")}  # fmt: skip
    for label, source, size, fmt in sorted(spec):
        for i in range(per_source):
            rel = f"{source}/{i}.{fmt.lower()}"
            (root / source).mkdir(parents=True, exist_ok=True)
            make_art(label, size, rng).save(root / rel, format=fmt)
            rows.append({"path": rel, "label": label, "generator": source if label == "ai" else "human",
                         "style": "", "category": source})  # fmt: skip
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root
