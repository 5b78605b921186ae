"""Live model lists, the operator's model allow-list and "Check my key", against the fake provider.

Every call goes over real HTTP to tests/fake_provider.py; its ``models-<mode>`` base URL paths
produce each failure a provider's ``GET /models`` can have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

import providers.models as models_module
from config.secret import Secret
from config.settings import Settings, load_settings
from conversation.request import ChatInputs
from conversation.service import Caller, ChatService
from errors import (
    ByokError,
    CannotConnect,
    InputRejected,
    InvalidKey,
    ModelNotAllowed,
    OutOfCredit,
    ProviderTimeout,
    ProviderUnavailable,
    TooManyChecks,
)
from providers.chat import close_pools
from providers.models import MAX_LIVE_MODELS, ModelCatalog, SessionModels, merge_models
from providers.registry import PROVIDERS
from tests.conftest import canary, free_port, routed_env
from tests.fake_provider import LIVE_MODELS, FakeProvider

T = TypeVar("T")
GROQ = next(p for p in PROVIDERS if p.id == "groq")


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run on a fresh loop and close that loop's connection pools afterwards."""

    async def main() -> T:
        try:
            return await make()
        finally:
            await close_pools()

    return asyncio.run(main())


def service_for(fake: FakeProvider, **env: str) -> ChatService:
    return ChatService(load_settings(routed_env(fake, **env), dotenv_path=None))


def caller(service: ChatService, key: str | None = None, client: str = "203.0.113.9") -> Caller:
    return service.caller(
        peer=client,
        headers={},
        gate_passed=False,
        oauth_info=None,
        visitor_key=Secret(key) if key else None,
    )


def models_requests(fake: FakeProvider) -> list[Any]:
    return [r for r in fake.requests if r.method == "GET" and r.path.rstrip("/").endswith("/models")]


def test_merge_puts_the_curated_list_first_then_the_rest_sorted() -> None:
    assert merge_models(("b", "a"), ["z", "a", "c"]) == ("b", "a", "c", "z")


def test_server_key_list_is_fetched_once_and_shared_between_visitors(provider: FakeProvider) -> None:
    key = canary("models-server")
    service = service_for(provider, GROQ_API_KEY=key)

    async def two_visitors() -> tuple[Any, Any]:
        first = await service.model_list(caller(service, client="198.51.100.1"), "groq", SessionModels())
        second = await service.model_list(caller(service, client="198.51.100.2"), "groq", SessionModels())
        return first, second

    first, second = run(two_visitors)
    assert first == second
    assert first.models[: len(GROQ.models)] == GROQ.models  # curated first
    assert set(LIVE_MODELS) <= set(first.models)
    # The note counts what the list shows: the provider's models and the usual ones it left out.
    extra = len(first.models) - len(LIVE_MODELS)
    assert extra > 0
    assert (
        first.note
        == f"{len(first.models)} models: {len(LIVE_MODELS)} listed by Groq, plus {extra} usual ones it left out."
    )
    fetched = models_requests(provider)
    assert len(fetched) == 1
    assert fetched[0].path == "/groq/v1/models"
    assert fetched[0].authorization == f"Bearer {key}"
    # The cache is keyed by provider and URL only.
    assert key not in repr(list(service.catalog._shared))


def test_server_key_list_is_fetched_again_after_model_list_ttl(provider: FakeProvider) -> None:
    service = service_for(provider, GROQ_API_KEY=canary("ttl"), MODEL_LIST_TTL="120")
    now = [1000.0]
    service.catalog = ModelCatalog(service.settings, clock=lambda: now[0])

    async def visits() -> None:
        who = caller(service)
        await service.model_list(who, "groq", SessionModels())
        now[0] += 119
        await service.model_list(who, "groq", SessionModels())
        assert len(models_requests(provider)) == 1
        now[0] += 2
        await service.model_list(who, "groq", SessionModels())

    run(visits)
    assert len(models_requests(provider)) == 2


def test_simultaneous_page_loads_share_one_fetch(provider: FakeProvider) -> None:
    service = service_for(provider, GROQ_API_KEY=canary("burst"))

    async def burst() -> list[Any]:
        return await asyncio.gather(*(service.model_list(caller(service), "groq", SessionModels()) for _ in range(20)))

    lists = run(burst)
    assert len({listing.models for listing in lists}) == 1
    assert len(models_requests(provider)) == 1


def test_visitor_key_lists_are_per_session_and_never_shared(provider: FakeProvider) -> None:
    service = service_for(provider)
    alice, bob = canary("alice"), canary("bob")
    alice_session, bob_session = SessionModels(), SessionModels()

    async def both() -> None:
        await service.model_list(caller(service, alice), "groq", alice_session)
        await service.model_list(caller(service, alice), "groq", alice_session)  # from the session
        await service.model_list(caller(service, bob), "groq", bob_session)

    run(both)
    assert [r.authorization for r in models_requests(provider)] == [f"Bearer {alice}", f"Bearer {bob}"]
    assert not service.catalog._shared  # nothing fetched with a visitor's key is shared
    assert set(LIVE_MODELS) <= set(alice_session.lists[("groq", 0, "")].models)
    assert alice not in repr(alice_session)


def test_without_any_key_the_curated_list_is_shown_and_nothing_is_fetched(provider: FakeProvider) -> None:
    service = service_for(provider)
    listing = run(lambda: service.model_list(caller(service), "groq", SessionModels()))
    assert listing.models == GROQ.models
    assert models_requests(provider) == []


def test_a_local_server_lists_what_it_has_loaded_without_a_key(provider: FakeProvider) -> None:
    service = service_for(provider)
    listing = run(lambda: service.model_list(caller(service), "ollama", SessionModels()))
    assert set(LIVE_MODELS) <= set(listing.models)
    (request,) = models_requests(provider)
    assert request.path == "/ollama/v1/models"
    assert request.authorization == "Bearer no-key-needed"


FAILURES = {
    "status-401": "the key was refused",
    "echo-key-401": "the key was refused",
    "status-429": "rate limited",
    "status-500": "answered with an error",
    "hang": "no answer in time",
    "malformed": "answered with an error",
    "nodata": "answered with an error",
    "many-10000": "too many to show",
}


@pytest.mark.parametrize("mode", sorted(FAILURES))
@pytest.mark.parametrize("key_kind", ["server", "visitor"])
def test_every_models_failure_ends_in_the_curated_list_with_a_note(
    provider: FakeProvider, mode: str, key_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = canary(f"models-{mode}")
    env = {"GROQ_BASE_URL": f"http://127.0.0.1:{provider.port}/models-{mode}/v1"}
    if mode == "hang":
        env["REQUEST_TIMEOUT"] = "1"  # only the hang waits for it; the others must not race it
    if key_kind == "server":
        env["GROQ_API_KEY"] = key
    service = service_for(provider, **env)
    who = caller(service, key if key_kind == "visitor" else None)

    async def fetch() -> Any:
        # The hang never answers: finishing at all is REQUEST_TIMEOUT at work. The outer bound
        # only keeps a broken build from hanging the suite.
        return await asyncio.wait_for(service.model_list(who, "groq", SessionModels()), 60)

    with caplog.at_level("DEBUG"):
        listing = run(fetch)
    assert listing.models == GROQ.models
    assert FAILURES[mode] in listing.note
    assert key not in listing.note and key not in caplog.text
    assert "fake" not in listing.note and "Incorrect" not in listing.note  # no provider text
    assert len(models_requests(provider)) == 1


def test_ten_thousand_models_are_counted_but_not_listed(provider: FakeProvider) -> None:
    env = {"GROQ_BASE_URL": f"http://127.0.0.1:{provider.port}/models-many-10000/v1"}
    service = service_for(provider, GROQ_API_KEY=canary("many"), **env)
    listing = run(lambda: service.model_list(caller(service), "groq", SessionModels()))
    assert listing.live == 10_000 > MAX_LIVE_MODELS
    assert listing.note.startswith("Groq lists 10,000 models")


def test_a_failed_shared_fetch_is_retried_after_a_minute_not_an_hour(provider: FakeProvider) -> None:
    env = {"GROQ_BASE_URL": f"http://127.0.0.1:{provider.port}/models-status-500/v1"}
    service = service_for(provider, GROQ_API_KEY=canary("retry"), **env)
    now = [0.0]
    service.catalog = ModelCatalog(service.settings, clock=lambda: now[0])

    async def visits() -> None:
        await service.model_list(caller(service), "groq", SessionModels())
        await service.model_list(caller(service), "groq", SessionModels())
        now[0] += 61
        await service.model_list(caller(service), "groq", SessionModels())

    run(visits)
    assert len(models_requests(provider)) == 2


def test_visitor_endpoint_lists_go_through_the_url_guard(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_for(provider, ALLOW_CUSTOM_BASE_URL="true")
    url = f"http://127.0.0.1:{provider.port}/endpoint/v1"
    listing = run(lambda: service.model_list(caller(service, canary("ep")), "endpoint", SessionModels(), url))
    assert listing.models == ("default",)
    assert "local, private or reserved network address" in listing.note
    assert str(provider.port) not in listing.note
    assert models_requests(provider) == []  # the guard refused loopback before connecting

    pools: list[bool] = []
    real_pool = models_module.guarded_pool

    def spy(*, allow_local: bool) -> Any:
        pools.append(allow_local)
        return real_pool(allow_local=allow_local)

    monkeypatch.setattr(models_module, "guarded_pool", spy)
    local = service_for(provider, ALLOW_CUSTOM_BASE_URL="true", ALLOW_LOCAL_BASE_URL="true")
    listing = run(lambda: local.model_list(caller(local, canary("ep")), "endpoint", SessionModels(), url))
    assert set(LIVE_MODELS) <= set(listing.models)
    assert [r.path for r in models_requests(provider)] == ["/endpoint/v1/models"]
    assert pools == [True]  # fetched through the guarded pool, not the shared one


# --- The operator's allow-list -------------------------------------------------------------------


def restricted(fake: FakeProvider, key: str) -> ChatService:
    return service_for(fake, GROQ_API_KEY=key, GROQ_MODELS="cheap-a, cheap-b")


def chat_inputs(model: str) -> ChatInputs:
    return ChatInputs(
        message="hi",
        history=[],
        provider_id="groq",
        model=model,
        system_prompt="",
        temperature=0.5,
        max_tokens=50,
    )


async def collect(service: ChatService, who: Caller, model: str) -> list[str]:
    return [reply.text async for reply in service.reply(who, chat_inputs(model))]


def test_restricted_server_key_shows_only_the_operators_models(provider: FakeProvider) -> None:
    service = restricted(provider, canary("restricted"))
    settings: Settings = service.settings
    groq = settings.provider("groq")
    assert groq is not None
    assert settings.initial_model(groq) == "cheap-a"  # the registry default is not allowed
    listing = run(lambda: service.model_list(caller(service), "groq", SessionModels()))
    assert listing.models == ("cheap-a", "cheap-b")
    assert models_requests(provider) == []  # the operator's list needs no fetch


def test_restricted_model_is_refused_on_the_server_key_and_nothing_is_sent(provider: FakeProvider) -> None:
    service = restricted(provider, canary("restricted"))
    with pytest.raises(ModelNotAllowed) as refused:
        run(lambda: collect(service, caller(service), "gpt-expensive"))
    assert "cheap-a, cheap-b" in str(refused.value)
    assert provider.requests == []
    assert run(lambda: collect(service, caller(service), "cheap-b"))[-1] == "You said: hi"


def test_a_visitors_own_key_may_use_any_model(provider: FakeProvider) -> None:
    service = restricted(provider, canary("restricted"))
    visitor = canary("own")
    assert run(lambda: collect(service, caller(service, visitor), "gpt-expensive"))[-1] == "You said: hi"
    assert provider.chat_requests[-1].authorization == f"Bearer {visitor}"
    listing = run(lambda: service.model_list(caller(service, visitor), "groq", SessionModels()))
    assert set(LIVE_MODELS) <= set(listing.models)


def test_models_variable_must_hold_model_ids(provider: FakeProvider) -> None:
    from errors import ConfigError

    with pytest.raises(ConfigError, match="GROQ_MODELS"):
        load_settings(routed_env(provider, GROQ_MODELS="good, has space"), dotenv_path=None)


# --- Check my key --------------------------------------------------------------------------------


def test_check_key_answers_with_the_model_count(provider: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    service = service_for(provider)
    key = canary("check")
    with caplog.at_level("DEBUG"):
        answer = run(lambda: service.check_key(caller(service, key), "groq"))
    assert answer == f"Key works: Groq lists {len(LIVE_MODELS)} models."
    assert provider.chat_requests == []  # no tokens spent
    assert [r.authorization for r in models_requests(provider)] == [f"Bearer {key}"]
    assert "key check client=ip:203.0.113.9 provider=groq outcome=ok" in caplog.text
    assert key not in caplog.text


@pytest.mark.parametrize(
    ("base", "error"),
    [
        ("models-echo-key-401", InvalidKey),
        ("models-status-403", InvalidKey),
        ("models-status-402", OutOfCredit),
        ("models-status-500", ProviderUnavailable),
        ("models-hang", ProviderTimeout),
    ],
)
def test_check_key_failures_are_mapped(
    provider: FakeProvider, base: str, error: type[Exception], caplog: pytest.LogCaptureFixture
) -> None:
    timeout = "1" if base == "models-hang" else "60"
    service = service_for(
        provider, GROQ_BASE_URL=f"http://127.0.0.1:{provider.port}/{base}/v1", REQUEST_TIMEOUT=timeout
    )
    key = canary("check-bad")
    with caplog.at_level("DEBUG"), pytest.raises(error) as failed:
        run(lambda: service.check_key(caller(service, key), "groq"))
    assert key not in str(failed.value) and key not in caplog.text
    assert "Incorrect" not in str(failed.value)


def test_check_key_cannot_connect(provider: FakeProvider) -> None:
    service = service_for(provider, GROQ_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(CannotConnect):
        run(lambda: service.check_key(caller(service, canary("down")), "groq"))


def test_check_key_needs_a_visitor_key(provider: FakeProvider) -> None:
    service = service_for(provider, GROQ_API_KEY=canary("server"))
    with pytest.raises(InputRejected, match="Enter your Groq key first"):
        run(lambda: service.check_key(caller(service), "groq"))
    assert provider.requests == []


def test_key_checks_and_visitor_lists_are_throttled_per_client(provider: FakeProvider) -> None:
    service = service_for(provider, RATE_LIMIT="3/minute")

    async def many() -> None:
        await service.check_key(caller(service, canary("k1")), "groq")
        await service.check_key(caller(service, canary("k2")), "groq")
        await service.model_list(caller(service, canary("k3")), "groq", SessionModels())
        with pytest.raises(TooManyChecks) as refused:
            await service.check_key(caller(service, canary("k4")), "groq")
        # Shown as "<title>: <message>": the message does not say the title again.
        shown = f"{refused.value.title}: {refused.value}"
        assert shown.lower().count("too many") == 1 and "Wait " in shown, shown
        listing = await service.model_list(caller(service, canary("k5")), "groq", SessionModels())
        assert "too many checks" in listing.note
        # Another client is not affected.
        await service.check_key(caller(service, canary("k6"), client="198.51.100.77"), "groq")

    run(many)
    assert len(models_requests(provider)) == 4


def test_key_checks_have_a_default_throttle_without_rate_limit(provider: FakeProvider) -> None:
    service = service_for(provider)  # routed_env turns RATE_LIMIT off

    async def many() -> int:
        for done in range(200):
            try:
                await service.check_key(caller(service, canary("k")), "groq")
            except TooManyChecks:
                return done
        return 200

    assert run(many) == 10


def test_a_new_visitor_key_fetches_the_list_again(provider: FakeProvider) -> None:
    service = service_for(provider)
    session = SessionModels()
    first, second = canary("first"), canary("second")

    async def keys_changed() -> None:
        await service.model_list(caller(service, first), "groq", session, key_version=1)
        await service.model_list(caller(service, first), "groq", session, key_version=1)
        await service.model_list(caller(service, second), "groq", session, key_version=2)

    run(keys_changed)
    assert [r.authorization for r in models_requests(provider)] == [f"Bearer {first}", f"Bearer {second}"]
    assert list(session.lists) == [("groq", 2, "")]


def test_chats_that_fail_on_the_key_or_model_spend_key_checks(provider: FakeProvider) -> None:
    """The chat is no free stolen-key tester: a wrong key or model costs a check, like Check my
    key; once the checks are spent, a chat on a visitor's key is refused before it is sent."""
    service = service_for(provider)  # the default 10 checks a minute

    def inputs(model: str) -> ChatInputs:
        return ChatInputs(
            message="hi",
            history=[],
            provider_id="groq",
            model=model,
            system_prompt="",
            temperature=0.5,
            max_tokens=20,
        )

    async def drain(model: str, client: str = "203.0.113.9") -> None:
        async for _ in service.reply(caller(service, canary("stolen"), client=client), inputs(model)):
            pass

    async def sort_stolen_keys() -> list[str]:
        outcomes = []
        for model in ["fake-model"] * 3 + ["status-401", "status-404"] * 6:
            try:
                await drain(model)
                outcomes.append("ok")
            except ByokError as error:
                outcomes.append(type(error).__name__)
        return outcomes

    outcomes = run(sort_stolen_keys)
    # Working chats cost nothing; ten key or model answers spend the minute's checks.
    assert outcomes[:13] == ["ok"] * 3 + ["InvalidKey", "UnknownModel"] * 5
    assert outcomes[13:] == ["TooManyChecks"] * 2
    assert len(provider.chat_requests) == 13
    run(lambda: drain("fake-model", client="198.51.100.7"))  # another client is not affected


def test_a_model_list_echoing_the_key_never_shows_it(provider: FakeProvider) -> None:
    service = service_for(provider, GROQ_BASE_URL=f"http://127.0.0.1:{provider.port}/models-echo-key-ids/v1")
    key = canary("listed")
    listing = run(lambda: service.model_list(caller(service, key), "groq", SessionModels()))
    assert set(LIVE_MODELS) <= set(listing.models)
    assert key not in repr(listing) and "sk-proj-" not in repr(listing)
    assert run(lambda: service.check_key(caller(service, key), "groq")) == (
        f"Key works: Groq lists {len(LIVE_MODELS)} models."
    )
