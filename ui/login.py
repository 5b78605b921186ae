"""The Hugging Face sign-in button, on a Space only (web/hflogin.py decides where)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import gradio as gr

from ui.browser import oauth_info
from ui.language import language_of
from words import ENGLISH, LANGUAGES, say

SIGN_IN_LABEL = say(ENGLISH, "sign_in_hf")
# Gradio's own button, with two changes. Inside a frame (a Space's page on the Hub shows the app in a
# cross-site frame) the login cookie is dropped, so sign-in opens in a tab of its own, as the Hub
# itself does. And the label comes from our status event below, in the visitor's language.
_LOGIN_CLICK_JS = """
(label) => {
    const signIn = SIGN_IN_LABELS.includes(label);
    const url = (signIn ? '/login/huggingface' : '/logout') + '?_target_url=/';
    if (signIn && window.self !== window.top) {
        window.open(url, '_blank', 'noopener');
        return;
    }
    window.location.assign(url);
}
""".replace("SIGN_IN_LABELS", json.dumps([say(language, "sign_in_hf") for language in LANGUAGES], ensure_ascii=False))


def hf_login_button() -> gr.LoginButton:
    """Gradio's login button, made outside any Blocks so that Gradio attaches none of its events.

    Gradio's own status event (6.31) converts the session to objects and fails with ValueError for
    any user who belongs to an organisation (a non-empty "orgs" list), leaving the button on "Sign
    in" for them; ours reads the login the same way the allow list does. Render it inside the Blocks
    and call wire_login_button.
    """
    return gr.LoginButton(SIGN_IN_LABEL, elem_id="hf-login", render=False)


def wire_login_button(
    button: gr.LoginButton, demo: gr.Blocks, token_held: Callable[[gr.Request], bool | None] = lambda _: None
) -> None:
    """``token_held``: whether this browser's sign-in token is on the server (None where sign-in pays
    for nothing). Gradio's login cookie outlives the token (which goes when the browser's last page
    closes, or the Hub refuses it): then the button offers sign-in again, which fetches a new one."""

    def label(request: gr.Request) -> dict[str, Any]:
        info = oauth_info(request)
        user = (info or {}).get("userinfo", {}).get("preferred_username")
        signed_in = isinstance(user, str) and bool(user) and token_held(request) is not False
        language = language_of(request)
        return gr.update(value=say(language, "sign_out_hf", user=user) if signed_in else say(language, "sign_in_hf"))

    button.click(fn=None, inputs=[button], outputs=None, js=_LOGIN_CLICK_JS, api_visibility="private")
    demo.load(label, None, button, api_visibility="private", show_progress="hidden")
