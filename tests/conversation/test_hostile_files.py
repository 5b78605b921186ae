"""Files made to be expensive: a 3 KB PDF whose five pages share one 1 MB content stream, and a
67-byte PNG of 1 x 39,999,999 pixels. They are decoded in a worker, once per upload, and only after
the key and the quota have said yes; meanwhile every other visitor is answered promptly."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

import conversation.attachments as attachments_module
from config.settings import load_settings
from conversation.request import ChatInputs
from conversation.service import Caller, ChatService
from errors import AccessDenied, KeyRequired, QuotaExceeded
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary, routed_env, start_app
from tests.fake_provider import FakeProvider
from tests.gradio_raw import Visit
from tests.load_probe import stays_prompt
from tests.media import image_bytes, shared_stream_pdf, tall_png, write


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file handed to a decoding worker, in order."""
    calls: list[str] = []
    real = attachments_module.decode_attachment

    async def counting(path: str, **limits: int) -> Any:
        calls.append(path)
        return await real(path, **limits)

    monkeypatch.setattr(attachments_module, "decode_attachment", counting)
    return calls


@pytest.fixture(scope="module")
def app(fake: FakeProvider) -> Iterator[RunningApp]:
    running = start_app(load_settings(routed_env(fake, OPENAI_API_KEY=canary("hostile")), dotenv_path=None))
    yield running
    running.close()


def upload(visit: Visit, name: str, data: bytes) -> str:
    response = httpx.post(
        f"{visit.url}/gradio_api/upload", files={"files": (name, data)}, headers=visit.headers, timeout=30
    )
    assert response.status_code == 200, response.text
    (path,) = response.json()
    return path


def chat_with_files(app: RunningApp, visit: Visit, paths: list[str]) -> raw.EventResult:
    cfg = raw.config(app.url, headers=visit.headers)
    files = [{"path": p, "meta": {"_type": "gradio.FileData"}} for p in paths]
    # A short reply: what is measured is the files' cost, not a long echo's.
    data = raw.chat_data(cfg, {"text": "read these", "files": files}, "openai", "chunks-3-1")
    return raw.run_event(
        app.url, raw.fn_index(cfg, "chat"), data, session_hash=visit.session_hash, headers=visit.headers, timeout=60
    )


@pytest.mark.serial  # an event-loop probe under decoding load: needs the machine to itself
def test_hostile_files_never_stall_another_visitor(app: RunningApp, decodes: list[str], provider: FakeProvider) -> None:
    attacker = raw.open_page(app.url)
    pdf = upload(attacker, "report.pdf", shared_stream_pdf())
    png = upload(attacker, "tall.png", tall_png())
    # Three tabs of the attacker's browser send both files at once, then three more after them.
    tabs = [Visit(url=app.url, session_hash=secrets.token_hex(6), cookie=attacker.cookie) for _ in range(6)]
    with stays_prompt(app.url), ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda tab: chat_with_files(app, tab, [pdf, png]), tabs))
    assert all(result.completed for result in results), [r.raw[-300:] for r in results]
    # Each upload was decoded once, whichever session named it.
    assert sorted(decodes) == sorted([pdf, png])
    assert all(result.success for result in results)
    # The provider still got the first page's text (the budget's worth) and the image.
    (text,) = [p["text"] for p in provider.content_parts if p["type"] == "text" and "report.pdf" in p["text"]][-1:]
    assert "report.pdf\naaaa" in text
    assert len(provider.chat_requests) == len(tabs)
    assert all(len(provider.image_urls(request)) == 1 for request in provider.chat_requests)


def _inputs(service: ChatService, path: str, session_hash: str, provider: str = "openai") -> ChatInputs:
    files = service.session_files(session_hash, "a" * 64, bound=True)
    assert files is not None
    service.uploads.ledger.record("a" * 64, [path])
    return ChatInputs(
        message={"text": "look", "files": [path]},
        history=[],
        provider_id=provider,
        model="fake-model",
        system_prompt="",
        temperature=0.5,
        max_tokens=50,
        files=files,
    )


async def _drain(service: ChatService, caller: Caller, inputs: ChatInputs) -> None:
    async for _ in service.reply(caller, inputs):
        pass


def test_no_file_is_decoded_before_the_key_and_the_quota_say_yes(
    provider: FakeProvider, decodes: list[str], tmp_path: Any
) -> None:
    settings = load_settings(
        routed_env(provider, OPENAI_API_KEY=canary("order"), RATE_LIMIT="1/minute"), dotenv_path=None
    )
    service = ChatService(settings)
    path = write(tmp_path, "dot.png", image_bytes())
    # No key for this provider at all; the server's key, but not for this caller.
    with pytest.raises(KeyRequired):
        asyncio.run(_drain(service, Caller(client="c", may_use_server_keys=True), _inputs(service, path, "s0", "groq")))
    with pytest.raises(AccessDenied):
        asyncio.run(_drain(service, Caller(client="c", may_use_server_keys=False), _inputs(service, path, "s1")))
    assert decodes == []
    metered = Caller(client="metered", may_use_server_keys=True)
    asyncio.run(_drain(service, metered, _inputs(service, path, "s2")))
    assert decodes == [path]
    # The quota is used up: the next file is refused before it is read.
    other = write(tmp_path, "other.png", image_bytes(color="blue"))
    with pytest.raises(QuotaExceeded):
        asyncio.run(_drain(service, metered, _inputs(service, other, "s3")))
    assert decodes == [path]
