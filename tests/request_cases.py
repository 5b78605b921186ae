"""Every request the app may send to a cloud provider: each listed model plus the ids visitors
commonly type, with the page's defaults, each reasoning effort and a chosen temperature. Recorded
through the real adapter against the fake provider, for the oracle and the strict fake to judge."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from config.secret import Secret
from config.settings import Settings
from conversation.request import ChatInputs, build_request
from errors import InputRejected
from providers import EFFORTS, PROVIDERS, ChatStream, close_pools
from tests.conftest import canary
from tests.fake_provider import FakeProvider

# Ids visitors commonly type, beyond each row's list.
TYPED = {"openai": ("o3-mini", "o4-mini", "gpt-5-nano"), "deepseek": ("deepseek-reasoner",)}
CLOUD_ROWS = [p for p in PROVIDERS if p.needs_key]
CHOSEN_TEMPERATURE = 0.7


@dataclass(frozen=True)
class Case:
    provider_id: str
    model: str
    effort: str
    temperature: float | None

    def __str__(self) -> str:
        chosen = "" if self.temperature is None else f", temperature {self.temperature}"
        return f"{self.provider_id}/{self.model} (effort {self.effort}{chosen})"


def every_case() -> list[Case]:
    cases = []
    for row in CLOUD_ROWS:
        for model in (*row.models, *TYPED.get(row.id, ())):
            # The page's defaults, each effort, and a chosen temperature with and without thinking.
            cases += [Case(row.id, model, effort, None) for effort in EFFORTS]
            cases += [Case(row.id, model, effort, CHOSEN_TEMPERATURE) for effort in ("default", "high")]
    return cases


def record(cfg: Settings, fake: FakeProvider, cases: list[Case]) -> list[dict[str, Any] | None]:
    """The body the app sent for each case, or None where the app refused it before sending.
    A chat that fails raises: every case must go through."""

    async def one(case: Case) -> dict[str, Any] | None:
        inputs = ChatInputs(
            message="hi",
            history=[],
            provider_id=case.provider_id,
            model=case.model,
            system_prompt="Be brief.",
            temperature=case.temperature,
            max_tokens=1024,
            effort=case.effort,
        )
        try:
            request = build_request(cfg, inputs)
        except InputRejected:
            return None
        before = len(fake.chat_requests)
        async for _ in ChatStream(request, key=Secret(canary("cases")), timeout=10.0, max_retries=0):
            pass
        assert len(fake.chat_requests) == before + 1
        return fake.chat_requests[-1].body

    async def all_cases() -> list[dict[str, Any] | None]:
        try:
            return [await one(case) for case in cases]
        finally:
            await close_pools()

    return asyncio.run(all_cases())
