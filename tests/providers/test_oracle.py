"""Every request shape byok-chat sends, checked by an oracle nobody here wrote: LiteLLM's
per-model parameter rules.

The app runs here, in its own environment, against the fake provider, which records each body.
LiteLLM is large and pins its own dependencies, so it lives in a virtualenv of its own (``.ci/run``
builds it and sets ``LITELLM_BIN``); its python runs ``tests/litellm_oracle.py`` once over every
recorded body: ``litellm.utils.get_optional_params(..., drop_params=False)`` raises for what the
provider refuses. Nothing may raise, except where the app itself refused before sending.
Without LiteLLM the test is skipped, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from tests.fake_provider import FakeProvider
from tests.request_cases import CHOSEN_TEMPERATURE, CLOUD_ROWS, Case, every_case, record

pytestmark = pytest.mark.gateway

# The version .ci/run pins and builds its venv for: one number, read from there.
CI_RUN = Path(__file__).parents[2] / ".ci" / "run"
_PINNED = re.search(r"^LITELLM_VERSION=(\S+)$", CI_RUN.read_text(), re.M)
assert _PINNED is not None, ".ci/run no longer pins LITELLM_VERSION"
LITELLM_VERSION = _PINNED.group(1)
ORACLE = Path(__file__).parents[1] / "litellm_oracle.py"
# Our row ids in LiteLLM's words (its `custom_llm_provider`).
LITELLM_PROVIDER = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "groq": "groq",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "together": "together_ai",
    "hf": "huggingface",
}


def litellm_python() -> Path:
    """LiteLLM's python: beside LITELLM_BIN (as .ci/run sets it), else in .ci/run's cache."""
    candidates = []
    if os.environ.get("LITELLM_BIN"):
        candidates.append(Path(os.environ["LITELLM_BIN"]).parent / "python")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    candidates.append(cache / "byok-chat" / f"litellm-{LITELLM_VERSION}" / "bin" / "python")
    for path in candidates:
        if path.is_file():
            return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"no LiteLLM python at {', '.join(map(str, candidates))}: .ci/run must build the LiteLLM venv")
    pytest.skip("LiteLLM's venv is not built (.ci/run builds it; or set LITELLM_BIN)")


def ask_oracle(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The developer's shell stays out: no keys, no proxies, and LiteLLM's bundled model map, offline.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    done = subprocess.run(
        [str(litellm_python()), str(ORACLE)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answers = json.loads(done.stdout)
    assert len(answers) == len(cases)
    return answers


def params_case(provider_id: str, body: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in body.items() if k not in ("model", "messages")}
    return {"check": "params", "model": body["model"], "provider": LITELLM_PROVIDER[provider_id], "params": params}


def test_every_cloud_row_has_a_litellm_name() -> None:
    assert {row.id for row in CLOUD_ROWS} == set(LITELLM_PROVIDER)


def test_every_body_the_app_sends_passes_litellms_rules(
    settings_for: Callable[..., Settings], provider: FakeProvider
) -> None:
    cfg = settings_for()
    cases = every_case()
    # The models the issue names, so a shrinking list cannot make this pass by covering less.
    named = {(c.provider_id, c.model) for c in cases}
    assert {("openai", "gpt-5-mini"), ("openai", "o4-mini"), ("deepseek", "deepseek-reasoner")} <= named
    assert any(c.provider_id == "anthropic" for c in cases) and any(c.provider_id == "gemini" for c in cases)

    sent: list[tuple[Case, dict[str, Any]]] = []
    refused: list[Case] = []
    for case, body in zip(cases, record(cfg, provider, cases), strict=True):
        if body is None:
            refused.append(case)
        else:
            sent.append((case, body))
    # The control: the oracle refuses what the app refused for gpt-5-mini, and is not lenient.
    control = {"model": "gpt-5-mini", "temperature": CHOSEN_TEMPERATURE, "max_completion_tokens": 1024}
    control_case = params_case("openai", {**control, "messages": []})
    answers = ask_oracle([control_case] + [params_case(case.provider_id, body) for case, body in sent])
    assert answers[0]["ok"] is False and answers[0]["error"] == "UnsupportedParamsError", answers[0]

    failures = [
        f"{case}: {answer['message']}" for (case, _), answer in zip(sent, answers[1:], strict=True) if not answer["ok"]
    ]
    assert not failures, "\n".join(failures)
    # ...and the app refused the control's request itself, before sending it.
    assert Case("openai", "gpt-5-mini", "default", CHOSEN_TEMPERATURE) in refused
    # Every effort a family takes reached the oracle, in its own form.
    efforts_sent = {
        (case.provider_id, case.effort)
        for case, body in sent
        if set(body) & {"reasoning_effort", "reasoning", "thinking"}
    }
    for row in ("openai", "anthropic", "gemini", "groq", "deepseek", "openrouter"):
        assert {(row, e) for e in ("low", "medium", "high")} <= efforts_sent, row
    # A chosen temperature reaches the oracle wherever the model takes one.
    assert any(body.get("temperature") == CHOSEN_TEMPERATURE for case, body in sent if case.provider_id == "anthropic")
