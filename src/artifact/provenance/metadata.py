"""Generator metadata, IPTC/XMP digital source types and camera EXIF.

What each tool writes (see FACTS.md): AUTOMATIC1111 a PNG text ``parameters`` (EXIF
UserComment in JPEG/WebP); ComfyUI ``prompt`` and ``workflow``; InvokeAI
``invokeai_metadata`` (older ``Dream``, ``sd-metadata``); NovelAI ``Software``=NovelAI and a
``Comment`` JSON; Midjourney a ``Description`` with a ``Job ID``; IPTC's DigitalSourceType in XMP.
"""

from __future__ import annotations

import io
import json
import re
import warnings

from PIL import Image

from artifact.provenance.evidence import Evidence
from artifact.provenance.png_text import MAX_TOTAL_TEXT_BYTES, read_png_text

EXIF_IFD = 0x8769
TAG_IMAGE_DESCRIPTION, TAG_MAKE, TAG_MODEL, TAG_SOFTWARE = 0x010E, 0x010F, 0x0110, 0x0131
TAG_EXPOSURE_TIME, TAG_F_NUMBER, TAG_ISO, TAG_USER_COMMENT = 0x829A, 0x829D, 0x8827, 0x9286
# Generators as whole-word sequences of a ``Software`` value (see :func:`_words`): a substring
# match made "Imagenomic" Imagen and any product with "flux" in its name FLUX.
GENERATOR_SOFTWARE = (
    ("stable", "diffusion"), ("midjourney",), ("dall", "e"), ("adobe", "firefly"), ("novelai",),
    ("comfyui",), ("invokeai",), ("imagen",), ("leonardo", "ai"), ("automatic1111",), ("fooocus",),
    ("flux", "1"), ("flux", "dev"), ("flux", "schnell"), ("black", "forest", "labs"),
)  # fmt: skip
AI_SOURCE_TYPES = {
    "trainedalgorithmicmedia": ("strong", "created by a generative AI model"),
    "compositewithtrainedalgorithmicmedia": ("strong", "a composite that includes generative AI output"),
    "algorithmicmedia": ("moderate", "created by an algorithm without a camera"),
    "compositesynthetic": ("moderate", "a composite including synthetic elements"),
}
HUMAN_SOURCE_TYPES = {"digitalcapture", "negativefilm", "positivefilm", "print", "minorhumanedits",
                      "humanedits", "digitalart", "virtualrecording", "compositecapture"}  # fmt: skip
_SOURCE_TYPE = re.compile(
    r"digitalsourcetype[\"'>=\s]*(?:[^\"'<>]*?/digitalsourcetype/)?(\w+)", re.IGNORECASE
)
SNIPPET = 160


def metadata_evidence(data: bytes) -> list[Evidence]:
    """Every metadata-based piece of evidence in the file (never raises)."""
    texts = read_png_text(data)
    info, exif = _pillow_metadata(data)
    for key in ("Software", "Comment", "Description", "parameters", "Source", "Title"):
        if key in info and isinstance(info[key], str):
            texts.setdefault(key, info[key])
    user_comment = _decode_user_comment(exif.get("user_comment"))
    if user_comment:
        texts.setdefault("parameters", user_comment)
    if exif.get("description"):
        texts.setdefault("Description", exif["description"])
    if exif.get("software"):
        texts.setdefault("Software", exif["software"])
    found = _generator_evidence(texts)
    xmp = info.get("xmp") or texts.get("XML:com.adobe.xmp") or ""
    found.extend(_source_type_evidence(xmp))
    if texts.truncated:
        found.append(
            Evidence(
                "metadata_truncated",
                "info",
                "neither",
                f"the file's text metadata exceeds {MAX_TOTAL_TEXT_BYTES // 2**20} MB once decompressed; "
                "only the first part was read",
                {"limit_bytes": MAX_TOTAL_TEXT_BYTES},
            )  # fmt: skip
        )
    camera = _camera_evidence(exif)
    if camera:
        found.append(camera)
    return found


def _generator_evidence(texts: dict[str, str]) -> list[Evidence]:
    found: list[Evidence] = []

    def add(generator: str, key: str, summary: str) -> None:
        value = texts.get(key, "")
        details = {"generator": generator, "field": key, "value": value[:4000], "length": len(value)}
        found.append(Evidence("generator_metadata", "strong", "ai", summary, details))

    params = texts.get("parameters", "")
    if "Steps:" in params and ("Sampler:" in params or "CFG scale:" in params or "Seed:" in params):
        prompt = params.split("\n")[0][:SNIPPET]
        add("AUTOMATIC1111 / Stable Diffusion web UI", "parameters",
            f"Stable Diffusion web UI generation parameters (prompt: “{prompt}”)")  # fmt: skip
    if _json_with(texts.get("prompt"), "class_type") or _json_with(texts.get("workflow"), "nodes"):
        add("ComfyUI", "prompt" if "prompt" in texts else "workflow", "ComfyUI workflow embedded in the file")
    for key in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream"):
        if texts.get(key):
            add("InvokeAI", key, f"InvokeAI generation metadata ({key})")
            break
    software = texts.get("Software", "")
    comment = texts.get("Comment", "")
    if software.strip().lower().startswith("novelai") or _json_with(comment, "sampler"):
        add("NovelAI", "Comment" if comment else "Software", "NovelAI generation metadata")
    description = texts.get("Description", "")
    if re.search(r"Job ID:\s*[0-9a-f-]{8,}", description, re.IGNORECASE):
        add("Midjourney", "Description", f"Midjourney job description (“{description[:SNIPPET]}”)")
    named = names_generator(software)
    if named and not any(e.details["generator"] == "NovelAI" for e in found):
        add(software.strip()[:80], "Software", f"made with generative software “{software.strip()[:80]}”")
    return found


def names_generator(software: str) -> bool:
    """True when ``software`` names a generator of :data:`GENERATOR_SOFTWARE`, word for word."""
    words = _words(software)
    return any(
        tuple(words[i : i + len(name)]) == name
        for name in GENERATOR_SOFTWARE
        for i in range(len(words) - len(name) + 1)
    )


def _words(text: str) -> list[str]:
    """Lower-case runs of letters and digits: "DALL·E 3" -> ["dall", "e", "3"]."""
    return re.findall(r"[^\W_]+", text.lower())


def _source_type_evidence(xmp: str | bytes) -> list[Evidence]:
    if isinstance(xmp, bytes):
        xmp = xmp.decode("utf-8", errors="replace")
    found = []
    for value in dict.fromkeys(m.group(1) for m in _SOURCE_TYPE.finditer(xmp)):
        key = value.lower()
        details = {"value": value}
        if key in AI_SOURCE_TYPES:
            strength, meaning = AI_SOURCE_TYPES[key]
            summary = f"IPTC digital source type “{value}”: {meaning}"
            found.append(Evidence("iptc_digital_source_type", strength, "ai", summary, details))
        elif key in HUMAN_SOURCE_TYPES:
            summary = f"IPTC digital source type “{value}” (a claim anyone can write)"
            found.append(Evidence("iptc_digital_source_type", "weak", "human", summary, details))
    return found


def _camera_evidence(exif: dict) -> Evidence | None:
    make, model = exif.get("make", "").strip(), exif.get("model", "").strip()
    if not (make or model):
        return None
    exposure = [part for part in (exif.get("exposure"), exif.get("f_number"), exif.get("iso")) if part]
    if not exposure:
        return None
    camera = f"{make} {model}".strip()
    return Evidence(
        "camera_exif", "weak", "human",
        f"camera EXIF: {camera}, {', '.join(exposure)} (easily forged)",
        {"make": make, "model": model, "exposure": exposure},
    )  # fmt: skip


def _pillow_metadata(data: bytes) -> tuple[dict, dict]:
    """Pillow's ``info`` and the EXIF fields we use; empty dicts on any failure."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            info = dict(image.info)
            # Pillow's PNG getexif() decodes every pixel to look for an eXIf chunk after the
            # image data; the upload is decoded once, elsewhere, so only a leading one is read.
            exif_data = image.getexif() if image.format != "PNG" or "exif" in info else Image.Exif()
            exif_ifd = exif_data.get_ifd(EXIF_IFD)
    except Exception:  # noqa: BLE001 - metadata is optional; the decoder judges the file
        return {}, {}
    exposure_time = exif_ifd.get(TAG_EXPOSURE_TIME)
    f_number = exif_ifd.get(TAG_F_NUMBER)
    iso = exif_ifd.get(TAG_ISO)
    exif = {
        "make": _text(exif_data.get(TAG_MAKE)),
        "model": _text(exif_data.get(TAG_MODEL)),
        "software": _text(exif_data.get(TAG_SOFTWARE)),
        "description": _text(exif_data.get(TAG_IMAGE_DESCRIPTION)),
        "user_comment": exif_ifd.get(TAG_USER_COMMENT),
        "exposure": _exposure(exposure_time),
        "f_number": f"f/{float(f_number):g}" if _is_number(f_number) else "",
        "iso": f"ISO {iso}" if iso else "",
    }
    return info, exif


def _decode_user_comment(value) -> str:
    """EXIF UserComment: an 8-byte charset header, then the text (A1111 writes UNICODE)."""
    if not value:
        return ""
    if isinstance(value, str):
        return value
    header, body = bytes(value[:8]), bytes(value[8:])
    if header.startswith(b"UNICODE"):
        candidates = [body.decode("utf-16-be", errors="replace"), body.decode("utf-16-le", errors="replace")]
        return max(candidates, key=lambda text: sum(32 <= ord(c) < 127 for c in text)).rstrip("\0")
    return body.decode("utf-8", errors="replace").rstrip("\0")


def _json_with(text: str | None, key: str) -> bool:
    if not text or key not in text:
        return False
    try:
        return key in json.dumps(json.loads(text))
    except (ValueError, RecursionError):
        return False


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").rstrip("\0")
    return str(value).rstrip("\0") if value else ""


def _is_number(value) -> bool:
    try:
        return value is not None and float(value) > 0
    except (TypeError, ValueError, ZeroDivisionError):
        return False


def _exposure(value) -> str:
    if not _is_number(value):
        return ""
    seconds = float(value)
    return f"1/{round(1 / seconds)} s" if seconds < 1 else f"{seconds:g} s"
