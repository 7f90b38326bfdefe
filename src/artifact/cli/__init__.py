"""The ``artifact`` command line. Heavy modules (TensorFlow) are imported only by the
subcommands that need them, so ``artifact predict`` starts fast on a LiteRT-only install.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from rich.table import Table

from artifact.cli import train
from artifact.cli.common import SHOW_DEFAULTS, HelpWithDefaults, console, err_console, print_metrics
from artifact.native_logs import VERBOSE_ENV, import_tensorflow_quietly

# TensorFlow's C++ start-up chatter hides our own output; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from artifact.api.request_context import LOG_FORMAT, install_request_logging

    serving = getattr(args, "handler", None) is cmd_serve
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        # The service's lines carry their request's id; a command's own lines need none.
        format=LOG_FORMAT if serving else "%(levelname)s %(name)s: %(message)s",
    )
    install_request_logging()  # every record gets its request id ("-" outside a request)
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:
        # Their start-up chatter (plugins, migrations, tracing) says nothing a user acts on.
        for noisy in ("alembic", "absl", "tensorflow"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    if args.handler in (train.run, cmd_evaluate, cmd_calibrate, cmd_export):
        import_tensorflow_quietly()
    from artifact.errors import ArtifactError

    try:
        return args.handler(args) or 0
    except ArtifactError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artifact",
        description="ArtiFact: tell whether an artwork image was made by a person or generated "
        "by AI, how sure that is, and why.",
        formatter_class=HelpWithDefaults,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, and TensorFlow's and LiteRT's notices"
    )
    parser.add_argument("--version", action="version", version=_version_text())
    commands = parser.add_subparsers(title="commands")

    train.register(commands)

    evaluate = commands.add_parser(
        "evaluate",
        **SHOW_DEFAULTS,
        help="write a run's evaluation report, or measure an exported model as served",
    )
    evaluate.add_argument(
        "--model", required=True, help="run directory, or a model directory (model.tflite + model.json)"
    )
    evaluate.add_argument("--data", help="dataset (default: the run's held-out test split)")
    evaluate.add_argument("--layout", choices=["artbench", "manifest", "folders"])
    evaluate.add_argument("--robustness-limit", type=int)
    evaluate.add_argument("--json-out", help="an exported model's figures as JSON, to this file")
    evaluate.add_argument(
        "--invariance",
        type=int,
        nargs="?",
        const=100,
        default=0,
        metavar="PER_CLASS",
        help="an exported model: also the invariance audit on PER_CLASS images per class (100)",
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    calibrate = commands.add_parser(
        "calibrate",
        **SHOW_DEFAULTS,
        help="refit an exported model's decision rule on its own validation split",
    )
    calibrate.add_argument("--model", required=True, help="model directory (model.json is rewritten)")
    calibrate.add_argument(
        "--data", action="append", required=True, help="the datasets it was trained on, in order"
    )
    calibrate.add_argument("--max-false-ai", type=float, help="default: the card's training setting")
    calibrate.add_argument("--max-missed-ai", type=float, help="default: the card's training setting")
    calibrate.add_argument("--false-ai-scope", choices=["pooled", "worst_source"])
    calibrate.set_defaults(handler=cmd_calibrate)

    export = commands.add_parser("export", **SHOW_DEFAULTS, help="export a run to LiteRT and verify it")
    export.add_argument("--run", required=True, help="run directory")
    export.add_argument("--quantize", choices=["none", "dynamic", "int8"], default="none")
    export.add_argument("--verify-images", type=int, default=200)
    export.set_defaults(handler=cmd_export)

    predict = commands.add_parser("predict", **SHOW_DEFAULTS, help="human or AI? for one or more images")
    predict.add_argument("images", nargs="+", help="image files")
    predict.add_argument("--model", help="model directory (default: the bundled model)")
    predict.add_argument("--json", action="store_true", help="print a JSON array")
    predict.set_defaults(handler=cmd_predict)

    inspect_cmd = commands.add_parser(
        "inspect", **SHOW_DEFAULTS, help="provenance evidence a file carries about its origin"
    )
    inspect_cmd.add_argument("images", nargs="+", help="image files")
    inspect_cmd.add_argument("--json", action="store_true", help="print a JSON array")
    inspect_cmd.set_defaults(handler=cmd_inspect)

    explain = commands.add_parser(
        "explain", **SHOW_DEFAULTS, help="heatmap of where the model sees AI traces"
    )
    explain.add_argument("image")
    explain.add_argument("--out", required=True, help="PNG to write")
    explain.add_argument("--model", help="model directory (default: the bundled model)")
    explain.set_defaults(handler=cmd_explain)

    scan = commands.add_parser(
        "scan",
        **SHOW_DEFAULTS,
        help="analyse every image under a folder or an s3:// prefix",
        description="Local: a process pool writing a .csv/.json/.html report. Distributed (--cluster, "
        "--scheduler, or an s3:// input or output): Dask, writing Parquet partitions under --out.",
    )
    scan.add_argument("folder", help="a folder, or s3://bucket/prefix (distributed mode)")
    scan.add_argument(
        "--out", required=True, help="report (.csv, .json, .html), or a folder / s3:// prefix for Parquet"
    )
    scan.add_argument("--model", help="model directory (default: the bundled model)")
    scan.add_argument("--workers", type=int, help="local mode: processes (default: 2)")
    scan.add_argument("--cluster", help="local or local:N: run on a Dask LocalCluster of N processes")
    scan.add_argument("--scheduler", help="tcp://HOST:8786: run on an existing Dask cluster")
    scan.add_argument("--partition-size", type=int, default=256, help="files per Parquet partition")
    scan.add_argument("--s3-endpoint", help="S3-compatible endpoint URL (MinIO, Ceph, an emulator)")
    scan.set_defaults(handler=cmd_scan)

    serve = commands.add_parser("serve", **SHOW_DEFAULTS, help="run the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--data-dir", help="where the service keeps everything (ARTIFACT_DATA_DIR)")
    serve.add_argument("--model", help="model directory (ARTIFACT_MODEL_DIR; default: bundled)")
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser(
        "worker",
        **SHOW_DEFAULTS,
        help="process batch jobs (POST /v1/jobs) from the PostgreSQL queue",
        description="Same settings as `artifact serve` (ARTIFACT_* variables); needs PostgreSQL.",
    )
    worker.add_argument("--data-dir", help="the service's data directory (ARTIFACT_DATA_DIR)")
    worker.add_argument("--model", help="model directory (ARTIFACT_MODEL_DIR; default: bundled)")
    worker.add_argument(
        "--concurrency", type=int, help="jobs at once (ARTIFACT_WORKER_CONCURRENCY, default 1)"
    )
    worker.set_defaults(handler=cmd_worker)

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
    create_user.set_defaults(handler=cmd_users_create)
    list_users = users_commands.add_parser("list", **SHOW_DEFAULTS, help="every account: name, email, role")
    list_users.add_argument("--data-dir", help="the service's data directory")
    list_users.add_argument("--json", action="store_true", help="print a JSON array")
    list_users.set_defaults(handler=cmd_users_list)
    set_password = users_commands.add_parser(
        "set-password", **SHOW_DEFAULTS, help="give an account a new password (its tokens are revoked)"
    )
    set_password.add_argument("username")
    set_password.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    set_password.add_argument("--data-dir", help="the service's data directory")
    set_password.set_defaults(handler=cmd_users_set_password)
    set_role = users_commands.add_parser("set-role", **SHOW_DEFAULTS, help="make an account admin or juror")
    set_role.add_argument("username")
    set_role.add_argument("role", choices=["admin", "juror"])
    set_role.add_argument("--data-dir", help="the service's data directory")
    set_role.set_defaults(handler=cmd_users_set_role)

    data = commands.add_parser("data", **SHOW_DEFAULTS, help="dataset tools")
    data_commands = data.add_subparsers(title="data commands")
    inspect = data_commands.add_parser(
        "inspect", **SHOW_DEFAULTS, help="per-class file statistics and shortcut audit"
    )
    inspect.add_argument("path", nargs="+", help="one or more datasets, read as one")
    inspect.add_argument("--layout", choices=["artbench", "manifest", "folders"])
    inspect.add_argument("--task", choices=["binary", "source", "style"], default="binary")
    inspect.add_argument("--limit", type=int, default=2000, help="images sampled per class")
    inspect.add_argument("--canonical-size", type=int, default=256)
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(handler=cmd_data_inspect)
    return parser


def cmd_evaluate(args: argparse.Namespace) -> int:
    if (Path(args.model) / "model.json").is_file() and not (Path(args.model) / "config.json").is_file():
        return _evaluate_served(args)
    from artifact.training.job import evaluate_only

    metrics = evaluate_only(args.model, args.data, args.layout, args.robustness_limit)
    print_metrics(metrics)
    return 0


def _evaluate_served(args: argparse.Namespace) -> int:
    """An exported model, measured through the engine and its card's decision rule."""
    from artifact.data.layouts import load_dataset
    from artifact.errors import UserFacingError
    from artifact.training.served import evaluate_served

    if not args.data:
        raise UserFacingError("an exported model has no recorded splits: give --data")
    dataset = load_dataset(args.data, args.layout)
    samples = [s for s in dataset.samples if not dataset.has_official_test or s.official_split == "test"]
    metrics = evaluate_served(args.model, samples, invariance_per_class=args.invariance)
    _print_served(metrics)
    if "invariance" in metrics:
        _print_invariance(metrics["invariance"])
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(metrics, indent=1) + "\n")
    return 0


def _print_served(metrics: dict) -> None:
    table = Table(title=f"verdicts served on {metrics['images']} images")
    for column in ("group", "images", "ai", "uncertain", "human"):
        table.add_column(column)
    rows = [(f"class {k}", v) for k, v in metrics["served"].items()]
    rows += list(metrics["per_source"].items())
    for name, mix in rows:
        table.add_row(name, str(mix["images"]), *(f"{mix[v]:.1%}" for v in ("ai", "uncertain", "human")))
    console.print(table)
    if "roc_auc" in metrics:
        console.print(
            f"ROC-AUC {metrics['roc_auc']:.4f}; calibration error {metrics['ece_before']:.4f} (raw) "
            f"-> {metrics['ece_after']:.4f} (served)"
        )


def _print_invariance(audit: dict) -> None:
    table = Table(title="invariance: share called ai (shift from the original) per variant")
    for column in ("variant", "human", "ai", "mean |Δ P(AI)| human / ai"):
        table.add_column(column)
    for name, entry in audit["variants"].items():
        cells = [f"{entry[c]['called_ai']:.1%} ({entry[c]['shift']:+.1%})" if c in entry else "-"
                 for c in ("human", "ai")]  # fmt: skip
        deltas = " / ".join(f"{entry[c]['mean_abs_delta_prob']:.3f}" for c in ("human", "ai") if c in entry)
        table.add_row(name, *cells, deltas)
    console.print(table)
    verdict = "within" if audit["within_target"] else "[bold red]outside[/]"
    console.print(f"worst shift {audit['worst_shift']:.1%}: {verdict} the {audit['target_shift']:.0%} target")


def cmd_calibrate(args: argparse.Namespace) -> int:
    from artifact.training.recalibrate import recalibrate_model

    card = recalibrate_model(
        args.model, args.data, max_false_ai=args.max_false_ai, max_missed_ai=args.max_missed_ai,
        false_ai_scope=args.false_ai_scope,
    )  # fmt: skip
    rule = card["decision"]
    console.print(
        f"{card['name']}: human at P(AI) <= {rule['human_cut']}, ai at >= {rule['ai_cut']} "
        f"({rule['calibration']['method']} calibration)"
    )
    _print_served(card["metrics"]["served_test"])
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from artifact.training.job import export_only

    card = export_only(args.run, args.quantize, args.verify_images)
    verification = card["export"]["verification"]
    console.print(
        f"exported {card['name']} ({args.quantize}): {verification['compared']} agreement "
        f"{verification[verification['compared'] + '_agreement']:.2%} on "
        f"{verification['images']} held-out images, "
        f"max probability difference {verification['max_probability_difference']:.2e}"
    )
    return 0


def _predictor(model_dir: str | None):
    from artifact.errors import UserFacingError
    from artifact.inference.engine import ModelNotFoundError, Predictor

    try:
        return Predictor(model_dir)
    except ModelNotFoundError as exc:
        raise UserFacingError(str(exc)) from exc


def cmd_predict(args: argparse.Namespace) -> int:
    from artifact.scan import analyse_path

    predictor = _predictor(args.model)
    rows = [analyse_path(predictor, path, thumbnails=False) for path in args.images]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table(title=f"model {predictor.card.name}")
        for column in ("file", "verdict", "P(AI)", "sha256"):
            table.add_column(column)
        for row in rows:
            if row.get("error"):
                table.add_row(row["path"], "[red]error[/]", "", row["error"])
            else:
                prob = row["prob_ai"]
                table.add_row(
                    row["path"],
                    row["verdict"],
                    "" if prob is None else f"{prob:.3f}",
                    row["sha256"][:16],
                )
        console.print(table)
    return 1 if all(row.get("error") for row in rows) else 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from artifact.config import get_settings
    from artifact.inference.decode import ImageDecodeError, read_limited_bytes
    from artifact.provenance import collect_evidence

    rows = []
    for path in args.images:
        try:
            anchors = get_settings().c2pa_trust_anchors_pem()
            evidence = [e.to_dict() for e in collect_evidence(read_limited_bytes(path), anchors)]
            rows.append({"path": path, "evidence": evidence})
        except ImageDecodeError as exc:
            rows.append({"path": path, "error": exc.message, "error_code": exc.code})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 1 if all(row.get("error") for row in rows) else 0
    for row in rows:
        console.print(f"[bold]{row['path']}[/]")
        if row.get("error"):
            console.print(f"  [red]error:[/] {row['error']}")
        elif not row["evidence"]:
            console.print("  no provenance evidence (which says nothing either way)")
        for item in row.get("evidence", []):
            colour = "red" if item["points_to"] == "ai" else "green"
            console.print(f"  [{colour}]{item['strength']} → {item['points_to']}[/]: {item['summary']}")
    return 1 if all(row.get("error") for row in rows) else 0


def cmd_explain(args: argparse.Namespace) -> int:
    import time

    from artifact.errors import UserFacingError
    from artifact.inference.decode import ImageDecodeError, read_image_file
    from artifact.inference.explain import occlusion_map, overlay_png

    predictor = _predictor(args.model)
    try:
        image = read_image_file(args.image)
    except ImageDecodeError as exc:
        raise UserFacingError(f"{args.image}: {exc.message}") from exc
    started = time.perf_counter()
    heatmap = occlusion_map(predictor, image)
    Path(args.out).write_bytes(overlay_png(image, heatmap))
    console.print(
        f"P(AI) {heatmap.prob_ai:.3f}; occlusion heatmap ({heatmap.sensitivity.shape[0]}² cells, "
        f"{heatmap.evaluations} crops scored in {time.perf_counter() - started:.2f} s) -> {args.out}"
    )
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from artifact.errors import UserFacingError
    from artifact.scan import scan_folder

    suffix = Path(args.out).suffix.lower()
    report = suffix in (".csv", ".json", ".html", ".htm")
    remote = args.folder.startswith("s3://") or args.out.startswith("s3://")
    looks_like_a_file = suffix[1:].isalpha() and not Path(args.out).is_dir()
    if looks_like_a_file and not report and not remote and suffix != ".parquet":
        # Not a silent switch to a Parquet folder named "report.xlsx".
        raise UserFacingError(
            f"--out {args.out}: unknown report format {suffix!r}; use .csv, .json or .html, or a "
            "folder (or s3:// prefix) for the distributed scan's Parquet"
        )
    if args.cluster or args.scheduler or remote or not report:
        return _scan_distributed(args)
    if not Path(args.folder).is_dir():
        raise UserFacingError(f"not a folder: {args.folder}")
    model_dir = _predictor(args.model).model_dir
    summary = scan_folder(args.folder, args.out, model_dir, workers=args.workers)
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_verdict.items())) or "none"
    console.print(
        f"scanned {summary.scanned} new files ({summary.skipped_existing} already in the report); "
        f"verdicts: {verdicts}; failed: {summary.failed}; report: {summary.report}"
    )
    return 0


def _scan_distributed(args: argparse.Namespace) -> int:
    from artifact.errors import UserFacingError

    try:
        from artifact import distributed_scan
    except ImportError as exc:
        raise UserFacingError(
            f"distributed scans need the cluster extra: pip install 'artifact[cluster]' ({exc})"
        ) from None
    if Path(args.out).suffix.lower() in (".csv", ".json", ".html", ".htm"):
        raise UserFacingError("a distributed scan writes Parquet: give --out a folder or an s3:// prefix")
    if not args.folder.startswith("s3://") and not Path(args.folder).is_dir():
        raise UserFacingError(f"not a folder: {args.folder}")
    if args.partition_size < 1:
        raise UserFacingError("--partition-size must be at least 1")
    if args.cluster:
        try:
            distributed_scan.parse_cluster(args.cluster)
        except ValueError as exc:
            raise UserFacingError(str(exc)) from None
    model = str(_predictor(args.model).model_dir) if args.model else None  # None: each worker's bundled
    with distributed_scan.dask_client(args.cluster, args.scheduler) as client:
        summary = distributed_scan.scan_distributed(
            args.folder, args.out, client=client, model_dir=model, endpoint=args.s3_endpoint,
            partition_size=args.partition_size, progress=console.is_terminal,
        )  # fmt: skip
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_verdict.items())) or "none"
    rate = summary.scanned / summary.seconds if summary.seconds else 0.0
    console.print(
        f"scanned {summary.scanned} new files ({summary.skipped_existing} already written) in "
        f"{summary.partitions} partitions, {rate:.1f} images/s; verdicts: {verdicts}; "
        f"failed: {summary.failed}; output: {args.out}"
    )
    if summary.failed_partitions:
        err_console.print(
            f"{summary.failed_partitions} partitions failed: run the same command again to retry them"
        )
        return 1
    return 0


def _service_env(args: argparse.Namespace) -> None:
    """Pass CLI overrides to the service through its environment (workers inherit it)."""
    if getattr(args, "data_dir", None):
        os.environ["ARTIFACT_DATA_DIR"] = str(Path(args.data_dir).resolve())
    if getattr(args, "model", None):
        os.environ["ARTIFACT_MODEL_DIR"] = str(Path(args.model).resolve())


def _migrated_engine(settings):
    """A writer engine on the service's database, its data directory created and schema current."""
    from artifact.storage.database import create_db_engine, migrate

    settings.prepare()
    engine = create_db_engine(settings.resolved_database_url, writer=True)
    migrate(engine)
    return engine


def _version_text() -> str:
    """The package version and the bundled model's name, digest and card format."""
    import json

    from artifact import __version__
    from artifact.inference.engine import bundled_model_dir

    try:
        card = json.loads((bundled_model_dir() / "model.json").read_text())
        model = (
            f"bundled model {card['name']} (sha256 {card['sha256'][:12]}, card format {card['card_format']})"
        )
    except (OSError, ValueError, KeyError):
        model = "no bundled model"
    return f"artifact {__version__}; {model}"


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


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from artifact.api.server_protocol import GuardedH11Protocol
    from artifact.config import Settings

    _require_free_port(args.host, args.port)
    _service_env(args)
    settings = Settings()
    problem = settings.replica_problem(args.workers)
    if problem:
        err_console.print(f"[red]error:[/] {problem}")
        return 2
    _predictor(str(settings.model_dir) if settings.model_dir else None)  # fail fast, clearly
    # Migrate once here, before workers start, so they never race on the schema.
    _migrated_engine(settings).dispose()
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


def cmd_worker(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from artifact.config import Settings
    from artifact.errors import UserFacingError

    _service_env(args)
    if args.concurrency:
        os.environ["ARTIFACT_WORKER_CONCURRENCY"] = str(args.concurrency)
    settings = Settings()
    try:
        from artifact.jobs import queue
        from artifact.jobs.runner import WorkerContext, run_job
    except ImportError as exc:
        raise UserFacingError(
            f"the worker needs the cluster extra: pip install 'artifact[cluster]' ({exc})"
        ) from None
    try:
        queue.conninfo(settings.resolved_database_url)
    except queue.JobsUnavailable as exc:
        raise UserFacingError(str(exc)) from None
    from artifact.api.routes.analyses import limits_of
    from artifact.inference.memory_budget import MemoryBudget
    from artifact.storage.database import session_factory
    from artifact.storage.stores import open_image_store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    engine = _migrated_engine(settings)
    queue.ensure_queue_schema(engine)
    context = WorkerContext(
        sessions=session_factory(engine),
        store=open_image_store(settings),
        predictor=_predictor(str(settings.model_dir) if settings.model_dir else None),
        limits=limits_of(settings),
        memory_budget=MemoryBudget(settings.memory_budget_mb * 1024 * 1024),
        c2pa_trust_anchors=settings.c2pa_trust_anchors_pem(),
    )
    app = queue.make_queue(
        settings.resolved_database_url,
        run=lambda job_id: run_job(context, job_id, settings.job_turn_files),
        sessions=context.sessions,
    )
    console.print(
        f"ArtiFact worker: model {context.predictor.card.name}, images in {context.store.describe()}"
    )
    try:
        asyncio.run(queue.run_worker(app, context.sessions, settings))
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    from artifact.config import Settings
    from artifact.errors import UserFacingError
    from artifact.storage import crud
    from artifact.storage.database import session_factory

    _service_env(args)
    password = _new_password(args, args.username, args.email)
    engine = _migrated_engine(Settings())
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


def cmd_users_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from artifact.config import Settings
    from artifact.storage.database import session_factory
    from artifact.storage.tables import User

    _service_env(args)
    engine = _migrated_engine(Settings())
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


def cmd_users_set_password(args: argparse.Namespace) -> int:
    from artifact.config import Settings
    from artifact.security import hash_password
    from artifact.storage.database import session_factory
    from artifact.storage.tables import new_session_key

    _service_env(args)
    engine = _migrated_engine(Settings())
    with session_factory(engine).begin() as session:
        user = _account(session, args.username)
        user.password_hash = hash_password(_new_password(args, user.username, user.email))
        user.session_key = new_session_key()  # every token issued before is revoked
    engine.dispose()
    console.print(f"new password set for {args.username}; their earlier tokens no longer work")
    return 0


def cmd_users_set_role(args: argparse.Namespace) -> int:
    from artifact.config import Settings
    from artifact.storage.database import session_factory

    _service_env(args)
    engine = _migrated_engine(Settings())
    with session_factory(engine).begin() as session:
        _account(session, args.username).role = args.role
    engine.dispose()
    console.print(f"{args.username} is now {args.role}")
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    from artifact.data.inspect import inspect_dataset

    report = inspect_dataset(args.path, args.layout, args.task, args.limit, args.canonical_size)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for section in ("files", "canonical"):
        audit = report[section]
        title = "as files" if section == "files" else "after canonicalisation (what the model sees)"
        table = Table(title=f"{report['root']} — {title}")
        for column in (
            "class",
            "images",
            "size (median)",
            "formats",
            "JPEG quality (median)",
            "bytes/pixel",
        ):
            table.add_column(column)
        for name, stats in audit["per_class"].items():
            quality = stats["jpeg_quality"]
            table.add_row(
                name,
                str(stats["images"]),
                f"{stats['width']['median']:.0f}x{stats['height']['median']:.0f}",
                ", ".join(f"{k} {v}" for k, v in stats["formats"].items()),
                f"{quality['median']:.0f}" if quality else "-",
                f"{stats['bytes_per_pixel']['median']:.3f}",
            )
        console.print(table)
        if audit["per_source"]:
            _print_source_audit(audit["per_source"])
        flagged = [k for k, v in audit["shortcuts"].items() if v["shortcut"]]
        scores = ", ".join(f"{k} {v['balanced_accuracy']:.2f}" for k, v in audit["shortcuts"].items())
        console.print(f"one-split tree balanced accuracy per property: {scores}")
        if flagged:
            console.print(f"[bold red]SHORTCUT[/]: {', '.join(flagged)} alone separate the classes")
        else:
            console.print("[green]no single property separates the classes[/]")
        if audit["unreadable"]:
            console.print(f"[yellow]{len(audit['unreadable'])} unreadable files[/]")
    return 0


def _print_source_audit(per_source: dict) -> None:
    table = Table(title="per source: the best single property against the other classes")
    for column in ("source", "class", "images", "size (median)", "formats", "best property", "bal. acc."):
        table.add_column(column)
    for source, entry in per_source.items():
        scores = entry.get("vs_other_classes") or {}
        best = max(scores.items(), key=lambda kv: kv[1]["balanced_accuracy"], default=None)
        flag = best is not None and best[1]["shortcut"]
        table.add_row(
            source,
            entry["class"],
            str(entry["images"]),
            entry["size_median"],
            ", ".join(f"{k} {v}" for k, v in entry["formats"].items()),
            best[0] if best else "-",
            (
                f"[bold red]{best[1]['balanced_accuracy']:.2f}[/]"
                if flag
                else f"{best[1]['balanced_accuracy']:.2f}"
            )
            if best
            else "-",
        )
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
