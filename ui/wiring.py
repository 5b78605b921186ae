"""The page's events: the key box, provider switches, page load and unload, the key check."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import gradio as gr

from config.keys import SessionKeys
from errors import ByokError
from providers import VISITOR_ENDPOINT
from ui.browser import forget_stored_value
from ui.events import PRIVATE, after_each_reply, settle_each_copy
from ui.handlers import KEY_PLACEHOLDER, KEY_SET_PLACEHOLDER, PageHandlers, mark_stopped, settle_thinking
from ui.language import js_words, language_of
from ui.sidebar import Sidebar
from ui.style import CLOSE_SIDEBAR_ON_PHONES, KEY_SET_MARK, NAME_THE_MESSAGE_BOX, upload_size_guard
from words import say

# Runs in the page after each capture: blank the key box, and say in its placeholder, in the
# browser's language, whether a key is now set (the capture's key status, its input here, ends with
# KEY_SET_MARK when one is).
BLANK_KEY_BOX = f"""(status) => {{
    const box = document.querySelector("#key-box input");
    const words = {js_words(KEY_PLACEHOLDER, KEY_SET_PLACEHOLDER)};
    const set = String(status).includes({json.dumps(KEY_SET_MARK)});
    if (box) box.placeholder = words[set ? "{KEY_SET_PLACEHOLDER}" : "{KEY_PLACEHOLDER}"];
    return "";
}}"""


@dataclass
class KeyEvents:
    """The key events that later steps (model lists, the key check) run after."""

    changed: list[Any]  # a key entered, forgotten, or the provider switched
    checked: Any  # "Check my key" took in what was in the box


def wire_key_events(
    demo: gr.Blocks,
    handlers: PageHandlers,
    sidebar: Sidebar,
    chat_ui: gr.ChatInterface,
    keys: gr.State,
    restored: gr.State,
) -> KeyEvents:
    view = [sidebar.key_box, sidebar.status, sidebar.forget, chat_ui.chatbot]

    def capture_key(
        provider_id: str, keys: SessionKeys, endpoint: str, raw: str, request: gr.Request
    ) -> tuple[str, dict[str, Any], dict[str, Any], SessionKeys]:
        forget_stored_value(demo, request, sidebar.key_box)
        return handlers.capture_key(provider_id, keys, endpoint, raw, request)

    # The key box is never an output of the capture event and is blanked by the page itself:
    # an output would make Gradio rebuild its stored copy of the box, and the typed key
    # would stay in it (and in deep-link snapshots) whenever an earlier event had run.
    # The key box goes last: Gradio stores inputs one by one and stops at the first that fails
    # validation, and the key must never be stored without this event running to scrub it.
    endpoint_input = sidebar.endpoint if handlers.settings.allow_custom_base_url else gr.State("")
    capture_inputs = [sidebar.provider, keys, endpoint_input, sidebar.key_box]
    captured = []
    # "Check my key" takes in a key still in the box the same way, before it checks.
    for trigger in (sidebar.key_box.submit, sidebar.key_box.blur, sidebar.check.button.click):
        captured.append(
            trigger(
                capture_key, capture_inputs, [sidebar.status, sidebar.forget, chat_ui.chatbot, keys], **PRIVATE
            ).then(None, sidebar.status, sidebar.key_box, js=BLANK_KEY_BOX, **PRIVATE)
        )
    forgotten = sidebar.forget.click(handlers.forget_key, [sidebar.provider, keys], view, **PRIVATE)
    switched = sidebar.provider.change(
        handlers.switch_provider, [sidebar.provider, keys, restored], [sidebar.model, *view, restored], **PRIVATE
    )
    # Also when the new provider's model id is the same string, which fires no model change.
    switched.then(handlers.effort_view, [sidebar.provider, sidebar.model], sidebar.effort, **PRIVATE)
    temperature_inputs = [sidebar.provider, sidebar.model, sidebar.effort, sidebar.temperature_default]
    temperature_outputs = [sidebar.temperature_default, sidebar.temperature]
    switched.then(handlers.temperature_view, temperature_inputs, temperature_outputs, **PRIVATE)
    switched = switched.then(lambda: "", None, sidebar.check.result, **PRIVATE)
    sidebar.provider.change(handlers.check_button, sidebar.provider, sidebar.check.button, **PRIVATE)
    if handlers.settings.allow_custom_base_url:
        sidebar.provider.change(
            lambda chosen: gr.update(visible=chosen == VISITOR_ENDPOINT.id),
            sidebar.provider,
            sidebar.endpoint,
            **PRIVATE,
        )
    return KeyEvents(changed=[*captured[:2], forgotten, switched], checked=captured[2])


def settle_after_reply(history: list[dict[str, Any]], request: gr.Request) -> tuple[Any, Any]:
    settled = settle_thinking(history, language_of(request))
    # Unchanged, nothing is written: this copy may predate Stop's mark, which must stay.
    return (gr.skip(), gr.skip()) if settled is history else (settled, settled)


def wire_page_events(
    demo: gr.Blocks, handlers: PageHandlers, sidebar: Sidebar, chat_ui: gr.ChatInterface, keys: gr.State
) -> None:
    view = [sidebar.key_box, sidebar.status, sidebar.forget, chat_ui.chatbot]
    demo.load(handlers.on_load, [sidebar.provider, keys], [*view, sidebar.usage], **PRIVATE)
    demo.load(handlers.check_button, sidebar.provider, sidebar.check.button, **PRIVATE)
    demo.load(None, js=CLOSE_SIDEBAR_ON_PHONES, **PRIVATE)
    if handlers.service.takes_files:
        demo.load(None, js=NAME_THE_MESSAGE_BOX, **PRIVATE)
        limit = handlers.settings.max_upload_mb
        demo.load(None, js=upload_size_guard(int(limit * 1_000_000), f"{limit:g} MB"), **PRIVATE)
    # Stop keeps what arrived; mark it, so it does not look complete. ChatInterface builds the next
    # reply on its own copy of the chat (chatbot_state): the mark goes there too, or a thinking
    # spinner settled here would come back with the next message.
    both = [chat_ui.chatbot, chat_ui.chatbot_state]

    def stop(history: list[dict[str, Any]], request: gr.Request) -> tuple[Any, Any]:
        return (mark_stopped(history, language_of(request)),) * 2

    chat_ui.textbox.stop(stop, chat_ui.chatbot, both, queue=False, **PRIVATE)
    # An update already on its way when Stop was pressed can land after the mark, thinking still
    # pending: settle it again once the stopped reply has ended.
    after_each_reply(demo, chat_ui, settle_after_reply, both, chat_ui.chatbot)
    # ChatInterface's own copy into chatbot_state can land after that fix-up: it settles too.
    settle_each_copy(demo, chat_ui, settle_thinking)
    after_each_reply(demo, chat_ui, handlers.usage_text, sidebar.usage)
    sidebar.effort.change(handlers.remember_effort, sidebar.effort, None, **PRIVATE)
    sidebar.model.change(handlers.effort_view, [sidebar.provider, sidebar.model], sidebar.effort, **PRIVATE)
    # Whether the model takes a temperature depends on the model, and on Claude on the effort.
    temperature_inputs = [sidebar.provider, sidebar.model, sidebar.effort, sidebar.temperature_default]
    temperature_outputs = [sidebar.temperature_default, sidebar.temperature]
    for changed in (sidebar.model.change, sidebar.effort.change, sidebar.temperature_default.change):
        changed(handlers.temperature_view, temperature_inputs, temperature_outputs, **PRIVATE)
    sidebar.temperature_default.change(handlers.remember_temperature_mode, sidebar.temperature_default, None, **PRIVATE)

    def end_session(request: gr.Request) -> None:
        # Gradio keeps a closed session's state for an hour in case the tab comes back, and
        # its copy of every input value until 10,000 newer sessions push it out: a visitor's
        # key must not outlive the tab, and neither should the memory.
        holder = demo.state_holder
        if request.session_hash:
            handlers.service.uploads.end_session(request.session_hash)
            handlers.service.end_session(request.session_hash)
        if request.session_hash and request.session_hash in holder:
            holder.delete_state(request.session_hash)
            handlers.efforts.forget(request.session_hash)
            handlers.temperatures.forget(request.session_hash)
            with holder.lock:
                holder.session_data.pop(request.session_hash, None)
                holder.time_last_used.pop(request.session_hash, None)

    demo.unload(end_session)
    if sidebar.bill_to is not None:
        demo.load(handlers.bill_to_view, sidebar.provider, sidebar.bill_to, **PRIVATE)
        sidebar.provider.change(handlers.bill_to_view, sidebar.provider, sidebar.bill_to, **PRIVATE)
        sidebar.bill_to.input(
            handlers.choose_bill_to, [sidebar.provider, sidebar.bill_to, keys], sidebar.status, **PRIVATE
        )


def wire_key_check(handlers: PageHandlers, sidebar: Sidebar, keys: gr.State, key_events: KeyEvents) -> None:
    async def check_key(provider_id: str, held: SessionKeys, base_url: str, request: gr.Request) -> str:
        who = handlers.chat_caller(request, held, provider_id, base_url)
        language = language_of(request)
        try:
            return await handlers.service.check_key(who, provider_id, base_url, language)
        except ByokError as error:
            return f"{error.title_in(language)}: {error.text(language)}"

    # The key box was taken in (and blanked) by the capture step; the check uses the session's key.
    endpoint = sidebar.endpoint if handlers.settings.allow_custom_base_url else gr.State("")

    def checking(request: gr.Request) -> str:
        return say(language_of(request), "key_checking")

    key_events.checked.then(checking, None, sidebar.check.result, queue=False, **PRIVATE).then(
        check_key, [sidebar.provider, keys, endpoint], sidebar.check.result, **PRIVATE
    )
