"""Every way a provider can fail, through the running app, as a raw queue caller sees it.

For each fault: the user gets one fixed message (or the partial reply, marked as cut off) within
REQUEST_TIMEOUT, no key shows up in what the user or the log sees, nothing is left running (the
fake provider's requests and streams end, the app's asyncio tasks go back to where they were),
and the next chat works, in the same session and in another one.

The slow drip, decided: a provider that keeps sending text, however slowly, is answering; each
gap only has to stay under REQUEST_TIMEOUT, so a reply may take longer than REQUEST_TIMEOUT in
total. A reply that never ends (text or keep-alive comments forever) is cut at ChatStream's
``max_seconds`` and kept as a cut-off partial reply.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from config.secret import Secret
from config.settings import Settings, load_settings
from conversation.request import ChatInputs, build_request
from conversation.text import CUT_OFF_MARK, cut_off_mark
from errors import (
    CannotConnect,
    EmptyReply,
    OutOfCredit,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    ReplyCutOff,
    ServerKeyRejected,
)
from providers import ChatStream, close_pools
from tests import gradio_raw
from tests.app_harness import LiveApp, live_app
from tests.conftest import canary, free_port, routed_env
from tests.fake_provider import FakeProvider

TIMEOUT = 2.0  # REQUEST_TIMEOUT for this module: small, so the timeout cases are quick
SERVER_KEY = canary("faults-server")
GROQ = "Groq"
REFUSED_PROVIDER = "vllm"  # needs no key; pointed at a port nothing listens on
MESSAGE = "hello there"


@dataclass(frozen=True)
class Fault:
    model: str
    # What the user must see: the error text, or (when partial is set) that partial reply marked.
    message: str
    title: str
    partial: str | None = None
    mark: str = CUT_OFF_MARK
    upstream_requests: int = 1
    provider: str = "groq"


def _error(error: Any) -> tuple[str, str]:
    # These callers are scripts: they get the script's wording.
    return error.script_message, error.title


def _cut(partial: str, cause: ProviderTimeout | None = None) -> dict[str, Any]:
    cut = ReplyCutOff(GROQ, partial=partial, cause=cause)
    return {"message": str(cut), "title": cut.title, "partial": partial, "mark": cut_off_mark(cut)}


FAULTS: dict[str, Fault] = {
    "408": Fault("status-408", *_error(ProviderTimeout(GROQ, status=408)), upstream_requests=2),
    "429": Fault("status-429", *_error(RateLimited(GROQ)), upstream_requests=2),
    # A Retry-After that fits in REQUEST_TIMEOUT is honoured once...
    "429-retry-after-short": Fault(
        "status-429-retry-1", *_error(RateLimited(GROQ, retry_after=1)), upstream_requests=2
    ),
    # ...a longer one is passed on to the user at once instead of being slept through.
    "429-retry-after-long": Fault("status-429-retry-30", *_error(RateLimited(GROQ, retry_after=30))),
    "429-out-of-credit": Fault("insufficient-quota", *_error(OutOfCredit(GROQ, status=429))),
    "500": Fault("status-500", *_error(ProviderUnavailable(GROQ, status=500)), upstream_requests=2),
    "502": Fault("status-502", *_error(ProviderUnavailable(GROQ, status=502)), upstream_requests=2),
    "503": Fault("status-503", *_error(ProviderUnavailable(GROQ, status=503)), upstream_requests=2),
    "502-html-body": Fault("nonjson-502", *_error(ProviderUnavailable(GROQ, status=502)), upstream_requests=2),
    # Groq runs on the server's key here.
    "401-echoing-the-key": Fault("echo-key-401", *_error(ServerKeyRejected(GROQ, status=401))),
    "no-answer-before-headers": Fault("hang", *_error(ProviderTimeout(GROQ, seconds=TIMEOUT))),
    "headers-then-silence": Fault("stall-0", *_error(ProviderTimeout(GROQ, seconds=TIMEOUT))),
    "connection-refused": Fault(
        "any-model",
        *_error(CannotConnect("vLLM server (local)")),
        upstream_requests=0,
        provider=REFUSED_PROVIDER,
    ),
    "silence-mid-stream": Fault("stall", **_cut("word0 word1 word2 ", ProviderTimeout(GROQ, seconds=TIMEOUT))),
    "reset-mid-stream": Fault("reset", **_cut("word0 word1 word2 ")),
    "closed-mid-stream": Fault("drop", **_cut("word0 word1 word2 ")),
    "no-finish-no-done": Fault("cutoff", **_cut(f"You said: {MESSAGE}")),
    "malformed-sse-line": Fault("malformed", **_cut("You said: ")),
    "error-event-echoing-the-key": Fault("error-event-echo", **_cut("word0 word1 ")),
    "empty-reply": Fault("empty", *_error(EmptyReply(GROQ))),
}


def _settings(fake: FakeProvider) -> Settings:
    env = routed_env(
        fake,
        GROQ_API_KEY=SERVER_KEY,
        REQUEST_TIMEOUT=str(TIMEOUT),
        VLLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
    )
    return load_settings(env, dotenv_path=None)


@pytest.fixture(scope="module")
def harness(fake: FakeProvider) -> Iterator[LiveApp]:
    with live_app(_settings(fake)) as running:
        assert fake.wait_idle(5.0)
        yield running


def _assert_recovered(harness: LiveApp, provider: FakeProvider, session_hash: str) -> None:
    """Nothing left running upstream or in the app, and chatting still works for everyone."""
    assert provider.wait_idle(5.0), f"upstream left open: active={provider.active} streams={provider.open_streams}"
    assert harness.settle_tasks() <= harness.baseline_tasks
    again = harness.chat("fake-model", message="still there?", session_hash=session_hash)
    assert again.success and again.output[0] == "You said: still there?", again.raw
    other = harness.chat("fake-model", message="anyone else?")
    assert other.success and other.output[0] == "You said: anyone else?", other.raw


def _leaks(text: str, *keys: str) -> list[str]:
    return [key for key in keys if key in text]


@pytest.mark.parametrize("name", list(FAULTS))
def test_provider_fault_gives_a_fixed_message_and_leaves_nothing_running(
    name: str,
    harness: LiveApp,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    fault = FAULTS[name]
    session = secrets.token_hex(8)
    started = time.monotonic()
    result = harness.chat(fault.model, provider=fault.provider, session_hash=session)
    elapsed = time.monotonic() - started

    if fault.partial is None:
        assert not result.success, result.raw
        assert result.error == fault.message
        assert result.completed is not None and result.completed.get("title") == fault.title
    else:
        assert result.success, result.raw
        assert result.output[0] == fault.partial + fault.mark
        warnings = [e for e in result.events if e.get("msg") == "log" and e.get("level") == "warning"]
        assert [(w["log"], w["title"]) for w in warnings] == [(fault.message, fault.title)]
    # A contract with the user, not a speed goal: retries never stretch the wait past the timeout.
    assert elapsed < TIMEOUT + 1.5, f"{name} took {elapsed:.2f}s"
    chat_requests = [r for r in provider.chat_requests if r.path.startswith(f"/{fault.provider}/")]
    assert len(chat_requests) == fault.upstream_requests

    logs = caplog.text + "".join(capfd.readouterr())
    assert "Traceback" not in result.raw and "Traceback" not in logs
    assert not _leaks(result.raw + logs, SERVER_KEY)
    if fault.provider == "groq":
        # Proof that the log capture works: the failure itself is logged, without provider text.
        assert f"provider=groq model={fault.model} " in caplog.text
        assert "upstream exploded" not in result.raw and "fake 5" not in result.raw
    _assert_recovered(harness, provider, session)


@pytest.mark.parametrize("model", ["echo-key-401", "error-event-echo"])
def test_a_provider_echoing_a_visitors_key_shows_it_nowhere(
    model: str,
    harness: LiveApp,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    key = canary("faults-visitor")
    session = secrets.token_hex(8)
    result = harness.chat(model, provider="openai", session_hash=session, headers={"X-Provider-Key": key})
    assert provider.chat_requests and provider.chat_requests[0].authorization == f"Bearer {key}"
    # Logged after the request, when the visitor's Secret may be gone from the redactor's list.
    time.sleep(0.2)
    logs = caplog.text + "".join(capfd.readouterr())
    assert not _leaks(result.raw + logs, key, key[len("sk-") :])
    assert f"provider=openai model={model} " in caplog.text
    _assert_recovered(harness, provider, session)


def test_a_huge_reply_arrives_whole(harness: LiveApp, provider: FakeProvider) -> None:
    result = harness.chat("huge")
    assert result.success, result.raw[:500]
    assert result.output[0] == "x" * 200_000
    assert provider.wait_idle(5.0)


@pytest.mark.slow  # waits out timeouts on purpose
def test_a_steady_slow_drip_is_a_legitimate_reply_even_past_the_timeout(
    harness: LiveApp, provider: FakeProvider
) -> None:
    # 40 chunks 60 ms apart: 2.4 s in all, more than REQUEST_TIMEOUT, but never a 2 s gap.
    started = time.monotonic()
    result = harness.chat("drip-60-40")
    assert result.success, result.raw[:500]
    assert result.output[0] == "drip " * 40
    assert time.monotonic() - started > TIMEOUT  # the case really tests a reply longer than the timeout
    assert not [e for e in result.events if e.get("msg") == "log"]  # no cut-off warning
    assert provider.wait_idle(5.0)


@pytest.mark.slow  # waits out timeouts on purpose
def test_faults_in_parallel_do_not_disturb_healthy_chats(harness: LiveApp, provider: FakeProvider) -> None:
    models = ["hang", "stall", "reset", "status-503", "cutoff", "fake-model", "fake-model", "drop"] * 2
    results: dict[int, gradio_raw.EventResult] = {}

    def run(i: int, model: str) -> None:
        results[i] = harness.chat(model, message=f"parallel {i}")

    threads = [threading.Thread(target=run, args=(i, m)) for i, m in enumerate(models)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == len(models)
    for i, model in enumerate(models):
        if model == "fake-model":
            assert results[i].success and results[i].output[0] == f"You said: parallel {i}"
        else:
            assert results[i].error or results[i].output[0].endswith((CUT_OFF_MARK, "kept.]*")), (model, results[i].raw)
    assert provider.wait_idle(5.0)
    assert harness.settle_tasks() <= harness.baseline_tasks


def _app_threads() -> list[str]:
    # The fake provider shares this process; its handler threads (one per idle keep-alive
    # connection) are not the app's.
    return sorted(t.name for t in threading.enumerate() if "process_request_thread" not in t.name)


@pytest.mark.slow  # waits out timeouts on purpose
def test_repeated_faults_grow_no_threads_or_tasks(harness: LiveApp, provider: FakeProvider) -> None:
    batch = ["reset", "drop", "cutoff", "malformed", "error-event-echo", "empty", "status-401", "echo-key-401"]

    def run_batch() -> list[str]:
        for model in batch:
            harness.chat(model)
        assert provider.wait_idle(5.0)
        assert harness.settle_tasks() <= harness.baseline_tasks
        return _app_threads()

    first = run_batch()  # lets Gradio's worker-thread pool reach its working size
    for _ in range(2):
        later = run_batch()
        assert len(later) <= len(first) + 1, (first, later)


# --- the reply deadline, on the adapter itself (the app uses the 600 s default) ---------------


def _stream(fake: FakeProvider, model: str, max_seconds: float) -> Callable[[], Any]:
    settings = load_settings(routed_env(fake, REQUEST_TIMEOUT=str(TIMEOUT)), dotenv_path=None)
    request = build_request(
        settings,
        ChatInputs(
            message=MESSAGE,
            history=[],
            provider_id="groq",
            model=model,
            system_prompt="",
            temperature=0.5,
            max_tokens=100,
        ),
    )
    stream = ChatStream(request, key=Secret(canary("deadline")), timeout=TIMEOUT, max_seconds=max_seconds)

    async def consume() -> tuple[list[str], BaseException | None]:
        seen: list[str] = []
        try:
            async for text in stream:
                seen.append(text)
        except ReplyCutOff as error:
            return seen, error
        finally:
            await close_pools()  # this event loop ends here; its connection pool goes with it
        return seen, None

    async def bounded() -> tuple[list[str], BaseException | None]:
        # Fails the test instead of hanging it when the deadline does not hold.
        return await asyncio.wait_for(consume(), timeout=max_seconds + 3 * TIMEOUT)

    return lambda: asyncio.run(bounded())


@pytest.mark.slow  # waits out timeouts on purpose
@pytest.mark.parametrize(
    "model",
    [
        "drip-100-100000",  # text forever, each gap well under REQUEST_TIMEOUT
        "keepalive",  # a few words, then only SSE comments: no chunk ever trips the deadline check
    ],
)
def test_a_reply_that_never_ends_is_cut_at_max_seconds(model: str, provider: FakeProvider) -> None:
    started = time.monotonic()
    seen, error = _stream(provider, model, max_seconds=1.0)()
    elapsed = time.monotonic() - started
    assert isinstance(error, ReplyCutOff) and error.partial, seen
    assert error.partial.startswith(("drip ", "word0 "))
    assert elapsed < 1.0 + TIMEOUT, f"{model} ran {elapsed:.2f}s past a 1 s deadline"
    assert provider.wait_idle(5.0)
