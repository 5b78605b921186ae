"""How long one JSON body holds the server's event loop: the largest lag a 2 ms timer inside the
server sees while a body is sent (five times each, one after another, from curl), and the most
CPU the server process spent on one send (the lag also holds whatever waits a loaded machine adds).

A body the page sends (a 2 MB conversation) against bodies shaped to cost more than their bytes.
Max lag before bodies were judged by shape (commit 7d65187, shared machine, load 2.7): a 2 MB
conversation 67 ms; a 3.9 MB short data list 333 ms; an object of 190,000 keys 500 ms; 49,000
turns 426 ms; 880 numbers of 4,299 digits 545 ms; 300,000 empty lists (refused) 103 ms; all but
the last answered 200. After, every hostile body is refused; in the quietest run (load 4.0) 49,
10, 8, 7, 9 and 9 ms. On a busier machine (load 4-5) single lags of 100-630 ms moved from body
to body between runs while the server's CPU per send stayed 55-180 ms: waits for a core, not work.

Run: ``python -m bench.body_lag`` (about a minute).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="byok-bench-"))

from config.settings import load_settings  # noqa: E402
from tests import gradio_raw as raw  # noqa: E402
from tests.conftest import start_app  # noqa: E402

SENDS = 5
SENTENCE = "This is a sentence of ordinary prose, with a comma or two, as people write them. "


def bodies(session_hash: str, index: int) -> dict[str, bytes]:
    def join(data: bytes) -> bytes:
        return b'{"data": %s, "session_hash": "%s", "fn_index": %d}' % (data, session_hash.encode(), index)

    def chat(message: bytes, history: bytes) -> bytes:
        return join(b'[%s, %s, "ollama", "m", "", 0.5, 100, null]' % (message, history))

    page = [
        {"role": r, "metadata": None, "content": [{"type": "text", "text": SENTENCE * 25}], "options": None}
        for _ in range(500)
        for r in ("user", "assistant")
    ]
    big = b"a" * 3_900_000
    return {
        "a 2 MB conversation (legit)": chat(b'"and one more"', json.dumps(page).encode()),
        "a 3.9 MB message": chat(b'"%s"' % big, b"[]"),
        "a 3.9 MB short data list": join(b'["%s"]' % big),
        "an object of 190,000 keys": chat(b"{" + b",".join(b'"k%07d":1' % i for i in range(190_000)) + b"}", b"[]"),
        "49,000 turns": chat(b'"hi"', b"[" + b",".join([b'{"role":"user","content":"x"}'] * 49_000) + b"]"),
        "880 numbers of 4,299 digits": chat(b'"hi"', b"[" + b",".join([b"1" * 4299] * 880) + b"]"),
        "300,000 empty lists": join(b"[" + b"[]," * 299_999 + b"[]]"),
    }


def main() -> None:
    running = start_app(load_settings({"OLLAMA_BASE_URL": "http://127.0.0.1:9/v1"}, dotenv_path=None))
    try:
        visit = raw.open_page(running.url)
        index = raw.fn_index(raw.config(running.url, headers=visit.headers), "chat")
        # The server's loop runs in Gradio's thread; the timer is scheduled on it from here.
        (loop,) = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]
        lags: list[float] = []

        async def timer() -> None:
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.002)
                lags.append(time.perf_counter() - started - 0.002)

        asyncio.run_coroutine_threadsafe(timer(), loop)
        time.sleep(1)
        lags.clear()
        time.sleep(2)
        print(f"{'quiet, 2 s':32s} {'':6s} {'':12s} max lag {max(lags) * 1000:6.1f} ms", flush=True)
        folder = Path(tempfile.mkdtemp(prefix="byok-bench-bodies-"))
        headers = [arg for name, value in visit.headers.items() for arg in ("-H", f"{name}: {value}")]
        command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: application/json"]
        for name, body in bodies(visit.session_hash, index).items():
            path = folder / "body.json"
            path.write_bytes(body)
            worst, cpu, answers = 0.0, 0.0, set()
            for _ in range(SENDS):
                lags.clear()
                before = time.process_time()
                sent = subprocess.run(
                    [*command, *headers, "--data-binary", f"@{path}", f"{running.url}/gradio_api/queue/join"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                answers.add(sent.stdout)
                time.sleep(0.5)
                worst = max(worst, *lags)
                # The server's own CPU (this process; the body worker is a child): what the loop did,
                # apart from the waits a loaded machine adds to the lag.
                cpu = max(cpu, time.process_time() - before)
            print(
                f"{name:32s} {len(body) / 1e6:4.1f}MB answered {','.join(sorted(answers)):4s} "
                f"max lag {worst * 1000:6.1f} ms, server CPU {cpu * 1000:6.1f} ms",
                flush=True,
            )
    finally:
        running.close()


if __name__ == "__main__":
    main()
