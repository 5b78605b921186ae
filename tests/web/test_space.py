"""On a Hugging Face Space every visitor arrives through the Hub's proxy: each one must still be its
own client for quotas and for the access-code throttle, without the operator setting anything.

The Space is simulated with the variables the Hub sets (SPACE_ID, SPACE_HOST) and the proxy hop by
sending X-Forwarded-For from loopback, as the Hub's proxy does for each visitor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from config.network import UNTRUSTED_FORWARDS_WARN_AT, TrustedProxies
from config.settings import Settings, load_settings
from startup.summary import client_identity, startup_summary
from tests import REPO
from tests import gradio_raw as raw
from tests.conftest import RunningApp, canary, routed_env
from tests.fake_provider import FakeProvider
from web.access import GATE_PATH

SPACE = {"SPACE_ID": "someone/byok-chat", "SPACE_HOST": "someone-byok-chat.hf.space"}
CODE = "correct-horse-battery-staple"


def _chat_as(running: RunningApp, forwarded_for: str) -> raw.EventResult:
    cfg = raw.config(running.url)
    data = raw.chat_data(cfg, "hi", "groq", "m")
    return raw.run_event(running.url, raw.fn_index(cfg, "chat"), data, headers={"x-forwarded-for": forwarded_for})


def _quota_app(launch: Callable[[Settings], RunningApp], fake: FakeProvider, **env: str) -> RunningApp:
    return launch(
        load_settings(routed_env(fake, GROQ_API_KEY=canary("server"), RATE_LIMIT="1/minute", **env), dotenv_path=None)
    )


def test_on_a_space_two_visitors_have_separate_quotas(
    launch: Callable[[Settings], RunningApp], provider: FakeProvider
) -> None:
    running = _quota_app(launch, provider, **SPACE)
    outcomes = [_chat_as(running, "198.51.100.1"), _chat_as(running, "198.51.100.1"), _chat_as(running, "198.51.100.2")]
    assert [r.success for r in outcomes] == [True, False, True]
    assert "your requests (1 per minute)" in (outcomes[1].error or "")
    assert len(provider.chat_requests) == 2


def test_on_a_space_a_spoofed_extra_hop_does_not_change_the_client(
    launch: Callable[[Settings], RunningApp], provider: FakeProvider
) -> None:
    running = _quota_app(launch, provider, **SPACE)
    # The visitor writes a made-up address first; the Hub's proxy appends the real one.
    assert _chat_as(running, "203.0.113.50, 198.51.100.1").success
    again = _chat_as(running, "203.0.113.51, 198.51.100.1")
    assert not again.success and "your requests (1 per minute)" in (again.error or "")
    assert running.service.usage_today("ip:198.51.100.1").requests == 1
    assert running.service.usage_today("ip:203.0.113.50").requests == 0


def test_on_a_space_one_visitors_wrong_codes_do_not_lock_out_another(
    launch: Callable[[Settings], RunningApp], fake: FakeProvider
) -> None:
    running = launch(load_settings(routed_env(fake, ACCESS_CODE=CODE, **SPACE), dotenv_path=None))
    guesser = {"x-forwarded-for": "203.0.113.66, 198.51.100.1"}
    statuses = [
        httpx.post(running.url + GATE_PATH, data={"code": f"guess-{i}"}, headers=guesser).status_code for i in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]
    # The guesser stays locked out whatever it writes in front of its own address...
    relabelled = {"x-forwarded-for": "203.0.113.67, 198.51.100.1"}
    assert httpx.post(running.url + GATE_PATH, data={"code": CODE}, headers=relabelled).status_code == 429
    # ...and the next visitor gets in.
    other = {"x-forwarded-for": "198.51.100.2"}
    assert httpx.post(running.url + GATE_PATH, data={"code": CODE}, headers=other).status_code == 303


@pytest.mark.parametrize(
    "env",
    [{}, {**SPACE, "TRUSTED_PROXIES": ""}, {"SPACE_ID": SPACE["SPACE_ID"]}],
    ids=["not-a-space", "space-with-trusted-proxies-empty", "space-id-alone"],
)
def test_without_the_space_default_every_forwarded_address_is_one_client(
    launch: Callable[[Settings], RunningApp], provider: FakeProvider, env: dict[str, str]
) -> None:
    running = _quota_app(launch, provider, **env)
    outcomes = [_chat_as(running, "198.51.100.1"), _chat_as(running, "198.51.100.2")]
    assert [r.success for r in outcomes] == [True, False]
    assert running.service.usage_today("ip:127.0.0.1").requests == 1


def test_without_the_space_default_wrong_codes_lock_out_everyone_behind_the_proxy(
    launch: Callable[[Settings], RunningApp], fake: FakeProvider
) -> None:
    running = launch(load_settings(routed_env(fake, ACCESS_CODE=CODE), dotenv_path=None))
    for i in range(5):
        httpx.post(running.url + GATE_PATH, data={"code": f"guess-{i}"}, headers={"x-forwarded-for": "198.51.100.1"})
    other = {"x-forwarded-for": "198.51.100.2"}
    assert httpx.post(running.url + GATE_PATH, data={"code": CODE}, headers=other).status_code == 429


def test_settings_trust_one_hop_on_a_space_and_an_explicit_value_wins(fake: FakeProvider) -> None:
    def load(**env: str) -> Settings:
        return load_settings({**routed_env(fake), **env}, dotenv_path=None)

    assert load(**SPACE).trusted_proxies == "*"
    assert load(**SPACE).on_space and not load(**SPACE).trusted_proxies_set
    assert load(**SPACE, TRUSTED_PROXIES="").trusted_proxies == ""
    assert load(**SPACE, TRUSTED_PROXIES="10.0.0.0/8").trusted_proxies == "10.0.0.0/8"
    assert load().trusted_proxies == "" and not load().on_space
    assert load(SPACE_HOST=SPACE["SPACE_HOST"]).trusted_proxies == ""


def test_the_start_up_summary_names_the_client_identity(fake: FakeProvider) -> None:
    def identity(**env: str) -> str:
        return client_identity(load_settings({**routed_env(fake), **env}, dotenv_path=None))

    assert identity(**SPACE) == "X-Forwarded-For from the Space proxy"
    assert identity() == "connection address"
    assert identity(**SPACE, TRUSTED_PROXIES="").startswith("connection address (TRUSTED_PROXIES is empty")
    assert identity(TRUSTED_PROXIES="*") == "X-Forwarded-For from the one proxy in front (TRUSTED_PROXIES=*)"
    assert identity(TRUSTED_PROXIES="127.0.0.1") == "X-Forwarded-For from proxies in TRUSTED_PROXIES (127.0.0.1)"
    assert identity(ALLOWED_HF_USERS="alice") == "Hugging Face user, else connection address"
    summary = startup_summary(load_settings(routed_env(fake, GROQ_API_KEY=canary("server"), **SPACE), dotenv_path=None))
    assert "client = X-Forwarded-For from the Space proxy" in summary
    assert summary.count("\n") == 0


def test_many_forwarded_addresses_from_an_untrusted_peer_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    trusted = TrustedProxies("")
    with caplog.at_level(logging.WARNING, logger="byok_chat.access"):
        for i in range(UNTRUSTED_FORWARDS_WARN_AT - 1):
            assert trusted.client_address("10.0.0.9", f"198.51.100.{i}") == "10.0.0.9"
        # The same address again is not a new visitor.
        trusted.client_address("10.0.0.9", "198.51.100.0")
        assert not caplog.records
        for i in range(UNTRUSTED_FORWARDS_WARN_AT - 1, 3 * UNTRUSTED_FORWARDS_WARN_AT):
            trusted.client_address("10.0.0.9", f"198.51.100.{i}")
        # Another peer sending one header now and then is no proxy.
        trusted.client_address("10.0.0.10", "198.51.100.1")
    (record,) = caplog.records
    message = record.getMessage()
    assert "10.0.0.9" in message and "TRUSTED_PROXIES=10.0.0.9" in message and "one quota" in message
    assert "10.0.0.10" not in message


@pytest.mark.slow  # two apps and twenty chats
def test_the_warning_comes_from_real_requests_and_not_on_a_space(
    launch: Callable[[Settings], RunningApp], provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    plain = launch(load_settings(routed_env(provider), dotenv_path=None))
    space = launch(load_settings(routed_env(provider, **SPACE), dotenv_path=None))
    with caplog.at_level(logging.WARNING, logger="byok_chat.access"):
        for running in (space, plain):
            for i in range(UNTRUSTED_FORWARDS_WARN_AT):
                cfg = raw.config(running.url)
                result = raw.run_event(
                    running.url,
                    raw.fn_index(cfg, "chat"),
                    raw.chat_data(cfg, "hi", "ollama", "m"),
                    headers={"x-forwarded-for": f"198.51.100.{i}"},
                )
                assert result.success, result.raw
    warnings = [r.getMessage() for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert len(warnings) == 1, [f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records]
    assert "127.0.0.1" in warnings[0]


def test_the_docs_no_longer_ask_spaces_for_trusted_proxies() -> None:
    docs = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    deploying = (REPO / "docs" / "deploying.md").read_text()
    spaces = deploying.split("**Docker.**", 1)[0]
    assert not [doc.name for doc in docs if "set `TRUSTED_PROXIES=*`" in doc.read_text()]
    assert "Hub's proxy" in spaces and "without any setting" in spaces
    assert "`TRUSTED_PROXIES` to an empty value" in spaces
