"""What images cost: the app's extra CPU per chat for a 1 MB photo, and for a 10-turn chat that
carries 4 of them, next to text-only chats measured in the same run.

    python -m bench.images              # 5 repeats of each case, about a minute
    python -m bench.images --repeats 10

byok-chat runs as its own process (bench/procs.py) against the benchmark's fake provider; the CPU
figures are that process's user + system time around each case, divided by the chats in it. Every
case is a new browser session (a page load for the cookie, then uploads and queue calls the way the
page makes them). For the multi-turn cases the client sends the chat's history before each turn, as
the page does, with the uploaded images in it as file parts; the app re-sends them upstream from its
own encoded copies.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import secrets
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from bench.procs import AppSpec, Server, start_app, start_fake
from bench.report import Report, num

MODEL = "chunks-20-1"  # an unknown model: images go through, and the provider (the fake) decides


def photo(seed: int) -> bytes:
    """A 2400x1800 JPEG of about 1 MB: smooth colour fields with fine grain, which compresses about
    as well as a photo. Its long edge is over the app's limit, so the downscaling is measured too."""
    rng = random.Random(seed)
    fields = Image.frombytes("RGB", (400, 300), rng.randbytes(400 * 300 * 3)).resize((2400, 1800), Image.BICUBIC)
    grain = Image.frombytes("L", (2400, 1800), rng.randbytes(2400 * 1800)).convert("RGB")
    out = io.BytesIO()
    Image.blend(fields, grain, 0.06).save(out, "JPEG", quality=72)
    return out.getvalue()


@dataclass
class Session:
    url: str
    cookie: str
    session_hash: str
    cfg: dict[str, Any]
    http: httpx.Client

    @classmethod
    def open(cls, url: str, http: httpx.Client) -> Session:
        page = http.get(f"{url}/", headers={"accept": "text/html", "sec-fetch-mode": "navigate"})
        names = ("__Host-byok_browser=", "byok_browser=")
        cookie = next(h.split(";", 1)[0] for h in page.headers.get_list("set-cookie") if h.startswith(names))
        cfg = http.get(f"{url}/config", headers={"cookie": cookie}).json()
        return cls(url, cookie, secrets.token_hex(6), cfg, http)

    def index(self, match: Any) -> int:
        kinds = {c["id"]: c["type"] for c in self.cfg["components"]}
        for dep in self.cfg["dependencies"]:
            if match(dep, [kinds[i] for i in dep["inputs"]], [kinds[i] for i in dep["outputs"]]):
                return int(dep["id"])
        raise LookupError("no such event")

    def upload(self, name: str, data: bytes) -> dict[str, Any]:
        response = self.http.post(
            f"{self.url}/gradio_api/upload",
            files={"files": (name, data, "image/jpeg")},
            headers={"cookie": self.cookie},
        )
        response.raise_for_status()
        return {"path": response.json()[0], "meta": {"_type": "gradio.FileData"}}

    def event(self, index: int, data: list[Any]) -> list[Any]:
        payload = {"data": data, "fn_index": index, "session_hash": self.session_hash}
        headers = {"cookie": self.cookie}
        joined = self.http.post(f"{self.url}/gradio_api/queue/join", json=payload, headers=headers)
        joined.raise_for_status()
        params = {"session_hash": self.session_hash}
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data", params=params, headers=headers) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:") and '"process_completed"' in line:
                    done = json.loads(line[5:])
                    if not done.get("success"):
                        raise RuntimeError(f"the chat failed: {done.get('output')}")
                    return list(done["output"]["data"])
        raise RuntimeError("the event stream ended early")

    def chat(self, text: str, files: list[dict[str, Any]]) -> str:
        index = self.index(lambda dep, _i, _o: dep.get("api_name") == "chat")
        data = [{"text": text, "files": files}, None, "groq", MODEL, "Be brief.", 0.7, 256, None]
        return str(self.event(index, data)[0])

    def send_history(self, history: list[dict[str, Any]]) -> None:
        index = self.index(lambda dep, i, o: dep.get("backend_fn") and i == ["chatbot"] and o == ["state", "state"])
        self.event(index, [history])


def run_case(app: Server, turns: int, images: list[bytes], repeats: int) -> list[float]:
    """CPU seconds of the app per chat, one value per repeat (each a new session)."""
    per_chat: list[float] = []
    with httpx.Client(timeout=60) as http:
        for _ in range(repeats):
            session = Session.open(app.url, http)
            history: list[dict[str, Any]] = []
            before = app.cpu()
            for turn in range(turns):
                files = [session.upload(f"photo-{turn}.jpg", images[turn])] if turn < len(images) else []
                if history:
                    session.send_history(history)
                text = f"turn {turn}"
                reply = session.chat(text, files)
                history += [{"role": "user", "content": [{"type": "file", "file": f}]} for f in files]
                history += [
                    {"role": "user", "content": [{"type": "text", "text": text}]},
                    {"role": "assistant", "content": [{"type": "text", "text": reply}]},
                ]
            per_chat.append((app.cpu() - before) / turns)
    return per_chat


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    photos = [photo(seed) for seed in range(4)]
    fake = start_fake()
    app = start_app(AppSpec("byok"), fake.url)
    try:
        run_case(app, 2, photos[:1], 1)  # warm up: imports (Pillow), pools, first session
        cases = [
            ("1 turn, text only", 1, []),
            ("1 turn, one 1 MB photo", 1, photos[:1]),
            ("10 turns, text only", 10, []),
            ("10 turns carrying 4 photos (turns 1-4 attach one each)", 10, photos),
        ]
        results: dict[str, float] = {}
        # Interleaved round by round, so load drift on a shared machine hits every case alike.
        samples: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        for _ in range(args.repeats):
            for name, turns, images in cases:
                samples[name] += run_case(app, turns, images, 1)
        for name, values in samples.items():
            results[name] = statistics.median(values)
        _encode_once(photos[0])  # imports Pillow's plugins
        started = time.process_time()
        _encode_once(photos[1])
        encode_ms = (time.process_time() - started) * 1000
    finally:
        app.stop()
        fake.stop()

    report = Report()
    sizes = ", ".join(num(len(p) / 1e6) for p in photos)
    report.text(f"Photos: {len(photos)} JPEGs, 2400x1800, of {sizes} MB (sent at 1568x1176); model {MODEL}.")
    report.text(f"Repeats: {args.repeats}, medians shown; app CPU per chat in ms.")
    report.text()
    base_1, base_10 = results["1 turn, text only"], results["10 turns, text only"]
    rows = []
    for name, value in results.items():
        baseline = base_1 if name.startswith("1 turn") else base_10
        extra = value - baseline
        rows.append((name, num(value * 1000, 1), "-" if value is baseline else num(extra * 1000, 1)))
    report.table(("case", "CPU per chat (ms)", "extra vs text only (ms)"), rows)
    report.text()
    report.text(f"Checking and encoding one photo on its own, in this process: {num(encode_ms, 1)} ms of CPU.")


def _encode_once(data: bytes) -> None:
    import tempfile

    from conversation.attachments import read_attachment

    with tempfile.NamedTemporaryFile(suffix=".jpg") as handle:
        handle.write(data)
        handle.flush()
        read_attachment(handle.name, max_image_bytes=10_000_000, max_file_bytes=10_000_000)


if __name__ == "__main__":
    main()
