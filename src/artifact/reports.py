"""Scan reports as CSV, JSON or a self-contained HTML page (thumbnails inlined)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

from PIL import Image

COLUMNS = ("path", "verdict", "model_verdict", "prob_ai", "sha256", "width", "height", "evidence",
           "error", "error_code")  # fmt: skip
_DATA_MARKER = '<script type="application/json" id="artifact-results">'


def write_report(path: Path, rows: list[dict]) -> None:
    """Write atomically, in the format the extension names."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({**row, "evidence": _evidence_text(row)} for row in rows)
        text = buffer.getvalue()
    elif suffix == ".json":
        text = json.dumps([{k: v for k, v in r.items() if k != "thumbnail"} for r in rows], indent=1)
    elif suffix in (".html", ".htm"):
        text = render_html(rows)
    else:
        raise ValueError(f"unknown report format {suffix!r}: use .csv, .json or .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


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
        rows = list(csv.DictReader(io.StringIO(text)))
        for row in rows:
            row["prob_ai"] = float(row["prob_ai"]) if row.get("prob_ai") else None
        return [{k: v for k, v in row.items() if v not in ("", None) or k == "prob_ai"} for row in rows]
    if suffix == ".json":
        return json.loads(text)
    start = text.find(_DATA_MARKER)
    if start < 0:
        return []
    start += len(_DATA_MARKER)
    end = text.find("</script>", start)
    return json.loads(text[start:end].replace("<\\/", "</"))


def thumbnail_data_uri(path: str, side: int = 128) -> str | None:
    try:
        with Image.open(path) as image:
            image.thumbnail((side, side))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def render_html(rows: list[dict]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        key = "failed" if row.get("error") else str(row.get("verdict"))
        counts[key] = counts.get(key, 0) + 1
    summary = " · ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    cards = []
    for row in rows:
        name = html.escape(Path(row["path"]).name)
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
<title>ArtiFact scan report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}}
main{{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:1rem}}
figure{{margin:0;border:1px solid #ddd;border-radius:8px;padding:.5rem;overflow-wrap:anywhere}}
img,.noimg{{width:100%;aspect-ratio:1;object-fit:cover;border-radius:4px;background:#eee}}
.badge{{padding:0 .4rem;border-radius:4px;color:#fff;background:#777}}
.ai .badge{{background:#b3261e}} .human .badge{{background:#1b6e3a}}
.uncertain .badge{{background:#a76b00}} .failed .badge{{background:#444}}
.error{{color:#b3261e}} .evidence{{font-size:.85em;color:#444}}
</style></head><body>
<h1>ArtiFact scan report</h1><p>{len(rows)} files — {html.escape(summary)}</p>
<main>{"".join(cards)}</main>
{_DATA_MARKER}{data}</script>
</body></html>
"""
