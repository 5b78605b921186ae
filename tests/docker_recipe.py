"""Follow the Dockerfile without a Docker engine, as far as a recipe can be followed.

`lay_out` reads the Dockerfile with dockerfile-parse and builds the image's file tree in an empty
folder: the user's home, the WORKDIR, and exactly the files the COPY lines name, taken from the
build context. `python -m tests.docker_recipe` (run under `unshare --net`, so that 0.0.0.0:7860 is
this run's own, with a fresh loopback) starts a fake provider, runs the CMD as UID 1000 with the
Dockerfile's ENV, chats once, and prints what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser

UID = 1000


@dataclass
class Recipe:
    base: str
    user: str
    env: dict[str, str]
    workdir: str
    copies: list[tuple[list[str], str]]  # (sources, destination)
    runs: list[str]
    cmd: list[str]
    exposed: list[str]


def read(dockerfile: Path) -> Recipe:
    parsed = DockerfileParser(path=str(dockerfile))
    user, workdir, cmd = "root", "/", []
    copies: list[tuple[list[str], str]] = []
    runs: list[str] = []
    exposed: list[str] = []
    for step in parsed.structure:
        instruction, value = step["instruction"], step["value"]
        if instruction == "USER":
            user = value.strip()
        elif instruction == "WORKDIR":
            workdir = value.strip()
        elif instruction == "COPY":
            words = [w for w in shlex.split(value) if not w.startswith("--")]
            copies.append((words[:-1], words[-1]))
        elif instruction == "RUN":
            runs.append(value)
        elif instruction == "CMD":
            cmd = json.loads(value)
        elif instruction == "EXPOSE":
            exposed += value.split()
    return Recipe(parsed.baseimage, user, dict(parsed.envs), workdir, copies, runs, cmd, exposed)


def lay_out(recipe: Recipe, context: Path, root: Path) -> Path:
    """The image's files under ``root`` (/home/user becomes root/home/user); returns the WORKDIR.

    COPY as Docker does it: a file into a folder destination ("." or ending in "/") keeps its name,
    a folder's contents go into the destination.
    """
    workdir = root / recipe.workdir.lstrip("/")
    workdir.mkdir(parents=True)
    for sources, dest in recipe.copies:
        target = root / dest.lstrip("/") if dest.startswith("/") else workdir / dest
        into_folder = dest in (".", "./") or dest.endswith("/") or len(sources) > 1
        for source in sources:
            origin = context / source
            if origin.is_dir():
                shutil.copytree(origin, target, dirs_exist_ok=True)
            elif into_folder:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)
    (root / "tmp").mkdir()
    # useradd --create-home and COPY --chown give the user its home and the copied files.
    home = root / recipe.env["HOME"].lstrip("/")
    for path in [home, root / "tmp", *home.rglob("*"), *(root / "tmp").rglob("*")]:
        os.chown(path, UID, UID)
    root.chmod(0o755)
    return workdir


def _listening(port: int) -> list[str]:
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.split()[3].endswith(f":{port}")]


def _files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def _written_elsewhere(since: float, ignore: Path) -> list[str]:
    """Files owned by the app's user, changed since the start, in the places it could write besides
    its home and temp dir (world-writable folders, and the real home of UID 1000 if there is one)."""
    found = []
    for top in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/home"):
        for dirpath, _dirs, files in os.walk(top):
            if Path(dirpath).is_relative_to(ignore):
                continue
            for name in files:
                path = Path(dirpath) / name
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if info.st_uid == UID and info.st_mtime >= since:
                    found.append(str(path))
    return found


def drive(config: dict[str, object]) -> dict[str, object]:
    """Inside a fresh network namespace: fake provider, the app as UID 1000, one chat."""
    from tests import gradio_raw
    from tests.conftest import routed_env
    from tests.fake_provider import FakeProvider

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    root, workdir, python = Path(str(config["root"])), Path(str(config["workdir"])), str(config["python"])
    image_env: dict[str, str] = dict(config["env"])  # type: ignore[arg-type]
    key = str(config["key"])
    fake = FakeProvider().start()
    home = root / image_env["HOME"].lstrip("/")
    env = {
        **image_env,
        "HOME": str(home),
        # The image's python: the venv stands in for the one `pip install --user` filled.
        "PATH": f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin",
        # A container's /tmp is its own; here it is a folder of the image tree.
        "TMPDIR": str(root / "tmp"),
        **routed_env(fake, GROQ_API_KEY=key),
    }
    started = time.time() - 1
    cmd = ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", "--inh-caps=-all", *config["cmd"]]  # type: ignore[list-item]
    log_path = root / "app.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    result: dict[str, object] = {}
    try:
        port = int(image_env["GRADIO_SERVER_PORT"])
        url = f"http://127.0.0.1:{port}"
        from tests.deploy_helpers import wait_until_up

        wait_until_up(url, process, log_path)
        result["listening"] = _listening(port)
        cfg = gradio_raw.config(url)
        chat = gradio_raw.run_event(
            url, gradio_raw.fn_index(cfg, "chat"), gradio_raw.chat_data(cfg, "hi docker", "groq", "m")
        )
        result["chat_ok"] = chat.success
        result["reply"] = str(chat.output)
        result["authorizations"] = [r.authorization for r in fake.chat_requests]
        result["uid"] = int(Path(f"/proc/{process.pid}/status").read_text().split("Uid:")[1].split()[0])
        result["page_has_key"] = key in (gradio_raw.config(url).__repr__() + chat.raw)
    finally:
        process.terminate()
        process.wait(15)
        fake.stop()
    result["home_files"] = _files(home)
    result["tmp_files"] = _files(root / "tmp")
    result["elsewhere"] = _written_elsewhere(started, root)
    result["log"] = log_path.read_text(errors="replace")
    return result


if __name__ == "__main__":
    print(json.dumps(drive(json.loads(sys.stdin.read()))))
