"""The Gradio peer: ``gr.load_chat`` against the benchmark's provider, with its defaults.

Its model is fixed at start-up, so the benchmark's fake reads the reply's shape from the message.

Run: ``python bench/loadchat_app.py --port 7862 --base-url http://127.0.0.1:8001/v1``
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

# Not a real key: the fake provider ignores it.
BENCH_TOKEN = "sk-bench-not-a-real-key"


def main() -> None:
    parser = argparse.ArgumentParser(description="Run gr.load_chat with its defaults.")
    parser.add_argument("--port", type=int, default=7862)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="bench-model")
    args = parser.parse_args()
    demo = gr.load_chat(args.base_url, model=args.model, token=BENCH_TOKEN)
    demo.launch(server_name="127.0.0.1", server_port=args.port, quiet=True)


if __name__ == "__main__":
    main()
