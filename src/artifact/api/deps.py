"""Typed dependencies: settings, database session, predictor, the current user, rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from artifact.api.errors import Forbidden, ServiceUnavailable, Unauthorized
from artifact.config import Settings
from artifact.inference.engine import Predictor
from artifact.security import read_access_token
from artifact.storage import crud
from artifact.storage.image_store import ImageStore
from artifact.storage.tables import User

bearer_scheme = HTTPBearer(auto_error=False, description="token from POST /v1/auth/login")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="key from POST /v1/api-keys")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_writer_session(request: Request) -> Iterator[Session]:
    """A session whose transactions hold the write lock from their start (see database.py)."""
    with request.app.state.writer_sessions() as session:
        yield session


def get_predictor(request: Request) -> Predictor:
    predictor = getattr(request.app.state, "predictor", None)
    if predictor is None:
        raise ServiceUnavailable("the model is not loaded yet")
    return predictor


def get_store(request: Request) -> ImageStore:
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
WriterSessionDep = Annotated[Session, Depends(get_writer_session)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
StoreDep = Annotated[ImageStore, Depends(get_store)]


def get_current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> User:
    """The caller, from a bearer token or an API key; every /v1 route but auth needs one."""
    user, principal = authenticate(session, settings, bearer.credentials if bearer else None, api_key)
    if not getattr(request.state, "rate_limit_counted", False):  # uploads: counted by the gate
        request.app.state.rate_limiter.hit(principal)
    session.commit()  # end the read snapshot now (expire_on_commit=False keeps the user loaded)
    return user


def authenticate(
    session: Session, settings: Settings, bearer_token: str | None, api_key: str | None
) -> tuple[User, str]:
    """The user an API key or bearer token names, and the principal rate limits count.

    Raises:
        Unauthorized: no credentials, or credentials that name nobody.
    """
    challenge = {"WWW-Authenticate": "Bearer"}
    if api_key:
        found = crud.user_for_api_key(session, key=api_key)
        if found is None:
            raise Unauthorized("invalid or revoked API key", headers=challenge)
        user, _key = found
        # Limits count per user: minting more keys must not multiply the rate limit.
        return user, f"user:{user.id}"
    if bearer_token:
        claims = read_access_token(bearer_token, settings.signing_key())
        user = session.get(User, claims[0]) if claims is not None else None
        # The session key ties the token to this user as they are now: logged out, or a new
        # user who got a deleted user's id, and the token names nobody.
        if user is None or user.session_key != claims[1]:
            raise Unauthorized("invalid or expired token", headers=challenge)
        return user, f"user:{user.id}"
    raise Unauthorized("authentication required: a bearer token or an X-API-Key header", headers=challenge)


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> User:
    if user.role != "admin":
        raise Forbidden("admins only")
    return user


AdminUser = Annotated[User, Depends(require_admin)]
