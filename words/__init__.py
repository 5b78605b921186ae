"""The words a visitor reads, in every language the page speaks: one catalogue per language.

Code names a message by its key (``say(language, "error_invalid_key", provider=..., status=...)``)
and never holds the sentence; English is the fallback for a language we do not speak. The page's
static text goes to Gradio's ``gr.I18n`` (``page_catalogues``); everything the server makes (errors,
the usage line, the key box's states, the gate page) is said here in the language of the request
that asked (``pick``).

A parameter may itself be worded per language (a ``Duration``, a ``Rate``, another ``Phrase``): it
is rendered in the same language as the sentence it goes into.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from words import de, en, es, fr, ja, ko, pt_br, zh_cn

__all__ = [
    "ENGLISH",
    "LANGUAGES",
    "PAGE_PREFIX",
    "Duration",
    "Phrase",
    "Rate",
    "catalogue",
    "page_catalogues",
    "pick",
    "placeholders",
    "say",
    "template",
]

ENGLISH = "en"

_CATALOGUES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "en": en.WORDS,
        "zh-CN": zh_cn.WORDS,
        "ja": ja.WORDS,
        "ko": ko.WORDS,
        "es": es.WORDS,
        "fr": fr.WORDS,
        "de": de.WORDS,
        "pt-BR": pt_br.WORDS,
    }
)
LANGUAGES: tuple[str, ...] = tuple(_CATALOGUES)

# Gradio's page picks its locale from navigator.language: the exact tag when Gradio ships it
# (zh-CN, zh-TW, pt-BR, pt, ...), else the bare language. A tag without a catalogue of ours then
# falls back from "zh-TW" to "zh" and from "pt" to nothing, so the page gets these aliases too;
# ``pick`` maps the same tags the same way, so the page and the server's messages agree.
_ALIASES = {"zh": "zh-CN", "pt": "pt-BR"}


def pick(accept_language: str | None) -> str:
    """The language for a request: the browser's first choice in its Accept-Language header, when
    we speak it (by exact tag, else by its bare language), else English. Only the first choice
    counts, because the page (Gradio's own text and ``gr.I18n``) follows navigator.language,
    which is that first choice; later choices would make the server speak a language the page
    does not."""
    first = (accept_language or "").split(",", 1)[0].split(";", 1)[0].strip().lower()
    if not first or len(first) > 35:
        return ENGLISH
    for language in LANGUAGES:
        if first == language.lower():
            return language
    base = first.split("-", 1)[0]
    if base in _ALIASES:
        return _ALIASES[base]
    return base if base in _CATALOGUES else ENGLISH


def catalogue(language: str) -> Mapping[str, str]:
    return _CATALOGUES[language]


def template(language: str, key: str) -> str:
    """The sentence ``key`` in ``language`` (English when that language has none), unfilled."""
    return _CATALOGUES.get(language, en.WORDS).get(key) or en.WORDS[key]


def say(language: str, key: str, **params: object) -> str:
    """The sentence ``key`` in ``language``, with its parameters filled in; a worded parameter is
    said in the same language."""
    return template(language, key).format(**{name: _in(language, value) for name, value in params.items()})


def placeholders(template: str) -> set[str]:
    """The names a sentence fills in: "{provider}", "{count:,}" -> {"provider", "count"}."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


# Keys of the page's static text, the only ones sent to the page: the rest are said on the server,
# and their "{...}" would read as ICU arguments to the page's i18n library.
PAGE_PREFIX = "page_"


def page_catalogues() -> dict[str, dict[str, str]]:
    """The page's static text in every language, for Gradio's I18n, under each locale tag the page
    may pick."""
    found = {
        language: {key: text for key, text in words.items() if key.startswith(PAGE_PREFIX)}
        for language, words in _CATALOGUES.items()
    }
    for alias, language in _ALIASES.items():
        found[alias] = found[language]
    return found


@runtime_checkable
class Worded(Protocol):
    def in_language(self, language: str) -> str: ...


def _in(language: str, value: object) -> object:
    return value.in_language(language) if isinstance(value, Worded) else value


@dataclass(frozen=True, slots=True)
class Phrase:
    """A sentence not yet said: its key and parameters, said when the language is known."""

    key: str
    params: Mapping[str, object] = field(default_factory=dict)

    def in_language(self, language: str) -> str:
        return say(language, self.key, **self.params)


@dataclass(frozen=True, slots=True)
class Duration:
    """A wait, rounded for people: "1 second", "45 seconds", "3 minutes", "2 hours"."""

    seconds: float

    def in_language(self, language: str) -> str:
        whole = max(1, round(self.seconds))
        if whole >= 3600 * 1.5:
            return say(language, "duration_hours", count=round(whole / 3600))
        if whole >= 60 * 1.5:
            return say(language, "duration_minutes", count=round(whole / 60))
        return say(language, "duration_second") if whole == 1 else say(language, "duration_seconds", count=whole)


# One window of a rate limit ("per minute"), and several ("per 5 minutes").
_PER = {
    "second": ("per_second", "per_seconds"),
    "minute": ("per_minute", "per_minutes"),
    "hour": ("per_hour", "per_hours"),
    "day": ("per_day", "per_days"),
    "month": ("per_month", "per_months"),
    "year": ("per_year", "per_years"),
}


@dataclass(frozen=True, slots=True)
class Rate:
    """A limit for people: "10 per minute", "200 MB per hour", "5 per 10 minutes"."""

    amount: str
    unit: str
    multiples: int = 1

    def in_language(self, language: str) -> str:
        one, many = _PER[self.unit]
        every = say(language, one) if self.multiples == 1 else say(language, many, count=self.multiples)
        return say(language, "rate", amount=self.amount, every=every)
