"""Collect all provenance evidence of one file. Each source is isolated: a failure in one
never hides the others, and collecting never raises."""

from __future__ import annotations

import logging

from PIL import Image

from artifact.provenance.content_credentials import content_credentials_evidence
from artifact.provenance.evidence import Evidence
from artifact.provenance.metadata import metadata_evidence
from artifact.provenance.watermark import watermark_evidence

log = logging.getLogger(__name__)


def collect_evidence(
    data: bytes, c2pa_trust_anchors: str | None = None, image: Image.Image | None = None
) -> list[Evidence]:
    """All evidence in ``data``.

    Args:
        c2pa_trust_anchors: PEM certificates whose C2PA signatures the operator trusts (only
            those make a camera-capture claim count).
        image: the already decoded RGB pixels, so the watermark check does not decode again;
            metadata and C2PA readers parse the bytes and never decode pixels.
    """
    found: list[Evidence] = []
    collectors = [
        metadata_evidence,
        lambda blob: watermark_evidence(blob, image),
        lambda blob: content_credentials_evidence(blob, c2pa_trust_anchors),
    ]
    for collector in collectors:
        try:
            found.extend(collector(data))
        except Exception:  # noqa: BLE001 - evidence is best effort by design
            log.exception("provenance collector %s failed", getattr(collector, "__name__", collector))
    return found
