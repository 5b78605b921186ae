"""Soak: many chats from many clients against the real app, with upstream failures mixed in.

    python -m bench.soak            # 2,000 chats, 50 clients, 10% failing upstream; stops by itself

The app runs as a subprocess (``python app.py``), so its RSS, threads and file descriptors are
its own; the fake provider runs here. Half the chats use the server key, half bring a unique
visitor key in the X-Provider-Key header. Checked afterwards:

- every successful chat's text is exactly the fake's echo of that chat's own message;
- every failing chat failed the way its fault should (a fixed message, or a partial reply
  marked as cut off), with no provider text in it;
- no key (server or visitor) in any response or in the app's log; no traceback in the log;
- the fake provider has no request or stream left open; the app still answers;
- RSS, threads, fds and sockets of the app: after warm-up, right after the run, and after idling.

Options: --chats (per round), --rounds, --clients, --chats-per-session, --fail-rate, --word-ms
(pace of the fake's words), --max-seconds (hard stop for each round).

Reading the RSS line: Gradio keeps every session's state in memory (a copy of every component's
config per session, up to 10,000 sessions) and ChatInterface keeps a session's whole history, of
which only the newest turns are sent upstream. So RSS grows with new sessions and with chats per
session; a leak shows as growth that does not track those (compare --chats-per-session 0 with the
default, and one round with two). Threads and fds must return to the warm-up level once settled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conversation.text import CUT_OFF_MARK  # noqa: E402
from tests.fake_provider import FakeProvider  # noqa: E402

# Fault models and how each must end: "error" (a fixed message) or "cut" (partial + mark).
# REQUEST_TIMEOUT is 2 s here, so "stall" and "hang" cost 2 s each, not a minute.
FAULTS = {
    "status-500": "error",
    "status-503": "error",
    "status-429": "error",
    "nonjson-502": "error",
    "echo-key-401": "error",
    "hang": "error",
    "empty": "error",
    "reset": "cut",
    "drop": "cut",
    "stall": "cut",
    "cutoff": "cut",
    "malformed": "cut",
    "error-event-echo": "cut",
}
_CLEARED = re.compile(
    r".*_API_KEY|.*_BASE_URL|HF_TOKEN|OPENAI_.*|CUSTOM_.*|DEFAULT_(PROVIDER|MODEL)|SYSTEM_PROMPT"
    r"|REQUEST_TIMEOUT|ACCESS_CODE.*|RATE_LIMIT.*|DAILY_TOKEN_LIMIT|TRUSTED_PROXIES|ALLOW_.*"
    r"|ALLOWED_HF_.*|GRADIO_.*|MAX_.*|UPLOAD_LIMIT_MB|CONCURRENCY_LIMIT|QUEUE_MAX_SIZE"
)
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
]


@dataclass
class Chat:
    number: int
    model: str
    message: str
    visitor_key: str | None
    expect: str  # "ok", "error" or "cut"


@dataclass
class Outcome:
    chat: Chat
    seconds: float
    success: bool = False
    text: str | None = None
    error: str | None = None
    raw: str = ""
    problem: str | None = None


@dataclass
class Sample:
    label: str
    rss_mb: float
    threads: int
    fds: int
    sockets: dict[str, int] = field(default_factory=dict)


# --- the app process -------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(fake_port: int, server_key: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not _CLEARED.fullmatch(k)}
    env.update(
        GROQ_API_KEY=server_key,
        GROQ_BASE_URL=f"http://127.0.0.1:{fake_port}/groq/v1",
        OPENAI_BASE_URL=f"http://127.0.0.1:{fake_port}/openai/v1",
        REQUEST_TIMEOUT="2",
        RATE_LIMIT="off",  # the soak measures the chat path, not the quotas
        DAILY_TOKEN_LIMIT="0",
        MAX_CHATS_PER_CLIENT="10000",  # its 50 clients all come from loopback
        PYTHONUNBUFFERED="1",
    )
    log_path = workdir / "app.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port)],
        cwd=workdir,  # no stray .env
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app exited at start-up; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/config", timeout=2).status_code == 200:
                return process, port, log_path
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit("the app did not start within 60 s")


def stop_app(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def sample(pid: int, label: str, app_port: int, fake_port: int) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    fd_dir = Path(f"/proc/{pid}/fd")
    inodes = set()
    fds = 0
    for fd in fd_dir.iterdir():
        fds += 1
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return Sample(label, rss_kb / 1024, threads, fds, _classify_sockets(inodes, app_port, fake_port))


def _classify_sockets(inodes: set[str], app_port: int, fake_port: int) -> dict[str, int]:
    """Which of the app's sockets are listening, serving clients, or talking to the provider."""
    kinds: Counter[str] = Counter()
    seen = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            inode = cols[9]
            if inode not in inodes:
                continue
            seen.add(inode)
            local_port = int(cols[1].rsplit(":", 1)[1], 16)
            remote_port = int(cols[2].rsplit(":", 1)[1], 16)
            if cols[3] == "0A":
                kinds["listening"] += 1
            elif remote_port == fake_port:
                kinds["to provider"] += 1
            elif local_port == app_port:
                kinds["from clients"] += 1
            else:
                kinds["other tcp"] += 1
    kinds["non-tcp"] = len(inodes - seen)
    return dict(kinds)


# --- the clients -----------------------------------------------------------------------------


def plan(chats: int, clients: int, fail_rate: float, word_ms: int, rng: random.Random) -> list[Chat]:
    fault_models = list(FAULTS)
    failing = set(rng.sample(range(chats), round(chats * fail_rate)))
    planned = []
    for n in range(chats):
        message = f"soak {n} " + " ".join(rng.choices(WORDS, k=10))
        if n in failing:
            model = fault_models[n % len(fault_models)]
            expect = FAULTS[model]
        else:
            model, expect = f"echo-{word_ms}", "ok"
        visitor = f"sk-canary-soak-{secrets.token_hex(12)}" if n % 2 else None
        planned.append(Chat(n, model, message, visitor, expect))
    return planned


async def run_chat(client: httpx.AsyncClient, url: str, index: int, chat: Chat, session: str) -> Outcome:
    provider = "openai" if chat.visitor_key else "groq"
    data = [chat.message, None, provider, chat.model, "Be brief.", 0.5, 256, None]
    headers = {"X-Provider-Key": chat.visitor_key} if chat.visitor_key else {}
    started = time.monotonic()
    outcome = Outcome(chat, 0.0)
    payload = {"data": data, "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None}
    try:
        joined = await client.post(f"{url}/gradio_api/queue/join", json=payload, headers=headers)
        if joined.status_code != 200:
            outcome.problem = f"join answered {joined.status_code}"
            return outcome
        event_id = joined.json()["event_id"]
        params = {"session_hash": session}
        async with client.stream("GET", f"{url}/gradio_api/queue/data", params=params) as stream:
            async for line in stream.aiter_lines():
                outcome.raw += line + "\n"
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("event_id") not in (None, event_id):
                    continue  # another chat of the same session, on the same stream
                if event.get("msg") == "process_completed":
                    outcome.success = bool(event.get("success"))
                    output = event.get("output") or {}
                    outcome.text = (output.get("data") or [None])[0]
                    outcome.error = output.get("error")
                    break
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        outcome.problem = f"client error {type(exc).__name__}"
    finally:
        outcome.seconds = time.monotonic() - started
    return outcome


def judge(outcome: Outcome, keys: list[str]) -> None:
    """Set outcome.problem when the chat did not end the way its plan says."""
    chat = outcome.chat
    if outcome.problem:
        return
    if any(key in outcome.raw for key in keys):
        outcome.problem = "a key in the response"
    elif "Traceback" in outcome.raw or "upstream exploded" in outcome.raw:
        outcome.problem = "provider text or a traceback in the response"
    elif chat.expect == "ok":
        if not outcome.success or outcome.text != f"You said: {chat.message}":
            outcome.problem = f"text not intact: {str(outcome.text)[:80]!r} / {outcome.error!r}"
    elif chat.expect == "cut":
        if not (outcome.success and isinstance(outcome.text, str) and outcome.text.endswith(CUT_OFF_MARK)):
            outcome.problem = f"expected a marked partial reply: {outcome.error or outcome.text!r}"
    elif outcome.success or not outcome.error:
        outcome.problem = f"expected a fixed error message: {str(outcome.text)[:80]!r}"


async def drive(url: str, chats: list[Chat], clients: int, deadline: float, per_session: int = 10) -> list[Outcome]:
    cfg = httpx.get(f"{url}/config", timeout=10).json()
    index = next(d["id"] for d in cfg["dependencies"] if d.get("api_name") == "chat")
    queue: asyncio.Queue[Chat] = asyncio.Queue()
    for chat in chats:
        queue.put_nowait(chat)
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=clients * 3, max_keepalive_connections=clients * 2)

    async def worker(client: httpx.AsyncClient) -> None:
        # One visitor: chats one after another in a session, a fresh session every per_session.
        done = 0
        session = secrets.token_hex(8)
        while not queue.empty() and time.monotonic() < deadline:
            chat = queue.get_nowait()
            outcomes.append(await run_chat(client, url, index, chat, session))
            done += 1
            if per_session and done % per_session == 0:
                session = secrets.token_hex(8)

    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return outcomes


# --- the run ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=2000, help="chats per round")
    parser.add_argument("--rounds", type=int, default=1, help="rounds against the same app process")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--chats-per-session", type=int, default=10, help="a client starts a new session after this many (0: never)"
    )
    parser.add_argument("--fail-rate", type=float, default=0.10)
    parser.add_argument("--word-ms", type=int, default=150, help="delay between the fake's words")
    parser.add_argument("--max-seconds", type=float, default=900, help="hard stop for each round")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    server_key = f"sk-canary-soak-server-{secrets.token_hex(12)}"
    fake = FakeProvider().start()
    workdir = Path(tempfile.mkdtemp(prefix="byok-soak-"))
    process, port, log_path = start_app(fake.port, server_key, workdir)
    url = f"http://127.0.0.1:{port}"
    samples: list[Sample] = []
    chats: list[Chat] = []
    outcomes: list[Outcome] = []
    elapsed = 0.0
    idle_ok = True

    def settled(label: str) -> None:
        # AnyIO retires a worker thread idle for 10 s, but only when the next job arrives: wait,
        # then run two chats one after the other, then look.
        time.sleep(11)
        asyncio.run(drive(url, plan(2, 1, 0.0, 0, rng), 1, time.monotonic() + 30))
        time.sleep(0.5)
        samples.append(sample(process.pid, label, port, fake.port))

    try:
        warm = plan(100, args.clients, 0.0, 0, rng)
        warm_out = asyncio.run(drive(url, warm, args.clients, time.monotonic() + 120))
        failed = [o for o in warm_out if not o.success]
        if failed or len(warm_out) != len(warm):
            first = failed[0] if failed else None
            detail = f"{first.problem or first.error or first.raw[-300:]}" if first else "not all ran"
            raise SystemExit(f"{len(failed)} of {len(warm)} warm-up chats failed: {detail}")
        settled("after warm-up")
        for round_number in range(1, args.rounds + 1):
            batch = plan(args.chats, args.clients, args.fail_rate, args.word_ms, rng)
            started = time.monotonic()
            deadline = started + args.max_seconds
            outcomes += asyncio.run(drive(url, batch, args.clients, deadline, args.chats_per_session))
            elapsed += time.monotonic() - started
            chats += batch
            samples.append(sample(process.pid, f"round {round_number}, at once", port, fake.port))
            idle_ok = fake.wait_idle(10.0) and idle_ok
            settled(f"round {round_number}, settled")
        after = asyncio.run(drive(url, plan(20, 5, 0.0, 0, rng), 5, time.monotonic() + 60))
    finally:
        stop_app(process)
        fake.stop()

    keys = [server_key] + [c.visitor_key for c in chats if c.visitor_key]
    for outcome in outcomes:
        judge(outcome, keys)
    log_text = log_path.read_text(errors="replace")
    report(args, chats, outcomes, elapsed, samples, idle_ok, after, log_text, keys)
    problems = [o for o in outcomes if o.problem]
    missing = len(chats) - len(outcomes)
    return 1 if problems or missing or not idle_ok else 0


def report(
    args: argparse.Namespace,
    chats: list[Chat],
    outcomes: list[Outcome],
    elapsed: float,
    samples: list[Sample],
    idle_ok: bool,
    after: list[Outcome],
    log_text: str,
    keys: list[str],
) -> None:
    ok = [o for o in outcomes if o.chat.expect == "ok"]
    failing = [o for o in outcomes if o.chat.expect != "ok"]
    problems = [o for o in outcomes if o.problem]
    times = sorted(o.seconds for o in ok) or [0.0]
    rows = [
        ("chats planned / finished", f"{len(chats)} / {len(outcomes)}"),
        ("clients", str(args.clients)),
        ("wall time", f"{elapsed:.1f} s ({len(outcomes) / max(elapsed, 1e-9):.1f} chats/s)"),
        ("healthy chats, text intact", f"{sum(not o.problem for o in ok)} / {len(ok)}"),
        ("failing upstream, ended as planned", f"{sum(not o.problem for o in failing)} / {len(failing)}"),
        (
            "healthy chat seconds p50 / p95 / max",
            f"{statistics.median(times):.2f} / {times[int(len(times) * 0.95) - 1]:.2f} / {times[-1]:.2f}",
        ),
        ("keys in responses", str(sum(o.problem == "a key in the response" for o in outcomes))),
        ("keys in the app log", str(sum(key in log_text for key in keys))),
        ("tracebacks in the app log", str(log_text.count("Traceback"))),
        ("provider idle afterwards", "yes" if idle_ok else "NO"),
        ("chats after the soak", f"{sum(o.success for o in after)} / {len(after)} ok"),
    ]
    width = max(len(r[0]) for r in rows)
    print("\nbyok-chat soak")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"\n  {'app process':<22}{'RSS MB':>9}{'threads':>9}{'fds':>6}  sockets")
    for s in samples:
        sockets = ", ".join(f"{k} {v}" for k, v in sorted(s.sockets.items()))
        print(f"  {s.label:<22}{s.rss_mb:>9.1f}{s.threads:>9}{s.fds:>6}  {sockets}")
    first, last = samples[0], samples[-1]
    print(
        f"  {'growth (last - warm)':<22}{last.rss_mb - first.rss_mb:>+9.1f}{last.threads - first.threads:>+9}"
        f"{last.fds - first.fds:>+6}"
    )
    by_model = Counter((o.chat.model, "ok" if not o.problem else "PROBLEM") for o in failing)
    print(
        "\n  faults: "
        + ", ".join(f"{m} {n}" + ("" if r == "ok" else " PROBLEM") for (m, r), n in sorted(by_model.items()))
    )
    for o in problems[:10]:
        print(f"  problem: chat {o.chat.number} ({o.chat.model}): {o.problem}")


if __name__ == "__main__":
    raise SystemExit(main())
