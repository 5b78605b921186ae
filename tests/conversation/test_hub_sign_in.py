"""Which chats a visitor's Hugging Face sign-in pays for, over real HTTP to the fake provider: the
hf row only, at its configured base URL; a typed key first; never another browser's session; a
refused token asks to sign in again, a 402 names the billing page; a chosen organisation is billed
through X-HF-Bill-To. The store and the cookie custody are tests/web/test_signin.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from config.secret import Secret
from config.settings import Settings
from conversation.request import ChatInputs
from conversation.service import Caller, ChatService
from errors import (
    InputRejected,
    InvalidKey,
    KeyRequired,
    NoHubCredits,
    OrgBillingRefused,
    OutOfCredit,
    SignInNeeded,
)
from tests.conftest import canary
from tests.fake_provider import FakeProvider

# --- which chats a sign-in pays for --------------------------------------------------------------


def signed_in_service(settings: Settings) -> tuple[ChatService, Secret]:
    service = ChatService(settings, hub_sign_in=True)
    assert service.sign_ins is not None
    token = Secret(canary("hub-token"))
    service.sign_ins.keep("browser-a", token, username="alice", expires_at=4_000_000_000)
    return service, token


# As the Hub's userinfo lists them: the handle in preferred_username, the display name in name.
ALICES_ORGS = [
    {"sub": "1", "name": "ACME Research", "preferred_username": "acme"},
    {"sub": "2", "name": "Bad <handle>", "preferred_username": "not a handle"},
]


def visitor(
    service: ChatService, *, browser: str = "browser-a", bound: bool = True, key: Secret | None = None
) -> Caller:
    return service.caller(
        peer="198.51.100.7",
        headers={},
        gate_passed=False,
        oauth_info={"userinfo": {"preferred_username": "alice", "orgs": ALICES_ORGS}},
        visitor_key=key,
        browser=browser,
        bound=bound,
        session_hash="session-1",
    )


def chat(service: ChatService, caller: Caller, provider_id: str, model: str = "m", base_url: str = "") -> str:
    inputs = ChatInputs(
        base_url=base_url,
        message="hi",
        history=[],
        provider_id=provider_id,
        model=model,
        system_prompt="",
        temperature=0.5,
        max_tokens=50,
    )

    async def run() -> str:
        text = ""
        async for reply in service.reply(caller, inputs):
            text = reply.text
        return text

    return asyncio.run(run())


def test_the_sign_in_pays_only_on_the_hugging_face_row(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    server_key = canary("groq-server")
    service, token = signed_in_service(
        settings_for(GROQ_API_KEY=server_key, ALLOW_CUSTOM_BASE_URL="true", ALLOW_LOCAL_BASE_URL="true")
    )
    caller = visitor(service)
    assert "You said: hi" in chat(service, caller, "hf")
    assert "You said: hi" in chat(service, caller, "groq")
    with pytest.raises(KeyRequired):
        chat(service, caller, "openai")
    with pytest.raises(KeyRequired):
        # A visitor-typed endpoint, however the visitor is signed in.
        chat(service, caller, "endpoint", base_url=f"http://127.0.0.1:{provider.port}/endpoint/v1")
    sent = [(r.path, r.authorization) for r in provider.chat_requests]
    assert sent == [
        ("/hf/v1/chat/completions", f"Bearer {token.reveal()}"),
        ("/groq/v1/chat/completions", f"Bearer {server_key}"),
    ]


def test_a_typed_key_wins_and_a_session_without_the_cookie_gets_nothing(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    service, _ = signed_in_service(settings_for())
    typed = canary("typed-hf")
    chat(service, visitor(service, key=Secret(typed)), "hf")
    assert provider.chat_requests[-1].authorization == f"Bearer {typed}"
    for stranger in (visitor(service, browser="browser-b"), visitor(service, bound=False)):
        with pytest.raises(SignInNeeded) as asked:
            chat(service, stranger, "hf")
        assert not asked.value.ended
    assert len(provider.chat_requests) == 1


def test_the_server_hf_token_is_not_spent_for_a_signed_in_visitor(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    server_key = canary("hf-server")
    service, token = signed_in_service(settings_for(HF_TOKEN=server_key))
    chat(service, visitor(service), "hf")
    assert provider.chat_requests[-1].authorization == f"Bearer {token.reveal()}"
    chat(service, visitor(service, browser="browser-b"), "hf")
    assert provider.chat_requests[-1].authorization == f"Bearer {server_key}"


def test_a_refused_token_asks_to_sign_in_again_and_is_forgotten(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    service, _ = signed_in_service(settings_for())
    with pytest.raises(SignInNeeded) as refused:
        chat(service, visitor(service), "hf", model="status-401")
    assert refused.value.ended and "Sign in again" in str(refused.value)
    assert not isinstance(refused.value, InvalidKey)
    with pytest.raises(SignInNeeded) as again:
        chat(service, visitor(service), "hf")
    assert again.value.ended
    assert len(provider.chat_requests) == 1


def test_no_credits_says_so_with_the_billing_page(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    service, _ = signed_in_service(settings_for())
    with pytest.raises(NoHubCredits) as broke:
        chat(service, visitor(service), "hf", model="status-402")
    assert isinstance(broke.value, OutOfCredit)
    assert "no Inference Providers credits" in str(broke.value)
    assert "https://huggingface.co/settings/billing" in str(broke.value)
    # The sign-in itself is fine: the next chat still uses it.
    assert "You said" in chat(service, visitor(service), "hf")


def test_without_the_mode_nothing_of_it_runs(settings_for: Callable[..., Settings], provider: FakeProvider) -> None:
    service = ChatService(settings_for())
    assert service.sign_ins is None and visitor(service).sign_in is None
    with pytest.raises(KeyRequired) as asked:
        chat(service, visitor(service), "hf")
    assert not isinstance(asked.value, SignInNeeded)


# --- organisation billing (X-HF-Bill-To) ----------------------------------------------------------


def test_a_chosen_organisation_is_billed_on_the_hf_row_only(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    service, token = signed_in_service(settings_for(GROQ_API_KEY=canary("groq")))
    assert visitor(service).sign_in.orgs == (("acme", "ACME Research"),)  # type: ignore[union-attr]
    chat(service, visitor(service), "hf")
    assert "x-hf-bill-to" not in provider.chat_requests[-1].headers  # their own account by default
    service.choose_bill_to(visitor(service), "acme")
    chat(service, visitor(service), "hf")
    assert provider.chat_requests[-1].headers["x-hf-bill-to"] == "acme"
    assert provider.chat_requests[-1].authorization == f"Bearer {token.reveal()}"
    # Not with a typed token, not on another row.
    chat(service, visitor(service, key=Secret(canary("typed"))), "hf")
    chat(service, visitor(service), "groq")
    assert ["x-hf-bill-to" in r.headers for r in provider.chat_requests[-2:]] == [False, False]
    service.choose_bill_to(visitor(service), "")
    chat(service, visitor(service), "hf")
    assert "x-hf-bill-to" not in provider.chat_requests[-1].headers


@pytest.mark.parametrize("org", ["someone-elses-org", "not a handle", "acme\r\nX-Evil: 1", 7])
def test_only_an_organisation_the_login_lists_can_be_billed(
    settings_for: Callable[..., Settings], provider: FakeProvider, org: object
) -> None:
    service, _ = signed_in_service(settings_for())
    with pytest.raises(InputRejected):
        service.choose_bill_to(visitor(service), org)
    with pytest.raises(InputRejected):  # nor by a session without the browser's cookie
        service.choose_bill_to(visitor(service, browser="browser-b"), "acme")
    chat(service, visitor(service), "hf")
    assert "x-hf-bill-to" not in provider.chat_requests[-1].headers


def test_an_organisation_that_will_not_pay_is_named_and_the_sign_in_stays(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    service, _ = signed_in_service(settings_for())
    service.choose_bill_to(visitor(service), "acme")
    for status in ("403", "402"):
        with pytest.raises(OrgBillingRefused) as refused:
            chat(service, visitor(service), "hf", model=f"status-{status}")
        assert "acme" in str(refused.value) and "Bill to" in str(refused.value)
    assert visitor(service).sign_in.token is not None  # type: ignore[union-attr]
