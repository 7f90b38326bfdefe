"""``artifact users``: accounts on the service's database (create, list, set-password, set-role)."""

from __future__ import annotations

import argparse
import json
import sys

from rich.table import Table

from artifact.cli.common import (
    SHOW_DEFAULTS,
    apply_service_options,
    console,
    migrated_engine,
)


def register(commands) -> None:
    users = commands.add_parser("users", **SHOW_DEFAULTS, help="user accounts")
    users_commands = users.add_subparsers(title="users commands")
    create_user = users_commands.add_parser(
        "create", **SHOW_DEFAULTS, help="create an account (e.g. the first admin)"
    )
    create_user.add_argument("username")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--admin", action="store_true", help="give the admin role")
    create_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create_user.add_argument("--data-dir", help="the service's data directory")
    create_user.set_defaults(handler=run_create)
    list_users = users_commands.add_parser("list", **SHOW_DEFAULTS, help="every account: name, email, role")
    list_users.add_argument("--data-dir", help="the service's data directory")
    list_users.add_argument("--json", action="store_true", help="print a JSON array")
    list_users.set_defaults(handler=run_list)
    set_password = users_commands.add_parser(
        "set-password", **SHOW_DEFAULTS, help="give an account a new password (its tokens are revoked)"
    )
    set_password.add_argument("username")
    set_password.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    set_password.add_argument("--data-dir", help="the service's data directory")
    set_password.set_defaults(handler=run_set_password)
    set_role = users_commands.add_parser("set-role", **SHOW_DEFAULTS, help="make an account admin or juror")
    set_role.add_argument("username")
    set_role.add_argument("role", choices=["admin", "juror"])
    set_role.add_argument("--data-dir", help="the service's data directory")
    set_role.set_defaults(handler=run_set_role)


def run_create(args: argparse.Namespace) -> int:
    from artifact.config import Settings
    from artifact.errors import UserFacingError
    from artifact.storage import crud
    from artifact.storage.database import session_factory

    apply_service_options(args)
    password = _new_password(args, args.username, args.email)
    engine = migrated_engine(Settings())
    with session_factory(engine).begin() as session:
        if crud.user_exists(session, username=args.username, email=args.email):
            raise UserFacingError(f"user {args.username!r} or email {args.email!r} already exists")
        role = "admin" if args.admin else "juror"
        crud.create_user(session, username=args.username, email=args.email, password=password, role=role)
    engine.dispose()
    console.print(f"created {role} {args.username}")
    return 0


def _new_password(args: argparse.Namespace, username: str, email: str) -> str:
    """A password from stdin or a prompt, checked by the API's own rule."""
    import getpass

    from artifact.errors import UserFacingError
    from artifact.security import password_weakness

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    problem = password_weakness(password, username, email)
    if problem:
        raise UserFacingError(f"the password is too weak: {problem}")
    return password


def _account(session, username: str):
    from artifact.errors import UserFacingError
    from artifact.storage import crud

    user = crud.get_user_by_username(session, username=username)
    if user is None:
        raise UserFacingError(f"no account named {username!r}")
    return user


def run_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from artifact.config import Settings
    from artifact.storage.database import session_factory
    from artifact.storage.tables import User

    apply_service_options(args)
    engine = migrated_engine(Settings())
    with session_factory(engine)() as session:
        users = [
            {"username": u.username, "email": u.email, "role": u.role, "created_at": u.created_at.isoformat()}
            for u in session.scalars(select(User).order_by(User.id))
        ]
    engine.dispose()
    if args.json:
        print(json.dumps(users, indent=1))
        return 0
    table = Table(title=f"{len(users)} accounts")
    for column in ("username", "email", "role", "created"):
        table.add_column(column)
    for user in users:
        table.add_row(user["username"], user["email"], user["role"], user["created_at"][:19])
    console.print(table)
    return 0


def run_set_password(args: argparse.Namespace) -> int:
    from artifact.config import Settings
    from artifact.security import hash_password
    from artifact.storage.database import session_factory
    from artifact.storage.tables import new_session_key

    apply_service_options(args)
    engine = migrated_engine(Settings())
    with session_factory(engine).begin() as session:
        user = _account(session, args.username)
        user.password_hash = hash_password(_new_password(args, user.username, user.email))
        user.session_key = new_session_key()  # every token issued before is revoked
    engine.dispose()
    console.print(f"new password set for {args.username}; their earlier tokens no longer work")
    return 0


def run_set_role(args: argparse.Namespace) -> int:
    from artifact.config import Settings
    from artifact.storage.database import session_factory

    apply_service_options(args)
    engine = migrated_engine(Settings())
    with session_factory(engine).begin() as session:
        _account(session, args.username).role = args.role
    engine.dispose()
    console.print(f"{args.username} is now {args.role}")
    return 0
