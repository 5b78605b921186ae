"""The catalogues (words/) kept in step: every language holds exactly the English keys, every key
is used by the code, and every sentence fills in the same placeholders in every language. English
stays what it was before the catalogues, byte for byte."""

from __future__ import annotations

import ast
from collections.abc import Callable

import pytest

import errors
from tests import REPO
from tests.test_layout import PACKAGES
from words import (
    ENGLISH,
    LANGUAGES,
    PAGE_PREFIX,
    Duration,
    Phrase,
    Rate,
    catalogue,
    page_catalogues,
    pick,
    placeholders,
    say,
)

# The catalogue modules themselves hold the sentences; every other string in the shipped code may name a key.
CATALOGUE_FILES = {p for p in (REPO / "words").glob("*.py") if p.name != "__init__.py"}


def strings_in_code() -> set[str]:
    found: set[str] = set()
    paths = [p for package in PACKAGES for p in (REPO / package).rglob("*.py")] + [REPO / "app.py"]
    for path in paths:
        if path in CATALOGUE_FILES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_holds_exactly_the_english_keys(language: str) -> None:
    english, other = set(catalogue(ENGLISH)), set(catalogue(language))
    assert sorted(english - other) == [], "missing"
    assert sorted(other - english) == [], "not in English"


def test_every_key_is_used_by_the_code() -> None:
    assert sorted(set(catalogue(ENGLISH)) - strings_in_code()) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sentence_fills_in_the_same_placeholders(language: str) -> None:
    differ = {
        key: (placeholders(text), placeholders(catalogue(language)[key]))
        for key, text in catalogue(ENGLISH).items()
        if placeholders(text) != placeholders(catalogue(language)[key])
    }
    assert differ == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_sentence_is_left_empty_or_in_english(language: str) -> None:
    empty = [key for key, text in catalogue(language).items() if not text.strip()]
    assert empty == []
    if language != ENGLISH:
        # Whole sentences copied from English are forgotten translations; names and units may match.
        same = [
            key
            for key, text in catalogue(language).items()
            if text == catalogue(ENGLISH)[key] and len(text.split()) > 2
        ]
        assert same == []


def test_the_page_gets_only_its_own_text_and_no_icu_syntax() -> None:
    """Gradio's page formats its sentences as ICU messages: braces would be read as arguments."""
    pages = page_catalogues()
    assert set(pages) == {*LANGUAGES, "zh", "pt"}
    for words in pages.values():
        assert words and all(key.startswith(PAGE_PREFIX) for key in words)
        assert [text for text in words.values() if "{" in text or "}" in text] == []


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9", "zh-CN"),
        ("zh-TW,zh;q=0.9", "zh-CN"),
        ("ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        ("ko-KR", "ko"),
        ("es-ES,es;q=0.9", "es"),
        ("es-419", "es"),
        ("fr-CA", "fr"),
        ("de-CH, fr;q=0.8", "de"),
        ("pt-BR", "pt-BR"),
        ("pt-PT,pt;q=0.9", "pt-BR"),
        ("PT-br", "pt-BR"),
        ("en-US,en;q=0.9", "en"),
        # Only the first choice counts, as on the page (navigator.language).
        ("it-IT,de;q=0.9", "en"),
        ("*", "en"),
        ("x" * 100, "en"),
    ],
)
def test_the_language_is_the_browsers_first_choice(header: str | None, language: str) -> None:
    assert pick(header) == language


def test_durations_and_rates_are_said_in_the_sentences_language() -> None:
    assert say("en", "error_too_many_checks", wait=Duration(1)).startswith("Wait 1 second before")
    assert say("en", "error_too_many_checks", wait=Duration(200)).startswith("Wait 3 minutes before")
    assert Rate("10", "minute").in_language("en") == "10 per minute"
    assert Rate("200 MB", "hour", 2).in_language("en") == "200 MB per 2 hours"
    assert "3" in Duration(200).in_language("ja") and "minutes" not in Duration(200).in_language("ja")
    assert "10" in Rate("10", "minute").in_language("de") and "per" not in Rate("10", "minute").in_language("de")


def test_an_error_is_said_in_any_language_and_english_by_default() -> None:
    error = errors.InvalidKey("OpenAI", status=401)
    assert error.text("en") == str(error) == error.message
    for language in LANGUAGES[1:]:
        said = error.text(language)
        assert said != str(error) and "OpenAI" in said and "401" in said
        assert error.title_in(language) != error.title
    nested = errors.QuotaExceeded(Phrase("quota_requests", {"limit": Rate("10", "minute")}), retry_after=30)
    assert "per minute" not in nested.text("fr") and "30" in nested.text("fr")
    assert "X-Provider-Key" in nested.script_text("ko")


# What each error said before the catalogues existed (str, script_message, title), byte for byte.
BEFORE: list[tuple[Callable[[], errors.ByokError], str, str, str]] = [
    (
        lambda: errors.ModelNotAllowed("OpenAI", ("gpt-4.1-mini", "gpt-5")),
        "On this server's OpenAI key the operator allows only: gpt-4.1-mini, gpt-5. Pick one of those, or enter your own OpenAI key to use any model.",
        "On this server's OpenAI key the operator allows only: gpt-4.1-mini, gpt-5. Pick one of those, or enter your own OpenAI key to use any model.",
        "Model not available",
    ),
    (
        lambda: errors.ModelNotPriced("OpenAI"),
        "This model has no known price, and OpenAI on this server's key has a spending limit. Pick a model from the list, or enter your own OpenAI key. (Operators: price it with MODEL_PRICES.)",
        "This model has no known price, and OpenAI on this server's key has a spending limit. Use a listed model, or send your own OpenAI key in the X-Provider-Key header. (Operators: price it with MODEL_PRICES.)",
        "Model not available",
    ),
    (
        lambda: errors.TooManyChecks(retry_after=42),
        "Wait 42 seconds before checking again (key checks are limited per visitor).",
        "Wait 42 seconds before checking again (key checks are limited per visitor).",
        "Too many checks",
    ),
    (
        lambda: errors.TooManyChats(3),
        "3 chats from here are already running or waiting. Wait for one to finish, then send again.",
        "3 chats from here are already running or waiting. Wait for one to finish, then send again.",
        "Too many chats at once",
    ),
    (
        lambda: errors.CounterUnavailable(),
        "Usage limits can't be checked right now, so this server's keys are paused. Try again shortly.",
        "Usage limits can't be checked right now, so this server's keys are paused. Try again shortly.",
        "Usage limits unavailable",
    ),
    (
        lambda: errors.KeyRequired("Groq", "GROQ_API_KEY"),
        "Enter your Groq API key in the key box (it is kept for this browser session only), or ask the operator to set GROQ_API_KEY on the server.",
        "Send your Groq API key in the X-Provider-Key header, or ask the operator to set GROQ_API_KEY on the server.",
        "API key needed",
    ),
    (
        lambda: errors.KeyRequired("Groq", None),
        "Enter your Groq API key in the key box (it is kept for this browser session only).",
        "Send your Groq API key in the X-Provider-Key header.",
        "API key needed",
    ),
    (
        lambda: errors.SignInNeeded("Hugging Face", ended=True),
        "Your Hugging Face sign-in has expired or was revoked. Sign in again with the button at the top of the sidebar, or paste your own Hugging Face token in the key box. Then send your message again.",
        "Hugging Face here runs on each visitor's own Hugging Face account. Send your own Hugging Face token in the X-Provider-Key header.",
        "Sign-in needed",
    ),
    (
        lambda: errors.SignInNeeded("Hugging Face", ended=False),
        "Sign in with Hugging Face (the button at the top of the sidebar) to chat on your own account, or paste your own Hugging Face token in the key box. Then send your message again.",
        "Hugging Face here runs on each visitor's own Hugging Face account. Send your own Hugging Face token in the X-Provider-Key header.",
        "Sign-in needed",
    ),
    (
        lambda: errors.ProviderError("Groq", status=418),
        "Groq returned an error (HTTP 418). Try again, or pick another model or provider.",
        "Groq returned an error (HTTP 418). Try again, or pick another model or provider.",
        "Provider error",
    ),
    (
        lambda: errors.ProviderError("Groq"),
        "Groq returned an error. Try again, or pick another model or provider.",
        "Groq returned an error. Try again, or pick another model or provider.",
        "Provider error",
    ),
    (
        lambda: errors.InvalidKey("OpenAI", status=401),
        "OpenAI rejected the API key (HTTP 401). Check the key for OpenAI: that it is correct, active and meant for OpenAI, then enter it again.",
        "OpenAI rejected the API key (HTTP 401). Check the key for OpenAI: that it is correct, active and meant for OpenAI, then enter it again.",
        "Invalid API key",
    ),
    (
        lambda: errors.InvalidKey("OpenAI"),
        "OpenAI rejected the API key (HTTP 401). Check the key for OpenAI: that it is correct, active and meant for OpenAI, then enter it again.",
        "OpenAI rejected the API key (HTTP 401). Check the key for OpenAI: that it is correct, active and meant for OpenAI, then enter it again.",
        "Invalid API key",
    ),
    (
        lambda: errors.ServerKeyRejected("Mistral", status=403),
        "Mistral rejected this server's API key (HTTP 403). Nothing on your side can fix that: tell whoever runs this app that its Mistral key needs replacing.",
        "Mistral rejected this server's API key (HTTP 403). Nothing on your side can fix that: tell whoever runs this app that its Mistral key needs replacing. Or send your own Mistral API key in the X-Provider-Key header.",
        "Server key rejected",
    ),
    (
        lambda: errors.NoModelAccess("OpenAI"),
        "OpenAI accepted the API key, but this key has no access to the model you chose (HTTP 403). Pick another model, or enable this one for the key in your OpenAI account.",
        "OpenAI accepted the API key, but this key has no access to the model you chose (HTTP 403). Pick another model, or enable this one for the key in your OpenAI account.",
        "No access to this model",
    ),
    (
        lambda: errors.UnknownModel("OpenAI", model="x"),
        "OpenAI does not know the model you chose (HTTP 404). Pick another model, or check the model name.",
        "OpenAI does not know the model you chose (HTTP 404). Pick another model, or check the model name.",
        "Unknown model",
    ),
    (
        lambda: errors.OutOfCredit("DeepSeek", status=402),
        "DeepSeek says this key is out of credit or over its spending limit (HTTP 402). Check the account's billing and balance at DeepSeek, or use another key.",
        "DeepSeek says this key is out of credit or over its spending limit (HTTP 402). Check the account's billing and balance at DeepSeek, or use another key.",
        "Out of credit",
    ),
    (
        lambda: errors.NoHubCredits("Hugging Face"),
        "Your Hugging Face account has no Inference Providers credits left (HTTP 402). See your usage and add credits on your billing page, https://huggingface.co/settings/billing (how billing works: https://huggingface.co/docs/inference-providers/pricing), or paste a token from another account.",
        "Your Hugging Face account has no Inference Providers credits left (HTTP 402). See your usage and add credits on your billing page, https://huggingface.co/settings/billing (how billing works: https://huggingface.co/docs/inference-providers/pricing), or paste a token from another account.",
        "No credits left",
    ),
    (
        lambda: errors.OrgBillingRefused("Hugging Face", org="acme"),
        'Hugging Face would not bill the organisation acme for this chat (HTTP 403): it may not allow you to spend on its behalf, have no credits left, or not have granted this app access when you signed in. Pick your own account under "Bill to", or ask the organisation\'s admins (https://huggingface.co/docs/inference-providers/pricing).',
        'Hugging Face would not bill the organisation acme for this chat (HTTP 403): it may not allow you to spend on its behalf, have no credits left, or not have granted this app access when you signed in. Pick your own account under "Bill to", or ask the organisation\'s admins (https://huggingface.co/docs/inference-providers/pricing).',
        "Organisation billing refused",
    ),
    (
        lambda: errors.RateLimited("Groq"),
        "Groq is rate limiting this key. Wait a moment and try again.",
        "Groq is rate limiting this key. Wait a moment and try again.",
        "Rate limited",
    ),
    (
        lambda: errors.RateLimited("Groq", retry_after=7200),
        "Groq is rate limiting this key. Try again in 2 hours.",
        "Groq is rate limiting this key. Try again in 2 hours.",
        "Rate limited",
    ),
    (
        lambda: errors.RateLimited("Groq", retry_after=1),
        "Groq is rate limiting this key. Try again in 1 second.",
        "Groq is rate limiting this key. Try again in 1 second.",
        "Rate limited",
    ),
    (
        lambda: errors.ContextTooLong("OpenAI"),
        "The conversation is too long for this model at OpenAI (HTTP 400). Start a new chat, shorten your message or lower max tokens, or pick a model with a longer context.",
        "The conversation is too long for this model at OpenAI (HTTP 400). Start a new chat, shorten your message or lower max tokens, or pick a model with a longer context.",
        "Conversation too long",
    ),
    (
        lambda: errors.RequestRefused("OpenAI", status=400, setting="temperature"),
        "OpenAI refused the request (HTTP 400): the model does not accept the temperature setting. Change it, or pick another model.",
        "OpenAI refused the request (HTTP 400): the model does not accept the temperature setting. Change it, or pick another model.",
        "Request refused by the provider",
    ),
    (
        lambda: errors.RequestRefused("OpenAI"),
        "OpenAI refused the request. The model may not support one of the settings (temperature, max tokens) or the conversation may be too long.",
        "OpenAI refused the request. The model may not support one of the settings (temperature, max tokens) or the conversation may be too long.",
        "Request refused by the provider",
    ),
    (
        lambda: errors.ImagesNotAccepted("Groq"),
        "This model does not accept images; pick a vision model. (Groq)",
        "This model does not accept images; pick a vision model. (Groq)",
        "Images not accepted",
    ),
    (
        lambda: errors.ProviderUnavailable("Groq", status=503),
        "Groq had a server error (HTTP 503). Try again in a moment.",
        "Groq had a server error (HTTP 503). Try again in a moment.",
        "Provider unavailable",
    ),
    (
        lambda: errors.ProviderTimeout("Groq"),
        "Groq did not answer in time. Try again, or pick a faster model.",
        "Groq did not answer in time. Try again, or pick a faster model.",
        "Timed out",
    ),
    (
        lambda: errors.ProviderTimeout("Groq", seconds=60),
        "Groq did not answer in time: no text for 60 seconds. Try again, or pick a faster model.",
        "Groq did not answer in time: no text for 60 seconds. Try again, or pick a faster model.",
        "Timed out",
    ),
    (
        lambda: errors.ProviderTimeout("Groq", seconds=600, whole_reply=True),
        "Groq did not finish in time: the reply ran past 10 minutes. Try again, or pick a faster model.",
        "Groq did not finish in time: the reply ran past 10 minutes. Try again, or pick a faster model.",
        "Timed out",
    ),
    (
        lambda: errors.CannotConnect("Ollama"),
        "Could not connect to Ollama. The service may be down, or its address is wrong in the server's configuration.",
        "Could not connect to Ollama. The service may be down, or its address is wrong in the server's configuration.",
        "Cannot connect",
    ),
    (
        lambda: errors.EmptyReply("Groq"),
        "Groq finished without sending any text. Try again or rephrase.",
        "Groq finished without sending any text. Try again or rephrase.",
        "Empty reply",
    ),
]


@pytest.mark.parametrize(("make", "text", "script", "title"), BEFORE)
def test_english_is_what_it_was(make: Callable[[], errors.ByokError], text: str, script: str, title: str) -> None:
    error = make()
    assert (str(error), error.script_message, error.title) == (text, script, title)
