"""The jury's gallery: submitted artworks with title and artist, analysed on upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from artifact.api.deps import (
    CurrentUser,
    PredictorDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    WriterSessionDep,
)
from artifact.api.errors import NotFound, UnprocessableEntity
from artifact.api.presenters import artwork_public
from artifact.api.routes.analyses import image_response, run_analysis
from artifact.api.schemas import ArtworkPublic, ArtworksPublic, Limit, Offset, RowId, VerdictFilter
from artifact.api.uploads import read_upload
from artifact.service import ArtworkFields
from artifact.storage import crud

router = APIRouter(prefix="/v1/artworks", tags=["artworks"])


@router.post("", response_model=ArtworkPublic, status_code=201)
def submit_artwork(
    request: Request,
    file: Annotated[UploadFile, File()],
    title: Annotated[str, Form(min_length=1, max_length=300)],
    artist: Annotated[str, Form(min_length=1, max_length=300)],
    user: CurrentUser,
    predictor: PredictorDep,
    settings: SettingsDep,
    store: StoreDep,
) -> ArtworkPublic:
    if not title.strip() or not artist.strip():
        # Checked before the upload is read: a blank title or artist is no record for a jury.
        raise UnprocessableEntity("the title and the artist may not be blank")
    data = read_upload(file, settings.max_upload_bytes)
    fields = ArtworkFields(title=title.strip(), artist=artist.strip())
    analysis, work = run_analysis(
        request, data, file.filename or "", user, predictor, settings, store, fields
    )
    return artwork_public(work, analysis)


@router.get("", response_model=ArtworksPublic)
def list_artworks(
    user: CurrentUser,
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit = 50,
    verdict: VerdictFilter | None = None,
) -> ArtworksPublic:
    """Newest first; ``verdict`` filters by the analysis verdict."""
    rows, count = crud.list_artworks(session, user=user, offset=offset, limit=limit, verdict=verdict)
    return ArtworksPublic(data=[artwork_public(a, b) for a, b in rows], count=count)


@router.get("/{artwork_id}", response_model=ArtworkPublic)
def get_artwork(artwork_id: RowId, user: CurrentUser, session: SessionDep) -> ArtworkPublic:
    found = crud.get_artwork(session, user=user, artwork_id=artwork_id)
    if found is None:
        raise NotFound("no such artwork")
    return artwork_public(*found)


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
