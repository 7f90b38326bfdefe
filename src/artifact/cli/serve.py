"""``artifact serve``: the web service (uvicorn, our guarded h11 protocol)."""

from __future__ import annotations

import argparse

from artifact.cli.common import (
    SHOW_DEFAULTS,
    apply_service_options,
    console,
    err_console,
    load_predictor,
    migrated_engine,
)


def register(commands) -> None:
    serve = commands.add_parser("serve", **SHOW_DEFAULTS, help="run the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--data-dir", help="where the service keeps everything (ARTIFACT_DATA_DIR)")
    serve.add_argument("--model", help="model directory (ARTIFACT_MODEL_DIR; default: bundled)")
    serve.set_defaults(handler=run, serving=True)


def _require_free_port(host: str, port: int) -> None:
    """Fail before loading anything, and before any banner, when the port is taken."""
    import socket

    from artifact.errors import UserFacingError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserFacingError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (another server is probably "
                "running there: stop it or choose another --port)"
            ) from None


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from artifact.api.server_protocol import GuardedH11Protocol
    from artifact.config import Settings

    _require_free_port(args.host, args.port)
    apply_service_options(args)
    settings = Settings()
    problem = settings.replica_problem(args.workers)
    if problem:
        err_console.print(f"[red]error:[/] {problem}")
        return 2
    load_predictor(str(settings.model_dir) if settings.model_dir else None)  # fail fast, clearly
    # Migrate once here, before workers start, so they never race on the schema.
    migrated_engine(settings).dispose()
    console.print(f"ArtiFact on http://{args.host}:{args.port} (data in {settings.data_dir})")
    uvicorn.run(
        "artifact.api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        # Explicit limits: h11 bounds the request line + headers; the rest bound connections.
        # h11 with head/body read deadlines and a per-address cap (artifact.api.server_protocol).
        http=GuardedH11Protocol,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
    )
    return 0
