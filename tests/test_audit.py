"""The audit log's hash chain: a clean log verifies; every hand edit is found and named."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_workspace
from review_fixtures import Batch, build_review_batch

from kiemphieu import db
from kiemphieu.cli import main
from kiemphieu.errors import AuditError, ExitCode, InputError
from kiemphieu.review.audit import GENESIS, chain_hash, entry_text, verify_audit
from kiemphieu.review.decisions import record_decision, row_after, undo_decision

CLOCK = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.fixture
def reviewed(tmp_path: Path) -> Batch:
    """A batch with five decisions and one undo."""
    batch = build_review_batch(make_workspace(tmp_path / "ws", copies=4))
    ids = batch.page_ids
    conn = db.connect(batch.ws.db_path)
    kw = dict(reviewer="Nguyễn Thị Lan", clock=lambda: CLOCK)
    record_decision(conn, page_id=ids["p1"], person=3, after=row_after("high"), **kw)
    record_decision(conn, page_id=ids["p1"], person=7, after=row_after("low"), note="dấu mờ", **kw)
    record_decision(conn, page_id=ids["p3"], person=None, after={"verdict": "duplicate_copy"}, **kw)
    record_decision(conn, page_id=ids["p4"], person=None, after={"verdict": "not_a_ballot"}, **kw)
    record_decision(conn, page_id=ids["p1"], person=5, after=row_after("multiple"), **kw)
    undo_decision(conn, reviewer="Nguyễn Thị Lan", clock=lambda: CLOCK)
    conn.close()
    return batch


def hand_edit(batch: Batch, sql: str, *args: object) -> None:
    """Edit the database as someone with the sqlite3 shell would (no foreign keys)."""
    conn = sqlite3.connect(batch.ws.db_path)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def verify(batch: Batch):
    conn = db.connect(batch.ws.db_path)
    try:
        return verify_audit(conn)
    finally:
        conn.close()


def test_clean_chain_verifies(reviewed: Batch) -> None:
    report = verify(reviewed)
    assert report.entries == 6
    conn = db.connect(reviewed.ws.db_path)
    logs = conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
    decisions = conn.execute("SELECT * FROM decisions ORDER BY id").fetchall()
    conn.close()
    prev = GENESIS
    for log, decision in zip(logs, decisions, strict=True):
        assert log["decision_id"] == decision["id"]
        assert log["entry"] == entry_text(decision)
        assert log["prev_hash"] == prev and log["hash"] == chain_hash(prev, log["entry"])
        prev = log["hash"]
    assert report.head == prev
    assert decisions[-1]["undoes"] == decisions[-2]["id"]


def test_empty_log_verifies(tmp_path: Path) -> None:
    batch = build_review_batch(make_workspace(tmp_path / "ws", copies=4))
    report = verify(batch)
    assert (report.entries, report.head) == (0, GENESIS)


@pytest.mark.parametrize(
    ("sql", "args", "needle_vi", "needle_en"),
    [
        ("UPDATE decisions SET after = ? WHERE id = 2", ('{"choice":"high","marks":"one"}',),
         "mục số 2 (quyết định số 2)", "changed after it was logged"),
        ("UPDATE decisions SET reviewer = ? WHERE id = 3", ("Người khác",), "mục số 3", "entry 3 (decision 3)"),
        ("UPDATE decisions SET note = ? WHERE id = 1", ("sửa",), "mục số 1", "entry 1"),
        ("DELETE FROM decisions WHERE id = ?", (4,), "mục số 4", "was deleted"),
        ("UPDATE audit_log SET entry = replace(entry, 'low', 'high') WHERE seq = ?", (2,), "mục số 2",
         "hash does not match"),
        ("DELETE FROM audit_log WHERE seq = ?", (3,), "mục số 3", "entry missing"),
        ("INSERT INTO decisions(page_id, person, reviewer, decided_at, before, after, note) "
         "VALUES(1, 1, 'x', '2026-11-22T10:00:00+00:00', '{}', ?, '')", ('{"choice":"low","marks":"one"}',),
         "Quyết định số 7", "has no audit log entry"),
    ],
)
def test_hand_edit_is_detected(reviewed: Batch, sql: str, args: tuple, needle_vi: str, needle_en: str) -> None:
    hand_edit(reviewed, sql, *args)
    with pytest.raises(AuditError) as info:
        verify(reviewed)
    assert needle_vi in info.value.vi
    assert needle_en in info.value.en
    assert info.value.exit_code == ExitCode.AUDIT_BROKEN


def test_rewritten_entry_with_its_own_hash_breaks_the_next_link(reviewed: Batch) -> None:
    conn = db.connect(reviewed.ws.db_path)
    log = conn.execute("SELECT * FROM audit_log WHERE seq = 2").fetchone()
    conn.close()
    forged = log["entry"].replace("dấu mờ", "đã sửa")
    hand_edit(reviewed, "UPDATE decisions SET note = 'đã sửa' WHERE id = 2")
    hand_edit(reviewed, "UPDATE audit_log SET entry = ?, hash = ? WHERE seq = 2", forged,
              chain_hash(log["prev_hash"], forged))
    with pytest.raises(AuditError) as info:
        verify(reviewed)
    assert "entry 3" in info.value.en and "does not link" in info.value.en


def test_cli_audit(reviewed: Batch) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", str(reviewed.ws.root)])
    assert ok.exit_code == 0, ok.output
    assert "6 mục" in ok.output and verify(reviewed).head in ok.output
    english = runner.invoke(main, ["--lang", "en", "audit", str(reviewed.ws.root)])
    assert "Audit log OK: 6 entries" in english.output
    hand_edit(reviewed, "UPDATE decisions SET after = ? WHERE id = 4", '{"verdict":"not_issued"}')
    broken = runner.invoke(main, ["audit", str(reviewed.ws.root)])
    assert broken.exit_code == int(ExitCode.AUDIT_BROKEN)
    assert "mục số 4" in broken.output


def test_failed_decision_leaves_log_untouched(reviewed: Batch) -> None:
    conn = db.connect(reviewed.ws.db_path)
    before = conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    with pytest.raises(InputError):
        record_decision(conn, page_id=reviewed.page_ids["p1"], person=7, after=row_after("high"),
                        reviewer="Lan", clock=lambda: CLOCK)  # an override without a note
    assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == before
    assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == before
    conn.close()
    assert verify(reviewed).entries == before
