"""Read every text chunk of a PNG (tEXt, zTXt, iTXt), before or after the image data.

Pillow refuses compressed text chunks that expand past 1 MB and only sees chunks after the
image data once the pixels are loaded; generator metadata (ComfyUI workflows) can be large
and late, so the chunks are walked here directly, with our own decompression cap.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# All text chunks of one file together, after decompression: a 666 KB file of compressed
# chunks could otherwise expand to hundreds of MB (a 25 MB upload to ~24 GB).
MAX_TOTAL_TEXT_BYTES = 4 * 1024 * 1024


class PngText(dict):
    """Keyword -> text; ``truncated`` when reading stopped at :data:`MAX_TOTAL_TEXT_BYTES`."""

    truncated: bool = False


def read_png_text(data: bytes, max_total: int = MAX_TOTAL_TEXT_BYTES) -> PngText:
    """Keyword -> text of every text chunk (later duplicates win). Empty if not a PNG.

    Stops once ``max_total`` bytes of text were read (decompressed), marking the result
    ``truncated``; a chunk cut at the limit keeps what fitted.
    """
    texts = PngText()
    if not data.startswith(PNG_SIGNATURE):
        return texts
    budget = max_total
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data) and not texts.truncated:
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if len(body) < length:
            break  # truncated file: keep what was read
        try:
            raw, encoding = None, "latin-1"
            if kind == b"tEXt":
                key, _, raw = body.partition(b"\0")
            elif kind == b"zTXt":
                key, _, rest = body.partition(b"\0")
                raw = _inflate(rest[1:], budget + 1)
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\0")
                compressed, _method = rest[0], rest[1]
                _lang, _, rest = rest[2:].partition(b"\0")
                _translated, _, text = rest.partition(b"\0")
                raw, encoding = (_inflate(text, budget + 1) if compressed else text), "utf-8"
            if raw is not None:
                if len(raw) > budget:
                    raw, texts.truncated = raw[:budget], True
                budget -= len(raw)
                texts[key.decode("latin-1")] = raw.decode(encoding, errors="replace")
        except (zlib.error, IndexError, UnicodeDecodeError):
            continue  # one bad chunk does not hide the others
        if kind == b"IEND":
            break
    return texts


def _inflate(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of the decompressed data (never more in memory)."""
    return zlib.decompressobj().decompress(data, limit)
