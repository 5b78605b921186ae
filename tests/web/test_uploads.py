"""Uploads over raw HTTP, the way a script or an attacker sends them.

Only a browser holding the page's cookie may upload; a file is served back, and may be used in a
chat, only by that browser; forged histories naming paths, links or another browser's file are
refused with a clear message before anything reaches the provider.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.settings import load_settings
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary, routed_env, start_app
from tests.fake_provider import FakeProvider
from tests.gradio_raw import Visit
from tests.media import EXE_BYTES, decode_data_url, image_bytes
from web.uploads import UploadLedger

SERVER_KEY = canary("uploads-server")
NOT_YOURS = "not uploaded from this browser"


@pytest.fixture(scope="module")
def app(fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    # Gradio notices a closed tab at the next heartbeat; make that come sooner for the cleanup test.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")
        settings = load_settings(routed_env(fake, OPENAI_API_KEY=SERVER_KEY, MAX_IMAGE_MB="1"), dotenv_path=None)
        running = start_app(settings)
        yield running
        running.close()


def upload(visit: Visit | None, url: str, name: str, data: bytes, mime: str = "image/png") -> httpx.Response:
    headers = visit.headers if visit else {}
    return httpx.post(f"{url}/gradio_api/upload", files={"files": (name, data, mime)}, headers=headers, timeout=30)


def uploaded(visit: Visit, name: str = "dot.png", data: bytes | None = None) -> str:
    response = upload(visit, visit.url, name, data if data is not None else image_bytes())
    assert response.status_code == 200, response.text
    (path,) = response.json()
    return path


def file_data(path: str) -> dict[str, Any]:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def chat(
    app: RunningApp, visit: Visit, text: str, paths: list[str] | None = None, model: str = "fake-model"
) -> raw.EventResult:
    cfg = raw.config(app.url, headers=visit.headers)
    message = {"text": text, "files": [file_data(p) for p in paths or []]}
    data = raw.chat_data(cfg, message, "openai", model)
    return raw.run_event(
        app.url, raw.fn_index(cfg, "chat"), data, session_hash=visit.session_hash, headers=visit.headers
    )


def plant_history(app: RunningApp, visit: Visit, history: list[dict[str, Any]]) -> raw.EventResult:
    """ChatInterface's event that copies the chatbot's value into the history state."""
    cfg = raw.config(app.url, headers=visit.headers)
    kinds = {c["id"]: c["type"] for c in cfg["components"]}
    index = next(
        d["id"]
        for d in cfg["dependencies"]
        if d.get("backend_fn")
        and [kinds[i] for i in d["inputs"]] == ["chatbot"]
        and [kinds[i] for i in d["outputs"]] == ["state", "state"]
    )
    return raw.run_event(app.url, index, [history], session_hash=visit.session_hash, headers=visit.headers)


def test_an_upload_without_the_page_cookie_is_refused(app: RunningApp) -> None:
    refused = upload(None, app.url, "dot.png", image_bytes())
    assert refused.status_code == 403
    assert refused.text.startswith("Uploads are accepted only from the app's page")
    progress = httpx.get(f"{app.url}/gradio_api/upload_progress", params={"upload_id": "x"})
    assert progress.status_code == 403
    # A made-up cookie is not the app's: it is refused the same way as none.
    forged = httpx.post(
        f"{app.url}/gradio_api/upload",
        files={"files": ("dot.png", image_bytes(), "image/png")},
        headers={"cookie": "__Host-byok_browser=short"},
    )
    assert forged.status_code == 403


def test_an_upload_is_served_back_only_to_the_browser_that_made_it(app: RunningApp) -> None:
    alice, mallory = raw.open_page(app.url), raw.open_page(app.url)
    data = image_bytes(color="purple")
    path = uploaded(alice, "private.png", data)
    mine = httpx.get(f"{app.url}/gradio_api/file={path}", headers=alice.headers)
    assert mine.status_code == 200 and mine.content == data
    for headers in (mallory.headers, {}):
        for route in (f"/gradio_api/file={path}", f"/gradio_api/file/{path}"):
            stolen = httpx.get(f"{app.url}{route}", headers=headers)
            assert stolen.status_code == 404, route
            assert data not in stolen.content
    # Gradio would fetch a URL given as the file; here it is never fetched for anyone.
    remote = httpx.get(f"{app.url}/gradio_api/file=http://127.0.0.1:1/x.png", headers=alice.headers)
    assert remote.status_code == 404
    outside = httpx.get(f"{app.url}/gradio_api/file=/etc/passwd", headers=alice.headers)
    assert outside.status_code == 404


def test_gradios_own_icons_are_served_to_every_page_and_nothing_beside_them(
    apps: Callable[..., RunningApp],
) -> None:
    import gradio

    # Saved chats bring ChatInterface's "New chat" button, whose icon Gradio serves as a file.
    app = apps(SAVE_HISTORY="true")
    icons = Path(gradio.__file__).parent / "icons"
    for headers in (raw.open_page(app.url).headers, {}):
        icon = httpx.get(f"{app.url}/gradio_api/file={icons / 'plus.svg'}", headers=headers)
        assert icon.status_code == 200 and b"<svg" in icon.content
    # Beside the icons, Gradio's other files stay out of reach, however the path is spelled.
    for sneaky in (
        f"{icons}/../utils.py",
        f"{icons}/%2e%2e/utils.py",
        f"{icons}-x/plus.svg",
        str(icons.parent / "utils.py"),
    ):
        assert httpx.get(f"{app.url}/gradio_api/file={sneaky}").status_code == 404, sneaky


def test_an_upload_over_the_cap_is_refused(app: RunningApp) -> None:
    visit = raw.open_page(app.url)
    too_big = upload(visit, app.url, "huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 1_500_000)
    assert too_big.status_code == 413
    # Far over the cap for a whole request: refused from its Content-Length, before Gradio reads it.
    flood = upload(visit, app.url, "flood.png", b"\x00" * 6_000_000)
    assert flood.status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
        yield b"\x89PNG\r\n\x1a\n--x--\r\n"

    # A body of unstated length is refused: it could carry up to Gradio's 1,000 files.
    unstated = httpx.post(
        f"{app.url}/gradio_api/upload",
        content=chunks(),
        headers={**visit.headers, "content-type": "multipart/form-data; boundary=x"},
    )
    assert unstated.status_code == 411


def test_a_png_reaches_the_provider_as_a_data_url(app: RunningApp, provider: FakeProvider) -> None:
    visit = raw.open_page(app.url)
    path = uploaded(visit, "red.png", image_bytes(color="red"))
    result = chat(app, visit, "what colour?", [path])
    assert result.success, result.raw[-500:]
    assert result.output[0] == "You said: what colour? [saw 1 images]"
    (url,) = provider.image_urls()
    mime, sent = decode_data_url(url)
    assert mime == "image/png" and sent.startswith(b"\x89PNG")
    body = repr(provider.chat_requests[-1].body)
    assert path not in body and app.url not in body and "gradio_api" not in body
    assert [p["type"] for p in provider.content_parts] == ["text", "image_url"]


def test_a_renamed_exe_is_refused_and_nothing_is_sent(app: RunningApp, provider: FakeProvider) -> None:
    visit = raw.open_page(app.url)
    path = uploaded(visit, "setup.png", EXE_BYTES)
    result = chat(app, visit, "open this", [path])
    assert not result.success
    assert "setup.png is not really a PNG image" in (result.error or "")
    assert not provider.chat_requests


def test_another_browsers_file_is_refused_in_a_message_and_in_history(app: RunningApp, provider: FakeProvider) -> None:
    alice, mallory = raw.open_page(app.url), raw.open_page(app.url)
    path = uploaded(alice, "alices.png", image_bytes(color="orange"))
    assert chat(app, alice, "mine", [path]).success
    provider.reset()

    stolen = chat(app, mallory, "is it mine now?", [path])
    assert stolen.status == 403 and NOT_YOURS in stolen.raw
    history = [{"role": "user", "content": [{"type": "file", "file": file_data(path)}]}]
    planted = plant_history(app, mallory, history)
    assert planted.status == 403 and NOT_YOURS in planted.raw
    assert not provider.chat_requests


@pytest.mark.parametrize(
    ("path", "refusal"),
    [
        ("/etc/passwd", NOT_YOURS),
        ("https://attacker.example/cat.png", "Links cannot be sent as files"),
        ("http://127.0.0.1:9/latest/meta-data", "Links cannot be sent as files"),
        ("../../app.py", NOT_YOURS),
    ],
    ids=["outside-path", "https-url", "loopback-url", "relative"],
)
def test_forged_history_with_paths_and_urls_is_refused(
    app: RunningApp, provider: FakeProvider, path: str, refusal: str
) -> None:
    visit = raw.open_page(app.url)
    history = [
        {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "file", "file": file_data(path)}]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    ]
    planted = plant_history(app, visit, history)
    assert planted.status == 403
    assert refusal in planted.raw
    # The same in the message itself.
    sent = chat(app, visit, "now", [path])
    assert sent.status == 403 and refusal in sent.raw
    assert not provider.chat_requests


def test_history_images_are_the_servers_copies_sent_again(app: RunningApp, provider: FakeProvider) -> None:
    visit = raw.open_page(app.url)
    path = uploaded(visit, "again.png", image_bytes(color="teal"))
    assert chat(app, visit, "first", [path]).success
    (first,) = provider.image_urls()
    history = [
        {"role": "user", "content": [{"type": "file", "file": file_data(path)}]},
        {"role": "user", "content": [{"type": "text", "text": "first"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "You said: first [saw 1 images]"}]},
    ]
    assert plant_history(app, visit, history).success
    assert chat(app, visit, "second").success
    assert provider.image_urls() == [first]


def test_a_text_only_model_refusing_images_reads_as_pick_a_vision_model(app: RunningApp) -> None:
    visit = raw.open_page(app.url)
    path = uploaded(visit, "photo.png")
    result = chat(app, visit, "see", [path], model="novision-model")
    assert not result.success
    assert "This model does not accept images; pick a vision model" in (result.error or "")


def test_a_script_without_the_cookie_cannot_send_files(app: RunningApp, provider: FakeProvider) -> None:
    visit = raw.open_page(app.url)
    path = uploaded(visit, "mine.png")
    script = Visit(url=app.url, session_hash=secrets.token_hex(6))
    result = chat(app, script, "take it", [path])
    assert result.status == 403 and NOT_YOURS in result.raw
    # Text still works without a cookie, as before.
    assert chat(app, script, "just text").success


def test_ending_the_session_deletes_its_uploads(app: RunningApp, provider: FakeProvider) -> None:
    visit = raw.open_page(app.url)
    stop = threading.Event()

    def heartbeat() -> None:
        url = f"{app.url}/gradio_api/heartbeat/{visit.session_hash}"
        with httpx.stream("GET", url, headers=visit.headers, timeout=30) as stream:
            for _ in stream.iter_bytes():
                if stop.is_set():
                    return

    beating = threading.Thread(target=heartbeat, daemon=True)
    beating.start()
    path = uploaded(visit, "temporary.png", image_bytes(color=(1, 2, 3)))
    assert chat(app, visit, "keep this briefly", [path]).success
    assert Path(path).exists()
    stop.set()
    beating.join(30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and Path(path).exists():
        time.sleep(0.1)
    assert not Path(path).exists()
    assert httpx.get(f"{app.url}/gradio_api/file={path}", headers=visit.headers).status_code == 404


def test_uploads_stay_behind_the_access_gate(fake: FakeProvider) -> None:
    settings = load_settings(routed_env(fake, ACCESS_CODE="correct horse battery"), dotenv_path=None)
    running = start_app(settings)
    try:
        page = httpx.get(f"{running.url}/", headers={"accept": "text/html", "sec-fetch-mode": "navigate"})
        cookies = [h.split(";", 1)[0] for h in page.headers.get_list("set-cookie") if h.startswith(raw.BROWSER_COOKIES)]
        visit = Visit(url=running.url, session_hash="x", cookie=cookies[0]) if cookies else None
        refused = upload(visit, running.url, "dot.png", image_bytes())
        assert refused.status_code in (401, 403)
        assert len(running.service.uploads.ledger) == 0
    finally:
        running.close()


def test_no_uploads_when_the_operator_turns_files_off(fake: FakeProvider) -> None:
    settings = load_settings(routed_env(fake, MAX_FILES_PER_MESSAGE="0"), dotenv_path=None)
    running = start_app(settings)
    try:
        visit = raw.open_page(running.url)
        assert upload(visit, running.url, "dot.png", image_bytes()).status_code == 404
        kinds = {c["type"] for c in raw.config(running.url)["components"]}
        assert "multimodaltextbox" not in kinds
    finally:
        running.close()


# --- each client address's upload budget (UPLOAD_LIMIT_MB) -----------------------------------


@pytest.fixture(scope="module")
def budget_app(fake: FakeProvider) -> Iterator[RunningApp]:
    # One proxy hop trusted, so a test can arrive as another address through it.
    env = routed_env(fake, MAX_IMAGE_MB="1", UPLOAD_LIMIT_MB="2/hour", TRUSTED_PROXIES="127.0.0.1")
    running = start_app(load_settings(env, dotenv_path=None))
    yield running
    running.close()


def _files_on_disk(app: RunningApp) -> int:
    return sum(1 for p in Path(app.demo.server_app.uploaded_file_dir).rglob("*") if p.is_file())


def test_each_address_uploads_within_its_budget_however_many_cookies_it_holds(budget_app: RunningApp) -> None:
    app = budget_app
    alice = raw.open_page(app.url)
    # 0.9 MB each: two fit in 2 MB an hour, the third does not.
    for colour in ("red", "green"):
        assert upload(alice, app.url, f"{colour}.png", image_bytes(color=colour) + b"\x00" * 900_000).status_code == 200
    on_disk = _files_on_disk(app)
    third = upload(alice, app.url, "blue.png", image_bytes(color="blue") + b"\x00" * 900_000)
    assert third.status_code == 429
    assert third.text.startswith("You have uploaded 2 MB per hour from here. Try again in ")
    assert 1 <= int(third.headers["retry-after"]) <= 3600
    assert _files_on_disk(app) == on_disk  # refused before anything was received
    # A cookie costs nothing to get; the budget follows the address.
    fresh_cookie = raw.open_page(app.url)
    assert upload(fresh_cookie, app.url, "blue.png", image_bytes(color="blue") + b"\x00" * 900_000).status_code == 429
    # The refusal shows in the page's upload toast: in the browser's language.
    in_german = httpx.post(
        f"{app.url}/gradio_api/upload",
        files={"files": ("blue.png", image_bytes(color="blue") + b"\x00" * 900_000, "image/png")},
        headers={**fresh_cookie.headers, "accept-language": "de-DE,de;q=0.9,en;q=0.5"},
        timeout=30,
    )
    assert in_german.status_code == 429 and in_german.text.startswith("Sie haben von hier 2 MB")
    # A refused upload used up nothing: what is left still takes a small file.
    assert upload(alice, app.url, "small.png", image_bytes(color="white")).status_code == 200
    # Another address (through the trusted proxy) has a budget of its own.
    elsewhere = raw.open_page(app.url)
    response = httpx.post(
        f"{app.url}/gradio_api/upload",
        files={"files": ("far.png", image_bytes(color="black"), "image/png")},
        headers={**elsewhere.headers, "x-forwarded-for": "203.0.113.7"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


# --- FileData anywhere in a body, and names that try to mean another file ---------------------


def _nested(value: object, depth: int) -> object:
    for _ in range(depth):
        value = {"inner": [value]}
    return value


def test_a_filedata_link_at_any_depth_on_any_route_is_refused_before_gradio_fetches_it(
    app: RunningApp, provider: FakeProvider
) -> None:
    visit = raw.open_page(app.url)
    cfg = raw.config(app.url, headers=visit.headers)
    link = {"path": f"http://127.0.0.1:{provider.port}/big.bin", "meta": {"_type": "gradio.FileData"}}
    deep_history = [{"role": "user", "content": _nested(link, 15)}]
    joined = raw.run_event(
        app.url,
        raw.fn_index(cfg, "chat"),
        raw.chat_data(cfg, "hi", "openai", "fake-model", history=deep_history),
        session_hash=visit.session_hash,
        headers=visit.headers,
    )
    assert joined.status == 403 and "Links cannot be sent as files" in joined.raw
    # call/v2 takes its inputs as top-level keys; a key Gradio ignores is walked too.
    for body in ({"message": {"text": "hi", "files": [link]}}, {"unused": _nested(link, 40)}):
        for headers in ({}, visit.headers):
            v2 = httpx.post(f"{app.url}/gradio_api/call/v2/chat", json=body, headers=headers)
            assert v2.status_code == 403 and "Links cannot be sent as files" in v2.text
    # Not a URL, but a path this browser never uploaded, deep inside event data.
    stray = httpx.post(
        f"{app.url}/gradio_api/queue/join",
        json={"data": [], "event_data": _nested(file_data("/etc/hostname"), 20), "fn_index": 0, "session_hash": "x"},
        headers=visit.headers,
    )
    assert stray.status_code == 403 and NOT_YOURS in stray.text
    assert not [r for r in provider.requests if r.path == "/big.bin"]


def test_a_body_the_boundary_cannot_read_is_not_passed_on(app: RunningApp) -> None:
    visit = raw.open_page(app.url)
    for content, kind in ((b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x"), (b"{not json", "application/json")):
        for route in ("/gradio_api/component_server", "/gradio_api/queue/join", "/gradio_api/call/v2/chat"):
            refused = httpx.post(f"{app.url}{route}", content=content, headers={**visit.headers, "content-type": kind})
            assert refused.status_code == 400, route


def test_a_name_with_percent_signs_cannot_claim_another_browsers_file(app: RunningApp) -> None:
    alice, mallory = raw.open_page(app.url), raw.open_page(app.url)
    secret = b"salary: 123"
    victim = uploaded(alice, "payslip.txt", secret)
    folder = Path(victim).parent.name
    trick = uploaded(mallory, f"..%2F{folder}%2Fpayslip.txt", b"anything")
    assert trick != victim
    for path in (victim, trick.replace("%2F", "/")):
        stolen = httpx.get(f"{app.url}/gradio_api/file={path}", headers=mallory.headers)
        assert stolen.status_code == 404 and secret not in stolen.content
    assert httpx.get(f"{app.url}/gradio_api/file={victim}", headers=alice.headers).content == secret
    assert chat(app, mallory, "read it", [victim]).status == 403


# --- files counted as well as bytes -----------------------------------------------------------


def test_one_upload_request_carries_at_most_one_messages_files(app: RunningApp) -> None:
    visit = raw.open_page(app.url)
    on_disk = _files_on_disk(app)
    many = [("files", (f"{i}.txt", b"x", "text/plain")) for i in range(10)]
    refused = httpx.post(f"{app.url}/gradio_api/upload", files=many, headers=visit.headers, timeout=30)
    assert refused.status_code == 413 and refused.text == "Attach at most 4 files at once."
    assert _files_on_disk(app) == on_disk
    four = httpx.post(f"{app.url}/gradio_api/upload", files=many[:4], headers=visit.headers, timeout=30)
    assert four.status_code == 200 and len(four.json()) == 4


def test_tiny_files_cost_the_budget_as_files_not_bytes(budget_app: RunningApp) -> None:
    # A fresh address through the trusted proxy: its own 2 MB an hour; each file counts 0.1 MB.
    visit = raw.open_page(budget_app.url)
    headers = {**visit.headers, "x-forwarded-for": "203.0.113.99"}
    answers = [
        httpx.post(
            f"{budget_app.url}/gradio_api/upload",
            files={"files": (f"{i}.txt", b"x", "text/plain")},
            headers=headers,
            timeout=30,
        ).status_code
        for i in range(25)
    ]
    assert answers.count(200) == 20 and answers[-1] == 429


def test_the_ledger_never_forgets_a_live_upload_to_make_room() -> None:
    now = [0.0]
    ledger = UploadLedger(capacity=3, max_age=100, clock=lambda: now[0])
    ledger.record("victim", ["/up/a/payslip.txt"])
    ledger.record("attacker", ["/up/b/1", "/up/c/2"])
    assert ledger.full
    ledger.record("attacker", ["/up/d/3"])  # a racing upload is still recorded, nothing is dropped
    assert ledger.owns("victim", "/up/a/payslip.txt") and ledger.owns("attacker", "/up/d/3")
    now[0] = 150  # Gradio has deleted day-old files by now: their records go
    assert not ledger.full and len(ledger) == 0
