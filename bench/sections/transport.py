"""7. The provider adapter alone: CPU per chat and per chunk of this tree's ``ChatStream`` against
a baseline tree's, each in a process of its own (bench/transport_probe.py), no Gradio around it.

The baseline is the ``--candidate`` checkout when one is given, else the commit before the openai
SDK became the transport again (``RAW_READER_REF``: the raw SSE reader over our own pool),
unpacked from git. Rounds alternate the two trees, so the machine's load drifts over both alike.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.procs import ROOT, WORKDIR, clean_env
from bench.report import median, num, ratio
from bench.sections.common import Bench

# The last commit whose adapter read the stream as raw SSE over its own pool, without the SDK.
RAW_READER_REF = "7d6518723da30c9fd47eddfb73c8ac0718713576"
SHORT, LONG = "chunks-20-0", "chunks-2000-0"


def unpack(ref: str) -> Path:
    """The tree of ``ref`` from this repository's git history, in a fresh folder."""
    where = WORKDIR / f"tree-{ref[:12]}"
    if not where.exists():
        where.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def probe(tree: Path, fake_url: str, chats: int) -> dict[str, float]:
    """CPU seconds per chat for each plan, measured in a process importing ``tree``'s packages."""
    command = [sys.executable, str(ROOT / "bench" / "transport_probe.py"), "--fake", fake_url]
    command += ["--plans", SHORT, LONG, "--chats", str(chats), "--repeats", "1"]
    out = subprocess.run(command, cwd=tree, env=clean_env(PYTHONPATH=str(tree)), check=True, capture_output=True)
    found = json.loads(out.stdout.decode().strip().splitlines()[-1])
    imported = Path(found["providers"]).resolve()
    if not imported.is_relative_to(tree.resolve()):
        raise RuntimeError(f"the probe for {tree} measured {imported} instead")
    return found["cpu_per_chat"]


def section_transport(b: Bench) -> None:
    r = b.report
    candidate = b.specs.get("candidate")
    baseline = candidate.root if candidate is not None else unpack(RAW_READER_REF)
    trees = {"this tree": ROOT, "baseline": baseline}
    chats, rounds = b.sizes.transport_chats, b.sizes.transport_rounds
    r.text(f"## 7. The provider adapter alone, one chat at a time ({rounds} rounds of {chats} chats per reply size)")
    r.text()
    found: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for round_ in range(rounds):
        order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
        for name in order:
            found[name].append(probe(trees[name], b.fake.url, chats))
    per_chat = {name: median(x[SHORT] for x in runs) for name, runs in found.items()}
    per_chunk = {name: median((x[LONG] - x[SHORT]) / 1980 for x in runs) for name, runs in found.items()}
    rows = [
        [
            name,
            str(trees[name]),
            num(per_chat[name] * 1e6, 0),
            num(median(x[LONG] for x in found[name]) * 1e3, 2),
            num(per_chunk[name] * 1e6, 1),
        ]
        for name in trees
    ]
    r.table(["adapter", "tree", f"CPU µs per chat ({SHORT})", f"CPU ms per chat ({LONG})", "marginal µs/chunk"], rows)
    r.table(
        ["", "per chat", "per chunk"],
        [["this tree vs baseline", ratio(per_chat["this tree"], per_chat["baseline"]),
          ratio(per_chunk["this tree"], per_chunk["baseline"])]],
    )  # fmt: skip
    r.text("Medians over the rounds. CPU is the probe process's own (time.process_time) over a batch of chats")
    r.text("against the bench fake, after a warm-up batch; marginal = (2,000-chunk chat - 20-chunk chat) / 1,980.")
    r.text()
