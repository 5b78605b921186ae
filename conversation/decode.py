"""What an uploaded file really is, and what the provider gets of it: run in a worker process.

Decoding is where a few hostile bytes cost the most: a 4 KB PDF whose pages share one 1 MB
content stream, or a 67-byte PNG that claims 40 million pixels, each keep a CPU busy for seconds.
PIL and pypdf run on whatever thread calls them, so :mod:`conversation.attachments` never calls
them in the server: it runs this file as a script in a child process with limits on memory and CPU
time, niced below the server, and kills it when it overruns.

The rules, checked here on the bytes:

- The bytes decide what a file is, never its name: png, jpeg, webp and gif by their signatures,
  PDF by ``%PDF-``, text by decoding as UTF-8 without NULs.
- Images are refused by their claimed pixel count before any pixel is decoded, then downscaled to
  :data:`IMAGE_LONG_EDGE` and re-encoded (no EXIF leaves the server).
- A PDF is read page by page until :data:`MAX_PDF_PAGES` pages or :data:`MAX_PDF_CONTENT_BYTES`
  of content streams (counted every time a page uses one), whichever comes first.

This module imports nothing of ours, so the worker starts with only the standard library, PIL and
pypdf. Protocol: one JSON request on stdin, one JSON answer on stdout.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

# Anthropic's guidance for the long edge; OpenAI scales "high" detail to 2048 then 768 on the
# short side, Gemini tiles at 768. Larger only spends the visitor's tokens.
IMAGE_LONG_EDGE = 1568
# Decoding is what costs memory: a tiny PNG can claim a huge canvas (a decompression bomb).
MAX_IMAGE_PIXELS = 40_000_000
# A PDF is read page by page; a thousand-page file would only be cut anyway.
MAX_PDF_PAGES = 300
# pypdf's cost grows with the operators it parses: a page of text holds a few to a few tens of KB,
# and 2 MB of hostile operators keep it busy for about seven seconds on one core.
MAX_PDF_CONTENT_BYTES = 2_000_000
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
TEXT_SUFFIXES = frozenset(
    {".txt", ".md", ".markdown", ".csv", ".tsv", ".json", ".jsonl", ".log", ".rst", ".tex"}
    | {".py", ".ipynb", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".scala", ".c", ".h", ".cc"}
    | {".cpp", ".hpp", ".cs", ".go", ".rs", ".rb", ".php", ".swift", ".m", ".r", ".jl", ".lua", ".pl"}
    | {".sh", ".bash", ".zsh", ".ps1", ".sql", ".html", ".css", ".scss", ".xml", ".yaml", ".yml"}
    | {".toml", ".ini", ".cfg", ".conf", ".dart", ".vue", ".svelte", ".hs", ".ex", ".exs", ".erl", ".clj"}
)
ACCEPTED_SUFFIXES = IMAGE_SUFFIXES | TEXT_SUFFIXES | {".pdf"}

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
)
_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}


class Unreadable(Exception):
    """The file is refused: ``key`` names the visitor's message in the catalogue (words/), and
    ``params`` fill it in. This script imports nothing of ours, so it sends the key, not the words."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def sniff_image(head: bytes) -> str | None:
    """The image type the bytes say they are (png, jpeg, gif, webp), or None."""
    for signature, offset, mime in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def display_name(path: str) -> str:
    name = Path(path).name or "file"
    # Shown in messages and used as a fence label: no line breaks, backticks or markup.
    return "".join(c for c in name if c.isprintable() and c not in "`*_[]<>\\")[:120] or "file"


def decode(path: str, *, max_image_bytes: int, max_file_bytes: int) -> dict[str, str]:
    """One uploaded file as ``{"kind": "image", "data_url": ...}`` or ``{"kind": "text", "text": ...}``."""
    name = display_name(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        raise Unreadable("file_gone", name=name) from None
    mime = sniff_image(head)
    suffix = Path(path).suffix.lower()
    if mime is not None:
        if size > max_image_bytes:
            raise Unreadable("file_image_too_big", name=name, size=_mb(size), limit=_mb(max_image_bytes))
        return {"kind": "image", "data_url": _encode_image(path, mime, name)}
    if suffix in IMAGE_SUFFIXES:
        raise Unreadable("file_not_that_image", name=name, kind=suffix[1:].upper())
    if size > max_file_bytes:
        raise Unreadable("file_too_big", name=name, size=_mb(size), limit=_mb(max_file_bytes))
    if head.startswith(b"%PDF-"):
        return {"kind": "text", "text": _pdf_text(path, name)}
    if suffix == ".pdf":
        raise Unreadable("file_not_pdf", name=name)
    if suffix in TEXT_SUFFIXES:
        return {"kind": "text", "text": _plain_text(path, name)}
    raise Unreadable("file_type_refused", name=name)


def _encode_image(path: str, mime: str, name: str) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if _PIL_FORMATS[mime] != image.format:
                    raise Unreadable("file_image_invalid", name=name)
                # From the header alone: nothing has been decoded yet.
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise Unreadable("file_too_many_pixels", name=name, size=f"{image.width}x{image.height}")
                image.seek(0)  # an animated GIF or WebP goes as its first frame
                image.load()
                return _data_url(image, mime)
    except Unreadable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Unreadable("file_pixel_bomb", name=name) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Warning):
        raise Unreadable("file_image_unreadable", name=name) from None


def _data_url(image: Any, mime: str) -> str:
    from PIL import Image, ImageOps

    frame = ImageOps.exif_transpose(image) or image
    if max(frame.size) > IMAGE_LONG_EDGE:
        frame.thumbnail((IMAGE_LONG_EDGE, IMAGE_LONG_EDGE), Image.Resampling.LANCZOS)
    # Always re-encoded: the copy sent carries no EXIF (a phone photo's GPS position stays home).
    # Photos go as JPEG; anything with transparency, or a GIF's palette, as PNG.
    has_alpha = frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info)
    out = io.BytesIO()
    if mime == "image/jpeg" or (not has_alpha and mime == "image/webp"):
        frame.convert("RGB").save(out, "JPEG", quality=85, optimize=False)
        kind = "image/jpeg"
    else:
        frame.convert("RGBA" if has_alpha else "RGB").save(out, "PNG", optimize=False)
        kind = "image/png"
    return f"data:{kind};base64,{base64.b64encode(out.getvalue()).decode('ascii')}"


def _plain_text(path: str, name: str) -> str:
    with open(path, "rb") as handle:
        data = handle.read()
    if b"\x00" in data:
        raise Unreadable("file_binary", name=name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable("file_not_utf8", name=name) from None


def _pdf_text(path: str, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise Unreadable("file_pdf_protected", name=name)
        pages = reader.pages
        total = len(pages)
        texts: list[str] = []
        budget = MAX_PDF_CONTENT_BYTES
        for index in range(min(total, MAX_PDF_PAGES)):
            page = pages[index]
            # Measured before parsing: the cost is in parsing, and a stream shared by every page
            # is parsed again for each of them.
            budget -= _content_bytes(page)
            if budget < 0:
                break
            texts.append(page.extract_text() or "")
    except Unreadable:
        raise
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise Unreadable("file_pdf_unreadable", name=name) from None
    if not texts and total:
        raise Unreadable("file_pdf_too_complex", name=name)
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    if len(texts) < total:
        text += f"\n\n[Only the first {len(texts)} of {total} pages were read.]"
    if not "".join(texts).strip():
        raise Unreadable("file_pdf_no_text", name=name)
    return text


def _content_bytes(page: Any) -> int:
    """The decoded size of a page's content streams and of the forms (not images) it draws."""
    streams = [page.get("/Contents")]
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is not None:
        forms = (x.get_object() for x in xobjects.get_object().values())
        streams += [form for form in forms if form.get("/Subtype") == "/Form"]
    size = 0
    while streams:
        item = streams.pop()
        item = item.get_object() if item is not None else None
        if isinstance(item, list):
            streams += item
        elif hasattr(item, "get_data"):
            size += len(item.get_data())
    return size


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size < 10_000_000 else f"{size / 1_000_000:.0f} MB"


def _limit_self(memory_bytes: int, cpu_seconds: int) -> None:
    """Hold this process to its budget before it touches the file: beyond the memory it gets a
    MemoryError, beyond the CPU time the kernel ends it."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    os.nice(10)  # the server's event loop comes first


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    _limit_self(request["memory_bytes"], request["cpu_seconds"])
    path = request["path"]
    try:
        answer = decode(path, max_image_bytes=request["max_image_bytes"], max_file_bytes=request["max_file_bytes"])
    except Unreadable as refused:
        answer = {"refused": refused.key, "params": refused.params}
    except MemoryError:
        answer = {"refused": "file_too_much_memory", "params": {"name": display_name(path)}}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
