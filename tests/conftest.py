"""Shared fixtures: a workspace made from the bundled example, with printed ballots."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ballot_templates.render import render_ballots
from kiemphieu.session import Workspace, init_workspace

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLE_PERSONS = FIXTURES / "example_persons.csv"


def make_workspace(root: Path, *, copies: int = 4, persons: Path = EXAMPLE_PERSONS, **kw: object) -> Workspace:
    """Create a workspace in ``root`` and print ``copies`` ballots."""
    options: dict = dict(
        organisation="Sở Giáo dục và Đào tạo Hải Phòng",
        title="Hội nghị lấy phiếu tín nhiệm năm 2026",
        place="Hải Phòng",
        date="2026-11-22",
        summoned=60,
        present=55,
        committee=("Nguyễn Thị Lan", "Trần Văn Bình", "Lê Thị Hoa"),
        session_id="TESTSESS01",
    )
    options.update(kw)
    ws = init_workspace(root, persons, **options)  # type: ignore[arg-type]
    render_ballots(ws, copies=copies)
    return ws


@pytest.fixture(scope="session")
def printed_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A read-only workspace with 4 printed ballots of the example list (shared by tests)."""
    return make_workspace(tmp_path_factory.mktemp("ws") / "ws", copies=4)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A fresh workspace with 4 printed ballots, private to the test."""
    return make_workspace(tmp_path / "ws", copies=4)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""
    from browser_helpers import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists() or shutil.which("pdftoppm") is None:
        pytest.skip("chromium or poppler is not installed (make install installs them)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
