"""Run the whole benchmark: ``python -m bench`` (``--quick`` for small sizes while developing).

Starts an asyncio fake provider, byok-chat (app.py, a Groq server key pointed at the fake), a bare
gr.ChatInterface floor and gr.load_chat, each as its own process, then prints Markdown tables.
It never fails on a number: judging them is for whoever reads bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

from bench import client, sections
from bench.loadgen import ClientPool
from bench.procs import WORKDIR, AppSpec, Server, start_app, start_fake
from bench.report import Report

SECTIONS = ("ttft", "concurrency", "long", "memory", "cold", "replicas", "transport")


def machine(report: Report) -> None:
    import gradio
    import httpx
    import openai

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    report.text(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    report.text(f"- machine: {os.cpu_count()} CPUs ({cpu}), `nproc` = {nproc()}")
    report.text(
        f"- Python {platform.python_version()}, gradio {gradio.__version__}, openai {openai.__version__}, "
        f"httpx {httpx.__version__}"
    )
    report.text(f"- load at start: `{uptime()}`; CPU pressure: {pressure()}")
    report.text()


def nproc() -> str:
    return subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()


def pressure() -> str:
    """Share of time some task waited for a CPU (Linux PSI): others' work on a shared machine."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "n/a"
    fields = dict(item.split("=") for item in line.split()[1:])
    return f"some avg10={fields['avg10']}% avg60={fields['avg60']}%"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


async def run(chosen: list[str], sizes: sections.Sizes, report: Report, specs: dict[str, AppSpec]) -> None:
    fake = start_fake()
    apps: dict[str, Server] = {}
    pool: ClientPool | None = None
    http = client.http_client(2000)
    sdk = client.direct_sdk(fake.url, 1000)
    try:
        for name, spec in specs.items():
            apps[name] = await asyncio.to_thread(start_app, spec, fake.url)
        endpoints = {name: await client.discover(http, app.url) for name, app in apps.items()}
        if sizes.client_processes > 1 and any(level >= sizes.split_from for level in sizes.levels):
            pool = ClientPool(sizes.client_processes)
            await asyncio.to_thread(pool.start)
        bench = sections.Bench(fake, apps, endpoints, http, sdk, report, sizes, specs, pool)
        for name in chosen:
            await run_section(bench, name)
    finally:
        if pool is not None:
            pool.stop()
        await http.aclose()
        await sdk.close()
        for app in apps.values():
            app.stop()
        fake.stop()


async def run_section(bench: sections.Bench, name: str) -> None:
    bench.report.text(f"<!-- {name}: started {datetime.datetime.now():%H:%M:%S}, CPU pressure {pressure()} -->")
    if name == "ttft":
        await sections.section_ttft(bench)
    elif name == "concurrency":
        await sections.section_concurrency(bench)
    elif name == "long":
        await sections.section_long(bench)
    elif name == "memory":
        await sections.section_memory(bench)
    elif name == "cold":
        await asyncio.to_thread(sections.section_cold, bench)
    elif name == "replicas":
        await sections.section_replicas(bench)
    elif name == "transport":
        await asyncio.to_thread(sections.section_transport, bench)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="byok-chat speed and scale vs its baselines.")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (about 2 min)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument(
        "--candidate", type=Path, help="another checkout of byok-chat to measure beside this one (a proposed change)"
    )
    parser.add_argument(
        "--candidate-ref", help="a commit of this repository to measure beside this tree (unpacked from git)"
    )
    parser.add_argument(
        "--candidate-env", nargs="*", default=[], metavar="NAME=VALUE", help="extra environment for the candidate"
    )
    parser.add_argument("--levels", type=int, nargs="+", help="simultaneous chats to run (section 2)")
    parser.add_argument("--repeats", type=int, help="repeats per cell (sections 2 and 6)")
    parser.add_argument("--sessions", type=int, help="sessions for the memory section")
    parser.add_argument(
        "--client-processes", type=int, help="client processes for bursts of 100+ chats (default 2; 1: in-process)"
    )
    args = parser.parse_args(argv)
    specs = {name: AppSpec(name) for name in ("byok", "bare", "loadchat")}
    if args.candidate_ref:
        args.candidate = sections.unpack(args.candidate_ref)
    if args.candidate:
        env = tuple(tuple(item.split("=", 1)) for item in args.candidate_env)
        specs["candidate"] = AppSpec("byok", args.candidate.resolve(), env)  # type: ignore[arg-type]
    report = Report()
    report.text(f"# byok-chat benchmark{' (quick sizes)' if args.quick else ''}")
    report.text()
    machine(report)
    started = datetime.datetime.now()
    sizes = sections.QUICK if args.quick else sections.Sizes()
    overrides = {
        "levels": tuple(args.levels or ()),
        "repeats": args.repeats,
        "sessions": args.sessions,
        "client_processes": args.client_processes,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in overrides.items() if v})
    if args.candidate:
        report.text(f"Candidate: {args.candidate} {' '.join(args.candidate_env)}")
        report.text()
    asyncio.run(run(args.only or list(SECTIONS), sizes, report, specs))
    report.text(
        f"Finished in {(datetime.datetime.now() - started).total_seconds():.0f} s; "
        f"load at end: `{uptime()}`; CPU pressure: {pressure()}. App logs: {WORKDIR}"
    )
    if args.out:
        args.out.write_text(report.markdown())


if __name__ == "__main__":
    sys.exit(main())
