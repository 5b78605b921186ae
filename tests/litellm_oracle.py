"""Run by LiteLLM's own python (its venv), never imported by the app or its tests: the oracle.

Reads a JSON list of cases on stdin and writes one JSON answer per case on stdout.

    {"check": "params", "model": m, "provider": p, "params": {...}}
        LiteLLM's per-model parameter rules: ``get_optional_params(..., drop_params=False)`` either
        maps the parameters ({"ok": true}) or raises ({"ok": false, "error": type, "message": text}).
    {"check": "catalogue", "model": m, "provider": p, "anywhere": bool}
        Does LiteLLM's bundled model map (model_prices_and_context_window) know this model id?

Set LITELLM_LOCAL_MODEL_COST_MAP=True: the map bundled with the pinned version, no network.
"""

from __future__ import annotations

import json
import sys

import litellm
from litellm.utils import get_optional_params


def check_params(case: dict) -> dict:
    try:
        get_optional_params(
            model=case["model"], custom_llm_provider=case["provider"], drop_params=False, **case["params"]
        )
    except Exception as error:  # noqa: BLE001 - every refusal is an answer
        return {"ok": False, "error": type(error).__name__, "message": str(error)[:300]}
    return {"ok": True}


def in_catalogue(case: dict) -> dict:
    """Known as this provider's model, or (``anywhere``: a router's vendor/model id) the same id
    served by any host in the map."""
    model, provider = case["model"], case["provider"]
    entry = litellm.model_cost.get(model)
    if entry is not None and entry.get("litellm_provider") == provider:
        return {"ok": True, "as": model}
    if f"{provider}/{model}" in litellm.model_cost:
        return {"ok": True, "as": f"{provider}/{model}"}
    if case.get("anywhere"):
        hosted = sorted(name for name in litellm.model_cost if name.endswith("/" + model))
        if hosted:
            return {"ok": True, "as": hosted[0]}
    return {"ok": False}


def main() -> None:
    answers = []
    for case in json.load(sys.stdin):
        answers.append(check_params(case) if case["check"] == "params" else in_catalogue(case))
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
