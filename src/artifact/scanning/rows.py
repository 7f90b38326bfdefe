"""A scan's row: the one schema every output (CSV, JSON, HTML, Parquet) and ``artifact predict``
share, and how one file becomes one."""

from __future__ import annotations

import hashlib
import os

from artifact.inference.decode import ImageDecodeError, decode_upload, read_limited_bytes
from artifact.provenance import apply_policy, collect_evidence

# Column -> its Parquet (pyarrow) type; the order is the reports' column order.
ROW_SCHEMA: dict[str, str] = {
    "path": "string",
    "verdict": "string",
    "model_verdict": "string",
    "verdict_reason": "string",
    "prob_ai": "float64",
    "score": "float64",
    "sha256": "string",
    "width": "int64",
    "height": "int64",
    "evidence": "string",  # JSON text in flat formats, a list in JSON
    "error": "string",
    "error_code": "string",
}
COLUMNS = tuple(ROW_SCHEMA)


def printable_path(path: str) -> str:
    """A file name as text every report format can hold: bytes that are not UTF-8 (a Linux
    name may be any bytes) become ``\\xNN`` escapes; valid names are unchanged."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def error_row(path: str, message: str, code: str) -> dict:
    return {"path": printable_path(path), "error": message, "error_code": code}


def analyse_path(predictor, path: str, thumbnails: bool) -> dict:
    """One report row: verdict, probability and evidence, or the error that stopped it."""
    try:
        data = read_limited_bytes(path)
    except ImageDecodeError as exc:
        return error_row(path, exc.message, exc.code)
    row = analyse_bytes(predictor, path, data)
    if thumbnails and not row.get("error"):
        from artifact.scanning.reports import thumbnail_data_uri

        row["thumbnail"] = thumbnail_data_uri(path)
    return row


def analyse_bytes(predictor, path: str, data: bytes) -> dict:
    """The row for one file's bytes (read from a folder or an object store)."""
    try:
        decoded = decode_upload(data)
        result = predictor.predict_images([decoded.image], [hashlib.sha256(data).hexdigest()])[0]
    except ImageDecodeError as exc:
        return error_row(path, exc.message, exc.code)
    evidence = collect_evidence(data, _trust_anchors(), image=decoded.image)
    decision = apply_policy(result.verdict, evidence)
    row = {
        "path": printable_path(path),
        "verdict": decision.verdict or result.label,
        "model_verdict": result.verdict,
        "prob_ai": result.prob_ai,
        "score": result.score,
        "sha256": result.sha256,
        "width": result.width,
        "height": result.height,
        "evidence": [e.to_dict() for e in evidence],
    }
    if decision.decided_by == "evidence":
        row["verdict_reason"] = decision.reason
    return row


def model_header(model_dir) -> dict:
    """What a report says about the model that decided: name, digest and cut points."""
    from datetime import UTC, datetime

    from artifact.inference.card import ModelCard
    from artifact.inference.engine import resolve_model_dir

    card = ModelCard.read(resolve_model_dir(model_dir) / "model.json")
    rule = card.rule if card.detects_ai else None
    return {
        "model": card.name,
        "sha256": card.sha256,
        "cut_points": {"human": rule.human_cut, "ai": rule.ai_cut} if rule else None,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _trust_anchors() -> str | None:
    from artifact.config import get_settings

    return get_settings().c2pa_trust_anchors_pem()
