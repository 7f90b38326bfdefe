"""Scan reports as CSV, JSON or a self-contained HTML page (thumbnails inlined)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

from PIL import Image

from artifact.scanning.rows import COLUMNS

# A cell starting with one of these is a formula to a spreadsheet (OWASP: CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DATA_MARKER = '<script type="application/json" id="artifact-results">'


def write_report(path: Path, rows: list[dict], header: dict | None = None) -> None:
    """Write atomically, in the format the extension names. ``header`` (the model, its cut
    points and the date) heads the HTML page."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(
            {k: csv_cell(v) for k, v in {**row, "evidence": _evidence_text(row)}.items()} for row in rows
        )
        text = buffer.getvalue()
    elif suffix == ".json":
        text = json.dumps([{k: v for k, v in r.items() if k != "thumbnail"} for r in rows], indent=1)
    elif suffix in (".html", ".htm"):
        text = render_html(rows, header)
    else:
        raise ValueError(f"unknown report format {suffix!r}: use .csv, .json or .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def csv_cell(value):
    """Neutralise a text cell a spreadsheet would run as a formula (prefix ``'``)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _uncsv_cell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _evidence_text(row: dict) -> str:
    evidence = row.get("evidence")
    if isinstance(evidence, str):
        return evidence
    return " | ".join(f"{e['strength']} {e['points_to']}: {e['summary']}" for e in evidence or [])


def read_report(path: Path) -> list[dict]:
    """Rows of an earlier report (for resuming)."""
    suffix = path.suffix.lower()
    text = path.read_text()
    if suffix == ".csv":
        rows = [{k: _uncsv_cell(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]
        for row in rows:
            row["prob_ai"] = float(row["prob_ai"]) if row.get("prob_ai") else None
            if row.get("score"):
                row["score"] = float(row["score"])
        return [{k: v for k, v in row.items() if v not in ("", None) or k == "prob_ai"} for row in rows]
    if suffix == ".json":
        return json.loads(text)
    start = text.find(_DATA_MARKER)
    if start < 0:
        return []
    start += len(_DATA_MARKER)
    end = text.find("</script>", start)
    return json.loads(text[start:end].replace("<\\/", "</"))


def thumbnail_data_uri(path: str | io.BytesIO, side: int = 128) -> str | None:
    """A small JPEG of the image (a file's path, or its bytes) as a data URI; None if unreadable."""
    try:
        with Image.open(path) as image:
            image.thumbnail((side, side))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def render_html(rows: list[dict], header: dict | None = None, heading: str = "ArtiFact scan report") -> str:
    """The report page. A row may carry ``name`` (shown instead of the file name) and
    ``decision`` (a juror's decision, shown under the evidence)."""
    counts: dict[str, int] = {}
    for row in rows:
        key = "failed" if row.get("error") else str(row.get("verdict"))
        counts[key] = counts.get(key, 0) + 1
    summary = " · ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    cards = []
    for row in rows:
        name = html.escape(row.get("name") or Path(row["path"]).name)
        title = html.escape(row["path"])
        if row.get("error"):
            body = f'<p class="error">{html.escape(row["error"])}</p>'
            verdict = "failed"
        else:
            verdict = html.escape(str(row["verdict"]))
            prob = row.get("prob_ai")
            body = f"<p>P(AI) = {prob:.3f}</p>" if prob is not None else ""
            if _evidence_text(row):
                body += f'<p class="evidence">{html.escape(_evidence_text(row))}</p>'
            if row.get("decision"):
                body += f'<p class="decision">{html.escape(row["decision"])}</p>'

        thumb = row.get("thumbnail")
        img = f'<img src="{thumb}" alt="{name}">' if thumb else '<div class="noimg"></div>'
        cards.append(
            f'<figure class="{verdict}" title="{title}">{img}<figcaption>'
            f'<b class="badge">{verdict}</b> {name}{body}</figcaption></figure>'
        )
    # Thumbnails stay out of the embedded data (read back on resume): they are in the <img>s.
    data = json.dumps([{k: v for k, v in r.items() if k != "thumbnail"} for r in rows])
    data = data.replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{html.escape(heading)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}}
main{{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:1rem}}
figure{{margin:0;border:1px solid #ddd;border-radius:8px;padding:.5rem;overflow-wrap:anywhere}}
img,.noimg{{width:100%;aspect-ratio:1;object-fit:cover;border-radius:4px;background:#eee}}
.badge{{padding:0 .4rem;border-radius:4px;color:#fff;background:#777}}
.ai .badge{{background:#b3261e}} .human .badge{{background:#1b6e3a}}
.uncertain .badge{{background:#a76b00}} .failed .badge{{background:#444}}
.error{{color:#b3261e}} .evidence{{font-size:.85em;color:#444}} .decision{{font-weight:600}}
</style></head><body>
<h1>{html.escape(heading)}</h1>{_header_html(header)}<p>{len(rows)} files — {html.escape(summary)}</p>
<main>{"".join(cards)}</main>
{_DATA_MARKER}{data}</script>
</body></html>
"""


def _header_html(header: dict | None) -> str:
    if not header:
        return ""
    cuts = header.get("cut_points")
    rule = (
        f" · verdicts: a person at P(AI) ≤ {cuts['human']:.3f}, AI at ≥ {cuts['ai']:.3f}, uncertain between"
        if cuts
        else ""
    )
    text = f"model {header['model']} ({header['sha256'][:12]}…){rule} · {header['date']}"
    return f'<p class="model">{html.escape(text)}</p>'
