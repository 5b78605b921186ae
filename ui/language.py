"""Which language the page speaks to this visitor, and the page's own words (words/).

The page's static text goes through Gradio's I18n, which follows navigator.language in the
browser; what a handler says follows the request's Accept-Language (``language_of``), which the
same browser fills from the same setting. Scripts that send no Accept-Language get English.
"""

from __future__ import annotations

import json

import gradio as gr

from words import LANGUAGES, page_catalogues, pick, template

__all__ = ["PAGE_I18N", "js_words", "language_of", "t"]

# Every page_* sentence, for launch(i18n=...).
PAGE_I18N = gr.I18n(**page_catalogues())


def t(key: str) -> gr.i18n.I18nData:
    """A static text of the page, said by the browser in its own language."""
    return PAGE_I18N(key)


def language_of(request: gr.Request | None) -> str:
    if request is None:
        return pick(None)
    return pick(request.headers.get("accept-language"))


# words.pick, for scripts in the page: the browser's first language, by exact tag, else by its
# bare language (zh -> zh-CN, pt -> pt-BR), else English.
_PICK_JS = """((tag) => {
    const first = String(tag || "").toLowerCase();
    const known = LANGUAGES;
    const exact = known.find((name) => name.toLowerCase() === first);
    if (exact) return exact;
    const base = first.split("-")[0];
    return {zh: "zh-CN", pt: "pt-BR"}[base] || known.find((name) => name === base) || "en";
})(navigator.language)"""


def js_words(*keys: str) -> str:
    """A JavaScript expression: the sentences ``keys`` in the browser's language, as an object."""
    table = {language: {key: template(language, key) for key in keys} for language in LANGUAGES}
    return f"({json.dumps(table, ensure_ascii=False)})[{_PICK_JS.replace('LANGUAGES', json.dumps(LANGUAGES))}]"
