"""What the browser tests share: Debian's Chromium driven by Playwright, and keyboard helpers."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
KEYS = {"high": "1", "medium": "2", "low": "3", "none": "0", "multiple": "m", "valid": "v", "not_issued": "n",
        "extra_writing": "w", "duplicate_copy": "d", "not_a_ballot": "k", "name_crossed": "x"}
CLOCK = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def artifacts() -> Path:
    """Where screenshots are kept: ``$KIEMPHIEU_ARTIFACTS`` or ``test-artifacts/`` at the repository root."""
    root = Path(os.environ.get("KIEMPHIEU_ARTIFACTS") or Path(__file__).resolve().parent.parent / "test-artifacts")
    root.mkdir(parents=True, exist_ok=True)
    return root


def saved(page) -> int:  # noqa: ANN001
    """How many decisions the page says it has saved."""
    return int(page.evaluate("Number(document.body.dataset.saved || 0)"))


def press_and_wait(page, key: str, *, polls: int = 300, interval_ms: int = 50, saved_message: bool = False) -> None:  # noqa: ANN001
    """Press ``key`` and wait until the server has saved a decision.

    Polled from Python: ``wait_for_function`` would need 'unsafe-eval', which the page's CSP forbids.
    """
    before = saved(page)
    page.keyboard.press(key)
    for _ in range(polls):
        if saved(page) > before:
            if saved_message:
                message = page.inner_text("#message")
                assert message in ("Đã ghi.", "Saved."), message
            return
        page.wait_for_timeout(interval_ms)
    pytest.fail(f"no answer from the server after pressing {key!r}: {page.inner_text('#message')}")
