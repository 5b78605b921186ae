"""The Hugging Face Space path, end to end: requirements.txt alone, the git-tracked files alone, the
variables a Space sets, and the README's front matter read by huggingface_hub's own parser.

Also the start-up of Hugging Face login, which once crashed at once (the OAuth extra was missing),
and `python app.py --check`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest
from huggingface_hub import SpaceCard

from tests import gradio_raw
from tests.conftest import canary, free_port, routed_env
from tests.deploy_helpers import REPO, base_environment, run_app
from tests.fake_provider import FakeProvider
from tests.oidc_provider import OpenIDProvider

SPACE = {"SYSTEM": "spaces", "SPACE_ID": "tester/byok-chat", "SPACE_HOST": "tester-byok-chat.hf.space"}


def pinned_gradio(text: str) -> str:
    match = re.search(r"^gradio(?:\[[a-z,]+\])?==([0-9][0-9.]*)\s*$", text, re.MULTILINE)
    assert match, "gradio must be pinned with == so the Space runs the version we test"
    return match.group(1)


def test_front_matter_is_a_valid_gradio_space_on_the_pinned_gradio() -> None:
    card = SpaceCard.load(REPO / "README.md")
    data = card.data
    assert data.sdk == "gradio"
    assert data.app_file == "app.py" and (REPO / data.app_file).is_file()
    requirements = pinned_gradio((REPO / "requirements.txt").read_text())
    project = pinned_gradio((REPO / "pyproject.toml").read_text().replace('"', "\n").replace(",", "\n"))
    assert data.sdk_version == requirements == project
    import gradio

    assert gradio.__version__ == data.sdk_version, "the tests run on another gradio than the Space would"
    # Gradio's login cannot start without its OAuth extra; a Space installs requirements.txt only.
    assert re.search(r"^gradio\[oauth\]==", (REPO / "requirements.txt").read_text(), re.MULTILINE)


def test_the_deploying_docs_give_the_exact_front_matter_for_login(tmp_path: Path) -> None:
    deploying = (REPO / "docs" / "deploying.md").read_text()
    blocks = re.findall(r"```yaml\n(---\n.*?\n---)\n```", deploying, re.DOTALL)
    login = [block for block in blocks if "hf_oauth" in block]
    assert len(login) == 1, "docs/deploying.md shows one complete front matter for Hugging Face login"
    (tmp_path / "README.md").write_text(login[0] + "\n\n# byok-chat\n")
    data = SpaceCard.load(tmp_path / "README.md").data
    assert data.hf_oauth is True
    assert data.sdk == "gradio" and data.sdk_version == SpaceCard.load(REPO / "README.md").data.sdk_version
    # Apart from the login lines it is the README's own front matter, so it can replace it as is.
    own = SpaceCard.load(REPO / "README.md").data.to_dict()
    assert {k: v for k, v in data.to_dict().items() if not k.startswith("hf_oauth")} == own


def test_space_runs_from_requirements_txt_alone_and_chats(
    deployed_python: Path, tracked_copy: Path, provider: FakeProvider, tmp_path: Path
) -> None:
    key = canary("space")
    port = free_port()
    env = base_environment(
        tmp_path / "home", **SPACE, **routed_env(provider, GROQ_API_KEY=key), GRADIO_SERVER_PORT=str(port)
    )
    assert not (tracked_copy / ".env").exists()
    with run_app(deployed_python, tracked_copy, env, port=port) as app:
        cfg = gradio_raw.config(app.url)
        result = gradio_raw.run_event(
            app.url, gradio_raw.fn_index(cfg, "chat"), gradio_raw.chat_data(cfg, "hello space", "groq", "m")
        )
        assert result.success, result.raw
        assert "You said: hello space" in str(result.output)
        assert [r.authorization for r in provider.chat_requests] == [f"Bearer {key}"]
        page = httpx.get(app.url + "/").text + httpx.get(app.url + "/config").text
        assert key not in page
        log = app.log()
    assert key not in log
    # The one traceback allowed: Gradio's hot-reload watcher on Spaces needs the `spaces` package,
    # which the Spaces platform installs itself and requirements.txt need not; the app serves anyway.
    assert log.count("Traceback") == log.count("`spaces` package is required to run hot-reloading"), log


def test_hugging_face_login_starts_on_a_space_from_a_fresh_install(
    deployed_python: Path, tracked_copy: Path, provider: FakeProvider, tmp_path: Path
) -> None:
    idp = OpenIDProvider(users={}).start()
    try:
        port = free_port()
        env = base_environment(
            tmp_path / "home",
            **SPACE,
            **idp.space_environment(),
            **routed_env(provider, GROQ_API_KEY=canary("server")),
            ALLOWED_HF_USERS="alice",
            GRADIO_SERVER_PORT=str(port),
        )
        with run_app(deployed_python, tracked_copy, env, port=port) as app:
            login = httpx.get(app.url + "/login/huggingface", follow_redirects=False)
            assert login.status_code in (302, 307)
            assert login.headers["location"].startswith(f"{idp.url}/oauth/authorize?")
            assert "client_id=byok-test-client" in login.headers["location"]
            assert idp.authorize_requests == 0  # the browser goes there, not the server
    finally:
        idp.stop()


def test_space_without_hf_oauth_in_the_front_matter_says_what_to_add(
    deployed_python: Path, tracked_copy: Path, tmp_path: Path
) -> None:
    env = base_environment(tmp_path / "home", **SPACE, ALLOWED_HF_ORGS="acme")
    done = subprocess.run(
        [str(deployed_python), "app.py", "--check"], cwd=tracked_copy, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "hf_oauth: true" in done.stderr and "OAUTH_CLIENT_ID" in done.stderr


def test_local_run_never_uses_hf_token_as_a_login(
    deployed_python: Path, tracked_copy: Path, provider: FakeProvider, tmp_path: Path
) -> None:
    """Off a Space, Gradio would log every visitor in as the owner of HF_TOKEN (asking the Hub's whoami
    with it). HF_TOKEN is the server key of the `hf` provider: no login, no whoami, no key shown."""
    hub = FakeProvider().start()  # stands in for the Hub: it must receive nothing
    token = "hf_" + canary("hub").replace("-", "")
    try:
        port = free_port()
        env = base_environment(
            tmp_path / "home",
            **routed_env(provider, HF_TOKEN=token),
            ALLOWED_HF_USERS="alice",
            HF_ENDPOINT=f"http://127.0.0.1:{hub.port}",
            HF_HUB_OFFLINE="0",
            GRADIO_SERVER_PORT=str(port),
        )
        with run_app(deployed_python, tracked_copy, env, port=port) as app:
            assert httpx.get(app.url + "/login/huggingface", follow_redirects=False).status_code == 404
            cfg = gradio_raw.config(app.url)
            assert not [c for c in cfg["components"] if c.get("type") == "loginbutton"]
            # Nobody is logged in, so nobody is on the allow list: the hf provider asks for a key.
            result = gradio_raw.run_event(
                app.url, gradio_raw.fn_index(cfg, "chat"), gradio_raw.chat_data(cfg, "hi", "hf", "some/model")
            )
            assert "Hugging Face users and organisations this app allows" in result.raw, result.raw
            seen = httpx.get(app.url + "/").text + str(cfg) + result.raw
            log = app.log()
        assert token not in seen and token not in log
        assert "not available here, only on a Space" in log
        assert hub.requests == [] and provider.chat_requests == []
    finally:
        hub.stop()


@pytest.mark.parametrize(
    ("extra", "code", "expected"),
    [
        (
            {"GROQ_API_KEY": "gsk_" + "c" * 40, "RATE_LIMIT": "3/minute"},
            0,
            "groq (default): server key from GROQ_API_KEY",
        ),
        # A store that does not answer at start-up is a configuration error, named like any other.
        ({"RATE_LIMIT_STORAGE": "redis://:hunter2secret@127.0.0.1:1"}, 1, "RATE_LIMIT_STORAGE: the counter store at"),
        ({"ACCESS_CODE": "short"}, 1, "ACCESS_CODE"),
    ],
)
def test_check_reports_what_would_run_and_exits_0_or_1(
    deployed_python: Path, tracked_copy: Path, tmp_path: Path, extra: dict[str, str], code: int, expected: str
) -> None:
    env = base_environment(tmp_path / "home", **extra)
    done = subprocess.run(
        [str(deployed_python), "app.py", "--check"],
        cwd=tracked_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == code, out
    assert expected in out
    for value in extra.values():
        if "secret" in value or value.startswith("gsk_"):
            assert value not in out and "hunter2secret" not in out
    if code == 0:
        assert "Rate limit per client on server keys: 3/minute" in out
        assert "Uploads: 200 MB per hour, 1,000 MB per day per client" in out
        assert "Counter storage: memory:// (connected)" in out
        assert "openai: visitors bring their own key" in out
        assert "Check passed." in out
