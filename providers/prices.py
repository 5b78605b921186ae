"""What a reply costs in US dollars: the operator's ``MODEL_PRICES`` first, then genai-prices
(pydantic's maintained table of every major provider's prices, shipped inside the package).

The table is the one bundled with the installed package: nothing here starts its updater, so
pricing never touches the network and a reply is priced the same on every replica. Upgrading the
package brings newer prices.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache

from genai_prices import Usage as TableUsage
from genai_prices import calc_price

from config.prices import ANY_MODEL, ModelPrice

from .registry import Provider

__all__ = ["PriceBook"]

# Our provider ids where genai-prices names the provider otherwise. Providers without a key of their
# own (local servers), the custom endpoint and a visitor's endpoint are never looked up: only the
# operator knows what those cost.
_TABLE_IDS = {"gemini": "google"}
_NOT_IN_TABLE = frozenset({"custom", "visitor"})


class PriceBook:
    """Prices replies. ``cost`` is None for a model nobody priced."""

    def __init__(self, operator: Mapping[tuple[str, str], ModelPrice]) -> None:
        self._operator = operator

    def known(self, provider: Provider, model: str) -> bool:
        return self.cost(provider, model, 0, 0) is not None

    def source(self, provider: Provider, model: str) -> str | None:
        """Where the price comes from: "MODEL_PRICES", "genai-prices", or None (unpriced)."""
        if self._operator_price(provider, model) is not None:
            return "MODEL_PRICES"
        return "genai-prices" if self.known(provider, model) else None

    def cost(self, provider: Provider, model: str, input_tokens: int, output_tokens: int) -> float | None:
        own = self._operator_price(provider, model)
        if own is not None:
            return own.cost(input_tokens, output_tokens)
        if not provider.needs_key or provider.id in _NOT_IN_TABLE:
            return None
        return _table_cost(_TABLE_IDS.get(provider.id, provider.id), model, input_tokens, output_tokens)

    def _operator_price(self, provider: Provider, model: str) -> ModelPrice | None:
        return self._operator.get((provider.id, model)) or self._operator.get((provider.id, ANY_MODEL))


def _table_cost(table_id: str, model: str, input_tokens: int, output_tokens: int) -> float | None:
    found, flat = _in_table(table_id, model)
    if not found:
        return None
    if flat is not None:
        return flat.cost(input_tokens, output_tokens)
    # Tiered prices (more per token past a context size): the table does the sums.
    usage = TableUsage(input_tokens=input_tokens, output_tokens=output_tokens)
    return float(calc_price(usage, model, provider_id=table_id).total_price)


# Bounded: model ids come from visitors too.
@lru_cache(maxsize=4096)
def _in_table(table_id: str, model: str) -> tuple[bool, ModelPrice | None]:
    """Is the model in the table, and its flat price per million tokens where it has one. A flat
    price is worked out here: the table's own sums cost about 0.15 ms a call (bench/metering.py)."""
    try:
        priced = calc_price(TableUsage(input_tokens=0, output_tokens=0), model, provider_id=table_id)
    except LookupError:
        return False, None
    rates = priced.model_price
    if isinstance(rates.input_mtok, Decimal) and isinstance(rates.output_mtok, Decimal):
        return True, ModelPrice(float(rates.input_mtok), float(rates.output_mtok))
    return True, None
