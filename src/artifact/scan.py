"""``artifact scan``: analyse every image under a folder, in parallel, resumably."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from artifact.inference.decode import ImageDecodeError, decode_upload, read_limited_bytes
from artifact.inference.formats import is_image_path
from artifact.provenance import apply_policy, collect_evidence
from artifact.reports import printable_path, read_report, write_report

# Rows are written to the report every this many images, so an interrupted scan resumes.
FLUSH_EVERY = 100
_worker_predictor = None


@dataclass
class ScanSummary:
    scanned: int
    skipped_existing: int
    failed: int
    by_verdict: dict[str, int]
    report: Path


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursively, hidden and non-regular files excluded), sorted."""
    return sorted(p for p in root.rglob("*") if is_image_path(p))


def analyse_path(predictor, path: str, thumbnails: bool) -> dict:
    """One report row: verdict, probability and evidence, or the error that stopped it."""
    try:
        data = read_limited_bytes(path)
    except ImageDecodeError as exc:
        return {"path": printable_path(path), "error": exc.message, "error_code": exc.code}
    row = analyse_bytes(predictor, path, data)
    if thumbnails and not row.get("error"):
        from artifact.reports import thumbnail_data_uri

        row["thumbnail"] = thumbnail_data_uri(path)
    return row


def analyse_bytes(predictor, path: str, data: bytes) -> dict:
    """The row for one file's bytes (read from a folder or an object store)."""
    path = printable_path(path)
    try:
        decoded = decode_upload(data)
        result = predictor.predict_images([decoded.image], [hashlib.sha256(data).hexdigest()])[0]
    except ImageDecodeError as exc:
        return {"path": path, "error": exc.message, "error_code": exc.code}
    evidence = collect_evidence(data, _trust_anchors(), image=decoded.image)
    decision = apply_policy(result.verdict, evidence)
    row = {
        "path": path,
        "verdict": decision.verdict or result.label,
        "model_verdict": result.verdict,
        "prob_ai": result.prob_ai,
        "score": result.score,
        "sha256": result.sha256,
        "width": result.width,
        "height": result.height,
        "evidence": [e.to_dict() for e in evidence],
    }
    if decision.decided_by == "evidence":
        row["verdict_reason"] = decision.reason
    return row


def _trust_anchors() -> str | None:
    from artifact.config import get_settings

    return get_settings().c2pa_trust_anchors_pem()


def _init_worker(model_dir: str) -> None:
    global _worker_predictor
    from artifact.inference.engine import Predictor

    _worker_predictor = Predictor(model_dir, num_threads=1)


def _work(job: tuple[str, bool]) -> dict:
    return analyse_path(_worker_predictor, *job)


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
        from artifact.reports import thumbnail_data_uri

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


def model_header(model_dir: str | Path) -> dict:
    """What a report says about the model that decided: name, digest and cut points."""
    from datetime import UTC, datetime

    from artifact.inference.card import ModelCard
    from artifact.inference.engine import resolve_model_dir

    card = ModelCard.read(resolve_model_dir(model_dir) / "model.json")
    rule = card.rule if card.detects_ai else None
    return {
        "model": card.name,
        "sha256": card.sha256,
        "cut_points": {"human": rule.human_cut, "ai": rule.ai_cut} if rule else None,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _run(todo: list[str], model_dir: str, thumbnails: bool, workers: int, progress: bool) -> Iterator[dict]:
    jobs = [(path, thumbnails) for path in todo]
    if workers <= 1 or len(todo) < 8:
        _init_worker(model_dir)
        results: Iterator[dict] = map(_work, jobs)
        yield from _track(results, len(todo), progress)
        return
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(model_dir,)) as pool:
        yield from _track(pool.map(_work, jobs, chunksize=8), len(todo), progress)


def _track(results: Iterator[dict], total: int, progress: bool) -> Iterator[dict]:
    if not progress:
        yield from results
        return
    from rich.progress import track

    yield from track(results, total=total, description="scanning")
