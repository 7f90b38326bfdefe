"""Accounts: register, log in (JSON or OAuth2 form), who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.exc import IntegrityError

from artifact.api.deps import CurrentUser, SessionDep, SettingsDep, WriterSessionDep
from artifact.api.errors import Conflict, Forbidden, Unauthorized
from artifact.api.schemas import LoginRequest, Token, UserCreate, UserPublic
from artifact.security import create_access_token, verify_password
from artifact.storage import crud
from artifact.storage.tables import User, new_session_key

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/register", response_model=UserPublic, status_code=201)
def register(body: UserCreate, session: WriterSessionDep, settings: SettingsDep) -> UserPublic:
    """Create a juror account. Admins are created with ``artifact users create --admin``."""
    if not settings.public_registration:
        raise Forbidden("registration is closed on this server")
    if crud.user_exists(session, username=body.username, email=body.email):
        raise Conflict("that username or email is already registered")
    try:
        user = crud.create_user(session, username=body.username, email=body.email, password=body.password)
        session.commit()
    except IntegrityError as exc:  # a concurrent registration won
        session.rollback()
        raise Conflict("that username or email is already registered") from exc
    return UserPublic.model_validate(user)


def _login(request: Request, session, settings, username: str, password: str) -> Token:
    # Throttled per username and per client address, in the database counter every replica
    # shares, before any password is checked.
    limiters = request.app.state.login_limiters
    limiters["username"].hit(f"login-user:{username.lower()}")
    limiters["address"].hit(f"login-ip:{request.client.host if request.client else '-'}")
    user = crud.get_user_by_username(session, username=username)
    if not verify_password(password, user.password_hash if user is not None else None):
        raise Unauthorized("wrong username or password")
    token = create_access_token(user.id, settings.signing_key(), settings.token_ttl_minutes, user.session_key)
    return Token(access_token=token, expires_in=settings.token_ttl_minutes * 60)


@router.post("/login", response_model=Token)
def login(request: Request, body: LoginRequest, session: SessionDep, settings: SettingsDep) -> Token:
    return _login(request, session, settings, body.username, body.password)


@router.post("/token", response_model=Token, summary="Log in (OAuth2 password form)")
def login_form(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    return _login(request, session, settings, form.username, form.password)


@router.post("/logout", status_code=204)
def logout(user: CurrentUser, session: WriterSessionDep) -> Response:
    """Revoke every token of the caller (all sessions, all devices); API keys stay valid."""
    fresh = session.get(User, user.id)
    fresh.session_key = new_session_key()
    session.commit()
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
