from __future__ import annotations

import ast
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Gradio's temp dir defaults to one folder per machine, shared with every other run (and the app's
# earlier runs): give each test run its own, so what a test finds there is what this run wrote.
# pytest-xdist's workers inherit the controller's environment, so each process then takes a folder
# of its own inside it: a leak test reads only what its own worker wrote.
os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="byok-test-gradio-"))
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(
    prefix=f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-", dir=os.environ["GRADIO_TEMP_DIR"]
)

from playwright.sync_api import Browser, sync_playwright

from config.settings import Settings, load_settings
from conversation.service import ChatService
from providers import PROVIDERS
from tests.browser_helpers import LAUNCH_ARGS, VIEWPORT, ChatPage, chromium_path
from tests.fake_provider import FakeProvider


def _serialise_ast_parse() -> None:
    """CPython (seen on 3.11) keeps the AST builder's recursion depth in shared state, so two threads parsing
    at once can fail with "SystemError: AST constructor recursion depth mismatch" (CPython
    gh-106905). Here that happens when pytest formats a traceback while an app thread prints one
    (3.11's traceback module parses source to place its carets); one lock makes it impossible."""
    parse = ast.parse
    lock = threading.Lock()

    def serialised(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    ast.parse = serialised  # type: ignore[assignment]


_serialise_ast_parse()

# Variables that could make a test pass for the wrong reason: keys, URLs and gates from the
# developer's own shell.
_CLEARED = re.compile(
    r".*_API_KEY|.*_BASE_URL|HF_TOKEN|OPENAI_.*|CUSTOM_.*|DEFAULT_(PROVIDER|MODEL)|SYSTEM_PROMPT"
    r"|REQUEST_TIMEOUT|ACCESS_CODE.*|RATE_LIMIT.*|DAILY_TOKEN_LIMIT|TRUSTED_PROXIES|ALLOW_.*"
    r"|ALLOWED_HF_.*|GRADIO_SERVER_(NAME|PORT)|MAX_.*|UPLOAD_LIMIT_MB|CONCURRENCY_LIMIT|QUEUE_MAX_SIZE|SPACE_(ID|HOST)"
    r"|.*_MODELS|MODEL_LIST_TTL|SAVE_HISTORY|EXAMPLES|MODEL_PRICES|DAILY_SPEND_LIMIT|SPEND_LIMIT"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if _CLEARED.fullmatch(name):
            monkeypatch.delenv(name)
    # No stray .env from the working tree.
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeProvider]:
    server = FakeProvider().start()
    yield server
    server.stop()


@pytest.fixture
def provider(fake: FakeProvider) -> FakeProvider:
    fake.reset()
    return fake


def canary(kind: str) -> str:
    """A unique key-shaped value, so a hit anywhere can only come from this test."""
    return f"sk-canary-{kind}-{secrets.token_hex(12)}"


def routed_env(fake: FakeProvider, **extra: str) -> dict[str, str]:
    """Every provider pointed at the fake server under its own path prefix (/<id>/v1)."""
    env = {p.base_url_env: f"http://127.0.0.1:{fake.port}/{p.id}/v1" for p in PROVIDERS}
    # An ungated server key gets default quotas; tests of other things must not trip them, nor
    # the cap on one client's chats at once (every test client is loopback). Quota tests set
    # their own values.
    env.update(RATE_LIMIT="off", DAILY_TOKEN_LIMIT="0", MAX_CHATS_PER_CLIENT="10000")
    env.update(extra)
    return env


@pytest.fixture
def settings_for(provider: FakeProvider) -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        return load_settings(routed_env(provider, **env), dotenv_path=None)

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    settings: Settings
    demo: Any
    service: ChatService

    def close(self) -> None:
        self.demo.close()


def start_app(settings: Settings) -> RunningApp:
    """The app built and launched the way app.py does it, on a free port. Close with .close()."""
    import app

    service = ChatService(settings)
    demo = app.build_demo(service)
    for attempt in range(3):
        port = free_port()
        try:
            demo.launch(
                server_name="127.0.0.1",
                server_port=port,
                prevent_thread_lock=True,
                quiet=True,
                **app.launch_options(service),
            )
            break
        except OSError:
            # Another process (a second pytest-xdist worker) bound the port between free_port()
            # and the launch: take another.
            if attempt == 2:
                raise
    return RunningApp(url=f"http://127.0.0.1:{port}", settings=settings, demo=demo, service=service)


@pytest.fixture(scope="module")
def apps(fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningApp]]:
    """Apps by environment (every provider routed to the fake), launched once per module and
    shared by its tests. app.py is imported with nothing from the developer's shell in the
    environment or the working directory."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if _CLEARED.fullmatch(name):
                mp.delenv(name)
        mp.chdir(tmp_path_factory.mktemp("import"))
        import app  # noqa: F401
    started: dict[tuple[tuple[str, str], ...], RunningApp] = {}

    def get(**env: str) -> RunningApp:
        key = tuple(sorted(env.items()))
        if key not in started:
            started[key] = start_app(load_settings(routed_env(fake, **env), dotenv_path=None))
        return started[key]

    yield get
    for running in started.values():
        running.close()


@pytest.fixture
def launch() -> Iterator[Callable[[Settings], RunningApp]]:
    started: list[RunningApp] = []

    def start(settings: Settings) -> RunningApp:
        started.append(start_app(settings))
        return started[-1]

    yield start
    for running in started:
        running.close()


@pytest.fixture(scope="session")
def deployed_python() -> Iterator[Path]:
    """A fresh venv with requirements.txt alone, as a Space or the Docker image installs it.

    Made once per test run and shared: the install is the slow part (25-90 s on two cores,
    depending on load). BYOK_TEST_VENV names an existing one to reuse while working on these tests.
    """
    from tests.deploy_helpers import REPO, make_venv

    reuse = os.environ.get("BYOK_TEST_VENV")
    if reuse and os.environ.get("CI") != "true":
        yield Path(reuse) / "bin" / "python"
        return
    # Readable by everyone (pytest's own temp folders are not): the Docker-recipe test runs it as an
    # unprivileged user.
    where = Path(tempfile.mkdtemp(prefix="byok-venv-"))
    where.chmod(0o755)
    try:
        yield make_venv(where / "venv", REPO / "requirements.txt")
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="session")
def tracked_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The git-tracked files only, as a Space clones them; tests must not write into it."""
    from tests.deploy_helpers import copy_tracked

    return copy_tracked(tmp_path_factory.mktemp("space") / "app")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (Debian's; see tests/browser_helpers.py)."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def tabs(browser: Browser) -> Iterator[Callable[[str], ChatPage]]:
    """Open the app in a fresh browser context each call (a new visitor): no cookie, storage or
    session carries over."""
    contexts = []

    def open_tab(url: str) -> ChatPage:
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        contexts.append(context)
        return ChatPage(context.new_page(), url).open()

    yield open_tab
    for context in contexts:
        context.close()


# The fast inner loop is `pytest -m "not slow"`: everything that drives Chromium, builds a deploy
# venv, starts nginx or LiteLLM, or soaks is marked slow here, from its marker or its folder.
_SLOW_MARKERS = frozenset({"browser", "gateway", "serial", "slow", "soak"})
_SLOW_FOLDERS = frozenset({"deploy"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.parent.name
        if folder in _SLOW_FOLDERS or _SLOW_MARKERS & {mark.name for mark in item.iter_markers()}:
            item.add_marker(pytest.mark.slow)
