"""The chat's inputs, hardened: what a raw API call may send them is answered with one clear
message instead of a Gradio traceback."""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.components.multimodal_textbox import MultimodalData
from pydantic import model_validator

from config.settings import Settings
from conversation.attachments import ACCEPTED_SUFFIXES
from ui.language import t
from words import ENGLISH, Phrase, say


def refuse_non_numbers(slider: gr.Slider, name: str, *, empty_allowed: bool = False) -> gr.Slider:
    """Answer a non-number or a value out of range from a raw API call with a message; Gradio's
    Slider raises a bare TypeError or a range error, and the log gets a whole traceback. Where
    ``empty_allowed``, null is "not chosen" and reaches the handler as None. ``name`` is the
    catalogue key of the setting's name (the slider's label is said by the page, not here); the
    message is in English, as for every script that sends no Accept-Language.

    The check wraps the instance's method: subclassing a Gradio component would make Gradio write
    a .pyi stub next to this file at import time.
    """
    parse = slider.preprocess

    def preprocess(payload: Any) -> float | None:
        if payload is None and empty_allowed:
            return None
        if isinstance(payload, bool) or not isinstance(payload, int | float):
            raise gr.Error(say(ENGLISH, "refused_not_a_number", name=Phrase(name)), print_exception=False)
        if not slider.minimum <= payload <= slider.maximum:
            # Gradio's own range error prints a traceback for what is only a bad value.
            bounds = {"low": f"{slider.minimum:g}", "high": f"{slider.maximum:g}"}
            raise gr.Error(say(ENGLISH, "refused_out_of_range", name=Phrase(name), **bounds), print_exception=False)
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


def any_model_id(dropdown: gr.Dropdown) -> gr.Dropdown:
    """The API docs show the model as a string, not as the handful of ids the page suggests for
    the first provider: any id the chosen provider serves works."""
    dropdown.api_info = lambda: {  # type: ignore[method-assign]
        "type": "string",
        "additional_description": "Any model id the chosen provider serves, e.g. gpt-4.1-mini for openai.",
    }
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


# Any other JSON value is taken as the message's text, as the plain Textbox did. Files that are not
# file records are dropped here; the boundary has already refused any path that is not this
# browser's own upload. The docstring is what the API docs show for the message.
class TextOrFiles(MultimodalData):
    """Your message: its text, and optionally files to attach (images, PDFs and text files, each
    {"path": ...} uploaded first, e.g. handle_file("photo.png") in gradio_client). A plain string is
    taken as the text."""

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
        placeholder=t("page_message_placeholder"),
        # Never shown: named for the API docs, in English as scripts read them; screen readers get
        # the page's language from style.NAME_THE_MESSAGE_BOX.
        label="Message",
        show_label=False,
        autofocus=True,
        # ChatInterface shows Stop while a reply streams only if the box it is given has one.
        submit_btn=True,
        stop_btn=True,
        scale=7,
        elem_id="chat-input",
    )
