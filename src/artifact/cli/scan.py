"""``artifact scan``: every image under a folder (a local pool) or an s3:// prefix (Dask)."""

from __future__ import annotations

import argparse
from pathlib import Path

from artifact.cli.common import (
    SHOW_DEFAULTS,
    console,
    err_console,
    load_predictor,
)


def register(commands) -> None:
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
    scan.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from artifact.errors import UserFacingError
    from artifact.scanning.local import scan_folder

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
    model_dir = load_predictor(args.model).model_dir
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
        from artifact.scanning import distributed as distributed_scan
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
    model = str(load_predictor(args.model).model_dir) if args.model else None  # None: each worker's bundled
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
