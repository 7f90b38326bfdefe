"""Collect all provenance evidence of one file. Each source is isolated: a failure in one
never hides the others, and collecting never raises."""

from __future__ import annotations

import logging

from artifact.provenance.evidence import Evidence
from artifact.provenance.metadata import metadata_evidence
from artifact.provenance.watermark import watermark_evidence

log = logging.getLogger(__name__)
COLLECTORS = (metadata_evidence, watermark_evidence)


def collect_evidence(data: bytes) -> list[Evidence]:
    found: list[Evidence] = []
    for collector in COLLECTORS:
        try:
            found.extend(collector(data))
        except Exception:  # noqa: BLE001 - evidence is best effort by design
            log.exception("provenance collector %s failed", collector.__name__)
    return found
