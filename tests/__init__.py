"""byok-chat's tests: one folder per package, helpers (fake provider, app harness, browser) here."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
