"""The Hugging Face sign-in button, on a Space only (web/hflogin.py decides where)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.browser import oauth_info

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
        info = oauth_info(request)
        user = (info or {}).get("userinfo", {}).get("preferred_username")
        return gr.update(value=f"Logout ({user})" if isinstance(user, str) and user else SIGN_IN_LABEL)

    button.click(fn=None, inputs=[button], outputs=None, js=_LOGIN_CLICK_JS, api_visibility="private")
    demo.load(label, None, button, api_visibility="private", show_progress="hidden")
