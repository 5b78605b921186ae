"""Attachments on the server: what a file really is, what the provider gets, and whose it is."""

from __future__ import annotations

import asyncio
import io
import os
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import conversation.attachments as attachments_module
from config.settings import Settings, load_settings
from conversation.attachments import (
    IMAGE_LONG_EDGE,
    FileRejected,
    SessionFiles,
    UploadStore,
    decode_attachment,
    sniff_image,
)
from conversation.request import MAX_IMAGES_PER_REQUEST, ChatInputs, plan_request
from errors import ImagesNotAccepted, InputRejected
from providers import PROVIDERS
from tests.conftest import canary
from tests.media import (
    EXE_BYTES,
    animated_gif,
    decode_data_url,
    image_bytes,
    noisy_photo,
    pdf_with_text,
    shared_stream_pdf,
    write,
)

MB = 1_000_000
OWNER = "a" * 64
OTHER = "b" * 64


def read(path: str, *, max_image_bytes: int = 10 * MB) -> Any:
    return asyncio.run(decode_attachment(path, max_image_bytes=max_image_bytes, max_file_bytes=10 * MB))


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")]
)
def test_the_four_image_types_are_known_by_their_bytes(fmt: str, mime: str, tmp_path: Path) -> None:
    data = image_bytes(fmt)
    assert sniff_image(data[:16]) == mime
    # The name says text; the bytes say image, and the bytes decide.
    attachment = read(write(tmp_path, "notes.txt", data))
    assert attachment.kind == "image"
    sent_type, sent = decode_data_url(attachment.data_url)
    with Image.open(io.BytesIO(sent)) as image:
        assert image.size == (64, 48)
        assert sent_type == f"image/{image.format.lower()}"


@pytest.mark.parametrize("name", ["setup.png", "setup.jpg", "setup.webp", "setup.gif"])
def test_an_exe_renamed_as_an_image_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=r"is not really a .* image"):
        read(write(tmp_path, name, EXE_BYTES))


@pytest.mark.parametrize("name", ["tool.exe", "archive.zip", "noext", "page.svg"])
def test_other_types_are_refused_by_name_and_bytes(name: str, tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="this type of file is not accepted"):
        read(write(tmp_path, name, EXE_BYTES))


def test_a_png_header_on_garbage_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="not a valid image"):
        read(write(tmp_path, "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50))


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    # 10,000 x 10,000 pixels of one colour compress to a few kilobytes.
    with pytest.raises(FileRejected, match="too many pixels"):
        read(write(tmp_path, "bomb.png", image_bytes("PNG", (10_000, 10_000), "white")))


def test_images_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "big.jpg", noisy_photo((800, 600)))
    with pytest.raises(FileRejected, match=r"big.jpg is too big \(0\.\d MB; images may be up to 0\.1 MB\)"):
        read(path, max_image_bytes=100_000)


def test_large_images_are_downscaled_to_the_long_edge_and_lose_their_exif(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS latitude
    path = write(tmp_path, "photo.jpg", image_bytes("JPEG", (4000, 3000), "green", exif=exif.tobytes()))
    sent_type, sent = decode_data_url(read(path).data_url)
    assert sent_type == "image/jpeg"
    with Image.open(io.BytesIO(sent)) as image:
        assert image.size == (IMAGE_LONG_EDGE, IMAGE_LONG_EDGE * 3 // 4)
        assert not image.getexif()
    assert b"CameraMaker" not in sent


def test_transparency_survives_and_an_animation_goes_as_its_first_frame(tmp_path: Path) -> None:
    sent_type, sent = decode_data_url(read(write(tmp_path, "a.png", image_bytes("PNG", alpha=True))).data_url)
    assert sent_type == "image/png"
    with Image.open(io.BytesIO(sent)) as image:
        assert image.mode == "RGBA"
    sent_type, sent = decode_data_url(read(write(tmp_path, "a.gif", animated_gif())).data_url)
    with Image.open(io.BytesIO(sent)) as image:
        assert sent_type == "image/png" and getattr(image, "n_frames", 1) == 1


def test_text_files_pdfs_and_source_code_are_read_as_text(tmp_path: Path) -> None:
    assert read(write(tmp_path, "notes.md", "# Title\nbody ü".encode())).text == "# Title\nbody ü"
    assert read(write(tmp_path, "data.csv", b"\xef\xbb\xbfa,b\n1,2\n")).text == "a,b\n1,2\n"  # BOM dropped
    assert read(write(tmp_path, "main.py", b"print('hi')\n")).text == "print('hi')\n"
    pdf = read(write(tmp_path, "report.pdf", pdf_with_text("Quarterly report", "Revenue went up")))
    assert pdf.kind == "text" and "Quarterly report" in pdf.text and "Revenue went up" in pdf.text


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("binary.txt", b"abc\x00def", "contains binary data"),
        ("latin.txt", "café".encode("latin-1"), "not UTF-8 text"),
        ("fake.pdf", b"just text", "not really a PDF"),
        ("broken.pdf", b"%PDF-1.4\nnot really", "could not be read as a PDF|has no text"),
    ],
)
def test_bad_text_files_are_refused_clearly(name: str, data: bytes, message: str, tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=message):
        read(write(tmp_path, name, data))


# --- decoding in a worker, within limits ----------------------------------------------------


def _children() -> list[int]:
    """Processes this test process started that are still running."""
    mine = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            mine.append(int(entry))
    return mine


# Its decode runs close to the 15 s decode limit when another process competes for the cores (two
# busy loops beside it were enough): it cannot share the machine with a second worker.
@pytest.mark.serial
def test_a_pdf_is_read_only_within_its_content_budget(tmp_path: Path) -> None:
    # Five pages share one 1 MB stream: counted once per page, only the first fits the budget.
    attachment = read(write(tmp_path, "shared.pdf", shared_stream_pdf()))
    assert attachment.text.endswith("[Only the first 1 of 5 pages were read.]")


def test_a_decode_that_overruns_its_time_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments_module, "DECODE_SECONDS", 1)
    before = set(_children())
    started = time.monotonic()
    with pytest.raises(FileRejected, match=r"shared\.pdf takes too long to read"):
        read(write(tmp_path, "shared.pdf", shared_stream_pdf()))
    assert time.monotonic() - started < 5
    assert set(_children()) <= before  # the worker was killed, not left running


def test_a_decode_that_needs_too_much_memory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments_module, "DECODE_MEMORY_BYTES", 200 * 2**20)
    # 36 megapixels with transparency: under the pixel cap, over this worker's memory.
    path = write(tmp_path, "big.png", image_bytes("PNG", (6000, 6000), "white", alpha=True))
    with pytest.raises(FileRejected, match=r"big\.png needs too much memory to be read"):
        read(path)


def test_the_decoder_never_sees_the_servers_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = canary("decoder-env")
    monkeypatch.setenv("OPENAI_API_KEY", key)
    spy = tmp_path / "spy.py"
    spy.write_text('import json, os, sys\nsys.stdout.write(json.dumps({"kind": "text", "text": repr(os.environ)}))\n')
    monkeypatch.setattr(attachments_module, "decode", types.SimpleNamespace(__file__=str(spy)))
    seen = read(write(tmp_path, "notes.txt", b"hello")).text
    assert seen.startswith("environ(") and key not in seen


# --- ownership and the session's own copies ---------------------------------------------------


@pytest.fixture
def store() -> UploadStore:
    return UploadStore(max_image_bytes=10 * MB, max_file_bytes=10 * MB)


def uploaded(store: UploadStore, owner: str, folder: Path, name: str, data: bytes) -> str:
    path = write(folder, name, data)
    store.ledger.record(owner, [path])
    return path


def test_a_file_is_only_for_the_browser_that_uploaded_it(store: UploadStore, tmp_path: Path) -> None:
    path = uploaded(store, OWNER, tmp_path, "mine.png", image_bytes())
    other = store.session("other-session", OTHER)
    assert other is not None
    with pytest.raises(FileRejected, match="not uploaded from this browser"):
        asyncio.run(store.admit(other, path))
    # A session hash is never taken over by another browser.
    assert store.session("my-session", OWNER) is not None
    assert store.session("my-session", OTHER) is None
    assert store.session("no-cookie", "") is None


def test_each_upload_is_decoded_once_whichever_sessions_name_it(
    store: UploadStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = attachments_module.decode_attachment

    async def counting(path: str, **limits: int) -> Any:
        calls.append(path)
        return await real(path, **limits)

    monkeypatch.setattr(attachments_module, "decode_attachment", counting)
    path = uploaded(store, OWNER, tmp_path, "once.png", image_bytes())
    refused = uploaded(store, OWNER, tmp_path, "fake.pdf", b"not a pdf")

    async def use_in_sessions() -> None:
        first_session = store.session("s1", OWNER)
        assert first_session is not None
        files = SessionFiles(store, first_session)
        # Three requests at once start one decode.
        first, *others = await asyncio.gather(*(files.admit(path) for _ in range(3)))
        assert all(other is first for other in others)
        assert await files.admit(path) is first
        assert files.history(path) is first
        # A new session of the same browser gets the same copy, and the same refusal.
        later = store.session("s2", OWNER)
        assert later is not None
        assert await SessionFiles(store, later).admit(path) is first
        for session in (first_session, later):
            with pytest.raises(FileRejected, match="not really a PDF"):
                await SessionFiles(store, session).admit(refused)

    asyncio.run(use_in_sessions())
    assert calls == [path, refused]


def test_ending_a_session_deletes_its_uploads_unless_another_browser_holds_them(
    store: UploadStore, tmp_path: Path
) -> None:
    only_mine = uploaded(store, OWNER, tmp_path / "h1", "a.png", image_bytes(color="blue"))
    shared = uploaded(store, OWNER, tmp_path / "h2", "b.png", image_bytes(color="red"))
    store.ledger.record(OTHER, [shared])
    mine = store.session("s1", OWNER)
    assert mine is not None
    asyncio.run(store.admit(mine, only_mine))
    asyncio.run(store.admit(mine, shared))
    store.end_session("s1")
    assert not Path(only_mine).exists() and not (tmp_path / "h1").exists()
    assert Path(shared).exists() and store.ledger.owns(OTHER, shared)
    assert not store.ledger.owns(OWNER, only_mine)
    assert len(store) == 0


def test_a_flood_of_sessions_never_deletes_a_live_sessions_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = UploadStore(max_image_bytes=10 * MB, max_file_bytes=10 * MB, capacity=2)
    path = uploaded(store, OWNER, tmp_path, "mine.png", image_bytes())
    mine = store.session("victim", OWNER)
    assert mine is not None
    asyncio.run(store.admit(mine, path))
    assert store.session("attacker-1", OTHER) is not None
    assert store.session("attacker-2", OTHER) is None  # full of live sessions: no room is made
    assert Path(path).exists() and store.session("victim", OWNER) is mine
    # Sessions unused for long enough do make room.
    monkeypatch.setattr(attachments_module, "SESSION_IDLE_SECONDS", 0)
    assert store.session("attacker-2", OTHER) is not None
    assert store.session("attacker-3", OTHER) is not None
    assert not Path(path).exists()


# --- what build_request makes of them --------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return load_settings(
        {"GROQ_API_KEY": "sk-test", "MAX_MESSAGE_CHARS": "400", "MAX_FILES_PER_MESSAGE": "3"}, dotenv_path=None
    )


@pytest.fixture
def files(store: UploadStore) -> SessionFiles:
    session = store.session("session-1", OWNER)
    assert session is not None
    return SessionFiles(store, session)


Build = Callable[..., Any]


@pytest.fixture
def build(settings: Settings, files: SessionFiles) -> Build:
    def make(message: object, history: object = None, *, model: str = "any-vision-model", **kw: Any) -> Any:
        inputs = ChatInputs(
            message=message,
            history=history or [],
            provider_id=kw.get("provider", "openai"),
            model=model,
            system_prompt="sys",
            temperature=0.5,
            max_tokens=100,
            files=kw.get("files", files),
        )
        plan = plan_request(settings, inputs)
        return plan.build(asyncio.run(plan.read_files()))

    return make


def test_images_go_as_data_urls_in_image_url_parts(build: Build, files: SessionFiles, tmp_path: Path) -> None:
    path = uploaded(files.store, OWNER, tmp_path, "cat.png", image_bytes())
    request = build({"text": "what is this?", "files": [path]})
    (user,) = [m for m in request.messages if m["role"] == "user"]
    text, image = user["content"]
    assert text == {"type": "text", "text": "what is this?"}
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")
    assert str(tmp_path) not in repr(request.messages)  # never a path, never a URL back to the app
    # An image alone is a message too.
    assert build({"text": "", "files": [path]}).messages[-1]["content"][0]["type"] == "image_url"


def test_text_files_become_fenced_blocks_named_after_the_file(
    build: Build, files: SessionFiles, tmp_path: Path
) -> None:
    path = uploaded(files.store, OWNER, tmp_path, "notes.md", b"has ``` fences inside")
    content = build({"text": "summarise", "files": [path]}).messages[-1]["content"]
    assert content == "summarise\n\n````notes.md\nhas ``` fences inside\n````"


def test_a_text_file_over_the_message_limit_is_cut_and_says_so(
    build: Build, files: SessionFiles, tmp_path: Path
) -> None:
    path = uploaded(files.store, OWNER, tmp_path, "long.txt", b"x" * 5000)
    request = build({"text": "read", "files": [path]})
    content = request.messages[-1]["content"]
    assert len(content) <= 400
    assert "[long.txt was cut here:" in content
    (note,) = (note.in_language("en") for note in request.notes)
    assert note.startswith("long.txt was cut: only its first") and "of 5,000 characters were sent" in note


def test_too_many_files_and_files_without_a_session_are_refused(
    build: Build, files: SessionFiles, tmp_path: Path
) -> None:
    paths = [uploaded(files.store, OWNER, tmp_path / str(i), f"{i}.png", image_bytes()) for i in range(4)]
    with pytest.raises(FileRejected, match=r"at most 3 files to one message \(4 were attached\)"):
        build({"text": "many", "files": paths})
    with pytest.raises(FileRejected, match="only from the app's page"):
        build({"text": "no session", "files": paths[:1]}, files=None)


def test_history_images_come_only_from_the_sessions_own_copies(
    build: Build, files: SessionFiles, tmp_path: Path
) -> None:
    path = uploaded(files.store, OWNER, tmp_path, "chart.png", image_bytes())
    first = build({"text": "look", "files": [path]})
    sent = first.messages[-1]["content"][1]["image_url"]["url"]
    # The browser's history shows the file as its own entry, then the text, then the reply.
    history = [
        {"role": "user", "content": [{"type": "file", "file": {"path": path}}]},
        {"role": "user", "content": [{"type": "text", "text": "look"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a chart"}]},
    ]
    second = build("and now?", history)
    user, reply, now = second.messages[1:]
    assert user["content"] == [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": sent}}]
    assert reply == {"role": "assistant", "content": "a chart"}
    assert now == {"role": "user", "content": "and now?"}


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "file", "file": {"path": "/etc/passwd"}}, "not uploaded in this session"),
        ({"type": "file", "file": {"path": "https://attacker.example/x.png"}}, "by link"),
        ({"type": "file", "file": {"url": "http://169.254.169.254/latest"}}, "by link"),
        ({"type": "image_url", "image_url": {"url": "https://attacker.example/x.png"}}, "by link"),
        ({"path": "/tmp/gradio/elsewhere/a.png", "meta": {"_type": "gradio.FileData"}}, "not uploaded in this session"),
    ],
    ids=["path", "https-path", "metadata-url", "openai-part", "bare-filedata"],
)
def test_forged_history_files_are_refused_with_a_clear_message(
    build: Build, part: dict[str, Any], message: str
) -> None:
    history = [{"role": "user", "content": [{"type": "text", "text": "see"}, part]}]
    with pytest.raises(FileRejected, match=message):
        build("next", history)


def test_another_sessions_file_in_history_is_refused(
    build: Build, files: SessionFiles, store: UploadStore, tmp_path: Path
) -> None:
    theirs = uploaded(store, OTHER, tmp_path, "theirs.png", image_bytes())
    other = store.session("session-2", OTHER)
    assert other is not None
    asyncio.run(store.admit(other, theirs))  # sent in their session, so the server holds a copy
    history = [{"role": "user", "content": [{"type": "file", "file": {"path": theirs}}]}]
    with pytest.raises(FileRejected, match="not uploaded in this session"):
        build("next", history)


def test_known_text_only_models_are_refused_before_anything_is_sent(
    build: Build, files: SessionFiles, tmp_path: Path
) -> None:
    path = uploaded(files.store, OWNER, tmp_path, "cat.png", image_bytes())
    with pytest.raises(ImagesNotAccepted, match="This model does not accept images; pick a vision model"):
        build({"text": "see", "files": [path]}, provider="groq", model="llama-3.3-70b-versatile")
    # Unknown models may try: the provider decides.
    assert build({"text": "see", "files": [path]}, provider="groq", model="some-new-model").messages[-1]["content"]
    # A chat that began on a vision model goes on without its images on a text-only one.
    build({"text": "see", "files": [path]})
    history = [
        {"role": "user", "content": [{"type": "file", "file": {"path": path}}, {"type": "text", "text": "see"}]},
        {"role": "assistant", "content": "a cat"},
    ]
    request = build("go on", history, provider="groq", model="llama-3.3-70b-versatile")
    assert all(isinstance(m["content"], str) for m in request.messages)
    assert "this model cannot see it" in request.messages[1]["content"]


def test_only_the_newest_images_are_sent(build: Build, files: SessionFiles, tmp_path: Path) -> None:
    history: list[dict[str, Any]] = []
    for i in range(MAX_IMAGES_PER_REQUEST + 2):
        path = uploaded(files.store, OWNER, tmp_path / str(i), f"{i}.png", image_bytes(color=(i, 0, 0)))
        build({"text": f"image {i}", "files": [path]})
        history += [
            {"role": "user", "content": [{"type": "file", "file": {"path": path}}, {"type": "text", "text": f"{i}"}]},
            {"role": "assistant", "content": "ok"},
        ]
    request = build("count them", history)
    images = [p for m in request.messages if isinstance(m["content"], list) for p in m["content"] if "image_url" in p]
    assert len(images) == MAX_IMAGES_PER_REQUEST
    assert isinstance(request.messages[1]["content"], str)  # the oldest turns lost theirs


def test_every_registry_row_with_a_vision_answer_cites_its_docs() -> None:
    for provider in PROVIDERS:
        if provider.image_models or provider.text_only_models:
            assert provider.vision_docs.startswith("https://"), provider.id
        assert not provider.image_models & provider.text_only_models, provider.id
        for model in provider.models:
            assert provider.takes_images(model) in (True, False, None)
    openai_row = next(p for p in PROVIDERS if p.id == "openai")
    assert openai_row.takes_images("gpt-4.1-mini") is True
    assert openai_row.takes_images("someone-elses-model") is None


def test_history_kept_by_the_api_names_files_and_text_its_own_way(
    build: Build, files: SessionFiles, tmp_path: Path
) -> None:
    """ChatInterface's API keeps a multimodal message as [{"path": ...}, "its text"]."""
    path = uploaded(files.store, OWNER, tmp_path, "api.png", image_bytes())
    sent = build({"text": "look", "files": [path]}).messages[-1]["content"][1]
    history = [{"role": "user", "content": [{"path": path}, "look"]}, {"role": "assistant", "content": "a dot"}]
    user, reply, now = build("more?", history).messages[1:]
    assert user["content"] == [{"type": "text", "text": "look"}, sent]
    assert reply == {"role": "assistant", "content": "a dot"} and now == {"role": "user", "content": "more?"}


def test_attachment_limits_from_the_environment() -> None:
    from errors import ConfigError

    defaults = load_settings({}, dotenv_path=None)
    assert (defaults.max_image_mb, defaults.max_upload_mb, defaults.max_files_per_message) == (10, 10, 4)
    raised = load_settings({"MAX_IMAGE_MB": "5", "MAX_UPLOAD_MB": "20", "MAX_FILES_PER_MESSAGE": "0"}, dotenv_path=None)
    assert (raised.max_image_mb, raised.max_upload_mb, raised.max_files_per_message) == (5, 20, 0)
    with pytest.raises(ConfigError, match="MAX_UPLOAD_MB must be at least MAX_IMAGE_MB"):
        load_settings({"MAX_IMAGE_MB": "10", "MAX_UPLOAD_MB": "2"}, dotenv_path=None)
    with pytest.raises(ConfigError, match="MAX_FILES_PER_MESSAGE"):
        load_settings({"MAX_FILES_PER_MESSAGE": "many"}, dotenv_path=None)
    assert defaults.upload_limit_mb == "200/hour;1000/day"
    assert load_settings({"UPLOAD_LIMIT_MB": "50/minute"}, dotenv_path=None).upload_limit_mb == "50/minute"
    assert load_settings({"UPLOAD_LIMIT_MB": "off"}, dotenv_path=None).upload_limit_mb == ""
    with pytest.raises(ConfigError, match="UPLOAD_LIMIT_MB must look like 200/hour"):
        load_settings({"UPLOAD_LIMIT_MB": "lots"}, dotenv_path=None)


def test_checks_that_need_no_file_come_first_then_every_file_is_read_in_one_call(
    build: Build, files: SessionFiles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    forged = [{"role": "user", "content": [{"type": "text", "text": "see"}, {"path": "/etc/passwd"}]}]
    # An empty message or a bad model name is said before any file is looked at.
    with pytest.raises(InputRejected, match="Type a message first"):
        build("", forged)
    with pytest.raises(InputRejected, match="model name is not valid"):
        build("hi", forged, model="bad model")
    mine = uploaded(files.store, OWNER, tmp_path, "cat.png", image_bytes())
    earlier = build({"text": "first", "files": [mine]})
    history = [
        {"role": "user", "content": [{"type": "file", "file": {"path": mine}}]},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": earlier.messages[-1]["content"][0]["text"]},
    ]
    calls: list[tuple[list[object], list[object]]] = []
    real = SessionFiles.read

    async def counted(self: SessionFiles, *, new: Any, earlier: Any) -> Any:
        calls.append((list(new), list(earlier)))
        return await real(self, new=new, earlier=earlier)

    monkeypatch.setattr(SessionFiles, "read", counted)
    build({"text": "again", "files": [mine]}, history)
    assert calls == [([mine], [mine])]
