"""The sidebar: provider, model, the key box and its status, settings, conversation tools, usage."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from config.keys import SessionKeys
from providers import EFFORTS, VISITOR_ENDPOINT, Provider
from ui import chat_view
from ui.events import PRIVATE
from ui.handlers import KEY_PLACEHOLDER, PageHandlers
from ui.inputs import any_model_id, refuse_non_numbers, refuse_unknown_providers
from ui.language import t
from ui.transcripts import TranscriptControls, transcript_controls
from web.access import GATE_PATH, LOGOUT_PATH
from words import ENGLISH

# A form posted from the page itself: the navigation carries the cookies and the app's own origin.
_POST_TO = (
    "() => {{ const form = document.createElement('form'); form.method = 'post'; form.action = '{path}'; "
    "document.body.appendChild(form); form.submit(); }}"
)


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
    temperature_default: gr.Checkbox
    temperature: gr.Slider
    max_tokens: gr.Slider
    effort: gr.Dropdown
    usage: gr.Markdown
    model_note: gr.Markdown
    check: KeyCheck
    transcript: TranscriptControls
    # Who pays for signed-in chats on the Hugging Face row; only where a Space offers sign-in.
    bill_to: gr.Dropdown | None = None


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
                label=t("page_provider"),
                elem_id="provider",
            )
        )
        model = any_model_id(
            gr.Dropdown(
                choices=list(handlers.service.catalog.curated(first, on_server_key=first.id in settings.server_keys)),
                value=settings.initial_model(first),
                allow_custom_value=True,
                filterable=True,
                label=t("page_model"),
                info=t("page_model_info"),
                elem_id="model",
            )
        )
        model_note = gr.Markdown("", elem_id="model-note")
        box_shown = handlers.service.key_box_needed(first, may_use_server_keys=not settings.access_code_byo_exempt)
        key_box = gr.Textbox(
            type="password",
            value="",
            # The provider's name comes with the page's load event (PageHandlers.provider_view).
            label=t("page_key_box"),
            placeholder=t(KEY_PLACEHOLDER),
            visible=box_shown,
            elem_id="key-box",
            html_attributes=gr.InputHTMLAttributes(autocomplete="off", spellcheck=False),
        )
        # Only when the operator allows it; what the visitor types is checked on the server.
        endpoint = gr.Textbox(
            value="",
            label=t("page_endpoint"),
            placeholder="https://api.example.com/v1",
            visible=first.id == VISITOR_ENDPOINT.id,
            render=settings.allow_custom_base_url,
            elem_id="endpoint-url",
        )
        status = gr.Markdown(handlers.key_status(first, SessionKeys(), box_shown), elem_id="key-status")
        forget = gr.Button(t("page_forget_key"), size="sm", visible=False, elem_id="forget-key")
        bill_to = bill_to_box() if handlers.service.sign_ins is not None else None
        check = key_check_controls(box_shown)
        if settings.access_codes:
            gr.Markdown(f"[{t('page_other_access_code')}]({GATE_PATH.lstrip('/')})", elem_id="access-link")
            # In this tab (a Markdown link would open a new one), relative: the app may be served
            # under a path prefix. Only a same-origin POST signs out (a GET could come from an image
            # in a reply); it also revokes the cookie on the server.
            sign_out = gr.Button(t("page_sign_out"), size="sm", variant="secondary", elem_id="sign-out")
            sign_out.click(None, js=_POST_TO.format(path=LOGOUT_PATH.lstrip("/")), **PRIVATE)
        with gr.Accordion(t("page_settings"), open=False):
            system_prompt = gr.Textbox(value=settings.system_prompt, label=t("page_system_prompt"), lines=3)
            temperature_default, temperature = temperature_controls(first, settings.initial_model(first))
            max_tokens = refuse_non_numbers(
                gr.Slider(
                    16,
                    settings.max_output_tokens,
                    value=min(1024, settings.max_output_tokens),
                    step=1,
                    label=t("page_max_tokens"),
                ),
                "setting_max_tokens",
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
        temperature_default,
        temperature,
        max_tokens,
        effort,
        usage,
        model_note,
        check,
        transcript,
        bill_to=bill_to,
    )


def bill_to_box() -> gr.Dropdown:
    return gr.Dropdown(
        choices=[],
        label=t("page_bill_to"),
        info=t("page_bill_to_info"),
        visible=False,
        elem_id="bill-to",
    )


def temperature_controls(provider: Provider, model: str) -> tuple[gr.Checkbox, gr.Slider]:
    """ "Provider's default" ticked sends no temperature, and is where the page starts: Gradio's
    number inputs cannot be empty (null becomes 0), so the choice is a box of its own. Where the
    model takes no temperature, both are greyed out and the box says why."""
    view = chat_view.temperature_view(provider, model, EFFORTS[0])
    default = gr.Checkbox(
        True,
        label=t("page_default_temperature"),
        info=t(view.info.key) if not view.info.params else view.info.in_language(ENGLISH),
        interactive=view.choosable,
        elem_id="temperature-default",
    )
    slider = gr.Slider(
        0, 2, value=0.7, step=0.05, label=t("page_temperature"), interactive=False, elem_id="temperature"
    )
    return default, refuse_non_numbers(slider, "setting_temperature", empty_allowed=True)


# Each effort's name on the page; the value sent stays the effort itself.
EFFORT_LABELS = {
    "default": "page_effort_default",
    "off": "page_effort_off",
    "low": "page_effort_low",
    "medium": "page_effort_medium",
    "high": "page_effort_high",
}


def reasoning_effort_box(provider: Provider, model: str) -> gr.Dropdown:
    return gr.Dropdown(
        choices=[(t(EFFORT_LABELS[effort]), effort) for effort in EFFORTS],
        value=EFFORTS[0],
        label=t("page_effort"),
        info=t("page_effort_info"),
        visible=chat_view.effort_shown(provider, model),
        elem_id="reasoning-effort",
    )


@dataclass
class KeyCheck:
    button: gr.Button
    result: gr.Markdown


def key_check_controls(visible: bool) -> KeyCheck:
    """ "Check my key": asks the provider's GET /models, which costs no tokens."""
    button = gr.Button(t("page_check_key"), size="sm", visible=visible, elem_id="check-key")
    return KeyCheck(button, gr.Markdown("", elem_id="key-check"))
