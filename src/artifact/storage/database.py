"""Engine, sessions and schema migrations (Alembic, run on first start with no extra step)."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from artifact.errors import ArtifactError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def create_db_engine(url: str, *, writer: bool = False, busy_timeout_s: float = 30.0) -> Engine:
    """An engine; SQLite gets WAL mode and a busy timeout so parallel writers queue, not fail.

    With ``writer=True`` every SQLite transaction starts with ``BEGIN IMMEDIATE``: it takes
    the write lock up front (waiting its turn), so a transaction that reads and then writes
    can never fail half-way with "database is locked". Readers use the plain engine and,
    under WAL, never wait for writers.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s})
        _refuse_nul_text(engine)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        if writer:
            # pysqlite's own transaction handling must be off for our BEGIN to be the one.
            @event.listens_for(engine, "connect")
            def _no_pysqlite_begin(connection, _record) -> None:
                connection.isolation_level = None

            @event.listens_for(engine, "begin")
            def _immediate(connection) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_pre_ping=True)
    _refuse_nul_text(engine)
    return engine


class NulCharacterError(ArtifactError, ValueError):
    """Text with a NUL character: PostgreSQL cannot store it, so no database is asked to."""

    code, status = "nul_character", 422


def _refuse_nul_text(engine: Engine) -> None:
    """Refuse every statement whose text parameters hold a NUL, on SQLite and PostgreSQL alike
    (PostgreSQL raised on them as an internal error in nine places, three of them anonymous)."""

    @event.listens_for(engine, "before_cursor_execute", retval=False)
    def _check(_conn, _cursor, _statement, parameters, _context, _many) -> None:
        rows = parameters if isinstance(parameters, list) else [parameters]
        for row in rows:
            values = row.values() if isinstance(row, dict) else (row or ())
            if any(isinstance(v, str) and "\x00" in v for v in values):
                raise NulCharacterError("text may not contain NUL characters (\\0)")


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite gave up waiting for the write lock ("database is locked")."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite rebuilds a table to alter it; with foreign keys on, dropping the old copy
            # would cascade-delete its children. The switch only works outside a transaction.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        elif engine.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait, then find nothing to do.
            connection.exec_driver_sql("SELECT pg_advisory_lock(7243311)")
            connection.commit()  # the lock is the session's; the migration gets its own transaction
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
            elif engine.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_unlock(7243311)")
                connection.commit()


def is_ready(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            return "alembic_version" in inspect(connection).get_table_names()
    except Exception:  # noqa: BLE001 - readiness reports any failure as not ready
        return False
