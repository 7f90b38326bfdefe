"""Metadata evidence: each generator's own tags, IPTC/XMP source types, camera EXIF, and silence."""

from __future__ import annotations

import io
import json
import zlib

import pytest
from PIL import Image

from artifact.provenance import apply_policy, collect_evidence
from artifact.provenance.evidence import Evidence
from artifact.provenance.png_text import read_png_text
from tests.support.api import png_chunk
from tests.support.art import A1111, picture, png

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
 Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/{value}"/>
</rdf:RDF></x:xmpmeta>"""


def jpeg(exif: Image.Exif | None = None, xmp: str | None = None) -> bytes:
    buffer = io.BytesIO()
    kwargs = {}
    if exif is not None:
        kwargs["exif"] = exif
    if xmp is not None:
        kwargs["xmp"] = xmp.encode()
    picture().save(buffer, "JPEG", **kwargs)
    return buffer.getvalue()


def kinds(data: bytes) -> list[tuple[str, str, str]]:
    return [(e.kind, e.strength, e.points_to) for e in collect_evidence(data)]


@pytest.mark.parametrize(
    "texts, generator",
    [
        ({"parameters": A1111}, "AUTOMATIC1111 / Stable Diffusion web UI"),
        ({"prompt": json.dumps({"3": {"class_type": "KSampler", "inputs": {}}})}, "ComfyUI"),
        ({"workflow": json.dumps({"nodes": [{"id": 1}], "links": []})}, "ComfyUI"),
        ({"invokeai_metadata": json.dumps({"positive_prompt": "x", "steps": 30})}, "InvokeAI"),
        ({"Dream": '"a cat" -s 50 -S 42'}, "InvokeAI"),
        ({"Software": "NovelAI", "Comment": json.dumps({"steps": 28, "sampler": "k_euler"})}, "NovelAI"),
        ({"Description": "a fox --ar 3:2 Job ID: 1b2c3d4e-1111-2222-3333-444455556666"}, "Midjourney"),
    ],
)
def test_each_generators_png_metadata_is_strong_ai_evidence(texts, generator):
    evidence = collect_evidence(png(**texts))
    assert [(e.kind, e.strength, e.points_to) for e in evidence] == [("generator_metadata", "strong", "ai")]
    assert evidence[0].details["generator"] == generator
    assert evidence[0].summary


def test_text_chunks_after_the_image_data_and_giant_compressed_chunks_are_read():
    data = png()
    iend = data.rindex(b"IEND") - 4
    text = A1111 + "\n" + "x" * 3_000_000  # expands far past Pillow's 1 MB text limit
    body = b"parameters\0\0" + zlib.compress(text.encode("latin-1"))
    late = data[:iend] + png_chunk(b"zTXt", body) + data[iend:]
    assert read_png_text(late)["parameters"].startswith("a castle")
    assert kinds(late) == [("generator_metadata", "strong", "ai")]


def test_a1111_parameters_in_jpeg_exif_user_comment():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + A1111.encode("utf-16-be")
    evidence = collect_evidence(jpeg(exif))
    assert [e.details["generator"] for e in evidence] == ["AUTOMATIC1111 / Stable Diffusion web UI"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("trainedAlgorithmicMedia", ("iptc_digital_source_type", "strong", "ai")),
        ("compositeWithTrainedAlgorithmicMedia", ("iptc_digital_source_type", "strong", "ai")),
        ("digitalCapture", ("iptc_digital_source_type", "weak", "human")),
    ],
)
def test_xmp_digital_source_type(value, expected):
    assert kinds(jpeg(xmp=XMP.format(value=value))) == [expected]


def test_camera_exif_is_weak_human_evidence():
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS R5"
    ifd = exif.get_ifd(0x8769)
    ifd[0x829A], ifd[0x829D], ifd[0x8827] = 1 / 250, 4.0, 200
    evidence = collect_evidence(jpeg(exif))
    assert [(e.kind, e.strength, e.points_to) for e in evidence] == [("camera_exif", "weak", "human")]
    assert "Canon EOS R5" in evidence[0].summary and "1/250 s" in evidence[0].summary


@pytest.mark.parametrize(
    "data", [png(), jpeg(), png(Title="My painting", Author="Ann"), b"not an image", b""]
)
def test_clean_or_broken_files_yield_no_evidence(data):
    assert collect_evidence(data) == []


def test_shared_art_dev_images_carry_no_false_metadata_claims():
    from tests.support.shared import shared_dataset

    root = shared_dataset("art-dev")
    files = sorted(root.rglob("*.jpg"))[:300]
    claims = [
        f
        for f in files
        if any(e.points_to == "ai" and e.strength == "strong" for e in collect_evidence(f.read_bytes()))
    ]
    assert claims == []


def test_policy_strong_ai_evidence_overrides_the_model():
    strong = Evidence("generator_metadata", "strong", "ai", "A1111 parameters")
    weak = Evidence("camera_exif", "weak", "human", "camera EXIF")
    decision = apply_policy("human", [weak, strong])
    assert decision.verdict == "ai" and decision.decided_by == "evidence" and "A1111" in decision.reason
    assert apply_policy("human", [weak]).verdict == "human"
    assert apply_policy("uncertain", []).decided_by == "model"


def test_inspect_cli_and_predict_report_evidence(tmp_path, capsys):
    from artifact.cli import main

    marked = tmp_path / "marked.png"
    marked.write_bytes(png(parameters=A1111))
    clean = tmp_path / "clean.png"
    clean.write_bytes(png())
    assert main(["inspect", "--json", str(marked), str(clean)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["evidence"][0]["kind"] == "generator_metadata" and rows[1]["evidence"] == []
    assert main(["inspect", str(marked)]) == 0
    assert "strong → ai" in capsys.readouterr().out


def test_a_text_chunk_bomb_is_read_only_up_to_the_total_cap():
    """Forty zTXt chunks of 16 MB of text each (640 MB once inflated), in a 0.7 MB file, placed
    after the image data where Pillow does not look: memory stays bounded and the evidence
    says the metadata was cut."""
    import tracemalloc

    from artifact.provenance.png_text import MAX_TOTAL_TEXT_BYTES

    data = png()
    iend = data.rindex(b"IEND") - 4
    bomb = zlib.compress(b"a" * (16 * 1024 * 1024), 9)
    chunks = b"".join(png_chunk(b"zTXt", f"k{i}".encode() + b"\0\0" + bomb) for i in range(40))
    hostile = data[:iend] + chunks + data[iend:]
    assert len(hostile) < 1_000_000
    tracemalloc.start()
    texts = read_png_text(hostile)
    evidence = collect_evidence(hostile)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert texts.truncated and sum(map(len, texts.values())) == MAX_TOTAL_TEXT_BYTES
    assert peak < 6 * MAX_TOTAL_TEXT_BYTES, f"peak {peak / 2**20:.0f} MB"
    notes = [e for e in evidence if e.kind == "metadata_truncated"]
    assert len(notes) == 1 and notes[0].strength == "info" and notes[0].points_to == "neither"
    assert apply_policy("human", evidence).verdict == "human"  # a note never decides


@pytest.mark.parametrize(
    "software",
    ["Imagenomic Portraiture 3.5", "Adobe Photoshop 25.0 (Windows)", "Canon EOS R5 Firmware 1.8",
     "Fluxus Paint 2", "GIMP 2.10.36", "Affinity Photo 2", "darktable 4.6", "Leonardo Scanner Suite",
     "Influx Editor", "Capture One 23 Flux"],
)  # fmt: skip
def test_ordinary_software_is_no_generator(software):
    from artifact.provenance.metadata import names_generator

    assert not names_generator(software)


@pytest.mark.parametrize(
    "software",
    ["Stable Diffusion XL", "Midjourney v6", "DALL·E 3", "DALL-E 2", "Adobe Firefly", "ComfyUI",
     "FLUX.1-dev", "Google Imagen 3", "Leonardo.Ai", "Fooocus 2.5"],
)  # fmt: skip
def test_generators_are_named_word_for_word(software):
    from artifact.provenance.metadata import names_generator

    assert names_generator(software)
