"""``artifact scan FOLDER --out report.{csv,json,html}``: a local process pool, resumable.

The pool runs the scan's one partition function (:func:`~artifact.scanning.partition.analyse_keys`)
on small partitions of the folder's listing, each process with its model loaded once; the
report is rewritten every ``FLUSH_EVERY`` rows, so an interrupted scan resumes where it stopped.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from artifact.scanning.partition import analyse_keys
from artifact.scanning.reports import read_report, write_report
from artifact.scanning.rows import model_header, printable_path
from artifact.scanning.sources import iter_input_keys

# Rows are written to the report every this many images, so an interrupted scan resumes.
FLUSH_EVERY = 100
# Files per task handed to a pool process: small, so the report and the bar move steadily.
PARTITION_FILES = 8


@dataclass
class ScanSummary:
    scanned: int
    skipped_existing: int
    failed: int
    by_verdict: dict[str, int]
    report: Path


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursively, hidden and non-regular files excluded), sorted."""
    return sorted(Path(key) for key in iter_input_keys(str(root)))


def scan_folder(
    root: str | Path,
    report: str | Path,
    model_dir: str | Path,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> ScanSummary:
    """Analyse images under ``root`` not already in ``report`` and (re)write the report.

    The report's format follows its extension: ``.csv``, ``.json`` or ``.html``.
    """
    root, report = Path(root), Path(report)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    rows = read_report(report) if report.exists() else []
    done = {row["path"] for row in rows if not row.get("error")}
    rows = [row for row in rows if row["path"] in done]  # failed files are retried
    todo = [str(p) for p in find_images(root) if printable_path(str(p)) not in done]
    thumbnails = report.suffix.lower() in (".html", ".htm")
    if thumbnails:
        from artifact.scanning.reports import thumbnail_data_uri

        for row in rows:
            row["thumbnail"] = thumbnail_data_uri(row["path"])
    workers = workers or min(2, os.cpu_count() or 1)
    header = model_header(model_dir)
    new_rows = 0
    for row in _run(todo, str(model_dir), thumbnails, workers, progress):
        rows.append(row)
        new_rows += 1
        if new_rows % FLUSH_EVERY == 0:
            write_report(report, rows, header)
    write_report(report, rows, header)
    fresh = rows[len(rows) - new_rows :]
    return ScanSummary(
        scanned=new_rows,
        skipped_existing=len(done),
        failed=sum(1 for row in fresh if row.get("error")),
        by_verdict=dict(Counter(row["verdict"] for row in rows if not row.get("error"))),
        report=report,
    )


def _run(todo: list[str], model_dir: str, thumbnails: bool, workers: int, progress: bool) -> Iterator[dict]:
    partitions = [todo[i : i + PARTITION_FILES] for i in range(0, len(todo), PARTITION_FILES)]
    if workers <= 1 or len(todo) < PARTITION_FILES:
        results = (analyse_keys(keys, model_dir, None, thumbnails) for keys in partitions)
        yield from _track(results, len(todo), progress)
        return
    with ProcessPoolExecutor(workers) as pool:
        jobs = pool.map(analyse_keys, partitions, [model_dir] * len(partitions), [None] * len(partitions),
                        [thumbnails] * len(partitions))  # fmt: skip
        yield from _track(jobs, len(todo), progress)


def _track(results: Iterator[list[dict]], total: int, progress: bool) -> Iterator[dict]:
    if not progress:
        for rows in results:
            yield from rows
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("scanning", total=total)
        for rows in results:
            yield from rows
            bar.advance(task, len(rows))
