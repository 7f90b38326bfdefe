"""Rows -> response bodies."""

from __future__ import annotations

from artifact.api.schemas import (
    AnalysisPublic,
    ArtworkPublic,
    ArtworkRef,
    CutPoints,
    DecisionPublic,
    ModelRef,
)
from artifact.storage.tables import Analysis, Artwork, JurorDecision


def analysis_public(
    row: Analysis, owner: str | None = None, artwork: Artwork | None = None
) -> AnalysisPublic:
    band = cuts = None
    if row.uncertain_low is not None and row.uncertain_high is not None:
        band = (row.uncertain_low, row.uncertain_high)
        cuts = CutPoints(human=row.uncertain_low, ai=row.uncertain_high)
    return AnalysisPublic(
        id=row.id,
        created_at=row.created_at,
        filename=row.filename,
        image_sha256=row.image_sha256,
        verdict=row.verdict,
        model_verdict=row.model_verdict,
        verdict_reason=row.verdict_reason or "",
        prob_ai=row.prob_ai,
        score=row.score,
        cut_points=cuts,
        uncertain_band=band,
        threshold=row.threshold,
        probabilities=row.probabilities,
        label=row.label,
        model=ModelRef(name=row.model_name, sha256=row.model_sha256),
        processing_ms=row.processing_ms,
        evidence=row.evidence,
        image_url=f"/v1/analyses/{row.id}/image",
        owner=owner,
        artwork=ArtworkRef(id=artwork.id, title=artwork.title, artist=artwork.artist) if artwork else None,
    )


def decision_public(decision: JurorDecision | None, usernames: dict[int, str]) -> DecisionPublic | None:
    if decision is None:
        return None
    return DecisionPublic(decision=decision.decision, note=decision.note,
                          decided_by=usernames.get(decision.user_id, "(deleted)"),
                          decided_at=decision.created_at)  # fmt: skip


def artwork_public(
    artwork: Artwork, analysis: Analysis, decision: DecisionPublic | None = None
) -> ArtworkPublic:
    return ArtworkPublic(
        decision=decision,
        id=artwork.id,
        title=artwork.title,
        artist=artwork.artist,
        created_at=artwork.created_at,
        owner_id=artwork.user_id,
        analysis=analysis_public(analysis),
        image_url=f"/v1/artworks/{artwork.id}/image",
    )
