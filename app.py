"""byok-chat: a chat UI for any OpenAI-compatible provider that never leaks an API key.

This file is the UI only. Provider data, key handling, access, quotas, errors and redaction live
in providers/.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import logging
import os
import sys
from collections.abc import AsyncIterator
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
    VISITOR_ENDPOINT,
    ByokError,
    ChatInputs,
    ConfigError,
    InputRejected,
    Provider,
    ReplyCutOff,
    SessionKeys,
    Settings,
    install_redaction,
    load_settings,
    parse_visitor_key,
)
from providers.access import ACCESS_STATE_KEY, GATE_PATH, GateMiddleware, TrustedProxies, peer_and_headers
from providers.boundary import (
    BOUND_STATE_KEY,
    BoundaryMiddleware,
    BoundaryPolicy,
    SessionBindings,
    link_remote_media,
    normalise_origin,
)
from providers.service import Caller, ChatService, exposure_warning

# Read the configuration before importing Gradio (a few seconds): a mistake is reported at once.
try:
    SERVICE = ChatService(load_settings())
except ConfigError as error:
    raise SystemExit(f"byok-chat: configuration error: {error}") from None
install_redaction()

# Gradio tries to import matplotlib on every event; where it is not installed each failed import
# searches the whole path again (about 7% of the CPU per chat, bench/RESULTS.md).
if importlib.util.find_spec("matplotlib") is None:
    sys.modules["matplotlib"] = None  # type: ignore[assignment]

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

# API callers bring their own key in this header, never in event data: event inputs are kept in
# Gradio's per-session memory and deep-link snapshots.
KEY_HEADER = "x-provider-key"
log = logging.getLogger("byok_chat.app")


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


def null_message_as_empty(textbox: gr.Textbox) -> None:
    """ChatInterface fails on a null message before our code runs; empty text is refused clearly."""
    parse = textbox.preprocess
    textbox.preprocess = lambda payload: parse("" if payload is None else payload)  # type: ignore[method-assign]


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


def build_demo(service: ChatService) -> gr.Blocks:
    settings = service.settings
    first = settings.provider(settings.default_provider)
    assert first is not None

    def caller(request: gr.Request, visitor_key: Any = None) -> Caller:
        scope = request.request.scope if request.request is not None else {}
        peer, headers = peer_and_headers(scope)
        return service.caller(
            peer=peer,
            headers=headers,
            gate_passed=bool(scope.get("state", {}).get(ACCESS_STATE_KEY)),
            oauth_info=_oauth_info(request),
            visitor_key=visitor_key,
        )

    def chat_caller(request: gr.Request, keys: SessionKeys, provider_id: object, base_url: object) -> Caller:
        endpoint = base_url if isinstance(base_url, str) and provider_id == VISITOR_ENDPOINT.id else ""
        visitor_key = keys.get(str(provider_id), endpoint=endpoint) if isinstance(keys, SessionKeys) else None
        if visitor_key is None:
            visitor_key = parse_visitor_key(request.headers.get(KEY_HEADER, ""))
        return caller(request, visitor_key)

    async def chat(
        message: str,
        history: list[dict[str, Any]],
        provider_id: str,
        model: str,
        system_prompt: str,
        temperature: float,
        max_tokens: float,
        keys: SessionKeys,
        request: gr.Request,
        base_url: str = "",
    ) -> AsyncIterator[str | gr.ChatMessage]:
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
            )
            async for text in service.reply(chat_caller(request, keys, provider_id, base_url), inputs):
                # The page's CSP already stops a remote image from loading; as a link the
                # visitor still sees where it pointed.
                yield link_remote_media(text)
        except ByokError as error:
            if isinstance(error, ReplyCutOff) and error.partial:
                gr.Warning(str(error), title=error.title)
                yield link_remote_media(error.partial) + CUT_OFF_MARK
            elif request.headers.get("x-gradio-user") == "app":
                # In the page, an exception would leave ChatInterface's textbox disabled (Gradio
                # runs none of its follow-up steps after an error): show the error and go on. A
                # titled message is UI only; it is never sent back to the model as history.
                gr.Warning(str(error), title=error.title)
                yield gr.ChatMessage(role="assistant", content=str(error), metadata={"title": error.title})
            else:
                raise gr.Error(str(error), title=error.title, print_exception=False) from None

    def key_status(provider: Provider, keys: SessionKeys, box_shown: bool) -> str:
        if provider.id in keys:
            return f"Your {provider.label} key is set for this browser session only."
        if not provider.needs_key:
            return f"{provider.label} needs no key."
        if not box_shown:
            return f"{provider.label} uses the server's key: no key needed."
        return (
            f"Enter your {provider.label} key and press Enter. It is kept in server memory for "
            f"this session only: never saved, never logged, gone when you reload."
        )

    def provider_view(
        provider: Provider, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        shown = service.key_box_needed(provider, may_use_server_keys=caller(request).may_use_server_keys)
        box = gr.update(visible=shown, value="", label=f"Your {provider.label} API key")
        return box, key_status(provider, keys, shown), gr.update(visible=provider.id in keys)

    def usage_text(request: gr.Request) -> str:
        usage = service.usage_today(caller(request).client)
        limit = f" of {usage.token_limit:,}" if usage.token_limit else ""
        return f"Your usage today (updated when you send): {usage.requests:,} chats, {usage.tokens:,}{limit} tokens."

    def capture_key(
        provider_id: str, keys: SessionKeys, endpoint: str, raw: str, request: gr.Request
    ) -> tuple[str, dict[str, Any], SessionKeys]:
        forget_stored_value(demo, request, key_input)
        provider = settings.provider(provider_id) or first
        try:
            key = parse_visitor_key(raw)
        except InputRejected as rejected:
            gr.Warning(str(rejected), title=rejected.title)
            key = None
        if key is not None and not bound_to_this_browser(request):
            # Only a session tied to this browser's cookie may hold a key: a session hash alone
            # must never open one. Scripts send X-Provider-Key with each call instead.
            gr.Warning(UNBOUND_SESSION, title="Key not kept")
            key = None
        if key is not None and provider.needs_key and isinstance(keys, SessionKeys):
            keys.set(provider.id, key, endpoint=endpoint if provider.id == VISITOR_ENDPOINT.id else "")
        _, status_text, forget_button = provider_view(provider, keys, request)
        # Returning the state registers it with Gradio's state holder, which is what lets
        # end_session delete it (and run its delete_callback).
        return status_text, forget_button, keys

    def forget_key(
        provider_id: str, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], str, dict[str, Any]]:
        provider = settings.provider(provider_id) or first
        keys.forget(provider.id)
        return provider_view(provider, keys, request)

    def switch_provider(
        provider_id: str, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any]]:
        provider = settings.provider(provider_id) or first
        model = gr.update(choices=list(provider.models), value=settings.initial_model(provider))
        return (model, *provider_view(provider, keys, request))

    def on_load(
        provider_id: str, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], str, dict[str, Any], str]:
        provider = settings.provider(provider_id) or first
        return (*provider_view(provider, keys, request), usage_text(request))

    with gr.Blocks(title="byok-chat", analytics_enabled=settings.analytics, fill_height=True) as demo:
        keys = gr.State(SessionKeys(), delete_callback=lambda held: held.clear())
        with gr.Sidebar(open=True):
            gr.Markdown("### byok-chat")
            if settings.allowed_hf_users or settings.allowed_hf_orgs:
                gr.LoginButton()
            provider_box = gr.Dropdown(
                choices=[(p.label, p.id) for p in settings.providers],
                value=first.id,
                label="Provider",
                elem_id="provider",
            )
            model_box = gr.Dropdown(
                choices=list(first.models),
                value=settings.initial_model(first),
                allow_custom_value=True,
                label="Model",
                info="Pick one or type any model id.",
                elem_id="model",
            )
            first_box_shown = service.key_box_needed(first, may_use_server_keys=not settings.access_code_byo_exempt)
            key_input = gr.Textbox(
                type="password",
                value="",
                label=f"Your {first.label} API key",
                placeholder="Paste your key, then press Enter",
                visible=first_box_shown,
                elem_id="key-box",
                html_attributes=gr.InputHTMLAttributes(autocomplete="off", spellcheck=False),
            )
            # Only when the operator allows it; what the visitor types is checked on the server.
            endpoint_box = gr.Textbox(
                value="",
                label="Your endpoint's base URL",
                placeholder="https://api.example.com/v1",
                visible=first.id == VISITOR_ENDPOINT.id,
                render=settings.allow_custom_base_url,
                elem_id="endpoint-url",
            )
            status = gr.Markdown(key_status(first, SessionKeys(), first_box_shown), elem_id="key-status")
            forget = gr.Button("Forget my key", size="sm", visible=False, elem_id="forget-key")
            if settings.access_codes:
                gr.Markdown(f"[Enter a different access code]({GATE_PATH.lstrip('/')})", elem_id="access-link")
            with gr.Accordion("Settings", open=False):
                system_box = gr.Textbox(value=settings.system_prompt, label="System prompt", lines=3)
                temperature_box = refuse_non_numbers(gr.Slider(0, 2, value=0.7, step=0.05, label="Temperature"))
                max_tokens_box = refuse_non_numbers(
                    gr.Slider(
                        16,
                        settings.max_output_tokens,
                        value=min(1024, settings.max_output_tokens),
                        step=1,
                        label="Max tokens",
                    )
                )
            usage = gr.Markdown("", elem_id="usage")
        chat_ui = gr.ChatInterface(
            chat,
            additional_inputs=[
                provider_box,
                model_box,
                system_box,
                temperature_box,
                max_tokens_box,
                keys,
                *([endpoint_box] if settings.allow_custom_base_url else []),
            ],
            api_name="chat",
            editable=True,
            flagging_mode="never",
            cache_examples=False,
            save_history=False,
            concurrency_limit=settings.concurrency_limit,
            fill_height=True,
        )

        null_message_as_empty(chat_ui.textbox)

        # The key's events and the other helpers are private: never in the API docs, never in the
        # browser's run history.
        private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        view = [key_input, status, forget]
        # The key box is never an output of the capture event and is blanked by the page itself:
        # an output would make Gradio rebuild its stored copy of the box, and the typed key
        # would stay in it (and in deep-link snapshots) whenever an earlier event had run.
        # The key box goes last: Gradio stores inputs one by one and stops at the first that fails
        # validation, and the key must never be stored without this event running to scrub it.
        endpoint_input = endpoint_box if settings.allow_custom_base_url else gr.State("")
        capture_inputs = [provider_box, keys, endpoint_input, key_input]
        for trigger in (key_input.submit, key_input.blur):
            trigger(capture_key, capture_inputs, [status, forget, keys], **private).then(
                None, None, key_input, js="() => ''", **private
            )
        forget.click(forget_key, [provider_box, keys], view, **private)
        provider_box.change(switch_provider, [provider_box, keys], [model_box, *view], **private)
        if settings.allow_custom_base_url:
            provider_box.change(
                lambda chosen: gr.update(visible=chosen == VISITOR_ENDPOINT.id), provider_box, endpoint_box, **private
            )
        demo.load(on_load, [provider_box, keys], [*view, usage], **private)
        # ChatInterface exposes no event for "reply finished" (its own bookkeeping runs outside the
        # queue, where state changes trigger nothing), so usage refreshes on load and on each send.
        chat_ui.textbox.submit(usage_text, None, usage, queue=False, **private)

        def end_session(request: gr.Request) -> None:
            # Gradio keeps a closed session's state for an hour in case the tab comes back, and
            # its copy of every input value until 10,000 newer sessions push it out: a visitor's
            # key must not outlive the tab, and neither should the memory.
            holder = demo.state_holder
            if request.session_hash and request.session_hash in holder:
                holder.delete_state(request.session_hash)
                with holder.lock:
                    holder.session_data.pop(request.session_hash, None)
                    holder.time_last_used.pop(request.session_hash, None)

        demo.unload(end_session)

    demo.queue(max_size=settings.queue_max_size, default_concurrency_limit=settings.concurrency_limit)
    return demo


def _oauth_info(request: gr.Request) -> dict[str, Any] | None:
    # Present only when Hugging Face login is on (Gradio then installs its session middleware).
    try:
        info = request.request.session.get("oauth_info") if request.request is not None else None
    except AssertionError:
        return None
    return info if isinstance(info, dict) else None


def boundary_policy(settings: Settings) -> BoundaryPolicy:
    return BoundaryPolicy(
        trusted=TrustedProxies(settings.trusted_proxies),
        allowed_origins=settings.allowed_origins,
        frame_ancestors=settings.frame_ancestors,
        space_host=settings.space_host,
    )


def launch_options(service: ChatService) -> dict[str, Any]:
    policy = boundary_policy(service.settings)
    allow_cross_origin_only_for(policy)
    # Outermost first: origins and session binding are checked before the gate sees a request.
    middleware = [Middleware(BoundaryMiddleware, policy=policy, bindings=SessionBindings())]
    if service.gate is not None:
        middleware.append(Middleware(GateMiddleware, gate=service.gate, cookie_attributes=policy.cookie_attributes))
    return {
        "run_history": False,
        "show_error": False,
        # Gradio runs at most max_threads jobs at once, async ones included.
        "max_threads": max(40, service.settings.concurrency_limit),
        # Server-side rendering would fetch the page from behind the access gate.
        "ssr_mode": False,
        "app_kwargs": {"middleware": middleware},
    }


def allow_cross_origin_only_for(policy: BoundaryPolicy) -> None:
    """Gradio's CORS layer answers any Origin with credentials on a non-loopback host, preflights
    included, in front of our middleware. Only the operator's ALLOWED_ORIGINS get CORS headers."""
    from gradio.route_utils import CustomCORSMiddleware

    def is_valid_origin(self: CustomCORSMiddleware, request_headers: Any) -> bool:
        origin = normalise_origin(request_headers.get("origin", ""))
        return origin is not None and origin in policy.allowed_origins

    CustomCORSMiddleware.is_valid_origin = is_valid_origin  # type: ignore[method-assign]


demo = build_demo(SERVICE)
# Start-up leaves ~300,000 long-lived objects (Gradio, the SDK); without this every full garbage
# collection walks them all again, stalling every chat in flight (bench/RESULTS.md).
gc.freeze()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the byok-chat UI.")
    parser.add_argument("--host", help="address to listen on (default: GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="open a temporary public share link")
    args = parser.parse_args(argv)
    host = args.host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    warning = exposure_warning(SERVICE.settings, host=host, share=args.share)
    if warning:
        log.warning(warning)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share or None,
        **launch_options(SERVICE),
    )


if __name__ == "__main__":
    main()
