"""Analyse uploads (one or a batch) and read the caller's history."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from artifact.api.deps import CurrentUser, PredictorDep, SessionDep, SettingsDep, StoreDep
from artifact.api.errors import ApiError, NotFound, UnprocessableEntity
from artifact.api.presenters import analysis_public
from artifact.api.schemas import (
    AnalysesPublic,
    AnalysisPublic,
    BatchItem,
    BatchPublic,
    Limit,
    Offset,
    RowId,
    VerdictFilter,
)
from artifact.api.uploads import ensure_storage_room, read_upload
from artifact.errors import ArtifactError
from artifact.inference.formats import MEDIA_TYPES
from artifact.service import analyse_image
from artifact.storage import crud
from artifact.storage.tables import StoredImage

router = APIRouter(prefix="/v1", tags=["analyses"])

def run_analysis(
    request: Request, data: bytes, filename: str, user, predictor, settings, store, artwork=None,
    idempotency_key: str | None = None,
):  # fmt: skip
    with request.app.state.sessions() as session:
        ensure_storage_room(session, user, len(data), settings.storage_quota_mb)
    analysis, work = analyse_image(
        data, filename=filename, user_id=user.id, predictor=predictor, artwork=artwork,
        sessions=request.app.state.writer_sessions, store=store, limits=settings.decode_limits(),
        c2pa_trust_anchors=settings.c2pa_trust_anchors_pem(), memory_budget=request.app.state.memory_budget,
        idempotency_key=idempotency_key, observe_stage=request.app.state.metrics.observe_stage,
    )  # fmt: skip
    request.app.state.metrics.analyses.labels(analysis.verdict or analysis.label).inc()
    return analysis, work


@router.post("/analyze", response_model=AnalysisPublic, status_code=201)
def analyze(
    request: Request,
    response: Response,
    file: Annotated[UploadFile, File(description="the image")],
    user: CurrentUser,
    predictor: PredictorDep,
    settings: SettingsDep,
    store: StoreDep,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=128, description="a retry with the same key gets the first answer back"),
    ] = None,
) -> AnalysisPublic:
    """Run the model on one image; the result is stored in the caller's history. With an
    ``Idempotency-Key``, a retry (say, of an upload whose answer was lost) is answered with the
    analysis first recorded, 200 and ``Idempotent-Replayed: true``, never recorded twice."""
    data = read_upload(file, settings.max_upload_bytes)
    if idempotency_key:
        earlier = _replay(session, user, idempotency_key, data, response)
        if earlier is not None:
            return earlier
    try:
        analysis, _ = run_analysis(
            request, data, file.filename or "", user, predictor, settings, store,
            idempotency_key=idempotency_key,
        )  # fmt: skip
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its analysis.
        session.rollback()
        earlier = _replay(session, user, idempotency_key, data, response) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
    return analysis_public(analysis)


def _replay(session, user, key: str, data: bytes, response: Response) -> AnalysisPublic | None:
    earlier = replayed_analysis(session, user, key, data, response)
    return None if earlier is None else analysis_public(earlier)


def replayed_analysis(session, user, key: str, data: bytes, response: Response):
    """The analysis an earlier request with this key recorded (None if none), answered as a
    replay (200, ``Idempotent-Replayed``); 422 when that request sent another image."""
    earlier = crud.analysis_by_idempotency_key(session, user=user, key=key)
    session.commit()  # end the read snapshot: a later re-read sees a concurrent commit
    if earlier is None:
        return None
    if earlier.image_sha256 != hashlib.sha256(data).hexdigest():
        raise UnprocessableEntity("this Idempotency-Key was already used for another image")
    response.status_code = 200
    response.headers["Idempotent-Replayed"] = "true"
    return earlier


@router.post("/analyze/batch", response_model=BatchPublic)
def analyze_batch(
    request: Request,
    files: Annotated[list[UploadFile], File(description="the images")],
    user: CurrentUser,
    predictor: PredictorDep,
    settings: SettingsDep,
    store: StoreDep,
) -> BatchPublic:
    """Up to ``batch_limit`` images; one result or one error per image, in upload order."""
    if len(files) > settings.batch_limit:
        raise ApiError(f"at most {settings.batch_limit} files per batch; got {len(files)}")
    items = []
    for upload in files:
        name = upload.filename or ""
        try:
            data = read_upload(upload, settings.max_upload_bytes)
            analysis, _ = run_analysis(request, data, name, user, predictor, settings, store)
            items.append(BatchItem(filename=name, analysis=analysis_public(analysis)))
        except ArtifactError as exc:  # this file's own error (bad image, quota...): the rest go on
            items.append(BatchItem(filename=name, error={"code": exc.code, "message": exc.message}))
    failed = sum(1 for item in items if item.error)
    return BatchPublic(data=items, count=len(items), failed=failed)


def history_filter(
    verdict: VerdictFilter | None = None,
    since: Annotated[date | None, Query(description="from this day (UTC), included")] = None,
    until: Annotated[date | None, Query(description="to this day (UTC), included")] = None,
    owner: Annotated[str | None, Query(max_length=64, description="an uploader's username (admins)")] = None,
) -> crud.HistoryFilter:
    if since and until and since > until:
        raise UnprocessableEntity(f"the history from {since} until {until} is empty: swap the days")
    return crud.HistoryFilter(verdict=verdict, since=since, until=until, owner=owner)


HistoryFilterDep = Annotated[crud.HistoryFilter, Depends(history_filter)]
# One export holds at most this many analyses (a competition's records, not a data dump).
EXPORT_LIMIT = 10_000


@router.get("/analyses", response_model=AnalysesPublic)
def list_analyses(
    user: CurrentUser, session: SessionDep, only: HistoryFilterDep, offset: Offset = 0, limit: Limit = 50
) -> AnalysesPublic:
    """The caller's analyses, newest first (an admin sees everyone's, with who uploaded each),
    filtered by verdict, days and (admins) owner."""
    rows, count = crud.list_analyses(session, user=user, offset=offset, limit=limit, only=only)
    return AnalysesPublic(data=with_context(session, rows), count=count)


@router.get("/analyses/export.csv", response_class=Response)
def export_analyses(user: CurrentUser, session: SessionDep, only: HistoryFilterDep) -> Response:
    """The history (with the same filters) as CSV: one row per analysis, newest first, with the
    file, owner, artwork, verdict, P(AI), evidence and model."""
    from artifact.api.exports import history_csv

    rows, _ = crud.list_analyses(session, user=user, offset=0, limit=EXPORT_LIMIT, only=only)
    return Response(
        history_csv(with_context(session, rows)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="artifact-history.csv"'},
    )


def with_context(session, rows) -> list[AnalysisPublic]:
    """Analyses with their uploader's name and, for gallery uploads, their artwork."""
    names = crud.usernames(session, {row.user_id for row in rows})
    works = crud.artworks_of(session, [row.id for row in rows])
    return [analysis_public(row, names.get(row.user_id, "(deleted)"), works.get(row.id)) for row in rows]


@router.get("/analyses/{analysis_id}", response_model=AnalysisPublic)
def get_analysis(analysis_id: RowId, user: CurrentUser, session: SessionDep) -> AnalysisPublic:
    row = crud.get_analysis(session, user=user, analysis_id=analysis_id)
    if row is None:
        raise NotFound("no such analysis")
    return analysis_public(row)


@router.get("/analyses/{analysis_id}/image", response_class=Response)
def analysis_image(analysis_id: RowId, user: CurrentUser, session: SessionDep, store: StoreDep) -> Response:
    row = crud.get_analysis(session, user=user, analysis_id=analysis_id)
    if row is None:
        raise NotFound("no such analysis")
    return image_response(session, store, row.image_sha256)


@router.get(
    "/analyses/{analysis_id}/heatmap",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "PNG overlay"}},
)
def analysis_heatmap(
    request: Request,
    analysis_id: RowId,
    user: CurrentUser,
    session: SessionDep,
    store: StoreDep,
    predictor: PredictorDep,
) -> Response:
    """Where the model sees AI traces: occlusion sensitivity of P(AI), as a PNG overlay
    (computed once per image and model, then served from the cache)."""
    from artifact.inference.decode import declared_image, decode_image
    from artifact.inference.explain import HEATMAP_WORKING_BYTES, occlusion_map, overlay_png
    from artifact.inference.memory_budget import estimate_analysis_bytes

    row = crud.get_analysis(session, user=user, analysis_id=analysis_id)
    if row is None:
        raise NotFound("no such analysis")

    def make() -> bytes:
        data = store.read(row.image_sha256)
        # Inside the same memory budget as analyses: the decode plus the occlusion batches.
        budget = request.app.state.memory_budget
        with budget.reserve(estimate_analysis_bytes(*declared_image(data)) + HEATMAP_WORKING_BYTES):
            image = decode_image(data)
            return overlay_png(image, occlusion_map(predictor, image))

    cache = request.app.state.heatmaps
    png = cache.get_or_make(predictor.card.sha256, row.image_sha256, make)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


def image_response(session, store, sha256: str) -> Response:
    image = session.get(StoredImage, sha256)
    media = MEDIA_TYPES.get(image.format if image else "", "application/octet-stream")
    return Response(
        store.read(sha256), media_type=media,
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{sha256}"',
                 "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip
