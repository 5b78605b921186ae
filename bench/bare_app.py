"""The framework floor: a bare gr.ChatInterface that streams the benchmark's chunks itself.

No provider, no SDK, no key handling: whatever time or CPU byok-chat spends above this app is
ours. Concurrency is opened up (no per-event limit, no default limit, a large thread pool) so
the floor is Gradio's own, not a setting. It takes the same inputs as byok-chat's public
``chat`` endpoint, so one client drives both.

Run: ``python bench/bare_app.py --port 7861``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from collections.abc import AsyncIterator

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

_CHUNKS = re.compile(r"chunks-(\d+)-(\d+)")


async def chat(
    message: str,
    history: list[dict[str, object]],
    provider_id: str,
    model: str,
    system_prompt: str,
    temperature: float,
    max_tokens: float,
) -> AsyncIterator[str]:
    # The same plan as the fake provider: first chunk at once, then one every <ms>.
    match = _CHUNKS.fullmatch(model) or _CHUNKS.search(message)
    count, gap = (int(match.group(1)), int(match.group(2)) / 1000) if match else (20, 0.05)
    text = ""
    for index in range(count):
        text += "tok "
        yield text
        if gap and index < count - 1:
            await asyncio.sleep(gap)


def build() -> gr.ChatInterface:
    demo = gr.ChatInterface(
        chat,
        additional_inputs=[
            gr.Textbox(label="Provider"),
            gr.Textbox(label="Model"),
            gr.Textbox(label="System prompt"),
            gr.Slider(0, 2, value=0.7, label="Temperature"),
            gr.Slider(16, 8192, value=1024, step=1, label="Max tokens"),
        ],
        api_name="chat",
        concurrency_limit=None,
    )
    demo.queue(default_concurrency_limit=None, max_size=None)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the bare ChatInterface floor.")
    parser.add_argument("--port", type=int, default=7861)
    args = parser.parse_args()
    build().launch(server_name="127.0.0.1", server_port=args.port, max_threads=1000, quiet=True)


if __name__ == "__main__":
    main()
