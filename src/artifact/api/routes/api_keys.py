"""API keys for automation: created (shown once), listed, revoked."""

from __future__ import annotations

from fastapi import APIRouter, Response

from artifact.api.deps import CurrentUser, SessionDep, WriterSessionDep
from artifact.api.errors import NotFound
from artifact.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeysPublic, RowId
from artifact.storage import crud

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


@router.post("", response_model=ApiKeyCreated, status_code=201)
def create_key(body: ApiKeyCreate, user: CurrentUser, session: WriterSessionDep) -> ApiKeyCreated:
    row, plain = crud.create_api_key(session, user=user, name=body.name)
    session.commit()
    return ApiKeyCreated(**ApiKeyPublic.model_validate(row).model_dump(), key=plain)


@router.get("", response_model=ApiKeysPublic)
def list_keys(user: CurrentUser, session: SessionDep) -> ApiKeysPublic:
    rows = crud.list_api_keys(session, user=user)
    return ApiKeysPublic(data=[ApiKeyPublic.model_validate(r) for r in rows], count=len(rows))


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: RowId, user: CurrentUser, session: WriterSessionDep) -> Response:
    if not crud.revoke_api_key(session, user=user, key_id=key_id):
        raise NotFound("no such API key")
    session.commit()
    return Response(status_code=204)
