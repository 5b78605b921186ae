"""The model dropdown, filled from the provider's live list (providers/models.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from config.keys import SessionKeys
from conversation.service import Caller, ChatService
from providers import Provider
from providers.models import ModelList, SessionModels
from ui.events import PRIVATE
from ui.handlers import PageHandlers
from ui.language import language_of
from ui.sidebar import Sidebar
from ui.wiring import KeyEvents

ChatCaller = Callable[[gr.Request, SessionKeys, object, object], Caller]


class ModelListEvents:
    """Fill the model dropdown from the provider's live list (providers/models.py).

    A list fetched with a visitor's key is kept for the session until that key changes. The
    dropdown's value is set only when it must be (a model the operator's list leaves out), so a
    model picked meanwhile is never overwritten.
    """

    def __init__(
        self,
        service: ChatService,
        chat_caller: ChatCaller,
        inputs: list[Any],
        outputs: list[Any],
    ) -> None:
        self.service = service
        self.chat_caller = chat_caller
        self.session = gr.State(SessionModels())
        provider_box, model_box, keys, endpoint = inputs
        self.inputs = [provider_box, model_box, keys, self.session, endpoint]
        self.outputs = outputs

    def refresh_after(self, event: Any) -> None:
        event.then(self.refresh, self.inputs, self.outputs, **PRIVATE)

    async def refresh(
        self,
        provider_id: str,
        model: str,
        keys: SessionKeys,
        session: SessionModels,
        request: gr.Request,
        base_url: str = "",
    ) -> tuple[dict[str, Any], str]:
        provider = self.service.settings.provider(provider_id)
        if provider is None or not isinstance(session, SessionModels):
            return gr.update(), ""
        who = self.chat_caller(request, keys, provider.id, base_url)
        version = keys.version(provider.id) if isinstance(keys, SessionKeys) else 0
        listing = await self.service.model_list(who, provider.id, session, base_url, key_version=version)
        return self._dropdown(provider, model, listing, who), listing.note_in(language_of(request))

    def _dropdown(self, provider: Provider, model: object, listing: ModelList, who: Caller) -> dict[str, Any]:
        choices = list(listing.models or provider.models)
        allowed = self.service.settings.restricted_models(provider)
        if allowed is not None and self.service.on_server_key(provider, who) and model not in allowed:
            return gr.update(choices=choices, value=allowed[0])
        if not isinstance(model, str) or not model:
            return gr.update(choices=choices, value=self.service.settings.initial_model(provider))
        return gr.update(choices=choices)


def wire_model_lists(
    demo: gr.Blocks, handlers: PageHandlers, sidebar: Sidebar, keys: gr.State, key_events: KeyEvents
) -> None:
    endpoint = sidebar.endpoint if handlers.settings.allow_custom_base_url else gr.State("")
    lists = ModelListEvents(
        handlers.service,
        handlers.chat_caller,
        [sidebar.provider, sidebar.model, keys, endpoint],
        [sidebar.model, sidebar.model_note],
    )
    for event in key_events.changed:
        lists.refresh_after(event)
    if handlers.settings.allow_custom_base_url:
        sidebar.endpoint.submit(lists.refresh, lists.inputs, lists.outputs, **PRIVATE)
    demo.load(lists.refresh, lists.inputs, lists.outputs, **PRIVATE)
