"""The gallery as CSV for a competition's records (cells neutralised against formulas)."""

from __future__ import annotations

import csv
import io

from artifact.api.schemas import ArtworkPublic
from artifact.reports import csv_cell

GALLERY_COLUMNS = (
    "artwork_id", "title", "artist", "submitted_at", "verdict", "model_verdict", "prob_ai",
    "verdict_reason", "evidence", "model", "model_sha256", "decision", "decision_note",
    "decided_by", "decided_at", "analysis_id", "image_sha256",
)  # fmt: skip


def gallery_csv(artworks: list[ArtworkPublic]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GALLERY_COLUMNS)
    for work in artworks:
        analysis, decision = work.analysis, work.decision
        evidence = " | ".join(f"{e.strength} {e.points_to}: {e.summary}" for e in analysis.evidence)
        row = (
            work.id, work.title, work.artist, work.created_at.isoformat(), analysis.verdict,
            analysis.model_verdict, analysis.prob_ai, analysis.verdict_reason, evidence,
            analysis.model.name, analysis.model.sha256,
            decision.decision if decision else "", decision.note if decision else "",
            decision.decided_by if decision else "", decision.decided_at.isoformat() if decision else "",
            analysis.id, analysis.image_sha256,
        )  # fmt: skip
        writer.writerow([csv_cell(value) for value in row])
    return buffer.getvalue()
