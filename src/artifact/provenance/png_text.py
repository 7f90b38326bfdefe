"""Read every text chunk of a PNG (tEXt, zTXt, iTXt), before or after the image data.

Pillow refuses compressed text chunks that expand past 1 MB and only sees chunks after the
image data once the pixels are loaded; generator metadata (ComfyUI workflows) can be large
and late, so the chunks are walked here directly, with our own decompression cap.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_BYTES = 16 * 1024 * 1024  # per chunk, after decompression


def read_png_text(data: bytes) -> dict[str, str]:
    """Keyword -> text of every text chunk (later duplicates win). Empty if not a PNG."""
    if not data.startswith(PNG_SIGNATURE):
        return {}
    texts: dict[str, str] = {}
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if len(body) < length:
            break  # truncated file: keep what was read
        try:
            if kind == b"tEXt":
                key, _, value = body.partition(b"\0")
                texts[key.decode("latin-1")] = value.decode("latin-1")
            elif kind == b"zTXt":
                key, _, rest = body.partition(b"\0")
                texts[key.decode("latin-1")] = _inflate(rest[1:]).decode("latin-1")
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\0")
                compressed, _method = rest[0], rest[1]
                _lang, _, rest = rest[2:].partition(b"\0")
                _translated, _, text = rest.partition(b"\0")
                raw = _inflate(text) if compressed else text
                texts[key.decode("latin-1")] = raw.decode("utf-8", errors="replace")
        except (zlib.error, IndexError, UnicodeDecodeError):
            continue  # one bad chunk does not hide the others
        if kind == b"IEND":
            break
    return texts


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_TEXT_BYTES)
    return out  # anything beyond the cap is dropped, not an error
