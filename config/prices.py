"""The operator's money: ``MODEL_PRICES`` and the spend limits ``DAILY_SPEND_LIMIT`` and ``SPEND_LIMIT``.

``MODEL_PRICES``: the operator's own prices, for what the maintained table does not know (a local
server, the custom endpoint, a gateway's alias) or where the operator pays a different price.

    MODEL_PRICES="custom:my-model=0.5/1.5; hf:openai/gpt-oss-120b=0.1/0.5; ollama:*=0/0"

Entries are separated by ``;``. Each is ``<provider id>:<model id>=<input>/<output>``, in US dollars
per million input and output tokens; ``*`` as the model prices every model of that provider not
named on its own. The provider id is split off at the first ``:`` and the price at the last ``=``,
so model ids may hold ``/`` and ``:`` (``openai/gpt-4o-mini``, ``gpt-oss:20b``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from errors import ConfigError

__all__ = ["ANY_MODEL", "PERIODS", "ModelPrice", "SpendWindow", "parse_model_prices", "parse_spend_limits"]

ANY_MODEL = "*"
_MODEL = re.compile(r"[\x21-\x7e]{1,200}")
# Far above any listed model's price: a bigger number is a typo (a price per token, say).
_MOST_PER_MILLION = 10_000.0
_EXAMPLE = "custom:my-model=0.5/1.5 (USD per million input/output tokens; entries separated by ;)"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """US dollars per million tokens."""

    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


def parse_model_prices(spec: str, provider_ids: Iterable[str]) -> Mapping[tuple[str, str], ModelPrice]:
    """``{(provider id, model id or "*"): price}``, or a ConfigError that says how to fix it."""
    known = tuple(provider_ids)
    prices: dict[tuple[str, str], ModelPrice] = {}
    for entry in (e.strip() for e in spec.split(";")):
        if not entry:
            continue
        provider_id, colon, rest = entry.partition(":")
        model, equals, price = rest.rpartition("=")
        provider_id, model = provider_id.strip().lower(), model.strip()
        if not colon or not equals or not _MODEL.fullmatch(model):
            raise ConfigError(f"MODEL_PRICES: {_quoted(entry)} must look like {_EXAMPLE}.")
        if provider_id not in known:
            raise ConfigError(
                f"MODEL_PRICES: {_quoted(provider_id)} is not a provider here. Use one of: {', '.join(known)}."
            )
        if (provider_id, model) in prices:
            raise ConfigError(f"MODEL_PRICES names {provider_id}:{model} twice. Keep one price for it.")
        prices[provider_id, model] = _price(entry, price)
    return prices


def _price(entry: str, text: str) -> ModelPrice:
    parts = text.split("/")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 2 or not all(math.isfinite(n) and 0 <= n <= _MOST_PER_MILLION for n in numbers):
        raise ConfigError(
            f"MODEL_PRICES: the price in {_quoted(entry)} must be two numbers, input/output in US dollars per "
            f"million tokens from 0 to {_MOST_PER_MILLION:,.0f}, such as 0.5/1.5 (0/0 for a free local model)."
        )
    return ModelPrice(numbers[0], numbers[1])


def _quoted(text: str) -> str:
    # Prices and model ids are not secrets, but a pasted key must never be echoed whole.
    return f'"{text[:60]}…"' if len(text) > 60 else f'"{text}"'


# Calendar periods in UTC: a day's budget starts again at midnight UTC, a month's on the 1st.
PERIODS = ("hour", "day", "month")
_SPEND = re.compile(r"\s*\$?(\d+(?:\.\d+)?)\s*(?:/|per)\s*(hour|day|month)s?\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SpendWindow:
    """At most ``dollars`` per calendar ``period`` (UTC)."""

    dollars: float
    period: str

    def __str__(self) -> str:
        return f"${self.dollars:,.2f} per {self.period}"


def parse_spend_limits(name: str, spec: str) -> tuple[SpendWindow, ...]:
    """ "5/day;100/month" (US dollars, fractions allowed), or a ConfigError that says how to write it."""
    windows: list[SpendWindow] = []
    for entry in (e for e in spec.split(";") if e.strip()):
        match = _SPEND.fullmatch(entry)
        dollars = float(match.group(1)) if match else 0.0
        if match is None or not 0 < dollars <= 1_000_000:
            raise ConfigError(
                f"{name} must look like 5/day or 0.5/day;100/month: US dollars (more than 0) per hour, day or "
                f"month, several separated by ; (or off)."
            )
        period = match.group(2).lower()
        if any(w.period == period for w in windows):
            raise ConfigError(f"{name} sets two limits per {period}. Keep one.")
        windows.append(SpendWindow(dollars, period))
    return tuple(windows)
