"""End to end on a generated batch: simulate, scan, review by keyboard in Chromium, tally.

A rough deck (profile ``adf-rough``: doubtful rows, a photocopied ballot, a
ballot of another session, blank back sides) is drawn by the simulator with a
fixed seed, a few damaged files are added to the folder, and the real scanner
reads it all into the workspace database. A reviewer then settles every queued
item in real headless Chromium using the keyboard alone, deciding each one from
the simulator's truth file, never from what the machine read. Finally the
tally must be final (``kiemphieu tally --final`` exits 0) and equal, person by
person, to a count made independently from the truth file with the rules of
QĐ 96-2023; the audit chain must verify.

How the reviewer reads the truth (what a careful human sees on the image):

* a box counts as marked when it holds a clear mark, a tiny tick or a faint
  pencil mark; a box scribbled over (``cancelled``) and dots, fold lines or a
  neighbour's stroke are not marks;
* a duplicate (photocopied) page is marked ``duplicate_copy``; its original is
  kept (``valid``, or ``extra_writing`` when something was written on it);
* a ballot of another session is ``not_issued``; a blank or unreadable sheet and
  a damaged file are ``not_a_ballot``;
* a crossed-out printed name is recorded with ``X`` on that person's line.

Screenshots go to ``test-artifacts/`` at the repository root, or to the
directory named by ``KIEMPHIEU_ARTIFACTS``.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_helpers import CLOCK, KEYS, artifacts, press_and_wait
from click.testing import CliRunner
from conftest import make_workspace

from calibration.evaluate import evaluate
from calibration.simulate import simulate
from calibration.strokes import CLEAR_STYLES
from calibration.truth import PageTruth, RowTruth, Truth, load_truth
from kiemphieu import db
from kiemphieu import readings as R
from kiemphieu.layout import LEVELS, load_layout
from kiemphieu.review.audit import verify_audit
from kiemphieu.review.server import ReviewServer
from scanner.run import scan_folder

pytestmark = pytest.mark.browser

SEED = 5
VOTERS = 8
REVIEWER = "Trần Văn Bình"
# a human reads these styles as a mark in the box (see the module docstring)
HUMAN_MARKS = frozenset(CLEAR_STYLES) | {"tiny_tick", "faint"}
# damaged files dropped into the scan folder, and the file problem each must show
DAMAGED = {"z-truncated.jpg": "truncated", "z-empty.jpg": "empty_file", "z-notes.jpg": "not_an_image"}
COUNT_FIELDS = ("collected", "valid", "invalid", "high", "medium", "low")


# --- the truth, read as a human would ------------------------------------------------


def human_reading(row: RowTruth) -> str:
    """The reading word (high … multiple) a careful reviewer gives a row from its truth."""
    marked = [
        level for level in LEVELS
        if any(style in HUMAN_MARKS for style in row.styles.get(level, "empty").split("+"))
        and "cancelled" not in row.styles.get(level, "")
    ]
    if not marked:
        return "none"
    return marked[0] if len(marked) == 1 else "multiple"


def reference_counts(truth: Truth, persons_on_page: dict[int, tuple[int, ...]]) -> dict[int, dict[str, int]]:
    """Per-person counts computed from the truth alone with the rules of QĐ 96-2023.

    A collected ballot is an issued ballot (its first scan) or a ballot of another
    session (collected, invalid for everyone: not issued by the committee). A
    person's line is invalid when the printed name is crossed out (this session:
    the person only) or when no box or two or three boxes are marked. Written-in
    text invalidates only the written part; a signature is allowed. Copies, blank
    sheets and damaged files are not collected.
    """
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNT_FIELDS, 0))
    for page in truth.pages:
        if page.kind in ("blank", "duplicate"):
            continue
        assert page.layout_page is not None
        for person in persons_on_page[page.layout_page]:
            c = counts[person]
            c["collected"] += 1
            if page.kind == "foreign" or person in page.crossed:
                c["invalid"] += 1
                continue
            reading = human_reading(page.row(person))
            if reading in LEVELS:
                c["valid"] += 1
                c[reading] += 1
            else:
                c["invalid"] += 1
    return dict(counts)


@dataclass(frozen=True)
class ScannedPage:
    page_id: int
    source: str
    page_index: int
    kind: str
    reasons: tuple[str, ...]
    truth: PageTruth | None  # None for a damaged file the simulator never wrote


def scanned_pages(conn: sqlite3.Connection, truth: Truth) -> dict[int, ScannedPage]:
    known = {(p.source, p.page): p for p in truth.pages}
    out = {}
    for r in conn.execute("SELECT id, source, page_index, kind, reasons FROM pages"):
        t = known.get((r["source"], r["page_index"] + 1))
        if t is None:
            assert r["source"] in DAMAGED, f"a page the simulator never wrote: {r['source']}"
        out[int(r["id"])] = ScannedPage(int(r["id"]), r["source"], r["page_index"], r["kind"],
                                        tuple(json.loads(r["reasons"])), t)
    return out


def ballot_answer(page: ScannedPage) -> str:
    """The verdict for a page-level item, from the truth."""
    t = page.truth
    if t is None or t.kind == "blank":
        return "not_a_ballot"
    if t.kind == "duplicate":
        return "duplicate_copy"
    if t.kind == "foreign":
        return "not_issued"
    assert page.kind == "ballot", f"{page.source} p{page.page_index + 1}: an issued ballot read as {page.kind}"
    return "extra_writing" if t.writing else "valid"


# --- the browser ------------------------------------------------------------------------


def decide(page, value: str, *, note: str) -> None:
    """Press the key of ``value``; write ``note`` if the page asks for one; confirm with Enter."""
    page.keyboard.press(KEYS[value])
    selected = page.inner_text("#choices .choice.selected")
    assert selected, f"pressing {KEYS[value]!r} selected nothing"
    if page.evaluate("document.activeElement.id") == "note":  # the page asks for a note by itself
        page.keyboard.type(note)
    press_and_wait(page, "Enter", polls=400, interval_ms=25, saved_message=True)


def reasons_shown(page) -> list[str]:
    return page.eval_on_selector_all("#reasons li", "items => items.map(i => i.textContent)")


# --- the test -------------------------------------------------------------------------------


def test_review_generated_batch_by_keyboard(browser, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", copies=VOTERS + 2)
    scans = tmp_path / "scans"
    result = simulate(ws, scans, voters=VOTERS, profile="adf-rough", seed=SEED, jobs=2)
    assert result.counts.get("duplicate") == 1 and result.counts.get("foreign") == 1
    some_jpeg = next(p for p in sorted(scans.iterdir()) if p.suffix == ".jpg").read_bytes()
    (scans / "z-truncated.jpg").write_bytes(some_jpeg[: len(some_jpeg) * 2 // 3])
    (scans / "z-empty.jpg").write_bytes(b"")
    (scans / "z-notes.jpg").write_text("biên bản nháp, không phải ảnh\n", encoding="utf-8")
    scan_folder(ws, scans, jobs=2)

    truth = load_truth(result.truth_path)
    layout = load_layout(ws.layout_json)
    session = ws.load_session()
    assert session.rule_set == "qd96-2023" and session.crossed_name_invalidates == "person"
    conn = db.connect(ws.db_path)
    try:
        evaluation = evaluate(conn, truth)
        assert evaluation.silent_errors == 0, evaluation.report()  # else no review could fix the count
        pages = scanned_pages(conn, truth)
        machine = {(r["page_id"], r["person"]): (r["marks"], r["choice"]) for r in conn.execute("SELECT * FROM rows")}
        row_reasons = {(r["page_id"], r["person"]): tuple(json.loads(r["reasons"]))
                       for r in conn.execute("SELECT * FROM rows")}
    finally:
        conn.close()
    assert {p.kind for p in pages.values()} >= {"ballot", "not_issued", "rejected"}
    assert any("duplicate" in p.reasons for p in pages.values())

    shots = artifacts()
    seen: list[str] = []
    crossed_recorded: set[tuple[int, int]] = set()
    shown_texts: set[str] = set()
    codes_seen: set[str] = set()
    with ReviewServer(ws, clock=lambda: CLOCK) as srv:
        context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="vi-VN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(srv.url)
        page.wait_for_selector("#who-dialog[open]")
        page.keyboard.type(REVIEWER)
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("body[data-item]")
        total = int(page.inner_text("#item-where").split("·")[0].split("/")[1])
        assert total >= 10
        page.screenshot(path=str(shots / "e2e-1-first-item.png"))
        shot_row = shot_rejected = False
        for _ in range(4 * total + 10):
            if page.evaluate("document.querySelector('#done-banner').hidden === false"):
                break
            key = page.evaluate("document.body.dataset.item")
            seen.append(key)
            page_id = int(key[1:].split("-")[0])
            scanned = pages[page_id]
            shown = reasons_shown(page)
            shown_texts.update(shown)
            assert not any(text.startswith("Lý do khác") for text in shown), shown  # every code has words
            codes_seen.update(scanned.reasons if key.endswith("-b") else row_reasons[(page_id, int(key.split("-r")[1]))])
            if key.endswith("-b"):
                if scanned.kind == "rejected" and not shot_rejected:
                    shot_rejected = True
                    vi, en = R.REASON_TEXT[DAMAGED[scanned.source]]
                    assert vi in shown, shown
                    assert "Trang này không có ảnh." in (page.text_content("#svg") or "")
                    assert page.inner_text("#item-title") == "Tệp không đọc được"
                    sub = page.inner_text("#item-sub")
                    assert "quét lại" in sub and "file" not in sub.lower(), sub  # no English in Vietnamese
                    page.screenshot(path=str(shots / "e2e-3-damaged-file.png"))
                    page.click("#lang")
                    assert en in reasons_shown(page), reasons_shown(page)
                    assert "scan that sheet again" in page.inner_text("#item-sub")
                    page.screenshot(path=str(shots / "e2e-4-damaged-file-english.png"))
                    page.click("#lang")
                decide(page, ballot_answer(scanned), note="đối chiếu ảnh: " + ballot_answer(scanned))
                continue
            person = int(key.split("-r")[1])
            assert scanned.truth is not None and scanned.kind == "ballot", key
            if person in scanned.truth.crossed and (page_id, person) not in crossed_recorded:
                crossed_recorded.add((page_id, person))
                decide(page, "name_crossed", note="họ tên bị gạch trên phiếu")
                continue  # the line itself still waits for its reading
            reading = human_reading(scanned.truth.row(person))
            if not shot_row and reading != "none":
                shot_row = True
                page.screenshot(path=str(shots / "e2e-2-row.png"))
                page.keyboard.press("Space")
                page.screenshot(path=str(shots / "e2e-2-row-whole-page.png"))
                page.keyboard.press("Space")
            marks, choice = machine[(page_id, person)]
            decide(page, reading, note=f"xem ảnh: đọc là {reading} (máy: {choice or marks})")
        else:
            pytest.fail(f"the queue did not finish: {seen}")
        page.screenshot(path=str(shots / "e2e-5-done.png"), full_page=True)
        assert "Đã xem xét xong" in page.inner_text("#done-banner")
        assert page.inner_text("#tally-status") == "Không còn trang nào chờ xem xét."
        cells = page.eval_on_selector_all(
            "#tally tr[data-stt]", "rows => rows.map(r => [...r.children].map(c => c.textContent))")
        assert errors == []
        context.close()
    assert shot_rejected and shot_row
    assert {R.REASON_TEXT[c][0] for c in codes_seen} <= shown_texts  # every reason in plain Vietnamese
    assert {R.R_DUPLICATE, R.R_FOREIGN, R.R_FILE, R.R_SCRIBBLE} <= codes_seen
    assert crossed_recorded == {(pid, stt) for pid, sp in pages.items() if sp.truth and sp.kind == "ballot"
                                for stt in sp.truth.crossed}
    assert len(set(seen)) <= total  # a copy's or a foreign ballot's lines close with the page verdict

    # nothing pending, and the final tally is the count made from the truth; the committee's count of the
    # ballot box is the ballots the truth says were collected (the copy was a second scan of one sheet)
    persons_on_page = {p.page: tuple(r.person for r in p.rows) for p in layout.pages}
    expected = reference_counts(truth, persons_on_page)
    in_the_box = max(counts["collected"] for counts in expected.values())
    result_cli = CliRunner().invoke(main_cli(), ["tally", str(ws.root), "--counted", str(in_the_box), "--final"])
    assert result_cli.exit_code == 0, result_cli.output
    from kiemphieu.tally import require_final, tally_workspace

    tally = tally_workspace(ws)
    require_final(tally)
    assert tally.pending_pages == 0 and all(r.pending == 0 for r in tally.rows)
    got = {r.stt: {f: getattr(r, f) for f in COUNT_FIELDS} for r in tally.rows}
    assert got == expected
    on_page = {int(c[0]): dict(zip(("collected", "valid", "invalid", "pending", "high", "medium", "low"),
                                   (int(x) for x in c[2:]), strict=True)) for c in cells}
    assert {stt: {f: v[f] for f in COUNT_FIELDS} for stt, v in on_page.items()} == expected
    assert tally.ballots_collected == VOTERS + 1  # the foreign ballot is collected (and invalid)

    conn = db.connect(ws.db_path)
    try:
        report = verify_audit(conn)
        decisions = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        reviewers = {r[0] for r in conn.execute("SELECT DISTINCT reviewer FROM decisions")}
        overrides = conn.execute("SELECT COUNT(*) FROM decisions WHERE note != ''").fetchone()[0]
    finally:
        conn.close()
    assert report.entries == decisions == len(seen)
    assert reviewers == {REVIEWER}
    assert overrides > 0  # some readings differ from the machine's, each with its note


def main_cli():
    from kiemphieu.cli import main

    return main


def test_reference_count_can_fail() -> None:
    """The reference reading distinguishes marks from non-marks (a check that can fail)."""
    def row(**styles: str) -> RowTruth:
        return RowTruth(1, "review", None, {lv: styles.get(lv, "empty") for lv in LEVELS})

    assert human_reading(row(high="x")) == "high"
    assert human_reading(row(high="x", medium="cancelled")) == "high"
    assert human_reading(row(low="cancelled")) == "none"
    assert human_reading(row(medium="faint", low="dots")) == "medium"
    assert human_reading(row(high="tiny_tick", low="x_overshoot")) == "multiple"
    assert human_reading(row(high="fold_line", medium="neighbour_stroke")) == "none"
