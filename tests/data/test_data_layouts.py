from pathlib import Path

import pytest

from artifact.data.layouts import DatasetError, detect_layout, load_dataset
from artifact.data.samples import STYLES
from tests.support.art import build_artbench


def test_artbench_layout_is_detected_one_level_down_with_both_spellings(artbench_root):
    data = load_dataset(artbench_root)
    assert data.layout == "artbench"
    assert data.has_official_test
    by_split = {s: [x for x in data.samples if x.official_split == s] for s in ("train", "test")}
    assert len(by_split["train"]) == 30 * 8 and len(by_split["test"]) == 30 * 2
    # ukiyo-e (AI folders) and ukiyo_e (human folder) become one style.
    ukiyo = {(s.generator, s.label) for s in data.samples if s.style == "ukiyo_e"}
    assert ukiyo == {("human", "human"), ("latent_diffusion", "ai"), ("stable_diffusion", "ai")}
    assert {s.style for s in data.samples} == set(STYLES)


def test_artbench_layout_at_root_itself(artbench_root):
    inner = artbench_root / "Real_AI_SD_LD_Dataset"
    assert detect_layout(inner) == "artbench"
    assert len(load_dataset(inner).samples) == 300


def test_artbench_missing_folder_is_a_clear_error(tmp_path):
    root = build_artbench(tmp_path, {"train": 1, "test": 1})
    victim = root / "Real_AI_SD_LD_Dataset" / "test" / "AI_SD_baroque"
    for file in victim.iterdir():
        file.unlink()
    victim.rmdir()
    with pytest.raises(DatasetError, match=r"test/ lacks 1 of its 30 folders: AI_SD_baroque"):
        load_dataset(root)


def test_manifest_layout_reads_paths_relative_to_the_csv(manifest_root):
    data = load_dataset(manifest_root)
    assert data.layout == "manifest"
    assert len(data.samples) == 36
    assert all(Path(s.path).is_file() for s in data.samples)
    assert {s.generator for s in data.samples} == {"human", "dalle", "midjourney"}
    assert not data.has_official_test


def test_manifest_without_label_column_is_refused(tmp_path):
    (tmp_path / "labels.csv").write_text("path,kind\na.jpg,ai\n")
    with pytest.raises(DatasetError, match="needs the columns path,label"):
        load_dataset(tmp_path)


def test_folder_per_class_takes_subfolders_as_generators(folders_root):
    data = load_dataset(folders_root)
    assert data.layout == "folders"
    assert {(s.label, s.generator) for s in data.samples} == {
        ("human", "human"),
        ("ai", "gen_a"),
        ("ai", "gen_b"),
    }


def test_missing_path_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "human").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        load_dataset(tmp_path)


def test_forced_layout_overrides_detection(manifest_root):
    data = load_dataset(manifest_root, layout="folders")
    assert data.layout == "folders"
    assert {s.label for s in data.samples} == {"human", "ai"}
