"""The jury's gallery: submitted artworks with title and artist, analysed on upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Request, Response, UploadFile
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from artifact.api.deps import (
    CurrentUser,
    PredictorDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    WriterSessionDep,
)
from artifact.api.errors import NotFound, UnprocessableEntity
from artifact.api.presenters import artwork_public, decision_public
from artifact.api.routes.analyses import image_response, replayed_analysis, run_analysis
from artifact.api.schemas import (
    ArtworkPublic,
    ArtworksPublic,
    DecisionCreate,
    DecisionFilter,
    Limit,
    Offset,
    RowId,
    VerdictFilter,
)
from artifact.api.uploads import read_upload
from artifact.service import ArtworkFields
from artifact.storage import crud
from artifact.storage.tables import Artwork, JurorDecision

router = APIRouter(prefix="/v1/artworks", tags=["artworks"])
# One export holds at most this many artworks (a competition's entries, not a data dump).
EXPORT_LIMIT = 10_000
# An HTML report inlines every thumbnail: a jury's shortlist, not the whole archive.
REPORT_LIMIT = 500


@router.post("", response_model=ArtworkPublic, status_code=201)
def submit_artwork(
    request: Request,
    response: Response,
    file: Annotated[UploadFile, File()],
    title: Annotated[str, Form(min_length=1, max_length=300)],
    artist: Annotated[str, Form(min_length=1, max_length=300)],
    user: CurrentUser,
    predictor: PredictorDep,
    settings: SettingsDep,
    store: StoreDep,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=128, description="a retry with the same key gets the first answer back"),
    ] = None,
) -> ArtworkPublic:
    """Add an artwork to the gallery, analysed on upload. With an ``Idempotency-Key``, a retry
    gets the artwork first recorded (200, ``Idempotent-Replayed: true``), never a second one."""
    if not title.strip() or not artist.strip():
        # Checked before the upload is read: a blank title or artist is no record for a jury.
        raise UnprocessableEntity("the title and the artist may not be blank")
    data = read_upload(file, settings.max_upload_bytes)
    fields = ArtworkFields(title=title.strip(), artist=artist.strip())
    if idempotency_key:
        earlier = _replay(session, user, idempotency_key, data, fields, response)
        if earlier is not None:
            return earlier
    try:
        analysis, work = run_analysis(
            request, data, file.filename or "", user, predictor, settings, store, fields,
            idempotency_key=idempotency_key,
        )  # fmt: skip
    except IntegrityError:
        session.rollback()  # a concurrent retry with the same key committed first
        earlier = _replay(session, user, idempotency_key, data, fields, response) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
    return artwork_public(work, analysis)


def _replay(session, user, key: str, data: bytes, fields: ArtworkFields, response: Response):
    analysis = replayed_analysis(session, user, key, data, response)
    if analysis is None:
        return None
    work = session.scalar(select(Artwork).where(Artwork.analysis_id == analysis.id))
    if work is None or (work.title, work.artist) != (fields.title, fields.artist):
        raise UnprocessableEntity("this Idempotency-Key was already used for another request")
    return artwork_public(work, analysis)


@router.get("", response_model=ArtworksPublic)
def list_artworks(
    user: CurrentUser,
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit = 50,
    verdict: VerdictFilter | None = None,
    decision: DecisionFilter | None = None,
) -> ArtworksPublic:
    """Newest first; ``verdict`` filters by the analysis verdict, ``decision`` by the newest
    juror decision (or ``undecided``)."""
    rows, count = crud.list_artworks(
        session, user=user, offset=offset, limit=limit, verdict=verdict, decision=decision
    )
    return ArtworksPublic(data=with_decisions(session, rows), count=count)


@router.get("/export.csv", response_class=Response)
def export_artworks(
    user: CurrentUser,
    session: SessionDep,
    verdict: VerdictFilter | None = None,
    decision: DecisionFilter | None = None,
) -> Response:
    """The gallery for the competition's records: one CSV row per artwork (newest first) with
    title, artist, verdict, P(AI), evidence, model and the juror's decision."""
    from artifact.api.exports import gallery_csv

    rows, _ = crud.list_artworks(
        session, user=user, offset=0, limit=EXPORT_LIMIT, verdict=verdict, decision=decision
    )
    return Response(
        gallery_csv(with_decisions(session, rows)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="artifact-gallery.csv"'},
    )


@router.get("/report.html", response_class=HTMLResponse)
def gallery_report(
    user: CurrentUser,
    session: SessionDep,
    store: StoreDep,
    predictor: PredictorDep,
    verdict: VerdictFilter | None = None,
    decision: DecisionFilter | None = None,
) -> HTMLResponse:
    """The gallery (newest first, at most ``REPORT_LIMIT`` artworks) as one self-contained HTML
    page in the scan report's look: thumbnail, title, artist, verdict, P(AI), evidence and the
    juror's decision, headed by the model and its cut points."""
    rows, _ = crud.list_artworks(
        session, user=user, offset=0, limit=REPORT_LIMIT, verdict=verdict, decision=decision
    )
    return _report(with_decisions(session, rows), store, predictor, "ArtiFact gallery report")


@router.get("/{artwork_id}/report.html", response_class=HTMLResponse)
def artwork_report(
    artwork_id: RowId, user: CurrentUser, session: SessionDep, store: StoreDep, predictor: PredictorDep
) -> HTMLResponse:
    """One artwork's record as a self-contained HTML page (for the competition's files)."""
    found = crud.get_artwork(session, user=user, artwork_id=artwork_id)
    if found is None:
        raise NotFound("no such artwork")
    work = with_decisions(session, [found])[0]
    return _report([work], store, predictor, f"ArtiFact record: {work.title}")


def _report(works: list[ArtworkPublic], store, predictor, title: str) -> HTMLResponse:
    import io
    from datetime import UTC, datetime

    from artifact.scanning.reports import render_html, thumbnail_data_uri

    rows = []
    for work in works:
        analysis, decision = work.analysis, work.decision
        rows.append({
            "path": f"{work.title} — {work.artist}", "name": f"{work.title} — {work.artist}",
            "verdict": analysis.verdict, "prob_ai": analysis.prob_ai,
            "evidence": [e.model_dump() for e in analysis.evidence],
            "thumbnail": thumbnail_data_uri(io.BytesIO(store.read(analysis.image_sha256))),
            "decision": (f"juror: {decision.decision.replace('_', ' ')} ({decision.decided_by}, "
                         f"{decision.decided_at:%Y-%m-%d}){': ' + decision.note if decision.note else ''}")
            if decision else "",
        })  # fmt: skip
    rule = predictor.card.rule
    header = {"model": predictor.card.name, "sha256": predictor.card.sha256,
              "cut_points": {"human": rule.human_cut, "ai": rule.ai_cut},
              "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}  # fmt: skip
    # A file for the competition's records (downloaded, not shown under the API's CSP).
    disposition = {"Content-Disposition": 'attachment; filename="artifact-report.html"'}
    return HTMLResponse(render_html(rows, header, heading=title), headers=disposition)


@router.get("/{artwork_id}", response_model=ArtworkPublic)
def get_artwork(artwork_id: RowId, user: CurrentUser, session: SessionDep) -> ArtworkPublic:
    found = crud.get_artwork(session, user=user, artwork_id=artwork_id)
    if found is None:
        raise NotFound("no such artwork")
    return with_decisions(session, [found])[0]


@router.post("/{artwork_id}/decision", response_model=ArtworkPublic, status_code=201)
def decide_artwork(
    artwork_id: RowId, body: DecisionCreate, user: CurrentUser, session: WriterSessionDep
) -> ArtworkPublic:
    """Record a juror's decision (``accepted``, ``rejected``, ``needs_proof``) and a note. Every
    decision is kept with who and when; the analysis is never changed."""
    found = crud.get_artwork(session, user=user, artwork_id=artwork_id)
    if found is None:
        raise NotFound("no such artwork")
    session.add(JurorDecision(artwork_id=artwork_id, user_id=user.id, decision=body.decision,
                              note=body.note.strip()))  # fmt: skip
    session.commit()
    return with_decisions(session, [found])[0]


def with_decisions(session, rows) -> list[ArtworkPublic]:
    """Artworks with their newest decision and its juror's name, in two queries."""
    decisions = crud.latest_decisions(session, [artwork.id for artwork, _ in rows])
    names = crud.usernames(session, {d.user_id for d in decisions.values()})
    return [
        artwork_public(artwork, analysis, decision_public(decisions.get(artwork.id), names))
        for artwork, analysis in rows
    ]


@router.get("/{artwork_id}/image", response_class=Response)
def artwork_image(artwork_id: RowId, user: CurrentUser, session: SessionDep, store: StoreDep) -> Response:
    found = crud.get_artwork(session, user=user, artwork_id=artwork_id)
    if found is None:
        raise NotFound("no such artwork")
    return image_response(session, store, found[1].image_sha256)


@router.delete("/{artwork_id}", status_code=204)
def delete_artwork(artwork_id: RowId, user: CurrentUser, session: WriterSessionDep) -> Response:
    """Remove the artwork from the gallery; its analysis stays in the history."""
    found = crud.get_artwork(session, user=user, artwork_id=artwork_id)
    if found is None:
        raise NotFound("no such artwork")
    session.delete(found[0])
    session.commit()
    return Response(status_code=204)
