"""The page: everything that imports Gradio, one module per concern. app.py builds and serves it.

events (event helpers), style (CSS), inputs (hardened chat inputs), browser (what an event knows
of its browser), handlers (the page's event handlers and texts), sidebar, chat, wiring (key box,
provider switch, load and unload), model_lists, transcripts (export and import), login (Hugging
Face), chat_view (how a reply looks), gradio_tuning (per-session Gradio work taken out), page
(build_demo and the launch options).
"""
