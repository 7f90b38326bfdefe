"""Database operations, keyword-only, one transaction owned by the caller's session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import Session

from artifact.security import hash_api_key, hash_password, new_api_key
from artifact.storage.tables import Analysis, ApiKey, Artwork, JurorDecision, StoredImage, User, utcnow


def create_user(session: Session, *, username: str, email: str, password: str, role: str = "juror") -> User:
    user = User(username=username, email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def get_user_by_username(session: Session, *, username: str) -> User | None:
    """Usernames are matched without regard to case: ``alice`` and ``Alice`` are one user."""
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def user_exists(session: Session, *, username: str, email: str) -> bool:
    """Whether the username or the email (either in any case) is taken."""
    query = select(User.id).where(
        (func.lower(User.username) == username.lower()) | (func.lower(User.email) == email.lower())
    )
    return session.scalar(query) is not None


def create_api_key(session: Session, *, user: User, name: str) -> tuple[ApiKey, str]:
    """Returns the row and the plain key, which is never stored and shown only once."""
    plain = new_api_key()
    row = ApiKey(user_id=user.id, name=name, prefix=plain[:10], key_hash=hash_api_key(plain))
    session.add(row)
    session.flush()
    return row, plain


def user_for_api_key(session: Session, *, key: str) -> tuple[User, ApiKey] | None:
    row = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))
    )
    user = session.get(User, row.user_id) if row is not None else None
    # A key whose user was deleted (SQLite without the cascade, say) names nobody.
    return (user, row) if user is not None else None


def list_api_keys(session: Session, *, user: User) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id.desc())
    return list(session.scalars(query))


def revoke_api_key(session: Session, *, user: User, key_id: int) -> bool:
    row = session.get(ApiKey, key_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    return True


def record_image(session: Session, *, sha256: str, fmt: str, size: int, width: int, height: int) -> None:
    """Insert the image's row unless it exists (safe against a concurrent insert of the same bytes)."""
    values = dict(sha256=sha256, format=fmt, bytes=size, width=width, height=height, created_at=utcnow())
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        module = sqlite_dialect if dialect == "sqlite" else postgresql_dialect
        session.execute(module.insert(StoredImage).values(**values).on_conflict_do_nothing())
    elif session.get(StoredImage, sha256) is None:
        session.add(StoredImage(**values))
        session.flush()


def image_is_referenced(session: Session, *, sha256: str) -> bool:
    return session.scalar(select(Analysis.id).where(Analysis.image_sha256 == sha256).limit(1)) is not None


def visible(query, model, user: User):
    """Restrict a query to the user's own rows, unless the user is an admin."""
    return query if user.role == "admin" else query.where(model.user_id == user.id)


def get_analysis(session: Session, *, user: User, analysis_id: int) -> Analysis | None:
    return session.scalar(visible(select(Analysis).where(Analysis.id == analysis_id), Analysis, user))


@dataclass(frozen=True)
class HistoryFilter:
    """Which analyses a history page or export shows: ``since``/``until`` are whole days (UTC,
    both included); ``owner`` a username (an admin's filter: others only ever see their own)."""

    verdict: str | None = None
    since: date | None = None
    until: date | None = None
    owner: str | None = None


def list_analyses(
    session: Session, *, user: User, offset: int, limit: int, only: HistoryFilter = HistoryFilter()
) -> tuple[list[Analysis], int]:
    query = visible(select(Analysis), Analysis, user)
    if only.verdict:
        query = query.where(Analysis.verdict == only.verdict)
    if only.since:
        query = query.where(Analysis.created_at >= datetime.combine(only.since, time(), UTC))
    if only.until:
        day_after = datetime.combine(only.until + timedelta(days=1), time(), UTC)
        query = query.where(Analysis.created_at < day_after)
    if only.owner:
        query = query.join(User, User.id == Analysis.user_id).where(User.username == only.owner)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Analysis.created_at.desc(), Analysis.id.desc()).offset(offset).limit(limit)
    )
    return list(rows), count


def get_artwork(session: Session, *, user: User, artwork_id: int) -> tuple[Artwork, Analysis] | None:
    query = visible(
        select(Artwork, Analysis).join(Analysis, Artwork.analysis_id == Analysis.id), Artwork, user
    )
    row = session.execute(query.where(Artwork.id == artwork_id)).first()
    return (row[0], row[1]) if row else None


def latest_decisions(session: Session, artwork_ids: list[int]) -> dict[int, JurorDecision]:
    """The newest decision of each artwork that has one."""
    if not artwork_ids:
        return {}
    newest = (
        select(func.max(JurorDecision.id))
        .where(JurorDecision.artwork_id.in_(artwork_ids))
        .group_by(JurorDecision.artwork_id)
    )
    rows = session.scalars(select(JurorDecision).where(JurorDecision.id.in_(newest)))
    return {row.artwork_id: row for row in rows}


def _latest_decision_column():
    """The artwork's newest decision (a correlated subquery), for filtering by decision."""
    return (
        select(JurorDecision.decision)
        .where(JurorDecision.artwork_id == Artwork.id)
        .order_by(JurorDecision.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def list_artworks(
    session: Session,
    *,
    user: User,
    offset: int,
    limit: int,
    verdict: str | None = None,
    decision: str | None = None,
) -> tuple[list[tuple[Artwork, Analysis]], int]:
    """Newest first. ``decision``: the newest juror decision, or ``undecided``."""
    query = visible(
        select(Artwork, Analysis).join(Analysis, Artwork.analysis_id == Analysis.id), Artwork, user
    )
    if verdict:
        query = query.where(Analysis.verdict == verdict)
    if decision == "undecided":
        query = query.where(_latest_decision_column().is_(None))
    elif decision:
        query = query.where(_latest_decision_column() == decision)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Artwork.created_at.desc(), Artwork.id.desc()).offset(offset).limit(limit)
    )
    return [(r[0], r[1]) for r in rows], count


def usernames(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all())


def artworks_of(session: Session, analysis_ids: list[int]) -> dict[int, Artwork]:
    """The gallery artwork of each analysis that was uploaded as one."""
    if not analysis_ids:
        return {}
    rows = session.scalars(select(Artwork).where(Artwork.analysis_id.in_(analysis_ids)))
    return {row.analysis_id: row for row in rows}


def analysis_by_idempotency_key(session: Session, *, user: User, key: str) -> Analysis | None:
    return session.scalar(
        select(Analysis).where(Analysis.user_id == user.id, Analysis.idempotency_key == key)
    )
