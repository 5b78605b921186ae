"""The page's look and its one page-side script, in one place."""

from __future__ import annotations

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
@media (max-width: 768px) {
    /* Closed: a whole round button just inside the left edge. Open: inside the right edge. */
    .sidebar .toggle-button { border: 1px solid var(--border-color-primary) !important;
        border-radius: var(--radius-lg) !important; }
    .sidebar:not(.open) .toggle-button { left: calc(100% + var(--size-1)) !important; }
    .sidebar.open .toggle-button { right: var(--size-2) !important; }
}
"""
# On a phone the open sidebar covers the whole chat: start with it closed there.
CLOSE_SIDEBAR_ON_PHONES = """() => {
    if (window.matchMedia("(max-width: 768px)").matches) {
        document.querySelector(".sidebar.open .toggle-button")?.click();
    }
}"""
