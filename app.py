"""byok-chat: a chat UI for any OpenAI-compatible provider that never leaks an API key.

This file is the UI only. Provider data, key handling, access, quotas, errors and redaction live
in providers/.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

# Before Gradio is imported: these defaults also hold under `gradio app.py` (reload mode). The
# operator can still turn either on in the environment.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_RUN_HISTORY", "False")
# uvicorn would otherwise rewrite the client address from X-Forwarded-For for any loopback peer;
# byok-chat reads forwarded headers itself, only from the proxies in TRUSTED_PROXIES.
os.environ["FORWARDED_ALLOW_IPS"] = ""

from providers import (
    CUT_OFF_MARK,
    EFFORTS,
    STOPPED_MARK,
    VISITOR_ENDPOINT,
    ByokError,
    ChatInputs,
    ConfigError,
    InputRejected,
    Provider,
    Reply,
    ReplyCutOff,
    SessionKeys,
    Settings,
    install_redaction,
    load_settings,
    parse_visitor_key,
)
from providers.access import ACCESS_STATE_KEY, GATE_PATH, GateMiddleware, TrustedProxies, peer_and_headers
from providers.attachments import ACCEPTED_SUFFIXES
from providers.boundary import (
    BOUND_STATE_KEY,
    BROWSER_OWNER_KEY,
    BoundaryMiddleware,
    BoundaryPolicy,
    SessionBindings,
    link_remote_media,
    normalise_origin,
)
from providers.checkup import report
from providers.hflogin import LoginPlan, login_plan
from providers.models import ModelList, SessionModels
from providers.quota import describe_limits
from providers.service import Caller, ChatService, exposure_warning, startup_summary
from providers.transcript import MAX_IMPORT_BYTES, export_json, export_markdown, parse_import

# Read the configuration before importing Gradio (a few seconds): a mistake is reported at once.
try:
    SERVICE = ChatService(load_settings())
    LOGIN = login_plan(SERVICE.settings, os.environ)
except ConfigError as error:
    raise SystemExit(f"byok-chat: configuration error: {error}") from None
install_redaction()

# Gradio tries to import matplotlib on every event; where it is not installed each failed import
# searches the whole path again (about 7% of the CPU per chat, bench/RESULTS.md).
if importlib.util.find_spec("matplotlib") is None:
    sys.modules["matplotlib"] = None  # type: ignore[assignment]

import gradio as gr  # noqa: E402
from gradio.components.multimodal_textbox import MultimodalData  # noqa: E402
from gradio.events import EventListener  # noqa: E402
from pydantic import model_validator  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

import chat_view  # noqa: E402
import gradio_tuning  # noqa: E402

gradio_tuning.lean_session_state()

# API callers bring their own key in this header, never in event data: event inputs are kept in
# Gradio's per-session memory and deep-link snapshots.
KEY_HEADER = "x-provider-key"
# ...and may pick a reasoning effort with this one (the page uses the settings dropdown).
EFFORT_HEADER = "x-reasoning-effort"
log = logging.getLogger("byok_chat.app")

# The page's whole look, in one place: errors read as errors, and on a phone the sidebar's toggle
# stays whole on screen.
PAGE_CSS = """
/* A failed chat is one bubble, in error colours. Gradio draws titled messages as a collapsible
   "thought"; byok-chat sends them for errors and for a model's thinking, which alone carries a
   spinner (thinking) or a duration (done). */
#chat .thought-group:not(:has(.duration, .loading-spinner)) {
    border: 1px solid var(--error-border-color); background: var(--error-background-fill);
    border-radius: var(--radius-md); }
#chat .thought-group:not(:has(.duration, .loading-spinner)) .title {
    color: var(--error-text-color); font-weight: 600; pointer-events: none; }
#chat .thought-group:not(:has(.duration, .loading-spinner)) .title .arrow { display: none; }
#chat .thought-group:not(:has(.duration, .loading-spinner)) .content { color: var(--body-text-color); }
@media (max-width: 768px) {
    /* Closed: a whole round button just inside the left edge. Open: inside the right edge. */
    .sidebar .toggle-button { border: 1px solid var(--border-color-primary) !important;
        border-radius: var(--radius-lg) !important; }
    .sidebar:not(.open) .toggle-button { left: calc(100% + var(--size-1)) !important; }
    .sidebar.open .toggle-button { right: var(--size-2) !important; }
}
"""
# On a phone the open sidebar covers the whole chat: start with it closed there.
CLOSE_SIDEBAR_ON_PHONES = """() => {
    if (window.matchMedia("(max-width: 768px)").matches) {
        document.querySelector(".sidebar.open .toggle-button")?.click();
    }
}"""
KEY_PLACEHOLDER = "Paste your key, then press Enter"
KEY_SET_PLACEHOLDER = "Key set; paste another to replace it"
# Shown under an error: the failed message stays on screen but is not sent again by itself.
LEFT_OUT = "*Your message above is left out of the conversation; press Retry to send it again.*"
API_DESCRIPTION = (
    "Chat with one provider; returns the reply. Inputs: message, provider id, model, system prompt, "
    "temperature, max tokens. Providers on a server key need no key. For the others, send your own key "
    "in the X-Provider-Key request header, e.g. Client(url, headers={'X-Provider-Key': key}); never as "
    "an input. Behind an access code, also send X-Access-Code. The conversation is kept per client "
    "session: each call continues it, and client.reset_session() starts a new one."
)


def refuse_non_numbers(slider: gr.Slider) -> gr.Slider:
    """Answer a non-number from a raw API call with a message; Gradio's Slider raises a bare
    TypeError, which reaches the caller as an empty error and the log as a traceback.

    The check wraps the instance's method: subclassing a Gradio component would make Gradio write
    a .pyi stub next to this file at import time.
    """
    parse = slider.preprocess

    def preprocess(payload: Any) -> float:
        if isinstance(payload, bool) or not isinstance(payload, int | float):
            raise gr.Error(f"{slider.label} must be a number.", print_exception=False)
        return parse(payload)

    slider.preprocess = preprocess  # type: ignore[method-assign]
    return slider


def refuse_unknown_providers(dropdown: gr.Dropdown) -> gr.Dropdown:
    """One clear message for a provider value that is not an id. The usual cause is a script
    passing a history list in second place, which Gradio would answer with a long list of choices
    and a traceback in the log."""
    parse = dropdown.preprocess
    ids = [value for _, value in dropdown.choices]

    def preprocess(payload: Any) -> Any:
        if not isinstance(payload, str) or payload not in ids:
            raise gr.Error(
                f"The second input must be a provider id ({', '.join(ids)}). The inputs are: message, "
                f"provider id, model, system prompt, temperature, max tokens. History is not an input: "
                f"the conversation is kept per client session.",
                title="Request refused",
                print_exception=False,
            )
        return parse(payload)

    dropdown.preprocess = preprocess  # type: ignore[method-assign]
    return dropdown


def null_message_as_empty(textbox: gr.Textbox | gr.MultimodalTextbox) -> None:
    """ChatInterface fails on a null message before our code runs; empty text is refused clearly.

    A chat that takes files has a multimodal message box; API callers may still send plain text
    as the message, as they did before (it is wrapped as a message without files).
    """
    parse = textbox.preprocess
    empty: Any = ""
    if isinstance(textbox, gr.MultimodalTextbox):
        empty = TextOrFiles(text="", files=[])
        textbox.data_model = TextOrFiles  # type: ignore[misc]
    textbox.preprocess = lambda payload: parse(empty if payload is None else payload)  # type: ignore[method-assign]


class TextOrFiles(MultimodalData):
    """The multimodal message; any other JSON value is taken as its text, as the plain Textbox did.
    Files that are not file records are dropped here; the boundary has already refused any path
    that is not this browser's own upload."""

    @model_validator(mode="before")
    @classmethod
    def _lenient(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return {"text": value if isinstance(value, str) else str(value), "files": []}
        text = value.get("text")
        files = value.get("files")
        return {
            "text": text if isinstance(text, str) else "" if text is None else str(text),
            "files": [f for f in files if isinstance(f, dict) and isinstance(f.get("path"), str)]
            if isinstance(files, list)
            else [],
        }


def chat_input(settings: Settings) -> gr.MultimodalTextbox | None:
    """The message box with attach, paste and drop, when the operator lets the chat take files.
    The suffixes only steer the browser's file picker; the server checks every file's bytes."""
    if settings.max_files_per_message <= 0:
        return None
    return gr.MultimodalTextbox(
        file_types=sorted(ACCEPTED_SUFFIXES),
        file_count="multiple",
        sources=["upload"],
        placeholder="Type a message. Attach, paste or drop images and text files.",
        show_label=False,
        autofocus=True,
        # ChatInterface shows Stop while a reply streams only if the box it is given has one.
        submit_btn=True,
        stop_btn=True,
        scale=7,
        elem_id="chat-input",
    )


def attachment_notice(note: str) -> None:
    """Tell the visitor what happened to an attachment (a text file cut to fit the message)."""
    gr.Info(note, title="Attachment")


def browser_owner(request: gr.Request) -> str:
    """The digest of this request's browser cookie, set by the boundary ("" without one)."""
    scope = request.request.scope if request.request is not None else {}
    owner = scope.get("state", {}).get(BROWSER_OWNER_KEY, "")
    return owner if isinstance(owner, str) else ""


UNBOUND_SESSION = (
    "Your key was not kept: this page's session is not tied to your browser, because the browser "
    "did not keep the app's cookie. Open the app in its own tab with cookies allowed, and enter the key again."
)


def bound_to_this_browser(request: gr.Request) -> bool:
    """Was this event's session hash bound to the browser cookie (providers/boundary.py)?"""
    scope = request.request.scope if request.request is not None else {}
    return bool(scope.get("state", {}).get(BOUND_STATE_KEY))


def forget_stored_value(blocks: gr.Blocks, request: gr.Request, component: gr.components.Component) -> None:
    """Blank Gradio's per-session copies of an input's value. Gradio keeps every input of every event
    (for deep links, and until 10,000 newer sessions push it out); a typed key must not stay there.

    Once an event has updated the component, Gradio keeps a replacement instance with an id of its
    own and stores later inputs under that id, so copies are found by elem_id as well.
    """
    holder = blocks.state_holder
    if not request.session_hash or request.session_hash not in holder:
        return
    for block_id, config in holder[request.session_hash].config_values.items():
        props = config.get("props") if isinstance(config, dict) else None
        if isinstance(props, dict) and (block_id == component._id or props.get("elem_id") == component.elem_id):
            props["value"] = ""


def from_page(request: gr.Request) -> bool:
    # Gradio's own page sends this header. Spoofing it only changes the wording of messages.
    return request.headers.get("x-gradio-user") == "app"


def error_bubble(error: ByokError) -> gr.ChatMessage:
    """A failed chat in the page: one titled bubble, styled as an error by PAGE_CSS. Titled
    messages are UI only: they and the message they answer never go upstream again. No "status":
    Gradio folds a thought whose status is "done", which would hide the message."""
    return gr.ChatMessage(role="assistant", content=f"{error}\n\n{LEFT_OUT}", metadata={"title": f"⚠ {error.title}"})


def mark_stopped(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark the reply the visitor stopped, so it does not look complete."""
    if not history or history[-1].get("role") != "assistant" or (history[-1].get("metadata") or {}).get("title"):
        return history
    last = history[-1]
    parts = last.get("content")
    text = parts if isinstance(parts, str) else "".join(p.get("text", "") for p in parts if isinstance(p, dict))
    if text.endswith((STOPPED_MARK, CUT_OFF_MARK)):
        return history
    return [*history[:-1], {"role": "assistant", "content": text + STOPPED_MARK}]


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


@dataclass
class Sidebar:
    """The sidebar's components that events read or update."""

    provider: gr.Dropdown
    model: gr.Dropdown
    key_box: gr.Textbox
    endpoint: gr.Textbox
    status: gr.Markdown
    forget: gr.Button
    system_prompt: gr.Textbox
    temperature: gr.Slider
    max_tokens: gr.Slider
    effort: gr.Dropdown
    usage: gr.Markdown
    model_note: gr.Markdown
    check: KeyCheck
    transcript: TranscriptControls


class PageHandlers:
    """The page's event handlers and the texts they show. Every handler builds its Caller from the
    HTTP request, so nothing the browser sends names a client or unlocks a server key."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.settings = service.settings
        first = self.settings.provider(self.settings.default_provider)
        assert first is not None
        self.first = first
        self.efforts = chat_view.EffortChoices()

    def provider(self, provider_id: object) -> Provider:
        return self.settings.provider(provider_id) or self.first

    def caller(self, request: gr.Request, visitor_key: Any = None) -> Caller:
        scope = request.request.scope if request.request is not None else {}
        peer, headers = peer_and_headers(scope)
        return self.service.caller(
            peer=peer,
            headers=headers,
            gate_passed=bool(scope.get("state", {}).get(ACCESS_STATE_KEY)),
            oauth_info=_oauth_info(request),
            visitor_key=visitor_key,
        )

    def chat_caller(self, request: gr.Request, keys: SessionKeys, provider_id: object, base_url: object) -> Caller:
        endpoint = base_url if isinstance(base_url, str) and provider_id == VISITOR_ENDPOINT.id else ""
        visitor_key = keys.get(str(provider_id), endpoint=endpoint) if isinstance(keys, SessionKeys) else None
        if visitor_key is None:
            visitor_key = parse_visitor_key(request.headers.get(KEY_HEADER, ""))
        return self.caller(request, visitor_key)

    async def chat(
        self,
        message: str | dict[str, Any],
        history: list[dict[str, Any]],
        provider_id: str,
        model: str,
        system_prompt: str,
        temperature: float,
        max_tokens: float,
        keys: SessionKeys,
        request: gr.Request,
        base_url: str = "",
    ) -> AsyncIterator[str | gr.ChatMessage | list[gr.ChatMessage]]:
        last: Reply | None = None
        try:
            inputs = ChatInputs(
                message=message,
                history=history,
                provider_id=provider_id,
                model=model,
                system_prompt=system_prompt,
                temperature=temperature,
                max_tokens=max_tokens,
                base_url=base_url,
                files=self.service.session_files(
                    request.session_hash, browser_owner(request), bound=bound_to_this_browser(request)
                ),
            )
            in_page = from_page(request)
            effort = self.efforts.get(request.session_hash, request.headers.get(EFFORT_HEADER))
            caller = self.chat_caller(request, keys, provider_id, base_url)
            shown = ""
            async for reply in self.service.reply(caller, inputs, effort=effort, notify=attachment_notice):
                last = reply
                if in_page:
                    # The page's CSP already stops a remote image from loading; as a link the
                    # visitor still sees where it pointed.
                    yield chat_view.page_messages(reply, link_remote_media)
                elif reply.text != shown:
                    # API callers get the answer text, as before: no thinking, no numbers line.
                    shown = reply.text
                    yield link_remote_media(shown)
        except ByokError as error:
            if isinstance(error, ReplyCutOff) and error.partial:
                # In the page the mark is the one signal; a script also gets it as a warning.
                if not from_page(request):
                    gr.Warning(str(error), title=error.title)
                thinking = link_remote_media(last.reasoning) if from_page(request) and last is not None else ""
                seconds = last.thinking_seconds if last is not None else None
                yield chat_view.cut_off_messages(thinking, seconds, link_remote_media(error.partial))
            elif from_page(request):
                # In the page, an exception would leave ChatInterface's textbox disabled (Gradio
                # runs none of its follow-up steps after an error): show the error and go on.
                yield error_bubble(error)
            else:
                raise gr.Error(error.script_message, title=error.title, print_exception=False) from None

    def key_status(self, provider: Provider, keys: SessionKeys, box_shown: bool) -> str:
        if provider.id in keys:
            return f"Your {provider.label} key is set for this browser session only."
        if not provider.needs_key:
            return f"{provider.label} needs no key."
        if not box_shown:
            return f"{provider.label} uses the server's key: no key needed."
        if self.settings.server_key(provider.id) is not None:
            # The box shows only because this visitor may not use the server's key: say why.
            return self.service.server_key_refusal(provider)[0]
        return (
            f"Enter your {provider.label} key and press Enter. It is kept in server memory for "
            f"this session only: never saved, never logged, gone when you reload."
        )

    def empty_chat_text(self, provider: Provider, keys: SessionKeys, box_shown: bool) -> str:
        """What an empty chat says: the mode this visitor is in, and the first thing to do."""
        if provider.id in keys:
            return f"**{provider.label}, with your own key.**\n\nType a message below to start."
        if not provider.needs_key:
            return f"**{provider.label} needs no key.**\n\nType a message below to start."
        if not box_shown:
            return f"**{provider.label} runs on this server's key.**\n\nType a message below to start."
        return (
            f"**{provider.label} needs your own API key.**\n\nPaste it into the key box in the sidebar "
            f"and press Enter, then type a message below."
        )

    def provider_view(
        self, provider: Provider, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], str, dict[str, Any], dict[str, Any]]:
        """The key box, key status, Forget button and empty-chat text for one provider."""
        may_use = self.caller(request).may_use_server_keys
        shown = self.service.key_box_needed(provider, may_use_server_keys=may_use)
        key_set = provider.id in keys
        box = gr.update(
            visible=shown,
            value="",
            label=f"Your {provider.label} API key",
            placeholder=KEY_SET_PLACEHOLDER if key_set else KEY_PLACEHOLDER,
        )
        return (
            box,
            self.key_status(provider, keys, shown),
            gr.update(visible=key_set),
            gr.update(placeholder=self.empty_chat_text(provider, keys, shown)),
        )

    def usage_text(self, request: gr.Request) -> str:
        usage = self.service.usage_today(self.caller(request).client)
        if not usage.available:
            return "Your usage today: unknown right now (the usage counter is unavailable)."
        tokens = (
            f"{usage.tokens:,} of {usage.token_limit:,} tokens" if usage.token_limit else plural(usage.tokens, "token")
        )
        line = f"Your usage today: {plural(usage.requests, 'chat')}, {tokens}."
        if self.settings.server_keys:
            limits = describe_limits(self.service.quotas)
            line += f" Limits on the server's keys: {limits}." if limits else " No limits on the server's keys."
        return line

    def capture_key(
        self, provider_id: str, keys: SessionKeys, endpoint: str, raw: str, request: gr.Request
    ) -> tuple[str, dict[str, Any], dict[str, Any], SessionKeys]:
        """Keep a typed key in this session's state. The key box is not an output (see
        wire_key_events): the page blanks it, and the key status says what happened."""
        provider = self.provider(provider_id)
        try:
            key = parse_visitor_key(raw)
        except InputRejected as rejected:
            # Said under the box, where the visitor is looking, rather than in a toast.
            return self.refused_key_view(provider, keys, request, str(rejected))
        if key is None:
            # An empty box (the blur after the page blanked it, or Check with nothing typed)
            # changes nothing: redrawing the view here could land after "Forget my key" and
            # show a forgotten key as set.
            return gr.skip(), gr.skip(), gr.skip(), keys
        if not bound_to_this_browser(request):
            # Only a session tied to this browser's cookie may hold a key: a session hash alone
            # must never open one. Scripts send X-Provider-Key with each call instead.
            return self.refused_key_view(provider, keys, request, UNBOUND_SESSION)
        if provider.needs_key and isinstance(keys, SessionKeys):
            keys.set(provider.id, key, endpoint=endpoint if provider.id == VISITOR_ENDPOINT.id else "")
        _, status, forget, chat = self.provider_view(provider, keys, request)
        # Returning the state registers it with Gradio's state holder, which is what lets
        # end_session delete it (and run its delete_callback).
        return status, forget, chat, keys

    def refused_key_view(
        self, provider: Provider, keys: SessionKeys, request: gr.Request, why: str
    ) -> tuple[str, dict[str, Any], dict[str, Any], SessionKeys]:
        _, _, forget, chat = self.provider_view(provider, keys, request)
        return f"⚠ {why}", forget, chat, keys

    def forget_key(
        self, provider_id: str, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], str, dict[str, Any], dict[str, Any]]:
        provider = self.provider(provider_id)
        keys.forget(provider.id)
        return self.provider_view(provider, keys, request)

    def switch_provider(
        self, provider_id: str, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any], dict[str, Any]]:
        provider = self.provider(provider_id)
        # The operator's list on a restricted server key; the live list follows (ModelListEvents).
        shown = self.service.shown_models(provider, self.chat_caller(request, keys, provider.id, ""))
        model = gr.update(choices=list(shown), value=self.settings.initial_model(provider))
        return (model, *self.provider_view(provider, keys, request))

    def check_button(self, provider_id: str, request: gr.Request) -> dict[str, Any]:
        """ "Check my key" is shown with the key box."""
        may_use = self.caller(request).may_use_server_keys
        return gr.update(visible=self.service.key_box_needed(self.provider(provider_id), may_use_server_keys=may_use))

    def effort_view(self, provider_id: str, model: str) -> dict[str, Any]:
        # Shown only where this provider and model take an effort; hidden, it is never sent.
        return gr.update(visible=chat_view.effort_shown(self.provider(provider_id), model))

    def remember_effort(self, effort: str, request: gr.Request) -> None:
        # Kept per session beside the chat event, not as one of its inputs: the public endpoint
        # keeps its shape.
        self.efforts.set(request.session_hash, effort)

    def on_load(
        self, provider_id: str, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], str, dict[str, Any], dict[str, Any], str]:
        return (*self.provider_view(self.provider(provider_id), keys, request), self.usage_text(request))


def build_sidebar(handlers: PageHandlers, login_button: gr.LoginButton | None) -> Sidebar:
    settings, first = handlers.settings, handlers.first
    with gr.Sidebar(open=True):
        gr.Markdown("### byok-chat")
        if login_button is not None:
            login_button.render()
        provider = refuse_unknown_providers(
            gr.Dropdown(
                choices=[(p.label, p.id) for p in settings.providers],
                value=first.id,
                label="Provider",
                elem_id="provider",
            )
        )
        model = gr.Dropdown(
            choices=list(handlers.service.catalog.curated(first, on_server_key=first.id in settings.server_keys)),
            value=settings.initial_model(first),
            allow_custom_value=True,
            filterable=True,
            label="Model",
            info="Pick one, search, or type any model id.",
            elem_id="model",
        )
        model_note = gr.Markdown("", elem_id="model-note")
        box_shown = handlers.service.key_box_needed(first, may_use_server_keys=not settings.access_code_byo_exempt)
        key_box = gr.Textbox(
            type="password",
            value="",
            label=f"Your {first.label} API key",
            placeholder=KEY_PLACEHOLDER,
            visible=box_shown,
            elem_id="key-box",
            html_attributes=gr.InputHTMLAttributes(autocomplete="off", spellcheck=False),
        )
        # Only when the operator allows it; what the visitor types is checked on the server.
        endpoint = gr.Textbox(
            value="",
            label="Your endpoint's base URL",
            placeholder="https://api.example.com/v1",
            visible=first.id == VISITOR_ENDPOINT.id,
            render=settings.allow_custom_base_url,
            elem_id="endpoint-url",
        )
        status = gr.Markdown(handlers.key_status(first, SessionKeys(), box_shown), elem_id="key-status")
        forget = gr.Button("Forget my key", size="sm", visible=False, elem_id="forget-key")
        check = key_check_controls(box_shown)
        if settings.access_codes:
            gr.Markdown(f"[Enter a different access code]({GATE_PATH.lstrip('/')})", elem_id="access-link")
        with gr.Accordion("Settings", open=False):
            system_prompt = gr.Textbox(value=settings.system_prompt, label="System prompt", lines=3)
            temperature = refuse_non_numbers(gr.Slider(0, 2, value=0.7, step=0.05, label="Temperature"))
            max_tokens = refuse_non_numbers(
                gr.Slider(
                    16,
                    settings.max_output_tokens,
                    value=min(1024, settings.max_output_tokens),
                    step=1,
                    label="Max tokens",
                )
            )
            effort = reasoning_effort_box(first, settings.initial_model(first))
        transcript = transcript_controls(settings.save_history)
        usage = gr.Markdown("", elem_id="usage")
    return Sidebar(
        provider,
        model,
        key_box,
        endpoint,
        status,
        forget,
        system_prompt,
        temperature,
        max_tokens,
        effort,
        usage,
        model_note,
        check,
        transcript,
    )


def reasoning_effort_box(provider: Provider, model: str) -> gr.Dropdown:
    return gr.Dropdown(
        choices=list(EFFORTS),
        value=EFFORTS[0],
        label="Reasoning effort",
        info="How hard a reasoning model thinks. Default leaves it to the provider.",
        visible=chat_view.effort_shown(provider, model),
        elem_id="reasoning-effort",
    )


def build_chat(handlers: PageHandlers, sidebar: Sidebar, keys: gr.State) -> gr.ChatInterface:
    settings = handlers.settings
    box_shown = handlers.service.key_box_needed(handlers.first, may_use_server_keys=not settings.access_code_byo_exempt)
    chatbot = gr.Chatbot(
        show_label=False,
        # No share button (it posts to Hugging Face Discussions); copy buttons stay.
        buttons=["copy", "copy_all"],
        placeholder=handlers.empty_chat_text(handlers.first, SessionKeys(), box_shown),
        scale=1,
        elem_id="chat",
    )
    chat_ui = gr.ChatInterface(
        handlers.chat,
        chatbot=chatbot,
        additional_inputs=[
            sidebar.provider,
            sidebar.model,
            sidebar.system_prompt,
            sidebar.temperature,
            sidebar.max_tokens,
            keys,
            *([sidebar.endpoint] if settings.allow_custom_base_url else []),
        ],
        api_name="chat",
        api_description=API_DESCRIPTION,
        multimodal=handlers.service.takes_files,
        textbox=chat_input(settings),
        editable=True,
        flagging_mode="never",
        # Starter prompts in the empty chat; message only, so the visitor's settings apply.
        examples=[[prompt] for prompt in settings.examples] or None,
        cache_examples=False,
        # In the visitor's browser only (the operator's opt-in); the chat holds no key.
        save_history=settings.save_history,
        concurrency_limit=settings.concurrency_limit,
        fill_height=True,
    )
    null_message_as_empty(chat_ui.textbox)
    return chat_ui


# The key's events and the other helpers are private: never in the API docs, never in the
# browser's run history.
PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}


# Runs in the page after each capture: blank the key box, and say in its placeholder whether a key
# is now set (the capture's key status, its input here, says so).
BLANK_KEY_BOX = f"""(status) => {{
    const box = document.querySelector("#key-box input");
    if (box) box.placeholder = String(status).includes("key is set") ? "{KEY_SET_PLACEHOLDER}" : "{KEY_PLACEHOLDER}";
    return "";
}}"""


@dataclass
class KeyEvents:
    """The key events that later steps (model lists, the key check) run after."""

    changed: list[Any]  # a key entered, forgotten, or the provider switched
    checked: Any  # "Check my key" took in what was in the box


def wire_key_events(
    demo: gr.Blocks, handlers: PageHandlers, sidebar: Sidebar, chat_ui: gr.ChatInterface, keys: gr.State
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
        handlers.switch_provider, [sidebar.provider, keys], [sidebar.model, *view], **PRIVATE
    )
    # Also when the new provider's model id is the same string, which fires no model change.
    switched.then(handlers.effort_view, [sidebar.provider, sidebar.model], sidebar.effort, **PRIVATE)
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


def wire_page_events(
    demo: gr.Blocks, handlers: PageHandlers, sidebar: Sidebar, chat_ui: gr.ChatInterface, keys: gr.State
) -> None:
    view = [sidebar.key_box, sidebar.status, sidebar.forget, chat_ui.chatbot]
    demo.load(handlers.on_load, [sidebar.provider, keys], [*view, sidebar.usage], **PRIVATE)
    demo.load(handlers.check_button, sidebar.provider, sidebar.check.button, **PRIVATE)
    demo.load(None, js=CLOSE_SIDEBAR_ON_PHONES, **PRIVATE)
    # Stop keeps what arrived; mark it, so it does not look complete.
    chat_ui.textbox.stop(mark_stopped, chat_ui.chatbot, chat_ui.chatbot, queue=False, **PRIVATE)
    after_each_reply(demo, chat_ui, handlers.usage_text, sidebar.usage)
    sidebar.effort.change(handlers.remember_effort, sidebar.effort, None, **PRIVATE)
    sidebar.model.change(handlers.effort_view, [sidebar.provider, sidebar.model], sidebar.effort, **PRIVATE)

    def end_session(request: gr.Request) -> None:
        # Gradio keeps a closed session's state for an hour in case the tab comes back, and
        # its copy of every input value until 10,000 newer sessions push it out: a visitor's
        # key must not outlive the tab, and neither should the memory.
        holder = demo.state_holder
        if request.session_hash:
            handlers.service.uploads.end_session(request.session_hash)
        if request.session_hash and request.session_hash in holder:
            holder.delete_state(request.session_hash)
            handlers.efforts.forget(request.session_hash)
            with holder.lock:
                holder.session_data.pop(request.session_hash, None)
                holder.time_last_used.pop(request.session_hash, None)

    demo.unload(end_session)


def after_each_reply(demo: gr.Blocks, chat_ui: gr.ChatInterface, fn: Any, outputs: Any) -> None:
    """Run ``fn`` when a reply ends, however it was asked for (send, retry, edit) or stopped.

    ChatInterface keeps its event chains to itself and its state copies happen outside the queue,
    where state changes trigger nothing. Its reply events are the ones that write into
    (null_component, chatbot): chain a "then" after each of them, as Dependency.then would.
    """
    reply_outputs = [chat_ui.null_component._id, chat_ui.chatbot._id]
    reply_events = [
        index for index, block_fn in demo.fns.items() if [o._id for o in block_fn.outputs][:2] == reply_outputs
    ]
    assert reply_events, "ChatInterface's reply events were not found"
    for index in reply_events:
        then = EventListener(
            "then", trigger_after=index, trigger_only_on_success=False, trigger_only_on_failure=False, has_trigger=False
        )
        then.listener(chat_ui.chatbot, fn, None, outputs, **PRIVATE)


def build_demo(service: ChatService, login: LoginPlan | None = None) -> gr.Blocks:
    settings = service.settings
    login = login or login_plan(settings, os.environ)
    # Only on a Space: elsewhere Gradio would log everyone in as the owner of HF_TOKEN.
    login_button = hf_login_button() if login.button else None
    handlers = PageHandlers(service)
    # Uploads are deleted when their session ends; delete_cache (hourly, files older than a day)
    # is the backstop for files attached and never sent, and for sessions that never ended cleanly.
    with gr.Blocks(
        title="byok-chat", analytics_enabled=settings.analytics, fill_height=True, delete_cache=(3600, 86_400)
    ) as demo:
        keys = gr.State(SessionKeys(), delete_callback=lambda held: held.clear())
        sidebar = build_sidebar(handlers, login_button)
        if login_button is not None:
            wire_login_button(login_button, demo)
        chat_ui = build_chat(handlers, sidebar, keys)
        key_events = wire_key_events(demo, handlers, sidebar, chat_ui, keys)
        wire_page_events(demo, handlers, sidebar, chat_ui, keys)
        wire_model_lists(demo, handlers, sidebar, keys, key_events)
        wire_key_check(handlers, sidebar, keys, key_events)
        wire_transcripts(sidebar.transcript, chat_ui, sidebar.system_prompt, sidebar.model, settings)
    demo.queue(max_size=settings.queue_max_size, default_concurrency_limit=settings.concurrency_limit)
    return demo


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
        return self._dropdown(provider, model, listing, who), listing.note

    def _dropdown(self, provider: Provider, model: object, listing: ModelList, who: Caller) -> dict[str, Any]:
        choices = list(listing.models or provider.models)
        allowed = self.service.settings.restricted_models(provider)
        if allowed is not None and self.service.on_server_key(provider, who) and model not in allowed:
            return gr.update(choices=choices, value=allowed[0])
        if not isinstance(model, str) or not model:
            return gr.update(choices=choices, value=self.service.settings.initial_model(provider))
        return gr.update(choices=choices)


@dataclass
class KeyCheck:
    button: gr.Button
    result: gr.Markdown


def key_check_controls(visible: bool) -> KeyCheck:
    """ "Check my key": asks the provider's GET /models, which costs no tokens."""
    button = gr.Button("Check my key", size="sm", visible=visible, elem_id="check-key")
    return KeyCheck(button, gr.Markdown("", elem_id="key-check"))


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


def wire_key_check(handlers: PageHandlers, sidebar: Sidebar, keys: gr.State, key_events: KeyEvents) -> None:
    async def check_key(provider_id: str, held: SessionKeys, base_url: str, request: gr.Request) -> str:
        who = handlers.chat_caller(request, held, provider_id, base_url)
        try:
            return await handlers.service.check_key(who, provider_id, base_url)
        except ByokError as error:
            return f"{error.title}: {error}"

    # The key box was taken in (and blanked) by the capture step; the check uses the session's key.
    endpoint = sidebar.endpoint if handlers.settings.allow_custom_base_url else gr.State("")
    key_events.checked.then(lambda: "Checking...", None, sidebar.check.result, queue=False, **PRIVATE).then(
        check_key, [sidebar.provider, keys, endpoint], sidebar.check.result, **PRIVATE
    )


@dataclass
class TranscriptControls:
    include_reasoning: gr.Checkbox
    export_markdown: gr.Button
    export_json: gr.Button
    import_json: gr.Button
    payload: gr.Textbox
    imported: gr.Textbox


# Saves the export the server formatted as a file, from the page itself: no file is written on
# the server, and the download is a blob: URL of the page's own origin.
DOWNLOAD_JS = """(payload) => {
    if (!payload) return;
    const file = JSON.parse(payload);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([file.text], {type: file.type}));
    link.download = file.name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}"""


def transcript_controls(save_history: bool) -> TranscriptControls:
    if save_history:
        gr.Markdown("Chats are saved in this browser only, never on the server.", elem_id="saved-note")
    with gr.Accordion("Conversation", open=False, elem_id="conversation"):
        include = gr.Checkbox(False, label="Include reasoning in exports", elem_id="include-reasoning")
        with gr.Row():
            as_markdown = gr.Button("Export Markdown", size="sm", elem_id="export-md")
            as_json = gr.Button("Export JSON", size="sm", elem_id="export-json")
        import_button = gr.Button("Import JSON", size="sm", elem_id="import-json")
        payload = gr.Textbox(visible=False, elem_id="export-payload")
        imported = gr.Textbox(visible=False, elem_id="import-payload")
    return TranscriptControls(include, as_markdown, as_json, import_button, payload, imported)


def wire_transcripts(
    controls: TranscriptControls,
    chat_ui: gr.ChatInterface,
    system_box: gr.Textbox,
    model_box: gr.Dropdown,
    settings: Settings,
) -> None:
    def exporter(kind: str) -> Callable[..., str]:
        def export(history: Any, system_prompt: Any, model: Any, reasoning: Any) -> str:
            include = reasoning is True
            if kind == "md":
                text = export_markdown(history, system_prompt, model, include_reasoning=include)
                return json.dumps({"name": "conversation.md", "type": "text/markdown", "text": text})
            text = export_json(history, system_prompt, model, include_reasoning=include)
            return json.dumps({"name": "conversation.json", "type": "application/json", "text": text})

        return export

    sources = [chat_ui.chatbot, system_box, model_box, controls.include_reasoning]
    for button, kind in ((controls.export_markdown, "md"), (controls.export_json, "json")):
        button.click(exporter(kind), sources, controls.payload, **PRIVATE).then(
            None, controls.payload, None, js=DOWNLOAD_JS, **PRIVATE
        )

    def import_chat(text: Any) -> tuple[Any, ...]:
        if text is None or text == "":
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()  # the visitor closed the file picker
        try:
            if text == TOO_LARGE or not isinstance(text, str):
                raise InputRejected(
                    f"That file is too large to import (the limit is {MAX_IMPORT_BYTES // 1_000_000} MB)."
                )
            raw = text.encode("utf-8", "surrogatepass")
            imported = parse_import(raw, max_message_chars=settings.max_message_chars)
        except InputRejected as rejected:
            gr.Warning(str(rejected), title="Import refused")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        system = imported.system_prompt if imported.system_prompt is not None else gr.skip()
        # A new conversation (conversation_id None): a saved chat is never overwritten by an import.
        return imported.messages, imported.messages, system, None

    # The page reads the file and sends its text with the event: no upload route, no file on the
    # server's disk.
    controls.import_json.click(
        import_chat,
        controls.imported,
        [chat_ui.chatbot, chat_ui.chatbot_state, system_box, chat_ui.conversation_id],
        js=PICK_FILE_JS.replace("MAX_BYTES", str(MAX_IMPORT_BYTES)).replace("TOO_LARGE", json.dumps(TOO_LARGE)),
        **PRIVATE,
    )


TOO_LARGE = "(file too large)"
# Opens the file picker and resolves to the chosen file's text ("" when the picker is closed).
PICK_FILE_JS = """async () => new Promise((resolve) => {
    const input = document.createElement("input");
    input.type = "file";
    input.accept = ".json,application/json";
    input.addEventListener("cancel", () => resolve(""));
    input.addEventListener("change", () => {
        const file = input.files && input.files[0];
        if (!file) return resolve("");
        if (file.size > MAX_BYTES) return resolve(TOO_LARGE);
        file.text().then(resolve, () => resolve(""));
    });
    input.click();
})"""


def _oauth_info(request: gr.Request) -> dict[str, Any] | None:
    # Present only when Hugging Face login is on (Gradio then installs its session middleware).
    try:
        info = request.request.session.get("oauth_info") if request.request is not None else None
    except AssertionError:
        return None
    if not isinstance(info, dict):
        return None
    # A login lasts as long as the Space's hf_oauth_expiration_minutes; Gradio's own check drops
    # an expired one too.
    expires_at = info.get("expires_at")
    if isinstance(expires_at, int | float) and expires_at < time.time():
        return None
    return info


SIGN_IN_LABEL = "Sign in with Hugging Face"
# Gradio's own button, with two changes. Inside a frame (a Space's page on the Hub shows the app in a
# cross-site frame) the login cookie is dropped, so sign-in opens in a tab of its own, as the Hub
# itself does. And the label comes from our status event below.
_LOGIN_CLICK_JS = """
(label) => {
    const signIn = label === SIGN_IN_LABEL;
    const url = (signIn ? '/login/huggingface' : '/logout') + '?_target_url=/';
    if (signIn && window.self !== window.top) {
        window.open(url, '_blank', 'noopener');
        return;
    }
    window.location.assign(url);
}
""".replace("SIGN_IN_LABEL", repr(SIGN_IN_LABEL))


def hf_login_button() -> gr.LoginButton:
    """Gradio's login button, made outside any Blocks so that Gradio attaches none of its events.

    Gradio's own status event (6.31) converts the session to objects and fails with ValueError for
    any user who belongs to an organisation (a non-empty "orgs" list), leaving the button on "Sign
    in" for them; ours reads the login the same way the allow list does. Render it inside the Blocks
    and call wire_login_button.
    """
    return gr.LoginButton(SIGN_IN_LABEL, elem_id="hf-login", render=False)


def wire_login_button(button: gr.LoginButton, demo: gr.Blocks) -> None:
    def label(request: gr.Request) -> dict[str, Any]:
        info = _oauth_info(request)
        user = (info or {}).get("userinfo", {}).get("preferred_username")
        return gr.update(value=f"Logout ({user})" if isinstance(user, str) and user else SIGN_IN_LABEL)

    button.click(fn=None, inputs=[button], outputs=None, js=_LOGIN_CLICK_JS, api_visibility="private")
    demo.load(label, None, button, api_visibility="private", show_progress="hidden")


def boundary_policy(settings: Settings) -> BoundaryPolicy:
    return BoundaryPolicy(
        trusted=TrustedProxies(settings.trusted_proxies),
        allowed_origins=settings.allowed_origins,
        frame_ancestors=settings.frame_ancestors,
        space_host=settings.space_host,
        uploads=settings.max_files_per_message > 0,
        max_upload_request_bytes=int(settings.max_upload_mb * 1_000_000) * settings.max_files_per_message + 1_000_000,
    )


def launch_options(service: ChatService) -> dict[str, Any]:
    policy = boundary_policy(service.settings)
    allow_cross_origin_only_for(policy)
    # Outermost first: origins and session binding are checked before the gate sees a request.
    middleware = [
        Middleware(BoundaryMiddleware, policy=policy, bindings=SessionBindings(), uploads=service.uploads.ledger)
    ]
    if service.gate is not None:
        middleware.append(Middleware(GateMiddleware, gate=service.gate, cookie_attributes=policy.cookie_attributes))
    return {
        "run_history": False,
        "show_error": False,
        # Gradio runs at most max_threads jobs at once, async ones and page events included: room
        # for every chat CONCURRENCY_LIMIT allows, and for newcomers' page events beside them.
        "max_threads": service.settings.concurrency_limit + 40,
        # Server-side rendering would fetch the page from behind the access gate.
        "ssr_mode": False,
        # Gradio refuses a bigger file while it is being received (413) and the page says so.
        "max_file_size": int(service.settings.max_upload_mb * 1_000_000),
        "app_kwargs": {"middleware": middleware},
        "css": PAGE_CSS + chat_view.CSS,
    }


def allow_cross_origin_only_for(policy: BoundaryPolicy) -> None:
    """Gradio's CORS layer answers any Origin with credentials on a non-loopback host, preflights
    included, in front of our middleware. Only the operator's ALLOWED_ORIGINS get CORS headers."""
    from gradio.route_utils import CustomCORSMiddleware

    def is_valid_origin(self: CustomCORSMiddleware, request_headers: Any) -> bool:
        origin = normalise_origin(request_headers.get("origin", ""))
        return origin is not None and origin in policy.allowed_origins

    CustomCORSMiddleware.is_valid_origin = is_valid_origin  # type: ignore[method-assign]


demo = build_demo(SERVICE, LOGIN)
# Start-up leaves ~300,000 long-lived objects (Gradio, the SDK); without this every full garbage
# collection walks them all again, stalling every chat in flight (bench/RESULTS.md).
gc.freeze()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the byok-chat UI.")
    parser.add_argument("--host", help="address to listen on (default: GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="open a temporary public share link")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the configuration and the counter storage, print what would run, and exit (0: ready, 1: not)",
    )
    args = parser.parse_args(argv)
    settings = SERVICE.settings
    host = args.host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    if args.check:
        port = args.port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
        ok, lines = report(SERVICE, LOGIN, host=host, port=port, share=args.share)
        print("\n".join(lines))
        raise SystemExit(0 if ok else 1)
    if LOGIN.wanted and not LOGIN.button:
        log.warning(LOGIN.note)
    log.info(startup_summary(settings))
    # Gradio's own start-up text is wrong advice here ("set `share=True` in `launch()`") or pages
    # long (a failed share link explains how to install frpc by hand): keep it, say our own lines.
    gradio_said = io.StringIO()
    try:
        with contextlib.redirect_stdout(gradio_said):
            demo.launch(
                server_name=args.host,
                server_port=args.port,
                share=args.share or None,
                quiet=True,
                prevent_thread_lock=True,
                **launch_options(SERVICE),
            )
    except OSError:
        raise SystemExit(
            f"byok-chat: cannot listen on {host} port {args.port or os.environ.get('GRADIO_SERVER_PORT') or 7860}: "
            f"it is in use or not allowed. Choose another with --port or GRADIO_SERVER_PORT."
        ) from None
    everywhere = " (listening on every network address of this machine)" if host in {"0.0.0.0", "::"} else ""
    print(f"byok-chat is running on {demo.local_url}{everywhere}", flush=True)
    if demo.share_url:
        print(f"Public share link (temporary): {demo.share_url}", flush=True)
    elif args.share:
        why = "Spaces have their own address" if settings.on_space else "no connection to Gradio's share server"
        log.warning("No share link was made (%s).", why)
    warning = exposure_warning(settings, host=host, port=demo.server_port, share_url=demo.share_url)
    if warning:
        log.warning(warning)
    demo.block_thread()


if __name__ == "__main__":
    main()
