"""byok-chat: a chat UI for any OpenAI-compatible provider that never leaks an API key.

The entry point: read the configuration (config/), build the page (ui/) and serve it. The map of
the packages is docs/architecture.md; only ui/ imports Gradio.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import logging
import os
import signal
import sys
from types import FrameType

# Before Gradio is imported: these defaults also hold under `gradio app.py` (reload mode). The
# operator can still turn either on in the environment.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_RUN_HISTORY", "False")
# uvicorn would otherwise rewrite the client address from X-Forwarded-For for any loopback peer;
# byok-chat reads forwarded headers itself, only from the proxies in TRUSTED_PROXIES.
os.environ["FORWARDED_ALLOW_IPS"] = ""

from config.redact import install_redaction
from config.settings import load_settings
from conversation.service import ChatService
from errors import ConfigError
from startup.check import report
from startup.summary import exposure_warning, startup_summary
from web.hflogin import login_plan

# Read the configuration before importing Gradio (a few seconds): a mistake is reported at once.
try:
    SETTINGS = load_settings()
    LOGIN = login_plan(SETTINGS, os.environ)
    SERVICE = ChatService(SETTINGS, hub_sign_in=LOGIN.hub_sign_in)
except ConfigError as error:
    raise SystemExit(f"byok-chat: configuration error: {error}") from None
install_redaction()

# Gradio tries to import matplotlib on every event; where it is not installed each failed import
# searches the whole path again (about 7% of the CPU per chat, bench/RESULTS.md).
if importlib.util.find_spec("matplotlib") is None:
    sys.modules["matplotlib"] = None  # type: ignore[assignment]

from ui import gradio_tuning  # noqa: E402
from ui.page import build_demo, launch_options  # noqa: E402

gradio_tuning.lean_session_state()

log = logging.getLogger("byok_chat.app")

__all__ = ["build_demo", "demo", "launch_options", "main"]

demo = build_demo(SERVICE, LOGIN)
# Start-up leaves ~300,000 long-lived objects (Gradio, the SDK); without this every full garbage
# collection walks them all again, stalling every chat in flight (bench/RESULTS.md).
gc.freeze()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Run the byok-chat UI.",
        epilog="Everything else (keys, access code, limits, models) is configured in environment variables "
        "or a .env file in the working directory: see .env.example and docs/configuration.md.",
    )
    parser.add_argument("--host", help="address to listen on (default: GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="open a temporary public share link")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the configuration and the counter storage, print what would run, and exit (0: ready, 1: not)",
    )
    args = parser.parse_args(argv)
    # Held here, not read from the module again: under `gradio app.py` the watcher thread runs this
    # file once more as soon as the server starts, rebinding `demo`, `SERVICE` and `LOGIN` to a
    # page that is never served, while this thread still reports on and waits for the launched one.
    served, service, login = demo, SERVICE, LOGIN
    settings = service.settings
    host = args.host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    # Named either way, the port is passed on: from the environment alone, Gradio would quietly
    # move to the next free port when it is taken, and the operator's proxy would miss the app.
    chosen = args.port or int(os.environ.get("GRADIO_SERVER_PORT") or 0) or None
    if args.check:
        ok, lines = report(service, login, host=host, port=chosen or 7860, share=args.share)
        print("\n".join(lines))
        raise SystemExit(0 if ok else 1)
    if login.wanted and not login.button:
        log.warning(login.note)
    elif login.button:
        log.info(login.note)
    log.info(startup_summary(settings))
    # Gradio's own start-up text is wrong advice here ("set `share=True` in `launch()`") or pages
    # long (a failed share link explains how to install frpc by hand): keep it, say our own lines.
    gradio_said = io.StringIO()
    try:
        with contextlib.redirect_stdout(gradio_said):
            served.launch(
                server_name=args.host,
                server_port=chosen,
                share=args.share or None,
                quiet=True,
                prevent_thread_lock=True,
                **launch_options(service, login),
            )
    except OSError:
        raise SystemExit(
            f"byok-chat: cannot listen on {host} port {chosen or 7860}: "
            f"it is in use or not allowed. Choose another with --port or GRADIO_SERVER_PORT."
        ) from None
    everywhere = " (listening on every network address of this machine)" if host in {"0.0.0.0", "::"} else ""
    print(f"byok-chat is running on {served.local_url}{everywhere}", flush=True)
    if served.share_url:
        print(f"Public share link (temporary): {served.share_url}", flush=True)
    elif args.share:
        why = "Spaces have their own address" if settings.on_space else "no connection to Gradio's share server"
        log.warning("No share link was made (%s).", why)
    warning = exposure_warning(settings, host=host, port=served.server_port, share_url=served.share_url)
    if warning:
        log.warning(warning)

    def settle_and_stop(signum: int, frame: FrameType | None) -> None:
        """SIGTERM (a redeploy, a stopped container): count the replies still streaming before the
        server goes, or they would be spent and never counted. Under `gradio app.py` the page
        served since the last edit has a service of its own (the module's `SERVICE` by then),
        and a reply begun before that edit is still on the first one."""
        services = [service] if SERVICE is service else [service, SERVICE]
        settled = sum(each.ledger.settle_all("shutdown") for each in services)
        log.info("Stopping: %d replies in flight were counted.", settled)
        raise KeyboardInterrupt  # block_thread's way out: it closes the server

    signal.signal(signal.SIGTERM, settle_and_stop)
    served.block_thread()


# Under `gradio app.py` the file runs again as __main__ in Gradio's watcher thread, once as the
# server starts and again after each change; those runs must only rebuild `demo`.
if __name__ == "__main__" and not gradio_tuning.reloading():
    main()
