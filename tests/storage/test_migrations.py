"""Schema migrations: upgrading keeps every row, and deleted rows' ids are never handed out again."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from artifact.storage.database import MIGRATIONS, create_db_engine, migrate


def _upgrade_to(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _seed(connection) -> None:
    now = "2026-01-01 00:00:00"
    connection.execute(
        text(
            "INSERT INTO users (id, username, email, password_hash, role, created_at) VALUES "
            "(1, 'ann', 'ann@example.org', 'x', 'juror', :now), (2, 'bob', 'bob@example.org', 'x', 'juror', :now)"
        ),
        {"now": now},
    )
    connection.execute(
        text(
            "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at) "
            "VALUES (1, 'k', 'af_1', 'h1', :now), (2, 'k', 'af_2', 'h2', :now)"
        ),
        {"now": now},
    )
    connection.execute(
        text("INSERT INTO images VALUES ('a' , 'PNG', 10, 4, 4, :now)".replace("'a' ", "'" + "a" * 64 + "'")),
        {"now": now},
    )
    for user_id in (1, 2):
        connection.execute(
            text(
                "INSERT INTO analyses (user_id, image_sha256, filename, verdict, prob_ai, probabilities, "
                "label, model_name, model_sha256, evidence, processing_ms, created_at) VALUES "
                "(:user, :sha, 'f.png', 'human', 0.1, '{}', 'human', 'm', 'm', '[]', 1.0, :now)"
            ),
            {"user": user_id, "sha": "a" * 64, "now": now},
        )
    connection.execute(
        text(
            "INSERT INTO artworks (user_id, analysis_id, title, artist, notes, created_at) "
            "SELECT user_id, id, 't', 'a', '', :now FROM analyses"
        ),
        {"now": now},
    )


def _counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("users", "api_keys", "images", "analyses", "artworks")
        }


def test_upgrading_an_old_sqlite_database_keeps_every_child_row(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}", writer=True)
    _upgrade_to(engine, "0003")
    with engine.begin() as connection:
        _seed(connection)
    before = _counts(engine)
    assert before == {"users": 2, "api_keys": 2, "images": 1, "analyses": 2, "artworks": 2}

    migrate(engine)  # rebuilds four tables; with foreign keys on this would cascade-delete

    assert _counts(engine) == before
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1  # switched back on
        schema = connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name='users'").scalar_one()
        assert "AUTOINCREMENT" in schema
        # The cascade still works after the rebuild.
        connection.execute(text("DELETE FROM users WHERE id = 2"))
        connection.commit()
    assert _counts(engine) == {"users": 1, "api_keys": 1, "images": 1, "analyses": 1, "artworks": 1}
    engine.dispose()


def test_deleted_ids_are_never_handed_out_again(service_settings):
    service_settings.prepare()
    engine = create_db_engine(service_settings.resolved_database_url, writer=True)
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM artworks"))
        connection.execute(text("DELETE FROM analyses"))
        connection.execute(text("DELETE FROM api_keys"))
        connection.execute(text("DELETE FROM users"))
    insert = text(
        "INSERT INTO users (username, email, password_hash, role, created_at, session_key) "
        "VALUES (:name, :name, 'x', 'juror', CURRENT_TIMESTAMP, '') RETURNING id"
    )
    with engine.begin() as connection:
        first = connection.execute(insert, {"name": "first"}).scalar_one()
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": first})
    with engine.begin() as connection:
        second = connection.execute(insert, {"name": "second"}).scalar_one()
    assert second > first
    engine.dispose()


def newest_revision() -> str:
    from alembic.script import ScriptDirectory

    from artifact.storage.database import MIGRATIONS

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_migrating_twice_is_a_no_op(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'twice.db'}", writer=True)
    migrate(engine)
    migrate(engine)
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    assert version == newest_revision()
    engine.dispose()


def test_downgrade_then_upgrade_round_trips(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'round.db'}", writer=True)
    migrate(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        with connection.begin():
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
    with engine.connect() as connection:
        schema = connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name='users'").scalar_one()
    assert "AUTOINCREMENT" not in schema
    with engine.begin() as connection:
        _seed(connection)  # rows written under the old schema...
    before = _counts(engine)
    migrate(engine)
    # ...are all there, unchanged, after the upgrade back to the newest revision.
    assert _counts(engine) == before == {"users": 2, "api_keys": 2, "images": 1, "analyses": 2, "artworks": 2}
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT username, email FROM users ORDER BY id")).all()
        works = connection.execute(text("SELECT title, artist, user_id FROM artworks ORDER BY id")).all()
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    assert [tuple(r) for r in rows] == [("ann", "ann@example.org"), ("bob", "bob@example.org")]
    assert [tuple(w) for w in works] == [("t", "a", 1), ("t", "a", 2)]
    assert version == newest_revision()
    engine.dispose()
