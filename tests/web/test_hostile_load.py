"""A stranger on loopback, with no code and mostly no cookie, tries to freeze the app, fill its
tables or get round the session binding; every attack is bounded in count and time."""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests import gradio_raw as raw
from tests.conftest import RunningApp
from tests.fake_provider import FakeProvider
from tests.gradio_raw import Visit
from tests.load_probe import stays_prompt

CODE = "correct horse battery staple"


@pytest.fixture(scope="module")
def gated(apps: Callable[..., RunningApp]) -> RunningApp:
    return apps(ACCESS_CODE=CODE)


@pytest.fixture(scope="module")
def open_app(apps: Callable[..., RunningApp]) -> RunningApp:
    return apps()


def _cancel(url: str, session_hash: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"session_hash": session_hash, "fn_index": 0, "event_id": "none"}
    return httpx.post(f"{url}/gradio_api/cancel", json=body, headers=headers or {}, timeout=30)


def _visit_with_code(url: str) -> Visit:
    entered = httpx.post(f"{url}/byok/access", data={"code": CODE}, headers={"origin": url})
    (access,) = [h.split(";", 1)[0] for h in entered.headers.get_list("set-cookie") if h.startswith("byok_access=")]
    page = httpx.get(f"{url}/", headers={"accept": "text/html", "sec-fetch-mode": "navigate", "cookie": access})
    (browser,) = [h.split(";", 1)[0] for h in page.headers.get_list("set-cookie") if h.startswith(raw.BROWSER_COOKIES)]
    return Visit(url=url, session_hash=secrets.token_hex(6), cookie=f"{browser}; {access}")


def test_requests_the_gate_refuses_bind_nothing(gated: RunningApp) -> None:
    # A stranger without the code names hashes the visitor will use; none of them is bound.
    taken = [secrets.token_hex(6) for _ in range(5)]
    for session_hash in taken:
        assert httpx.get(f"{gated.url}/gradio_api/queue/data", params={"session_hash": session_hash}).status_code == 401
        assert _cancel(gated.url, session_hash).status_code == 401
    visit = _visit_with_code(gated.url)
    for session_hash in taken:
        assert _cancel(gated.url, session_hash, visit.headers).status_code == 200


def test_only_session_hashes_of_a_real_shape_on_routes_that_use_one_are_bound(open_app: RunningApp) -> None:
    alice, mallory = raw.open_page(open_app.url), raw.open_page(open_app.url)
    huge = "a" * 5_000
    assert httpx.get(f"{open_app.url}/gradio_api/queue/data", params={"session_hash": huge}).status_code == 400
    assert _cancel(open_app.url, "x" * 65, alice.headers).status_code == 400
    assert _cancel(open_app.url, "../../etc", alice.headers).status_code == 400
    # A route that takes no session hash binds none: Mallory naming Alice's hash there changes nothing.
    httpx.get(f"{open_app.url}/config", params={"session_hash": alice.session_hash}, headers=mallory.headers)
    assert _cancel(open_app.url, alice.session_hash, alice.headers).status_code == 200
    assert _cancel(open_app.url, alice.session_hash, mallory.headers).status_code == 403


def test_a_flood_of_sessions_meets_its_cap_and_the_victims_binding_holds(open_app: RunningApp) -> None:
    victim, attacker = raw.open_page(open_app.url), raw.open_page(open_app.url)
    assert _cancel(open_app.url, victim.session_hash, victim.headers).status_code == 200
    answers = [_cancel(open_app.url, secrets.token_hex(6), attacker.headers).status_code for _ in range(220)]
    assert answers.count(200) == 200 and answers[-1] == 429
    # The attacker's cookie still cannot take the victim's session, and the victim keeps it.
    assert _cancel(open_app.url, victim.session_hash, attacker.headers).status_code == 403
    assert _cancel(open_app.url, victim.session_hash, victim.headers).status_code == 200


def _nested_lists(size: int) -> bytes:
    """The JSON that costs a parser the most per byte: a flat array of empty arrays."""
    count = size // 3
    return b'{"data": [' + b"[]," * (count - 1) + b'[]], "session_hash": "abc", "fn_index": 0}'


def _huge_bodies(url: str, headers: dict[str, str], folder: Path) -> list[list[str]]:
    """Rounds of bodies sent by curl, a client of its own as an attacker's would be, so that what
    the probe measures is the server and not this process. At least four rounds, and as many
    more (up to twenty) as three seconds take: a p99 needs a hundred samples or so."""
    rounds: list[list[str]] = []
    for size in (15_000_000, 900_000):
        body = folder / f"body-{size}.json"
        if not body.exists():
            body.write_bytes(_nested_lists(size))
    started = time.monotonic()
    while len(rounds) < 4 or (len(rounds) < 20 and time.monotonic() - started < 3):
        statuses = []
        rounds.append(statuses)
        for route in ("/gradio_api/queue/join", "/gradio_api/no-such-route", "/gradio_api/call/v2/chat"):
            for size in (15_000_000, 900_000):
                sent = subprocess.run(
                    ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "60"]
                    + ["-H", "content-type: application/json"]
                    + [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
                    + ["--data-binary", f"@{folder / f'body-{size}.json'}", f"{url}{route}"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                statuses.append(sent.stdout)
    return rounds


@pytest.mark.serial  # an event-loop probe beside curl processes: needs the machine to itself
def test_huge_json_bodies_are_refused_without_freezing_anyone(
    gated: RunningApp, open_app: RunningApp, tmp_path: Path
) -> None:
    with stays_prompt(gated.url, _visit_with_code(gated.url).headers):
        assert {answer for answers in _huge_bodies(gated.url, {}, tmp_path) for answer in answers} == {"401"}
    visit = raw.open_page(open_app.url)
    with stays_prompt(open_app.url):
        rounds = _huge_bodies(open_app.url, visit.headers, tmp_path)
    # Over the cap, unknown routes unread, and too many values for a chat: nothing was parsed.
    assert all(answers == ["413", "413", "404", "404", "413", "413"] for answers in rounds)


def _shaped_bodies(session_hash: str, index: int) -> dict[str, bytes]:
    """Bodies under the size cap whose shape costs far more than their bytes to parse and walk."""

    def join(data: bytes) -> bytes:
        return b'{"data": %s, "session_hash": "%s", "fn_index": %d}' % (data, session_hash.encode(), index)

    def chat(message: bytes, history: bytes) -> bytes:
        return join(b'[%s, %s, "ollama", "m", "", 0.5, 100, null]' % (message, history))

    return {
        "wide": chat(b"{" + b",".join(b'"k%07d":1' % i for i in range(190_000)) + b"}", b"[]"),
        "long": chat(b'"hi"', b"[" + b",".join([b'{"role":"user","content":"x"}'] * 49_000) + b"]"),
        "digits": chat(b'"hi"', b"[" + b",".join([b"1" * 4299] * 880) + b"]"),
        "short": join(b'["' + b"a" * 3_900_000 + b'"]'),
    }


@pytest.mark.serial  # an event-loop probe: needs the machine to itself
def test_bodies_shaped_to_cost_more_than_their_bytes_are_refused_without_freezing_anyone(
    open_app: RunningApp, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """One object of 190,000 keys held the loop for over a second, 49,000 turns over half a second,
    and an event naming too few values had Gradio print all 4 MB of it to the log."""
    visit = raw.open_page(open_app.url)
    index = raw.fn_index(raw.config(open_app.url, headers=visit.headers), "chat")
    files = {}
    for name, body in _shaped_bodies(visit.session_hash, index).items():
        files[name] = tmp_path / f"{name}.json"
        files[name].write_bytes(body)
    answers: dict[str, set[str]] = {name: set() for name in files}
    capfd.readouterr()
    with stays_prompt(open_app.url, visit.headers):
        started = time.monotonic()
        while time.monotonic() - started < 3:
            for name, path in files.items():
                sent = subprocess.run(
                    ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "60"]
                    + ["-H", "content-type: application/json"]
                    + [arg for header, value in visit.headers.items() for arg in ("-H", f"{header}: {value}")]
                    + ["--data-binary", f"@{path}", f"{open_app.url}/gradio_api/queue/join"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                answers[name].add(sent.stdout)
    assert answers == {"wide": {"413"}, "long": {"413"}, "digits": {"413"}, "short": {"400"}}
    printed = capfd.readouterr()
    assert len(printed.out) + len(printed.err) < 100_000


def test_the_longest_conversation_the_page_can_hold_still_goes_through(open_app: RunningApp) -> None:
    """An imported conversation may be 2 MB; with a new message on top it must still be sent."""
    visit = raw.open_page(open_app.url)
    sentence = "This is a sentence of ordinary prose, with a comma or two, as people write them. "
    history = [{"role": role, "content": sentence * 25} for _ in range(500) for role in ("user", "assistant")]
    cfg = raw.config(open_app.url, headers=visit.headers)
    result = raw.run_event(
        open_app.url,
        raw.fn_index(cfg, "chat"),
        raw.chat_data(cfg, "and one more", "ollama", "fake-model", history=history),
        session_hash=visit.session_hash,
        headers=visit.headers,
    )
    assert result.success, result.raw[-300:]


def _flood(
    running: RunningApp, model: str, count: int, *, visitor_after: float | None = None
) -> tuple[list[raw.EventResult], tuple[raw.EventResult, float] | None]:
    """``count`` chats at once from one address; then, after ``visitor_after`` seconds, one chat
    from another address, with how long it took."""
    cfg = raw.config(running.url)
    index = raw.fn_index(cfg, "chat")

    async def chat(client: httpx.AsyncClient, model: str) -> tuple[raw.EventResult, float]:
        started = time.monotonic()
        result = await raw.run_event_async(client, running.url, index, raw.chat_data(cfg, "hi", "ollama", model))
        return result, time.monotonic() - started

    async def flood_then_visit() -> tuple[list[raw.EventResult], tuple[raw.EventResult, float] | None]:
        attacker = httpx.AsyncClient(timeout=60, headers={"x-forwarded-for": "203.0.113.1"})
        visitor = httpx.AsyncClient(timeout=60, headers={"x-forwarded-for": "203.0.113.2"})
        async with attacker, visitor:
            flood = [asyncio.create_task(chat(attacker, model)) for _ in range(count)]
            visit = None
            if visitor_after is not None:
                await asyncio.sleep(visitor_after)
                visit = await chat(visitor, "fake-model")
            return [r for r, _ in await asyncio.gather(*flood)], visit

    return asyncio.run(flood_then_visit())


def _refused_at_the_door(result: raw.EventResult) -> bool:
    return result.status == 400 and "chats from here are already running or waiting" in result.raw


@pytest.mark.serial  # a twelve-chat flood with a timed bound: needs the machine to itself
def test_one_client_cannot_take_every_chat_slot_or_fill_the_queue(
    apps: Callable[..., RunningApp], provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """Twelve slow chats from one address: two are let in, the other ten are refused as they join
    (each with its log line), so the queue never fills, and another visitor's chat is answered at
    once instead of after the flood."""
    running = apps(CONCURRENCY_LIMIT="4", MAX_CHATS_PER_CLIENT="2", QUEUE_MAX_SIZE="6", TRUSTED_PROXIES="127.0.0.1")
    with caplog.at_level(logging.INFO, logger="byok_chat.usage"):
        flood, visit = _flood(running, "drip-200", 12, visitor_after=1.0)
    assert visit is not None
    result, waited = visit
    assert result.success and waited < 6, (waited, result.raw[-300:])
    assert sum(_refused_at_the_door(r) for r in flood) == 10, [(r.status, r.raw[-200:]) for r in flood]
    assert sum(r.success for r in flood) == 2
    refused = [r.getMessage() for r in caplog.records if "chat refused" in r.getMessage()]
    assert refused == ["chat refused client=ip:203.0.113.1 provider=ollama reason=TooManyChats"] * 10


def test_chats_waiting_in_the_queue_count_against_the_cap(
    apps: Callable[..., RunningApp], provider: FakeProvider
) -> None:
    """With one slot, one chat runs and one waits: the third from the same client is refused as it
    joins, not left waiting for a slot."""
    running = apps(CONCURRENCY_LIMIT="1", MAX_CHATS_PER_CLIENT="2", TRUSTED_PROXIES="127.0.0.1")
    flood, _ = _flood(running, "drip-200-5", 5)
    assert sum(_refused_at_the_door(r) for r in flood) == 3, [(r.status, r.raw[-200:]) for r in flood]
    assert sum(r.success for r in flood) == 2


def test_a_chat_cannot_skip_the_queue(open_app: RunningApp, provider: FakeProvider) -> None:
    """Gradio's REST road runs an event at once, outside CONCURRENCY_LIMIT, QUEUE_MAX_SIZE and the
    per-client count at the queue's door (it is open everywhere but on a Space): closed here."""
    visit = raw.open_page(open_app.url)
    data = ["hi", [], "ollama", "fake-model", "", 0.5, 50, None]
    for route in ("/gradio_api/run/chat", "/gradio_api/api/chat"):
        skipped = httpx.post(f"{open_app.url}{route}", json={"data": data}, headers=visit.headers, timeout=30)
        assert skipped.status_code == 404 and "join the queue" in skipped.text, skipped.text
    assert provider.chat_requests == []


def test_malformed_calls_and_out_of_range_values_leave_no_traceback(
    open_app: RunningApp, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    cfg = raw.config(open_app.url)
    with caplog.at_level(logging.INFO):
        for body in ({"no_such_input": 1}, {"message": {"deep": [1, 2]}, "history": "not a list"}):
            answer = httpx.post(f"{open_app.url}/gradio_api/call/v2/chat", json=body)
            assert 400 <= answer.status_code < 500, answer.text
        hot = raw.run_event(
            open_app.url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, "hi", "ollama", "m", temperature=99)
        )
        assert not hot.success and "Temperature must be between 0 and 2" in (hot.error or "")
    printed = capfd.readouterr()
    assert not [r for r in caplog.records if r.exc_info]
    assert "Traceback" not in printed.out + printed.err


def test_an_events_output_is_read_only_by_whoever_started_it(open_app: RunningApp) -> None:
    victim = raw.open_page(open_app.url)
    started = httpx.post(
        f"{open_app.url}/gradio_api/call/chat",
        json={"data": ["my secret question", "ollama", "fake-model", "", 0.5, 50]},
        headers=victim.headers,
    )
    assert started.status_code == 200, started.text
    event_id = started.json()["event_id"]
    stream = f"{open_app.url}/gradio_api/call/chat/{event_id}"
    for stranger in ({}, raw.open_page(open_app.url).headers):
        stolen = httpx.get(stream, headers=stranger, timeout=30)
        assert stolen.status_code == 404 and "secret" not in stolen.text
    mine = httpx.get(stream, headers=victim.headers, timeout=30)
    assert mine.status_code == 200 and "my secret question" in mine.text
