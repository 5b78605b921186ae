"""Export and import of a conversation, done in the page: no file is written on the server."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import gradio as gr

from config.settings import Settings
from conversation.text import last_reply_origin
from conversation.transcript import MAX_IMPORT_BYTES, export_json, export_markdown, parse_import
from errors import InputRejected
from ui.chat_view import link_remote_media
from ui.events import PRIVATE
from ui.language import js_words, language_of, t
from words import Phrase, say


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
        gr.Markdown(t("page_saved_note"), elem_id="saved-note")
    with gr.Accordion(t("page_conversation"), open=False, elem_id="conversation"):
        include = gr.Checkbox(False, label=t("page_include_reasoning"), elem_id="include-reasoning")
        with gr.Row():
            as_markdown = gr.Button(t("page_export_markdown"), size="sm", elem_id="export-md")
            as_json = gr.Button(t("page_export_json"), size="sm", elem_id="export-json")
        import_button = gr.Button(t("page_import_json"), size="sm", elem_id="import-json")
        payload = gr.Textbox(visible=False, elem_id="export-payload")
        imported = gr.Textbox(visible=False, elem_id="import-payload")
    return TranscriptControls(include, as_markdown, as_json, import_button, payload, imported)


class ChatBoxes(Protocol):
    """The sidebar's boxes a conversation reads and sets (ui/sidebar.py's Sidebar)."""

    provider: gr.Dropdown
    model: gr.Dropdown
    system_prompt: gr.Textbox
    transcript: TranscriptControls


def wire_transcripts(boxes: ChatBoxes, chat_ui: gr.ChatInterface, restored: gr.State, settings: Settings) -> None:
    controls, system_box, model_box = boxes.transcript, boxes.system_prompt, boxes.model

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

    def import_chat(text: Any, request: gr.Request) -> tuple[Any, ...]:
        if text is None or text == "":
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()  # the visitor closed the file picker
        try:
            if text == TOO_LARGE or not isinstance(text, str):
                raise InputRejected(Phrase("refused_import_too_large", {"limit": MAX_IMPORT_BYTES // 1_000_000}))
            raw = text.encode("utf-8", "surrogatepass")
            imported = parse_import(raw, max_message_chars=settings.max_message_chars)
        except InputRejected as rejected:
            language = language_of(request)
            gr.Warning(rejected.text(language), title=say(language, "title_import_refused"))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        system = imported.system_prompt if imported.system_prompt is not None else gr.skip()
        # Shown as a reply would be: no forms, inputs or inline styles, no remote images.
        messages = [{**m, "content": link_remote_media(m["content"])} for m in imported.messages]
        # A new conversation (conversation_id None): a saved chat is never overwritten by an import.
        return messages, messages, system, None

    if settings.save_history:

        def restore_origin(index: Any, conversations: Any, current: Any) -> tuple[Any, Any, Any]:
            # Opening a saved chat brings back the provider and model its replies came from. Only
            # choices in the sidebar: the server checks any model a chat asks for, as it does a
            # typed one, and resolves the key for the provider as it would for a chosen one.
            if not isinstance(index, int) or not isinstance(conversations, list):
                return gr.skip(), gr.skip(), gr.skip()
            origin = last_reply_origin(conversations[index]) if 0 <= index < len(conversations) else None
            if origin is None:
                return gr.skip(), gr.skip(), gr.skip()
            provider = origin.provider_id
            if provider is None or provider == current or settings.provider(provider) is None:
                return gr.skip(), gr.update(value=origin.model), gr.skip()
            # The switch this causes would put the new provider's first model in: it takes this one.
            return gr.update(value=provider), gr.update(value=origin.model), (provider, origin.model)

        chat_ui.chat_history_dataset.click(
            restore_origin,
            [chat_ui.chat_history_dataset, chat_ui.saved_conversations, boxes.provider],
            [boxes.provider, model_box, restored],
            **PRIVATE,
        )

    # The page reads the file and sends its text with the event: no upload route, no file on the
    # server's disk.
    controls.import_json.click(
        import_chat,
        controls.imported,
        [chat_ui.chatbot, chat_ui.chatbot_state, system_box, chat_ui.conversation_id],
        js=PICK_FILE_JS.replace("MAX_BYTES", str(MAX_IMPORT_BYTES))
        .replace("TOO_LARGE", json.dumps(TOO_LARGE))
        .replace("REPLACE_QUESTION", replace_question(settings.save_history)),
        **PRIVATE,
    )


def replace_question(saved: bool) -> str:
    """Asked before an import replaces a chat on screen."""
    key = "import_replace_saved" if saved else "import_replace_unsaved"
    return f"{js_words(key)}.{key}"


TOO_LARGE = "(file too large)"
# Asks before replacing a chat on screen, then opens the file picker; resolves to the chosen
# file's text ("" when the visitor says no or closes the picker).
PICK_FILE_JS = """async () => new Promise((resolve) => {
    const shown = document.querySelectorAll('#chat [data-testid="user"], #chat [data-testid="bot"]').length;
    if (shown && !window.confirm(REPLACE_QUESTION)) return resolve("");
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
