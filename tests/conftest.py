"""Shared fixtures: a workspace made from the bundled example, with printed ballots."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from ballot_templates.render import render_ballots
from kiemphieu.i18n import set_lang
from kiemphieu.session import Workspace, init_workspace

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLE_PERSONS = FIXTURES / "example_persons.csv"


@pytest.fixture(autouse=True)
def _vietnamese() -> Iterator[None]:
    """Every test starts in Vietnamese, the default: ``--lang en`` sets a process-wide language, and a test
    run after one that used it read English where it expected Vietnamese (depending on the order)."""
    set_lang("vi")
    yield
    set_lang("vi")


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


def decode_qr_at(image: np.ndarray, qr_mm: tuple[float, float, float, float], px_per_mm: float) -> str:
    """Decode the QR code where the layout puts it (with a 4 mm quiet zone), or "".

    Searching a whole page for the code fails for some random tokens' module
    patterns (OpenCV's finder), which made tests flaky. Like the scanner, the
    crop is resampled to 8 px/mm and decoded first at the code's known corners,
    then searched (as it is, and binarised).
    """
    x, y, w, h = qr_mm
    m, ppm = 4.0, 8.0
    r0, r1 = round((y - m) * px_per_mm), round((y + h + m) * px_per_mm)
    c0, c1 = round((x - m) * px_per_mm), round((x + w + m) * px_per_mm)
    size = (round((w + 2 * m) * ppm), round((h + 2 * m) * ppm))
    crop = cv2.resize(image[max(0, r0) : r1, max(0, c0) : c1], size, interpolation=cv2.INTER_LINEAR)
    corners = np.array([[m, m], [m + w, m], [m + w, m + h], [m, m + h]], np.float32) * ppm
    detector = cv2.QRCodeDetector()
    text = detector.decode(crop, corners.reshape(4, 1, 2))[0]
    if not text:
        text = detector.detectAndDecode(crop)[0]
    if not text:
        binary = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
        text = detector.detectAndDecode(binary)[0]
    return str(text or "")
