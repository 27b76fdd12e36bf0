"""End to end in a real headless Chromium: review a batch by keyboard alone.

Screenshots are kept in ``test-artifacts/`` at the repository root, or in the
directory named by the environment variable ``KIEMPHIEU_ARTIFACTS``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_helpers import CLOCK, KEYS, artifacts, press_and_wait
from click.testing import CliRunner
from conftest import make_workspace
from review_fixtures import Batch, build_review_batch, streak_on

from kiemphieu import db
from kiemphieu.review.audit import verify_audit
from kiemphieu.review.server import ReviewServer

pytestmark = pytest.mark.browser


def new_page(browser, *, lang: str = "vi"):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="vi-VN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, errors


def answer(page, value: str, note: str) -> None:
    page.keyboard.press(KEYS[value])
    if note:
        assert page.evaluate("document.activeElement.id") == "note"  # the page asks for the note by itself
        page.keyboard.type(note)
    press_and_wait(page, "Enter")


def review_by_keyboard(page, batch: Batch, shots: Path, prefix: str) -> None:
    page.wait_for_selector("#who-dialog[open]")
    page.keyboard.type("Nguyễn Thị Lan")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("body[data-item]")
    page.screenshot(path=str(shots / f"{prefix}-1-first-item.png"))
    seen: list[str] = []
    extras = {k: list(v) for k, v in batch.extra.items()}
    for _ in range(40):
        if page.evaluate("document.querySelector('#done-banner').hidden === false"):
            break
        key = page.evaluate("document.body.dataset.item")
        seen.append(key)
        if extras.get(key):
            a = extras[key].pop(0)
        else:
            a = batch.answers[key]
        answer(page, a.reading, a.note)
        if len(seen) == 1:
            # change of mind: undo, go back, and decide again — all by keyboard
            press_and_wait(page, "u")
            assert page.evaluate("document.body.dataset.item") == key
            answer(page, a.reading, a.note)
            page.keyboard.press("Backspace")
            assert page.evaluate("document.body.dataset.item") == key
            page.keyboard.press("ArrowRight")
        if key.endswith("-b") and "p" in key:
            page.keyboard.press("Space")
    else:
        pytest.fail(f"the queue did not finish: {seen}")
    assert set(batch.answers) <= set(seen)


def test_review_batch_by_keyboard(browser, tmp_path: Path) -> None:
    batch = build_review_batch(make_workspace(tmp_path / "ws", copies=4))
    shots = artifacts()
    with ReviewServer(batch.ws, clock=lambda: CLOCK) as srv:
        page, errors = new_page(browser)
        page.goto(srv.url)
        assert "token" not in page.url  # the token was swapped for a cookie
        review_by_keyboard(page, batch, shots, "review")
        page.screenshot(path=str(shots / "review-2-done.png"), full_page=True)
        assert "Đã xem xét xong" in page.inner_text("#done-banner")
        assert page.inner_text("#tally-status") == "Không còn trang nào chờ xem xét."
        cells = page.eval_on_selector_all(
            "#tally tr[data-stt]", "rows => rows.map(r => [...r.children].map(c => c.textContent))")
        page.click("#lang")
        assert page.inner_text("#tally-title") == "Tally (nothing pending)"
        page.screenshot(path=str(shots / "review-3-english.png"))
        page.keyboard.press("Backspace")
        page.keyboard.press("Space")
        page.screenshot(path=str(shots / "review-4-whole-page.png"))
        assert errors == []
    got = {int(c[0]): dict(zip(("collected", "valid", "invalid", "pending", "high", "medium", "low"),
                                (int(x) for x in c[2:]), strict=True)) for c in cells}
    assert got == batch.expected
    from kiemphieu.session import with_counts
    from kiemphieu.tally import require_final, tally_workspace

    in_the_box = max(counts["collected"] for counts in batch.expected.values())  # the committee's count
    batch.ws.save_session(with_counts(batch.ws.load_session(), counted=in_the_box))
    tally = tally_workspace(batch.ws)
    require_final(tally)
    assert {r.stt: {k: getattr(r, k) for k in batch.expected[r.stt]} for r in tally.rows} == batch.expected
    conn = db.connect(batch.ws.db_path)
    report = verify_audit(conn)
    notes = [r["note"] for r in conn.execute("SELECT note FROM decisions WHERE note != ''")]
    conn.close()
    assert report.entries >= len(batch.answers) + 2  # one undo and its redo included
    assert "dấu mờ, đọc là thấp" in notes and "chỉ là chữ ký" in notes
    from kiemphieu.cli import main

    if "tally" in main.commands:
        result = CliRunner().invoke(main, ["tally", str(batch.ws.root), "--final"])
        assert result.exit_code == 0, result.output


def test_page_refuses_without_token(browser, tmp_path: Path) -> None:
    batch = build_review_batch(make_workspace(tmp_path / "ws", copies=4))
    with ReviewServer(batch.ws) as srv:
        page, _ = new_page(browser)
        response = page.goto(srv.base + "/")
        assert response is not None and response.status == 403
        assert "kiemphieu review" in page.content()


def test_a_cause_at_the_scanner_on_many_pages_is_shown_above_the_queue(browser, tmp_path: Path) -> None:
    """The committee sees once, above the queue, why a column of rows is in review on many pages and what to
    do about it (a streak: clean the scanner's glass and scan those pages again), in either language."""
    batch = build_review_batch(make_workspace(tmp_path / "ws", copies=4))
    streak_on(batch.ws, 3)
    with ReviewServer(batch.ws, clock=lambda: CLOCK) as srv:
        page, errors = new_page(browser)
        page.goto(srv.url)
        page.wait_for_selector("#who-dialog[open]")
        page.keyboard.type("Nguyễn Thị Lan")
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-ready='1']")
        assert page.is_visible("#causes")
        text = page.inner_text("#causes")
        assert text.startswith("Trên 3 trang: Vệt dọc của máy quét") and "lau kính" in text
        page.screenshot(path=str(artifacts() / "review-causes.png"))
        page.click("#lang")
        assert page.inner_text("#causes").startswith("On 3 pages: A scanner streak")
        assert errors == []
