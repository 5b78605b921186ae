"""byok-chat: a chat UI for any OpenAI-compatible provider that never leaks an API key.

This file is the UI only. Provider data, key handling, errors and redaction live in providers/.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from typing import Any

# Before Gradio is imported: these defaults also hold under `gradio app.py` (reload mode), which
# never calls our launch(). The operator can still turn either on in the environment.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_RUN_HISTORY", "False")

import gradio as gr

from providers import (
    CUT_OFF_MARK,
    ByokError,
    ChatStream,
    ConfigError,
    InputRejected,
    Provider,
    ReplyCutOff,
    SessionKeys,
    Settings,
    build_request,
    install_redaction,
    load_settings,
    parse_visitor_key,
    resolve_key,
)

# API callers bring their own key in this header, never in event data: event inputs are kept in
# Gradio's per-session memory and deep-link snapshots.
KEY_HEADER = "x-provider-key"


def build_demo(settings: Settings) -> gr.Blocks:
    first = settings.provider(settings.default_provider)
    assert first is not None

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
    ) -> AsyncIterator[str]:
        try:
            chat_request = build_request(
                settings,
                message=message,
                history=history,
                provider_id=provider_id,
                model=model,
                system_prompt=system_prompt,
                temperature=temperature,
                max_tokens=max_tokens,
            )
            provider = chat_request.provider
            visitor_key = keys.get(provider.id) if isinstance(keys, SessionKeys) else None
            if visitor_key is None:
                visitor_key = parse_visitor_key(request.headers.get(KEY_HEADER, ""))
            key = resolve_key(provider, settings, visitor_key=visitor_key)
            async for text in ChatStream(
                chat_request,
                key=key,
                timeout=settings.request_timeout,
                max_retries=settings.max_retries,
            ):
                yield text
        except ReplyCutOff as cut:
            if not cut.partial:
                raise gr.Error(str(cut), title=cut.title, print_exception=False) from None
            gr.Warning(str(cut), title=cut.title)
            yield cut.partial + CUT_OFF_MARK
        except ByokError as error:
            raise gr.Error(str(error), title=error.title, print_exception=False) from None

    def key_box(provider: Provider) -> dict[str, Any]:
        return gr.update(
            visible=settings.needs_visitor_key(provider),
            value="",
            label=f"Your {provider.label} API key",
        )

    def key_status(provider: Provider, keys: SessionKeys) -> str:
        if provider.id in keys:
            return f"Your {provider.label} key is set for this browser session only."
        if settings.server_key(provider.id) is not None:
            return f"{provider.label} uses the server's key: no key needed."
        if not provider.needs_key:
            return f"{provider.label} needs no key."
        return (
            f"Enter your {provider.label} key and press Enter. It is kept in server memory for "
            f"this session only: never saved, never logged, gone when you reload."
        )

    def capture_key(raw: str, provider_id: str, keys: SessionKeys) -> tuple[dict[str, Any], str, dict[str, Any]]:
        provider = settings.provider(provider_id) or first
        try:
            key = parse_visitor_key(raw)
        except InputRejected as rejected:
            gr.Warning(str(rejected), title=rejected.title)
            key = None
        if key is not None and settings.needs_visitor_key(provider):
            keys.set(provider.id, key)
        # Returning "" blanks the box in the browser and in Gradio's copy of the session's values.
        return gr.update(value=""), key_status(provider, keys), gr.update(visible=provider.id in keys)

    def forget_key(provider_id: str, keys: SessionKeys) -> tuple[str, dict[str, Any]]:
        provider = settings.provider(provider_id) or first
        keys.forget(provider.id)
        return key_status(provider, keys), gr.update(visible=False)

    def switch_provider(
        provider_id: str, keys: SessionKeys
    ) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any]]:
        provider = settings.provider(provider_id) or first
        return (
            gr.update(choices=list(provider.models), value=settings.initial_model(provider)),
            key_box(provider),
            key_status(provider, keys),
            gr.update(visible=provider.id in keys),
        )

    with gr.Blocks(title="byok-chat", analytics_enabled=settings.analytics, fill_height=True) as demo:
        keys = gr.State(SessionKeys(), delete_callback=lambda held: held.clear())
        with gr.Sidebar(open=True):
            gr.Markdown("### byok-chat")
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
            key_input = gr.Textbox(
                type="password",
                value="",
                label=f"Your {first.label} API key",
                placeholder="Paste your key, then press Enter",
                visible=settings.needs_visitor_key(first),
                elem_id="key-box",
                html_attributes=gr.InputHTMLAttributes(autocomplete="off", spellcheck=False),
            )
            status = gr.Markdown(key_status(first, SessionKeys()), elem_id="key-status")
            forget = gr.Button("Forget my key", size="sm", visible=False, elem_id="forget-key")
            with gr.Accordion("Settings", open=False):
                system_box = gr.Textbox(value=settings.system_prompt, label="System prompt", lines=3)
                temperature_box = gr.Slider(0, 2, value=0.7, step=0.05, label="Temperature")
                max_tokens_box = gr.Slider(
                    16,
                    settings.max_output_tokens,
                    value=min(1024, settings.max_output_tokens),
                    step=1,
                    label="Max tokens",
                )
        gr.ChatInterface(
            chat,
            additional_inputs=[
                provider_box,
                model_box,
                system_box,
                temperature_box,
                max_tokens_box,
                keys,
            ],
            api_name="chat",
            editable=True,
            flagging_mode="never",
            cache_examples=False,
            save_history=False,
            concurrency_limit=settings.concurrency_limit,
            fill_height=True,
        )

        # The key's events are private: never in the API docs, never in the browser's run history.
        private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
        capture_outputs = [key_input, status, forget]
        key_input.submit(capture_key, [key_input, provider_box, keys], capture_outputs, **private)
        key_input.blur(capture_key, [key_input, provider_box, keys], capture_outputs, **private)
        forget.click(forget_key, [provider_box, keys], [status, forget], **private)
        provider_box.change(
            switch_provider,
            [provider_box, keys],
            [model_box, key_input, status, forget],
            **private,
        )

        def end_session(request: gr.Request) -> None:
            # Gradio keeps a closed session's state for an hour in case the tab comes back;
            # a visitor's key must not outlive the tab.
            if request.session_hash and request.session_hash in demo.state_holder:
                demo.state_holder.delete_state(request.session_hash)

        demo.unload(end_session)

    demo.queue(
        max_size=settings.queue_max_size,
        default_concurrency_limit=settings.concurrency_limit,
    )
    return demo


try:
    SETTINGS = load_settings()
except ConfigError as error:
    raise SystemExit(f"byok-chat: configuration error: {error}") from None
install_redaction()
demo = build_demo(SETTINGS)


def launch_options(settings: Settings) -> dict[str, Any]:
    return {
        "run_history": False,
        "show_error": False,
        # Gradio runs at most max_threads jobs at once, async ones included.
        "max_threads": max(40, settings.concurrency_limit),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the byok-chat UI.")
    parser.add_argument("--host", help="address to listen on (default: GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="open a temporary public share link")
    args = parser.parse_args(argv)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share or None,
        **launch_options(SETTINGS),
    )


if __name__ == "__main__":
    main()
