"""Files in the chat: who uploaded them, what they really are, and what the provider gets.

Three rules, enforced on the server:

- A file is used only by the browser that uploaded it. :class:`~web.uploads.UploadLedger` records
  which browser uploaded each file; the browser boundary consults it for every file path in a
  request and every ``/gradio_api/file=`` fetch, and :class:`UploadStore` here before it reads one.
- The bytes decide what a file is, never its name: png, jpeg, webp and gif by their signatures,
  PDF by ``%PDF-``, text by decoding as UTF-8 without NULs.
- Images reach the provider as base64 ``data:`` URLs (never a URL back to this app), downscaled to
  :data:`IMAGE_LONG_EDGE` and encoded once per session: :class:`SessionUploads` keeps the
  server's own copy, which is what history is rebuilt from.

Nothing here imports Gradio.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import shutil
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from errors import InputRejected
from web.uploads import UploadLedger, is_remote, normalise_path

__all__ = [
    "ACCEPTED_SUFFIXES",
    "IMAGE_LONG_EDGE",
    "Attachment",
    "FileRejected",
    "SessionFiles",
    "SessionUploads",
    "UploadStore",
    "read_attachment",
    "sniff_image",
]

log = logging.getLogger("byok_chat.attachments")

# Anthropic's guidance for the long edge; OpenAI scales "high" detail to 2048 then 768 on the
# short side, Gemini tiles at 768. Larger only spends the visitor's tokens.
IMAGE_LONG_EDGE = 1568
# Decoding is what costs memory: a tiny PNG can claim a huge canvas (a decompression bomb).
MAX_IMAGE_PIXELS = 40_000_000
# A PDF is read page by page; a thousand-page file would only be cut anyway.
MAX_PDF_PAGES = 300
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


class FileRejected(InputRejected):
    title = "File not accepted"


def sniff_image(head: bytes) -> str | None:
    """The image type the bytes say they are (png, jpeg, gif, webp), or None."""
    for signature, offset, mime in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True, slots=True)
class Attachment:
    """The server's own copy of one upload, ready to send: an image as a data: URL, or text."""

    name: str
    kind: Literal["image", "text"]
    data_url: str = ""
    text: str = ""


def read_attachment(path: str, *, max_image_bytes: int, max_file_bytes: int) -> Attachment:
    """Check one uploaded file by its bytes and turn it into what the provider gets."""
    name = _display_name(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        raise FileRejected(f"{name}: the upload is gone from the server. Attach it again.") from None
    mime = sniff_image(head)
    suffix = Path(path).suffix.lower()
    if mime is not None:
        if size > max_image_bytes:
            raise FileRejected(f"{name} is too big ({_mb(size)}; images may be up to {_mb(max_image_bytes)}).")
        return Attachment(name=name, kind="image", data_url=_encode_image(path, mime, name))
    if suffix in IMAGE_SUFFIXES:
        raise FileRejected(f"{name} is not really a {suffix[1:].upper()} image: its contents are something else.")
    if size > max_file_bytes:
        raise FileRejected(f"{name} is too big ({_mb(size)}; files may be up to {_mb(max_file_bytes)}).")
    if head.startswith(b"%PDF-"):
        return Attachment(name=name, kind="text", text=_pdf_text(path, name))
    if suffix == ".pdf":
        raise FileRejected(f"{name} is not really a PDF: its contents are something else.")
    if suffix in TEXT_SUFFIXES:
        return Attachment(name=name, kind="text", text=_plain_text(path, name))
    accepted = "images (png, jpeg, webp, gif), PDF, text, CSV, JSON, Markdown and source code"
    raise FileRejected(f"{name}: this type of file is not accepted. Attach {accepted}.")


def _encode_image(path: str, mime: str, name: str) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if _PIL_FORMATS[mime] != image.format:
                    raise FileRejected(f"{name} is not a valid image.")
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise FileRejected(f"{name} has too many pixels ({image.width}x{image.height}).")
                image.seek(0)  # an animated GIF or WebP goes as its first frame
                image.load()
                return _data_url(image, mime)
    except FileRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FileRejected(f"{name} has too many pixels to be read safely.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Warning):
        raise FileRejected(f"{name} is not a valid image: it could not be read.") from None


def _data_url(image: object, mime: str) -> str:
    from PIL import Image, ImageOps

    assert isinstance(image, Image.Image)
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
        raise FileRejected(f"{name} is not a text file: it contains binary data.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRejected(f"{name} is not UTF-8 text. Save it as UTF-8 and attach it again.") from None


def _pdf_text(path: str, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise FileRejected(f"{name} is password-protected; attach an unprotected copy.")
        pages = reader.pages
        texts = [pages[i].extract_text() or "" for i in range(min(len(pages), MAX_PDF_PAGES))]
    except FileRejected:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise FileRejected(f"{name} could not be read as a PDF.") from None
    text = "\n\n".join(t.strip() for t in texts if t.strip())
    if len(pages) > MAX_PDF_PAGES:
        text += f"\n\n[Only the first {MAX_PDF_PAGES} of {len(pages)} pages were read.]"
    if not text.strip():
        raise FileRejected(f"{name} has no text to read (a scanned PDF?). Attach its pages as images instead.")
    return text


def _display_name(path: str) -> str:
    name = Path(path).name or "file"
    # Shown in messages and used as a fence label: no line breaks, backticks or markup.
    return "".join(c for c in name if c.isprintable() and c not in "`*_[]<>\\")[:120] or "file"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size < 10_000_000 else f"{size / 1_000_000:.0f} MB"


class SessionUploads:
    """One session's attachments: path -> the server's own, already encoded copy."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.files: dict[str, Attachment] = {}
        self.touched = time.monotonic()

    def get(self, path: str) -> Attachment | None:
        return self.files.get(normalise_path(path))


class UploadStore:
    """The ledger plus each live session's attachments, keyed by session hash.

    A session hash is not a credential, but the browser boundary has already tied it to the
    browser that made it; the owner is checked again here on every use.
    """

    def __init__(self, *, max_image_bytes: int, max_file_bytes: int, capacity: int = 10_000) -> None:
        self.ledger = UploadLedger()
        self.max_image_bytes = max_image_bytes
        self.max_file_bytes = max_file_bytes
        self._sessions: OrderedDict[str, SessionUploads] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def session(self, session_hash: str, owner: str) -> SessionUploads | None:
        """This session's uploads; None when the owner differs or there is no browser cookie."""
        if not session_hash or not owner:
            return None
        with self._lock:
            held = self._sessions.get(session_hash)
            if held is None:
                held = self._sessions[session_hash] = SessionUploads(owner)
            elif held.owner != owner:
                return None
            self._sessions.move_to_end(session_hash)
            held.touched = time.monotonic()
            evicted = []
            while len(self._sessions) > self._capacity:
                evicted.append(self._sessions.popitem(last=False))
        for old_hash, old in evicted:
            self._delete(old_hash, old)
        return held

    def admit(self, uploads: SessionUploads, path: object) -> Attachment:
        """A file of the message being sent: it must be this browser's upload. Read and encoded
        once; the copy is kept for when history is re-sent."""
        if not isinstance(path, str) or not path:
            raise FileRejected("A file in this message is not valid. Attach it again.")
        if is_remote(path):
            raise FileRejected("Links cannot be attached: upload the file itself.")
        held = uploads.get(path)
        if held is not None:
            return held
        if not self.ledger.owns(uploads.owner, path):
            raise FileRejected("A file in this message was not uploaded from this browser. Attach it again.")
        attachment = read_attachment(path, max_image_bytes=self.max_image_bytes, max_file_bytes=self.max_file_bytes)
        uploads.files[normalise_path(path)] = attachment
        return attachment

    def end_session(self, session_hash: str) -> None:
        with self._lock:
            uploads = self._sessions.pop(session_hash, None)
        if uploads is not None:
            self._delete(session_hash, uploads)

    def _delete(self, session_hash: str, uploads: SessionUploads) -> None:
        for path in list(uploads.files):
            if self.ledger.release(uploads.owner, path):
                _remove_upload(path)
        uploads.files.clear()

    def __len__(self) -> int:
        return len(self._sessions)


@dataclass(frozen=True, slots=True)
class ReadFiles:
    """The files of one request: the message's own, and those its history names (path -> the
    server's copy, or None for this browser's upload that was never sent)."""

    new: list[Attachment]
    earlier: dict[str, Attachment | None]


@dataclass(frozen=True, slots=True)
class SessionFiles:
    """What a chat may use: this session's uploads, through the store that checks them."""

    store: UploadStore
    uploads: SessionUploads

    def read(self, *, new: Iterable[object], earlier: Iterable[object]) -> ReadFiles:
        """Every file one request uses, checked and read in one call."""
        attachments = [self.admit(path) for path in new]
        return ReadFiles(new=attachments, earlier={str(path): self.history(path) for path in earlier})

    def admit(self, path: object) -> Attachment:
        return self.store.admit(self.uploads, path)

    def history(self, path: object) -> Attachment | None:
        """A file named in history: only the server's own copy of this session's uploads.

        None for this browser's own upload that was never admitted (it was refused when sent, and
        the page still shows it): it is left out rather than failing every later message.
        """
        if not isinstance(path, str) or not path:
            raise FileRejected("The conversation refers to a file that is not valid. Start a new chat.")
        if is_remote(path):
            raise FileRejected("The conversation refers to a file by link; only files uploaded here can be sent.")
        held = self.uploads.get(path)
        if held is not None:
            return held
        if self.store.ledger.owns(self.uploads.owner, path):
            return None
        raise FileRejected(
            "The conversation refers to a file that was not uploaded in this session. Start a new chat, "
            "or attach the file again."
        )


def _remove_upload(path: str) -> None:
    """Delete an upload and the content-hash folder Gradio made for it, if now empty."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not delete an upload: %s", type(exc).__name__)
        return
    folder = os.path.dirname(path)
    try:
        if not os.listdir(folder):
            shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass
