"""The page's look and its page-side scripts, in one place."""

from __future__ import annotations

import json

from ui.language import js_words

# Inside every error bubble (ui/handlers.py), so PAGE_CSS can tell the reply bubble around it.
ERROR_MARKER = '<span class="chat-error"></span>'
# Ends the key status while a key is set, in every language (the page's script reads it).
KEY_SET_MARK = '<span class="key-set"></span>'

# The page's whole look, in one place: errors read as errors, and on a phone the sidebar's toggle
# stays whole on screen.
PAGE_CSS = """
/* A failed chat is one bubble, in error colours. Gradio draws titled messages as a collapsible
   "thought"; byok-chat sends them for errors and for a model's thinking, which alone carries a
   duration (and, while it streams, a spinner). Gradio's CSS scoper prefixes every selector inside
   :has(), the second of a list too, so each :has() names one class. */
#chat .thought-group:not(:has(.duration)):not(:has(.loading-spinner)) {
    border: 1px solid var(--error-border-color); background: var(--error-background-fill);
    border-radius: var(--radius-md); }
#chat .thought-group:not(:has(.duration)):not(:has(.loading-spinner)) .title {
    color: var(--error-text-color); font-weight: 600; pointer-events: none; }
#chat .thought-group:not(:has(.duration)):not(:has(.loading-spinner)) .title .arrow { display: none; }
#chat .thought-group:not(:has(.duration)):not(:has(.loading-spinner)) .content { color: var(--body-text-color); }
/* An error stands on its own, not inside a grey reply bubble. */
#chat .message.bot:has(.chat-error) { background: none; border: none; padding: 0; }
#upload-refused { color: var(--error-text-color); font-size: var(--text-sm); padding: var(--spacing-sm) 0; }
@media (max-width: 768px) {
    /* Closed: a whole round button just inside the left edge. Open: inside the right edge. */
    .sidebar .toggle-button { border: 1px solid var(--border-color-primary) !important;
        border-radius: var(--radius-lg) !important; }
    .sidebar:not(.open) .toggle-button { left: calc(100% + var(--size-1)) !important; }
    .sidebar.open .toggle-button { right: var(--size-2) !important; }
    /* A finger-sized target. */
    .sidebar .toggle-button { min-width: 44px !important; min-height: 44px !important; }
    /* The chat first; the saved chats below it. */
    #saved-chats { order: 1; }
}
"""
# On a phone the open sidebar covers the whole chat: start with it closed there.
CLOSE_SIDEBAR_ON_PHONES = """() => {
    if (window.matchMedia("(max-width: 768px)").matches) {
        document.querySelector(".sidebar.open .toggle-button")?.click();
    }
}"""

# Gradio's message box with attachments gives its text area no name, so screen readers announce
# the component's type; it is named here, and again whenever Gradio draws it anew. Its hidden label
# keeps the English name for the API docs (ui/inputs.py), so screen readers get the page's language
# here instead (only when it differs: the observer would otherwise wake itself).
NAME_THE_MESSAGE_BOX = """() => {
    const label = WORDS.page_message;
    const name = () => {
        document.querySelectorAll("#chat-input textarea:not([aria-label])")
            .forEach((box) => box.setAttribute("aria-label", label));
        document.querySelectorAll('#chat-input [data-testid="block-info"]')
            .forEach((info) => { if (info.textContent !== label) info.textContent = label; });
    };
    name();
    const box = document.querySelector("#chat-input");
    if (box) new MutationObserver(name).observe(box, {childList: true, subtree: true});
}""".replace("WORDS", js_words("page_message"))


def upload_size_guard(limit_bytes: int, limit_text: str) -> str:
    """Refuse a file over the upload limit before Gradio sees it. Gradio's own refusal names the
    limit in binary units ("9.5 Mb" for 10 MB), and a message sent while that upload failed went
    without its file: here the file is never attached, and a note under the box says why and
    stays until the next attachment, so a message sent after it is not sent without a word."""
    return f"""() => {{
    const limit = {limit_bytes};
    const inBox = (event) => event.target instanceof Element && event.target.closest("#chat-input");
    const clear = () => document.getElementById("upload-refused")?.remove();
    const say = (text) => {{
        let note = document.getElementById("upload-refused");
        if (!note) {{
            note = document.createElement("div");
            note.id = "upload-refused";
            note.setAttribute("role", "alert");
            document.querySelector("#chat-input")?.after(note);
        }}
        note.textContent = text;
    }};
    const check = (event, files) => {{
        const big = Array.from(files || []).filter((file) => file.size > limit);
        if (!big.length) {{
            if (files && files.length) clear();
            return;
        }}
        event.preventDefault();
        event.stopImmediatePropagation();
        if (event.target.type === "file") event.target.value = "";
        const words = {js_words("upload_file_size", "upload_refused", "upload_others", "list_separator")};
        const fill = (text, values) => text.replace(/[{{]([a-z]+)[}}]/g, (all, name) => values[name] ?? all);
        const named = big
            .map((file) => fill(words.upload_file_size, {{name: file.name, size: (file.size / 1e6).toFixed(1)}}))
            .join(words.list_separator);
        const others = files.length > big.length ? words.upload_others : "";
        say(fill(words.upload_refused, {{files: named, limit: {json.dumps(limit_text)}, others}}));
    }};
    document.addEventListener("change", (e) => inBox(e) && e.target.type === "file" && check(e, e.target.files), true);
    document.addEventListener("drop", (e) => inBox(e) && check(e, e.dataTransfer?.files), true);
    document.addEventListener("paste", (e) => inBox(e) && check(e, e.clipboardData?.files), true);
}}"""
