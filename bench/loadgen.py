"""Load from more than one client process, so a big burst measures the app, not the client.

At 200 simultaneous chats one Python client process (httpx, one event loop) used most of a core
and once lost a request to a ``ReadError`` of its own: the load generator was part of what was
measured. :class:`ClientPool` starts worker processes (``python -m bench.loadgen``) ahead of
time; for a burst each gets its share of the chats and a common start time, runs them with the
same raw-queue client as the in-process bench, and reports each chat's result and its own CPU.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench import client
from bench.client import ChatResult, Endpoint


@dataclass
class WorkerReport:
    results: list[ChatResult]
    cpu: float  # seconds of this worker's CPU over its share of the burst
    ended: float  # time.time() when its last chat ended


class ClientPool:
    """``size`` client worker processes, started once and reused for every burst."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._procs: list[subprocess.Popen[str]] = []

    def start(self) -> None:
        for _ in range(self.size):
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.loadgen"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            self._procs.append(proc)
        for proc in self._procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.close()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self._procs.clear()

    async def burst(self, endpoint: Endpoint, plan: str, expected: int, n: int) -> tuple[list[WorkerReport], float]:
        """Run ``n`` chats split over the workers; (their reports, the common start time)."""
        start_at = time.time() + 0.5  # every worker has read its job by then
        shares = [n // self.size + (1 if i < n % self.size else 0) for i in range(self.size)]
        job = {"endpoint": dataclasses.asdict(endpoint), "plan": plan, "expected": expected, "start_at": start_at}
        for proc, share in zip(self._procs, shares, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({**job, "n": share}) + "\n")
        reports = await asyncio.gather(*(asyncio.to_thread(_read_report, p) for p in self._procs))
        return list(reports), start_at


def _read_report(proc: subprocess.Popen[str]) -> WorkerReport:
    assert proc.stdout is not None
    raw = json.loads(proc.stdout.readline())
    return WorkerReport([ChatResult(**r) for r in raw["results"]], raw["cpu"], raw["ended"])


async def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    fields = job["endpoint"]
    endpoint = Endpoint(fields["url"], fields["fn_index"], fields["api_name"], tuple(fields["input_types"]))
    n, plan = job["n"], job["plan"]
    # Connections are opened by the chats themselves, as new visitors' are.
    await asyncio.sleep(max(0.0, job["start_at"] - time.time()))
    cpu_before = time.process_time()
    results = await asyncio.gather(
        *(
            client.chat_raw(
                endpoint,
                message=f"hello {plan}",
                model=plan,
                expected_chunks=job["expected"],
                session_hash=secrets.token_hex(8),
            )
            for _ in range(n)
        )
    )
    ended = time.time()
    cpu = time.process_time() - cpu_before
    return {"results": [dataclasses.asdict(r) for r in results], "cpu": cpu, "ended": ended}


def main() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        report = asyncio.run(_run_job(json.loads(line)))
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
