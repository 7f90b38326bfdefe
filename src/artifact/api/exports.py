"""The gallery as CSV for a competition's records (cells neutralised against formulas)."""

from __future__ import annotations

import csv
import io

from artifact.api.schemas import AnalysisPublic, ArtworkPublic
from artifact.scanning.reports import csv_cell

GALLERY_COLUMNS = (
    "artwork_id", "title", "artist", "submitted_at", "verdict", "model_verdict", "prob_ai",
    "verdict_reason", "evidence", "model", "model_sha256", "decision", "decision_note",
    "decided_by", "decided_at", "analysis_id", "image_sha256",
)  # fmt: skip


HISTORY_COLUMNS = (
    "analysis_id", "analysed_at", "filename", "owner", "artwork_id", "title", "artist", "verdict",
    "model_verdict", "prob_ai", "verdict_reason", "evidence", "model", "model_sha256", "image_sha256",
)  # fmt: skip


def _evidence(analysis: AnalysisPublic) -> str:
    return " | ".join(f"{e.strength} {e.points_to}: {e.summary}" for e in analysis.evidence)


def history_csv(analyses: list[AnalysisPublic]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HISTORY_COLUMNS)
    for analysis in analyses:
        work = analysis.artwork
        row = (
            analysis.id, analysis.created_at.isoformat(), analysis.filename, analysis.owner or "",
            work.id if work else "", work.title if work else "", work.artist if work else "",
            analysis.verdict, analysis.model_verdict, analysis.prob_ai, analysis.verdict_reason,
            _evidence(analysis), analysis.model.name, analysis.model.sha256, analysis.image_sha256,
        )  # fmt: skip
        writer.writerow([csv_cell(value) for value in row])
    return buffer.getvalue()


def gallery_csv(artworks: list[ArtworkPublic]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GALLERY_COLUMNS)
    for work in artworks:
        analysis, decision = work.analysis, work.decision
        evidence = _evidence(analysis)
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
