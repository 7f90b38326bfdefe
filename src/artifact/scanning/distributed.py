"""``artifact scan --cluster/--scheduler``: a scan on Dask, from a folder or an S3 prefix, to Parquet.

The client streams the input listing (never one giant list), cuts it into partitions of
files and keeps a bounded number of them in flight on the cluster. Each worker process loads
the model once and writes each partition it analyses as one Parquet file, named by the
partition: when a worker dies, Dask runs its partitions again elsewhere and the rerun
replaces the same file, so every key is written exactly once. A resumed scan reads the keys
already written and skips them.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from artifact.scanning.rows import ROW_SCHEMA, printable_path
from artifact.scanning.sources import is_s3, iter_input_keys

log = logging.getLogger(__name__)

DEFAULT_PARTITION_SIZE = 256


@dataclass
class PartitionResult:
    part: str
    files: int
    failed: int
    verdicts: dict[str, int]
    worker_pid: int
    model_loads: int  # in that worker process so far: 1 means loaded once per process


@dataclass
class DistributedScanSummary:
    scanned: int = 0
    skipped_existing: int = 0
    failed: int = 0
    partitions: int = 0
    failed_partitions: int = 0
    by_verdict: Counter = field(default_factory=Counter)
    model_loads: dict[int, int] = field(default_factory=dict)  # worker pid -> loads
    seconds: float = 0.0


# ---- outputs: a local folder or an s3:// prefix -------------------------------------------


def _output_store(output: str, endpoint: str | None):
    """The object store of an s3:// output (its prefix applied), or None for a local folder."""
    if is_s3(output):
        from artifact.storage.object_store import open_bucket

        return open_bucket(output, endpoint)[0]
    Path(output).mkdir(parents=True, exist_ok=True)
    return None


def list_parts(output: str, endpoint: str | None = None) -> list[str]:
    """Names of the Parquet partitions already written under ``output``."""
    store = _output_store(output, endpoint)
    if store is None:
        return sorted(p.name for p in Path(output).glob("part-*.parquet"))
    from artifact.storage.object_store import iter_objects

    names = (meta["path"] for meta in iter_objects(store))  # relative to the output prefix
    return sorted(n for n in names if "/" not in n and n.startswith("part-") and n.endswith(".parquet"))


def read_part(output: str, name: str, endpoint: str | None = None, columns: list[str] | None = None):
    """One partition as a pyarrow table."""
    import pyarrow.parquet as pq

    store = _output_store(output, endpoint)
    if store is None:
        return pq.read_table(Path(output) / name, columns=columns)
    import obstore

    return pq.read_table(io.BytesIO(bytes(obstore.get(store, name).bytes())), columns=columns)


def written_keys(output: str, endpoint: str | None = None) -> set[str]:
    """Every key a previous run wrote (only the ``path`` column is read)."""
    keys: set[str] = set()
    for name in list_parts(output, endpoint):
        keys.update(read_part(output, name, endpoint, columns=["path"]).column("path").to_pylist())
    return keys


def _write_part(output: str, name: str, rows: list[dict], endpoint: str | None) -> None:
    """Write one partition whole or not at all (temporary name + rename, or one S3 PUT)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(column, getattr(pa, kind)()) for column, kind in ROW_SCHEMA.items()])
    table = pa.Table.from_pylist([_flat(row) for row in rows], schema=schema)
    store = _output_store(output, endpoint)
    if store is None:
        target = Path(output) / name
        tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, target)
        return
    import obstore

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    obstore.put(store, name, buffer.getvalue())


def _flat(row: dict) -> dict:
    flat = {column: row.get(column) for column in ROW_SCHEMA}
    flat["evidence"] = json.dumps(row["evidence"]) if row.get("evidence") else None
    return flat


# ---- the task a worker runs -----------------------------------------------------------------


def scan_partition(
    keys: list[str], output: str, part: str, model_dir: str | None, endpoint: str | None
) -> PartitionResult:
    """Analyse one partition (the scan's one partition function) and write it whole."""
    from artifact.scanning import partition

    rows = partition.analyse_keys(keys, model_dir, endpoint)
    _write_part(output, part, rows, endpoint)
    return PartitionResult(
        part=part,
        files=len(rows),
        failed=sum(1 for row in rows if row.get("error")),
        verdicts=dict(Counter(row["verdict"] for row in rows if not row.get("error"))),
        worker_pid=os.getpid(),
        model_loads=partition.model_loads,
    )


# ---- the client ----------------------------------------------------------------------------


def parse_cluster(spec: str) -> int:
    """``local`` or ``local:N`` -> N worker processes (default: one per core)."""
    name, _, count = spec.partition(":")
    if name != "local" or (count and not count.isdigit()) or count == "0":
        raise ValueError(f"--cluster takes local or local:N, not {spec!r}")
    return int(count) if count else (os.cpu_count() or 1)


@contextmanager
def dask_client(cluster: str | None = None, scheduler: str | None = None) -> Iterator:
    """A Dask client on an existing cluster, or on a LocalCluster of single-threaded worker
    processes started here (and closed with the client)."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)  # its start/stop chatter
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    workers = parse_cluster(cluster or "local")
    import dask

    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which also pins glibc's
    # mmap threshold low: every decoded image is then fresh pages from the kernel, which
    # halved our throughput (benchmarks/scan_scale.py). Leave glibc's adaptive default.
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.WARNING,
    ) as local, Client(local) as client:  # fmt: skip
        yield client


def _partitions(keys: Iterator[str], done: set[str], size: int, stats) -> Iterator[list[str]]:
    batch: list[str] = []
    for key in keys:
        if printable_path(key) in done:  # rows hold names as every report format can
            stats.skipped_existing += 1
            continue
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def scan_distributed(
    source: str,
    output: str,
    *,
    client,
    model_dir: str | None = None,
    endpoint: str | None = None,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    progress: bool = True,
) -> DistributedScanSummary:
    """Scan ``source`` (folder or s3:// prefix) into Parquet partitions under ``output``."""
    from distributed import as_completed

    summary = DistributedScanSummary()
    started = time.perf_counter()
    done = written_keys(output, endpoint)
    run = time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    threads = sum(client.nthreads().values()) or 1
    in_flight = as_completed()
    bar = _Progress(progress)
    try:
        for index, keys in enumerate(
            _partitions(iter_input_keys(source, endpoint), done, partition_size, summary)
        ):
            while in_flight.count() >= 2 * threads:  # bounded: the listing may be millions long
                _collect(next(in_flight), summary, bar)
            part = f"part-{run}-{index:06d}.parquet"
            bar.listed(len(keys))
            future = client.submit(
                scan_partition, keys, output, part, model_dir, endpoint, key=f"scan-{part}", pure=False
            )
            in_flight.add(future)
        for future in in_flight:
            _collect(future, summary, bar)
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _collect(future, summary: DistributedScanSummary, bar) -> None:
    try:
        result: PartitionResult = future.result()
    except Exception as exc:  # noqa: BLE001 - its keys stay unwritten; a rerun retries them
        log.error("a partition failed and was not written (rerun the scan to retry it): %s", exc)
        summary.failed_partitions += 1
        return
    summary.partitions += 1
    summary.scanned += result.files
    summary.failed += result.failed
    summary.by_verdict.update(result.verdicts)
    summary.model_loads[result.worker_pid] = max(
        summary.model_loads.get(result.worker_pid, 0), result.model_loads
    )
    bar.advance(result.files)


class _Progress:
    """A rich progress bar whose total grows as the listing streams in."""

    def __init__(self, enabled: bool):
        self.progress = None
        if enabled:
            from rich.progress import Progress

            self.progress = Progress()
            self.progress.start()
            self.task = self.progress.add_task("scanning", total=0)

    def listed(self, count: int) -> None:
        if self.progress:
            total = self.progress.tasks[0].total or 0
            self.progress.update(self.task, total=total + count)

    def advance(self, count: int) -> None:
        if self.progress:
            self.progress.advance(self.task, count)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
