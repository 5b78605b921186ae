"""The chat itself: Gradio's ChatInterface over the page handlers, with the sidebar's settings as its
extra inputs."""

from __future__ import annotations

import hashlib

import gradio as gr

from config.keys import SessionKeys
from config.settings import Settings
from ui.handlers import PageHandlers
from ui.inputs import chat_input, null_message_as_empty
from ui.sidebar import Sidebar

# Where the browser keeps saved chats: the same for every version, restart and replica of the app
# at one address (Gradio's default names it after a component id, which changes between versions).
SAVED_CHATS_KEY = "byok-chat:saved-conversations"

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
    if settings.save_history:
        keep_saved_chats(chat_ui.saved_conversations, settings)
        # The column with "New chat" and the list: on a phone PAGE_CSS moves it below the chat.
        chat_ui.new_chat_button.parent.elem_id = "saved-chats"
    return chat_ui


def keep_saved_chats(saved: gr.BrowserState, settings: Settings) -> None:
    """Gradio encrypts saved chats with a secret drawn at random in each process, so a restart (a
    Space waking up, a rebuild) or another replica could read none of them. The secret here is
    derived from what every run of this deployment shares. It is sent to the page (in /config),
    so it hides nothing from anyone who can open the page: the chats are as private as the browser."""
    saved.storage_key = SAVED_CHATS_KEY
    saved.secret = saved_chats_secret(settings)


def saved_chats_secret(settings: Settings) -> str:
    deployment = settings.space_host or "self-hosted"
    return hashlib.sha256(f"byok-chat saved chats|{deployment}".encode()).hexdigest()[:32]
