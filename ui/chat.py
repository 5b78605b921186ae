"""The chat itself: Gradio's ChatInterface over the page handlers, with the sidebar's settings as its
extra inputs."""

from __future__ import annotations

import gradio as gr

from config.keys import SessionKeys
from ui.handlers import PageHandlers
from ui.inputs import chat_input, null_message_as_empty
from ui.sidebar import Sidebar

API_DESCRIPTION = (
    "Chat with one provider; returns the reply. Inputs: message, provider id, model, system prompt, "
    "temperature (null: the provider's default), max tokens. Providers on a server key need no key. For "
    "the others, send your own key in the X-Provider-Key request header, e.g. Client(url, "
    "headers={'X-Provider-Key': key}); never as an input. Behind an access code, also send X-Access-Code. "
    "The conversation is kept per client session: each call continues it, and client.reset_session() "
    "starts a new one."
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
