"""Running byok-chat the way it is deployed: a fresh venv from requirements.txt, a copy of the
git-tracked files, and `python app.py` as its own process with only the environment we give it.

The venv is made once per test run (installing gradio and its dependencies takes ~25-35 s here)
and shared by every test that needs it: the Space, login, Docker-recipe and replica tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests import REPO

# Long enough for a cold start in a fresh venv (byte-compiling gradio) on two busy cores.
START_SECONDS = 120


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True, text=True).stdout.split(
        "\0"
    )
    return [name for name in out if name and (REPO / name).is_file()]


def copy_tracked(dest: Path) -> Path:
    """What a Space clones, or a Docker build context minus .dockerignore: the git-tracked files only."""
    for name in tracked_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return dest


# The system's interpreter when there is one: a venv made from it can be run by an unprivileged
# user (the Docker-recipe test), which a venv of an interpreter under /root cannot.
BASE_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def make_venv(where: Path, requirements: Path) -> Path:
    """A fresh venv with requirements.txt alone installed; returns its python."""
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", "--clear", str(where)], check=True)
    python = where / "bin" / "python"
    # The test runner's own pip installs into the new venv (--python): no second pip to bootstrap,
    # and pip's usual cache serves what it already downloaded. pip byte-compiles as it installs, so
    # that every start, also as a user who may not write into the venv, finds compiled modules.
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run(
        [*pip, "install", "--quiet", "-r", str(requirements)],
        check=True,
        capture_output=True,
        text=True,
    )
    return python


def base_environment(home: Path, **extra: str) -> dict[str, str]:
    """A clean process environment: none of the developer's keys, tokens or proxies leak in."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home / "tmp"),
        "PYTHONUNBUFFERED": "1",
        # Never reach the real Hub from a test, whatever a library tries.
        "HF_HUB_OFFLINE": "1",
    }
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(extra)
    return env


@dataclass
class AppProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path, path: str = "/config") -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(url + path, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the app did not answer within {START_SECONDS} s:\n{log_path.read_text()[-4000:]}")


@contextmanager
def run_app(
    python: Path | str,
    cwd: Path,
    env: Mapping[str, str],
    *,
    port: int,
    args: tuple[str, ...] = (),
    ready_path: str = "/config",
    prefix: list[str] | None = None,
    host: str = "127.0.0.1",
) -> Iterator[AppProcess]:
    """`python app.py` in ``cwd`` with exactly ``env``; stopped (and its log kept) on exit."""
    log_path = Path(env["HOME"]) / f"app-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*(prefix or []), str(python), "app.py", *args],
            cwd=cwd,
            env=dict(env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://{host}:{port}"
    try:
        wait_until_up(url, process, log_path, ready_path)
        yield AppProcess(url=url, process=process, log_path=log_path)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def read_all(path: Path) -> str:
    """Every file under ``path`` as one text (for "no key was written here")."""
    chunks = []
    for file in path.rglob("*"):
        if file.is_file() and not file.is_symlink():
            try:
                chunks.append(file.read_bytes().decode("latin-1"))
            except OSError:
                continue
    return "\n".join(chunks)


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()} if path.exists() else set()
