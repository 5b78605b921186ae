"""The streaming adapter against a real HTTP provider: what it sends, what it yields, and how every
failure becomes a fixed message that never carries the provider's text or the key."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass, field

import pytest

from config.secret import Secret
from config.settings import Settings, load_settings
from conversation.request import ChatInputs, build_request
from errors import (
    CannotConnect,
    EmptyReply,
    InvalidKey,
    OutOfCredit,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    ReplyCutOff,
    RequestRefused,
    UnknownModel,
)
from providers import ChatStream
from providers.chat import NO_KEY_PLACEHOLDER
from providers.classify import retry_after
from tests.conftest import canary, free_port, routed_env
from tests.fake_provider import FakeProvider


@dataclass
class Outcome:
    updates: list[str] = field(default_factory=list)
    error: ProviderError | None = None
    stream: ChatStream | None = None

    @property
    def text(self) -> str:
        return self.updates[-1] if self.updates else ""


def settings_with(fake: FakeProvider, **env: str) -> Settings:
    return load_settings(routed_env(fake, **env), dotenv_path=None)


def run(
    settings: Settings,
    model: str,
    *,
    key: str | None = None,
    provider_id: str = "groq",
    message: str = "hello world",
    timeout: float = 5.0,
    max_retries: int = 0,
    **options: float,
) -> Outcome:
    request = build_request(
        settings,
        ChatInputs(
            message=message,
            history=[],
            provider_id=provider_id,
            model=model,
            system_prompt="Be brief.",
            temperature=0.3,
            max_tokens=77,
        ),
    )
    stream = ChatStream(
        request,
        key=Secret(key) if key else None,
        timeout=timeout,
        max_retries=max_retries,
        **options,
    )
    outcome = Outcome(stream=stream)

    async def consume() -> None:
        try:
            async for text in stream:
                outcome.updates.append(text)
        except ProviderError as error:
            outcome.error = error

    asyncio.run(consume())
    return outcome


@pytest.fixture
def cfg(provider: FakeProvider) -> Settings:
    return settings_with(provider)


# --- the happy path --------------------------------------------------------------------------


def test_stream_yields_the_growing_reply_and_sends_one_exact_request(cfg: Settings, provider: FakeProvider) -> None:
    key = canary("stream")
    outcome = run(cfg, "plain-model", key=key, message="one two three")
    assert outcome.error is None
    assert outcome.text == "You said: one two three"
    assert all(b.startswith(a) for a, b in zip(outcome.updates, outcome.updates[1:], strict=False))
    assert outcome.stream.finish_reason == "stop"
    assert outcome.stream.usage is not None and not outcome.stream.usage.estimated
    assert outcome.stream.usage.prompt_tokens == 11

    [request] = provider.requests
    assert request.path == "/groq/v1/chat/completions"
    assert request.authorization == f"Bearer {key}"
    assert request.body["model"] == "plain-model"
    assert request.body["stream"] is True
    assert request.body["temperature"] == 0.3
    assert request.body["max_tokens"] == 77
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one two three"},
    ]


def test_openai_gets_max_completion_tokens(cfg: Settings, provider: FakeProvider) -> None:
    run(cfg, "m", key=canary("o"), provider_id="openai")
    body = provider.requests[0].body
    assert provider.requests[0].path == "/openai/v1/chat/completions"
    assert body["max_completion_tokens"] == 77 and "max_tokens" not in body


def test_mistral_gets_no_stream_options_and_usage_is_estimated(cfg: Settings, provider: FakeProvider) -> None:
    outcome = run(cfg, "m", key=canary("m"), provider_id="mistral", message="abcd efgh")
    assert "stream_options" not in provider.requests[0].body
    assert outcome.stream.usage.estimated
    assert outcome.stream.usage.completion_tokens == (len("You said: abcd efgh") + 3) // 4


def test_a_huge_reply_arrives_whole(cfg: Settings) -> None:
    outcome = run(cfg, "huge", key=canary("h"))
    assert outcome.error is None
    assert len(outcome.text) == 200_000


def test_local_provider_gets_a_placeholder_never_the_ambient_openai_key(
    cfg: Settings, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    ambient = canary("ambient-openai")
    monkeypatch.setenv("OPENAI_API_KEY", ambient)
    outcome = run(cfg, "m", key=None, provider_id="ollama")
    assert outcome.error is None
    [request] = provider.requests
    assert request.path == "/ollama/v1/chat/completions"
    assert request.authorization == f"Bearer {NO_KEY_PLACEHOLDER}"


def test_ambient_sdk_variables_change_nothing(
    cfg: Settings, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK reads these from the environment; none of them may steer or decorate our request.
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{provider.port}/ambient/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-canary-ambient")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-canary-ambient")
    monkeypatch.setenv("OPENAI_API_KEY", canary("ambient"))
    for pid in ("groq", "openai"):
        run(cfg, "m", key=canary(pid), provider_id=pid)
    assert [r.path for r in provider.requests] == ["/groq/v1/chat/completions", "/openai/v1/chat/completions"]
    for request in provider.requests:
        assert "openai-organization" not in request.headers
        assert "openai-project" not in request.headers
        assert "org-canary-ambient" not in str(request.headers)


def test_stopping_early_closes_the_upstream_stream(cfg: Settings, provider: FakeProvider) -> None:
    request = build_request(
        cfg,
        ChatInputs(
            message="hi",
            history=[],
            provider_id="groq",
            model="drip-50",
            system_prompt="",
            temperature=0.5,
            max_tokens=10,
        ),
    )

    async def take_two() -> list[str]:
        seen: list[str] = []
        async with aclosing(ChatStream(request, key=Secret(canary("stop")), timeout=5).__aiter__()) as updates:
            async for text in updates:
                seen.append(text)
                if len(seen) == 2:
                    break
        return seen

    assert len(asyncio.run(take_two())) == 2
    # The fake notices the dropped connection and stops streaming well before its 40 chunks.
    assert provider.wait_idle(5.0)
    assert provider.closed_early == 1


# --- failures --------------------------------------------------------------------------------

STATUS_CASES = [
    ("status-401", InvalidKey, 401, "rejected the API key (HTTP 401)"),
    ("status-403", InvalidKey, 403, "rejected the API key (HTTP 403)"),
    ("status-429", RateLimited, 429, "Wait a moment and try again."),
    ("status-429-retry-7", RateLimited, 429, "Try again in 7 seconds."),
    ("insufficient-quota", OutOfCredit, 429, "out of credit"),
    ("status-402", OutOfCredit, 402, "out of credit"),
    ("status-404", UnknownModel, 404, "does not know the model"),
    ("status-400", RequestRefused, 400, "refused the request (HTTP 400)"),
    ("status-422", RequestRefused, 422, "refused the request (HTTP 422)"),
    ("status-408", ProviderTimeout, 408, "did not answer in time"),
    ("status-500", ProviderUnavailable, 500, "server error (HTTP 500)"),
    ("status-502", ProviderUnavailable, 502, "server error (HTTP 502)"),
    ("status-503", ProviderUnavailable, 503, "server error (HTTP 503)"),
    ("nonjson-502", ProviderUnavailable, 502, "server error (HTTP 502)"),
]


@pytest.mark.parametrize(("model", "kind", "status", "words"), STATUS_CASES, ids=[c[0] for c in STATUS_CASES])
def test_http_errors_map_to_fixed_messages(
    cfg: Settings, provider: FakeProvider, model: str, kind: type[ProviderError], status: int, words: str
) -> None:
    key = canary("status")
    outcome = run(cfg, model, key=key)
    assert type(outcome.error) is kind
    assert outcome.error.status == status
    assert words in str(outcome.error)
    assert str(outcome.error).startswith("Groq")
    assert "fake" not in str(outcome.error)  # the provider's own message never comes through
    assert "Bad gateway" not in str(outcome.error)
    assert key not in str(outcome.error)
    assert outcome.updates == []
    assert len(provider.chat_requests) == 1


def test_retry_after_is_kept_as_a_number(cfg: Settings) -> None:
    error = run(cfg, "status-429-retry-7", key=canary("r")).error
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0
    assert run(cfg, "status-429", key=canary("r")).error.retry_after is None


def test_retry_after_header_forms() -> None:
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "-3"}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None
    assert retry_after({"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}) == 0.0
    when = retry_after({"retry-after": "Fri, 31 Dec 2100 23:59:59 GMT"})
    assert when is not None and when > 10**9


def test_echoed_key_in_a_401_never_reaches_the_message(cfg: Settings, provider: FakeProvider) -> None:
    key = canary("echo")
    outcome = run(cfg, "echo-key-401", key=key)
    assert isinstance(outcome.error, InvalidKey)
    assert key not in str(outcome.error) and key not in repr(outcome.error)
    assert outcome.error.__cause__ is None and outcome.error.__suppress_context__
    assert provider.chat_requests[0].authorization == f"Bearer {key}"  # the fake did get it to echo


def test_retries_are_bounded_by_max_retries(cfg: Settings, provider: FakeProvider) -> None:
    run(cfg, "status-503", key=canary("retry"), max_retries=1)
    assert len(provider.chat_requests) == 2
    provider.reset()
    run(cfg, "status-401", key=canary("retry"), max_retries=1)
    assert len(provider.chat_requests) == 1  # a bad key is never retried


def test_timeout_when_the_provider_never_answers(cfg: Settings) -> None:
    outcome = run(cfg, "hang", key=canary("t"), timeout=0.3)
    assert type(outcome.error) is ProviderTimeout
    assert "did not answer in time" in str(outcome.error)


def test_no_message_names_a_status_it_does_not_know() -> None:
    """An error event inside a stream carries no HTTP status: never "(HTTP None)"."""
    for kind in (ProviderError, ProviderUnavailable, RequestRefused, ProviderTimeout):
        assert "None" not in str(kind("Groq")), kind
    assert str(ProviderUnavailable("Groq")) == "Groq had a server error. Try again in a moment."


def test_a_stall_mid_stream_names_the_timeout_and_its_length(cfg: Settings) -> None:
    outcome = run(cfg, "stall", key=canary("stall-time"), timeout=1.0)
    assert isinstance(outcome.error, ReplyCutOff) and isinstance(outcome.error.cause, ProviderTimeout)
    assert outcome.error.title == "Timed out"
    assert "no text for 1 second" in str(outcome.error)
    deadline = run(cfg, "drip-30", key=canary("drip-time"), max_seconds=1.0)
    assert "the reply ran past 1 second" in str(deadline.error)


def test_connection_refused(provider: FakeProvider) -> None:
    closed = free_port()  # nothing listens there once the probe socket is closed
    cfg = load_settings({"GROQ_BASE_URL": f"http://127.0.0.1:{closed}/v1"}, dotenv_path=None)
    outcome = run(cfg, "m", key=canary("c"))
    assert type(outcome.error) is CannotConnect
    assert "Could not connect to Groq" in str(outcome.error)
    assert str(closed) not in str(outcome.error)


def test_cut_off_stream_keeps_the_partial_reply(cfg: Settings) -> None:
    outcome = run(cfg, "cutoff", key=canary("cut"), message="keep these words")
    assert isinstance(outcome.error, ReplyCutOff)
    assert outcome.error.partial == "You said: keep these words"
    assert outcome.text == outcome.error.partial
    assert "stopped sending before the reply was complete" in str(outcome.error)


def test_stall_mid_stream_is_a_cut_off_with_the_partial(cfg: Settings, provider: FakeProvider) -> None:
    outcome = run(cfg, "stall", key=canary("stall"), timeout=1.0)
    assert isinstance(outcome.error, ReplyCutOff)
    # The fake sends three words, then silence.
    assert len(outcome.error.partial.split()) == 3
    assert provider.wait_idle(5.0)  # and we hung up on it


def test_a_slow_drip_past_the_deadline_is_cut_off(cfg: Settings, provider: FakeProvider) -> None:
    outcome = run(cfg, "drip-30", key=canary("drip"), max_seconds=0.2)
    assert isinstance(outcome.error, ReplyCutOff)
    assert outcome.error.partial.startswith("drip ")
    assert provider.wait_idle(5.0)


@pytest.mark.parametrize("model", ["malformed", "error-event"])
def test_broken_stream_keeps_the_partial_and_hides_provider_text(cfg: Settings, model: str) -> None:
    outcome = run(cfg, model, key=canary("broken"), message="w x y z")
    assert isinstance(outcome.error, ReplyCutOff)
    # Both break at the third chunk: the two words before it are kept, even though the second
    # arrived inside the coalescing window and was never shown on its own.
    assert len(outcome.error.partial.split()) == 2
    assert "upstream exploded" not in str(outcome.error)
    assert "not json" not in str(outcome.error)


def test_text_held_back_by_coalescing_is_kept_on_failure(cfg: Settings) -> None:
    # A long update interval holds back everything after the first chunk.
    outcome = run(cfg, "malformed", key=canary("held"), update_interval=60.0)
    assert outcome.updates == ["You "]
    assert outcome.error.partial == "You said: "


def test_empty_reply(cfg: Settings) -> None:
    outcome = run(cfg, "empty", key=canary("empty"))
    assert type(outcome.error) is EmptyReply
    assert outcome.updates == []
    assert "without sending any text" in str(outcome.error)


def test_errors_are_logged_by_type_without_the_key(
    cfg: Settings, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    key = canary("logged")
    with caplog.at_level("DEBUG"):
        run(cfg, "echo-key-401", key=key)
    assert "error=InvalidKey status=401" in caplog.text
    out, err = capfd.readouterr()
    assert key not in caplog.text + out + err


def test_an_error_event_echoing_the_key_never_reaches_the_message(
    cfg: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    key = canary("event-echo")
    with caplog.at_level("DEBUG"):
        outcome = run(cfg, "error-event-echo", key=key)
    assert isinstance(outcome.error, ReplyCutOff)
    assert key not in str(outcome.error) and key not in outcome.error.partial
    assert key not in caplog.text


@pytest.mark.parametrize(("thinks", "expected"), [(True, range(40, 77)), (False, range(0, 1))])
def test_a_reply_stopped_while_a_model_thinks_unseen_counts_the_thinking_time(
    cfg: Settings, provider: FakeProvider, thinks: bool, expected: range
) -> None:
    """OpenAI's and Gemini's models think without showing it, and bill it as output: a reply stopped
    before its first token is estimated at HIDDEN_THINKING_RATE for the time it waited."""
    from dataclasses import replace

    from providers.reasoning import ReasoningControl
    from providers.registry import ModelFamily

    request = build_request(
        cfg,
        ChatInputs(
            message="hello", history=[], provider_id="groq", model="stall-0",
            system_prompt="Be brief.", temperature=0.3, max_tokens=77,
        ),
    )  # fmt: skip
    families = (ModelFamily(pattern="stall.*", reasoning=ReasoningControl(form="reasoning_effort")),) if thinks else ()
    stream = ChatStream(replace(request, provider=replace(request.provider, families=families)), key=None, timeout=5)

    async def stop_after_half_a_second() -> None:
        async def read() -> None:
            async for _ in stream.replies():
                pass

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(read(), 0.5)

    asyncio.run(stop_after_half_a_second())
    usage = stream.usage_now()
    # Half a second at 100 tokens a second (less the time the request took), within max_tokens (77).
    assert usage is not None and usage.estimated and usage.completion_tokens in expected
