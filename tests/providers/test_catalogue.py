"""Every model id the registry lists, held against public model catalogues: LiteLLM's bundled
model map (in LiteLLM's own venv, as for the oracle) and genai-prices' data. An id neither knows
is a typo, a retired model, or newer than both: the last kind is named in NEWER and in the
README, and everything else fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from tests.providers.test_oracle import LITELLM_PROVIDER, ask_oracle
from tests.request_cases import CLOUD_ROWS

pytestmark = pytest.mark.gateway

# Ids deliberately newer than both catalogues (the README names each). None today.
NEWER: frozenset[tuple[str, str]] = frozenset()
# genai-prices' provider ids, where they differ from ours; None: it does not price that router.
GENAI_PRICES_PROVIDER = {"gemini": "google", "hf": None}
# Routers serve other vendors' models under "vendor/model": any host of the same id will do.
ROUTERS = frozenset({"openrouter", "hf"})


def listed() -> list[tuple[str, str]]:
    ids = set()
    for row in CLOUD_ROWS:
        ids |= {(row.id, model) for model in (*row.models, *row.image_models, *row.text_only_models)}
    return sorted(ids)


def genai_prices_knows(provider_id: str, model: str) -> bool:
    provider = GENAI_PRICES_PROVIDER.get(provider_id, provider_id)
    if provider is None:
        return False
    try:
        calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model, provider_id=provider)
    except LookupError:
        return False
    return True


def test_every_listed_model_is_in_a_public_catalogue() -> None:
    ids = listed()
    cases = [
        {"check": "catalogue", "model": model, "provider": LITELLM_PROVIDER[row], "anywhere": row in ROUTERS}
        for row, model in ids
    ]
    in_litellm = {pair for pair, answer in zip(ids, ask_oracle(cases), strict=True) if answer["ok"]}
    unknown = {pair for pair in ids if pair not in in_litellm and not genai_prices_knows(*pair)}
    assert unknown == NEWER, f"not in LiteLLM's model map nor genai-prices: {sorted(unknown - NEWER)}"


def test_the_catalogues_can_say_no() -> None:
    # A typo is caught by both, so a pass above means something.
    assert not genai_prices_knows("openai", "gpt-4.1-mni")
    answer = ask_oracle([{"check": "catalogue", "model": "gpt-4.1-mni", "provider": "openai", "anywhere": True}])
    assert answer == [{"ok": False}]


def test_each_newer_id_is_named_in_the_readme() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "models.md").read_text()
    assert all(model in docs for _, model in NEWER)
