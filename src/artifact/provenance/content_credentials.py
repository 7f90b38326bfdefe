"""C2PA Content Credentials, read with c2pa-python, offline.

Every manifest in the store is read, not only the active one: ChatGPT images put the AI
claim in an ingredient's manifest. Integrity is judged by the validation codes (a data-hash
mismatch means the pixels changed after signing), not by the overall state, which also turns
"Invalid" for untrusted or expired certificates. Remote manifests are never fetched.
"""

from __future__ import annotations

import io
import json
import logging

from artifact.provenance.evidence import Evidence

log = logging.getLogger(__name__)
AI_SOURCE_TYPES = ("trainedalgorithmicmedia", "compositewithtrainedalgorithmicmedia")
CAPTURE_SOURCE_TYPES = ("digitalcapture",)
MIME_BY_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
ALTERED_CODES = ("assertion.dataHash.mismatch", "assertion.boxesHash.mismatch", "assertion.bmffHash.mismatch")


def content_credentials_evidence(data: bytes, trust_anchors_pem: str | None = None) -> list[Evidence]:
    """Evidence from the C2PA manifests embedded in ``data`` (never raises, never goes online)."""
    mime = _mime_of(data)
    # JUMBF superboxes are labelled "c2pa": without that marker there is nothing to read.
    if mime is None or b"c2pa" not in data:
        return []
    import c2pa

    settings: dict = {"verify": {"remote_manifest_fetch": False}}
    if trust_anchors_pem:
        settings["trust"] = {"user_anchors": trust_anchors_pem}
    try:
        reader = c2pa.Reader(mime, io.BytesIO(data), context=c2pa.Context.from_dict(settings))
        store = json.loads(reader.json())
        state = reader.get_validation_state()
    except Exception as exc:  # noqa: BLE001 - a broken manifest is reported, not fatal
        log.info("unreadable C2PA manifest: %s", exc)
        return []
    return _judge(store, state)


def _judge(store: dict, state: str | None) -> list[Evidence]:
    codes = _status_codes(store)
    altered = sorted(code for code in codes["failure"] if code in ALTERED_CODES)
    trusted = "signingCredential.trusted" in codes["success"]
    found: list[Evidence] = []
    for label, manifest in (store.get("manifests") or {}).items():
        source_types = _source_types(manifest)
        role = "active manifest" if label == store.get("active_manifest") else "ingredient manifest"
        details = {
            "manifest": label,
            "role": role,
            "claim_generator": _claim_generator(manifest),
            "signer": (manifest.get("signature_info") or {}).get("common_name")
            or (manifest.get("signature_info") or {}).get("issuer"),
            "validation_state": state,
            "trusted_signer": trusted,
            "altered_after_signing": bool(altered),
            "failure_codes": sorted(codes["failure"]),
            "digital_source_types": source_types,
        }
        suffix = " — the pixels were altered after signing" if altered else ""
        signer = details["signer"] or "an unknown signer"
        if any(t.lower().endswith(AI_SOURCE_TYPES) for t in source_types):
            tool = details["claim_generator"] or "an unnamed tool"
            summary = f"C2PA Content Credentials ({role}) declare AI generation"
            summary += f", by {tool}, signed by {signer}{suffix}"
            found.append(Evidence("c2pa", "strong", "ai", summary, details))
        elif any(t.lower().endswith(CAPTURE_SOURCE_TYPES) for t in source_types) and trusted and not altered:
            # A capture claim counts only when its certificate chains to an operator's anchor.
            summary = f"C2PA Content Credentials declare a camera capture, signed by trusted {signer}"
            found.append(Evidence("c2pa", "moderate", "human", summary, details))
    return found


def _source_types(manifest: dict) -> list[str]:
    types = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                value = action.get("digitalSourceType") or (action.get("parameters") or {}).get(
                    "digitalSourceType"
                )
                if value:
                    types.append(str(value))
    return types


def _claim_generator(manifest: dict) -> str:
    info = manifest.get("claim_generator_info") or []
    if info and isinstance(info, list):
        return " ".join(str(part) for part in (info[0].get("name"), info[0].get("version")) if part)
    return str(manifest.get("claim_generator") or "")


def _status_codes(store: dict) -> dict[str, set[str]]:
    codes: dict[str, set[str]] = {"success": set(), "failure": set()}
    results = store.get("validation_results") or {}
    sections = [results.get("activeManifest") or {}] + list(results.get("ingredientDeltas") or [])
    for section in sections:
        section = section.get("validationDeltas", section) if isinstance(section, dict) else {}
        for kind in ("success", "failure"):
            codes[kind].update(item.get("code", "") for item in section.get(kind) or [])
    for item in store.get("validation_status") or []:  # older stores
        codes["failure"].add(item.get("code", ""))
    return codes


def _mime_of(data: bytes) -> str | None:
    for magic, mime in MIME_BY_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
