"""Results export and the tally command, on a real workspace database."""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_workspace
from openpyxl import load_workbook

from kiemphieu import db
from kiemphieu.cli import main
from kiemphieu.errors import ExitCode
from kiemphieu.export import RESULT_COLUMNS, results_csv_bytes
from kiemphieu.session import Workspace
from kiemphieu.tally import tally_workspace


def add_page(conn: sqlite3.Connection, source: str, index: int, *, choices: dict[int, str | None] | None = None,
             kind: str = "ballot", status: str = "auto", token: str | None = None, reasons: tuple[str, ...] = (),
             row_reasons: dict[int, tuple[str, ...]] | None = None, marks: dict[int, str] | None = None) -> int:
    sha = hashlib.sha256(source.encode()).hexdigest()
    conn.execute("INSERT OR IGNORE INTO files(sha256, path, size, pages) VALUES(?, ?, 1, 1)", (sha, source))
    cur = conn.execute(
        "INSERT INTO pages(file_sha256, page_index, source, kind, status, token, layout_page, reasons) "
        "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
        (sha, index, source, kind, status, token, 1 if kind == "ballot" else None, db.dumps(list(reasons))),
    )
    page_id = int(cur.lastrowid or 0)
    for person, choice in (choices or {}).items():
        m = (marks or {}).get(person) or ("one" if choice else "none")
        conn.execute(
            "INSERT INTO rows(page_id, person, marks, choice, reasons) VALUES(?, ?, ?, ?, ?)",
            (page_id, person, m, choice, db.dumps(list((row_reasons or {}).get(person, ())))),
        )
    return page_id


def decide(conn: sqlite3.Connection, page_id: int, person: int | None, after: dict, reviewer: str = "an") -> None:
    conn.execute(
        "INSERT INTO decisions(page_id, person, reviewer, decided_at, before, after) VALUES(?, ?, ?, ?, '{}', ?)",
        (page_id, person, reviewer, "2026-11-22T10:00:00Z", db.dumps(after)),
    )


def all_persons(choice: str | None, n: int = 12, **override: str | None) -> dict[int, str | None]:
    out = {i: choice for i in range(1, n + 1)}
    out.update({int(k[1:]): v for k, v in override.items()})
    return out


@pytest.fixture
def counted(tmp_path: Path) -> Workspace:
    """8 ballots read: 5 clean, 1 with a marginal mark, 1 unreadable page, 1 blank back side."""
    ws = make_workspace(tmp_path / "ws", copies=8)
    with closing(db.connect(ws.db_path)) as conn:
        tokens = sorted(db.issued_tokens(conn))
        for k in range(5):
            add_page(conn, f"batch/b{k}.pdf", 0, token=tokens[k],
                     choices=all_persons("high", p1="low" if k < 4 else "high", p2=None if k == 0 else "medium"))
        add_page(conn, "batch/multi.pdf", 0, token=tokens[5], choices=all_persons("medium"))
        pid = add_page(conn, "batch/multi.pdf", 1, token=tokens[6], status="review",
                       choices=all_persons("high", p3="low"), row_reasons={3: ("marginal",)})
        add_page(conn, "batch/multi.pdf", 2, kind="unreadable", status="review", reasons=("no_markers",))
        add_page(conn, "batch/multi.pdf", 3, kind="blank", reasons=())
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('test_review_page', ?)", (str(pid),))
    return ws


def test_results_export_rows_and_stable_hash(counted: Workspace) -> None:
    data = results_csv_bytes(counted)
    assert data == results_csv_bytes(counted)  # stable
    assert not data.startswith(b"\xef\xbb\xbf") and b"\r\n" not in data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert tuple(rows[0].keys()) == RESULT_COLUMNS
    assert len(rows) == 7 * 12 + 2  # 7 pages with 12 lines, 1 unreadable, 1 blank
    b0 = [r for r in rows if r["source"] == "batch/b0.pdf"]
    assert [r["person"] for r in b0] == [str(i) for i in range(1, 13)]
    assert (b0[0]["choice"], b0[0]["valid"], b0[0]["status"]) == ("low", "yes", "auto")
    assert (b0[1]["marks"], b0[1]["valid"], b0[1]["reasons"]) == ("none", "no", "inv_no_mark")
    marginal = [r for r in rows if r["source"] == "batch/multi.pdf" and r["page"] == "2" and r["person"] == "3"]
    assert marginal[0]["valid"] == "" and marginal[0]["reasons"] == "marginal"
    unreadable = [r for r in rows if r["page"] == "3" and r["source"] == "batch/multi.pdf"]
    assert unreadable == [dict(source="batch/multi.pdf", page="3", ballot="", person="", marks="", choice="",
                               valid="", reasons="no_markers", status="review")]
    keys = [(r["source"], int(r["page"]), int(r["person"] or -1)) for r in rows]
    assert keys == sorted(keys)


def test_decisions_settle_the_export_and_the_tally(counted: Workspace) -> None:
    with closing(db.connect(counted.db_path)) as conn:
        review_page = int(db.get_meta(conn, "test_review_page") or 0)
        decide(conn, review_page, 3, {"marks": "one", "choice": "low"})
        unreadable = conn.execute("SELECT id FROM pages WHERE kind = 'unreadable'").fetchone()[0]
        decide(conn, unreadable, None, {"verdict": "not_a_ballot"})
    t = tally_workspace(counted)
    assert not t.provisional and t.ballots_collected == 7
    r3 = t.rows[2]
    assert (r3.collected, r3.valid, r3.low, r3.high, r3.medium) == (7, 7, 1, 5, 1)
    rows = list(csv.DictReader(io.StringIO(results_csv_bytes(counted).decode())))
    decided = [r for r in rows if r["page"] == "2" and r["person"] == "3"][0]
    assert (decided["choice"], decided["valid"], decided["status"]) == ("low", "yes", "reviewed")
    excluded = [r for r in rows if r["page"] == "3" and r["source"] == "batch/multi.pdf"][0]
    assert excluded["valid"] == "no" and "excluded_not_a_ballot" in excluded["reasons"]


def test_cli_tally_outputs_provisional(counted: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(main, [
        "tally", str(counted.root), "--issued", "8", "--csv", str(out / "t.csv"), "--xlsx", str(out / "t.xlsx"),
        "--minutes", str(out / "m.pdf"),
    ])
    assert result.exit_code == 0, result.output
    assert "TẠM TÍNH" in result.output and "Nguyễn Văn Thắng" in result.output
    raw = (out / "t.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "TẠM TÍNH" in text and "Phiếu thu về" in text and "Tín nhiệm thấp" in text
    table = list(csv.reader(io.StringIO(text)))
    header_at = next(i for i, r in enumerate(table) if r and r[0] == "STT")
    first = table[header_at + 1]
    # person 1: low on 4 of 6 collected + pending page not counted for them (their line is settled)
    assert first[:8] == ["1", "Nguyễn Văn Thắng", "Giám đốc Sở", "8", "7", "7", "0", "0"]
    assert first[12:14] == ["4", "57.14"] and first[14].startswith("Trên 1/2")
    assert counted.load_session().issued == 8  # written back
    sheet = load_workbook(out / "t.xlsx").active
    assert any(c.value == "Nguyễn Văn Thắng" for row in sheet.iter_rows() for c in row)
    assert (out / "m.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in out.iterdir()) == ["m.pdf", "t.csv", "t.xlsx"]  # no temporary left


def test_cli_english_headers(counted: Workspace, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--lang", "en", "tally", str(counted.root), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "t.csv").read_text(encoding="utf-8-sig")
    assert "Collected" in text and "PROVISIONAL" in text and "Phiếu thu về" not in text


def test_cli_final_refuses_pending_and_writes_nothing(counted: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    result = CliRunner().invoke(main, ["tally", str(counted.root), "--final", "--csv", str(out)])
    assert result.exit_code == ExitCode.PENDING_REVIEW
    assert not out.exists()


def test_cli_no_quorum_refuses_minutes(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", copies=2, summoned=60, present=39)  # 117 < 120
    with closing(db.connect(ws.db_path)) as conn:
        add_page(conn, "a.pdf", 0, choices=all_persons("high"))
    out = tmp_path / "m.pdf"
    result = CliRunner().invoke(main, ["tally", str(ws.root), "--minutes", str(out), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == ExitCode.NO_QUORUM, result.output
    assert "2/3" in result.output
    assert not out.exists() and not (tmp_path / "t.csv").exists()
    result = CliRunner().invoke(main, ["tally", str(ws.root), "--present", "40", "--counted", "1", "--final"])
    assert result.exit_code == 0, result.output  # exactly 2/3 present


def test_cli_over_issued_refuses_final(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", copies=2)
    with closing(db.connect(ws.db_path)) as conn:
        for k in range(3):
            add_page(conn, f"{k}.pdf", 0, choices=all_persons("high"))
    result = CliRunner().invoke(main, ["tally", str(ws.root), "--issued", "2"])
    assert result.exit_code == 0 and "lớn hơn số phiếu phát ra" in result.output
    result = CliRunner().invoke(main, ["tally", str(ws.root), "--final"])
    assert result.exit_code == ExitCode.BAD_INPUT


def test_cli_ballots_counted_in_the_box_must_match_the_ballots_scanned(tmp_path: Path) -> None:
    """The committee counts the ballots in the box by hand (--counted). A sheet the scanner never imaged (a
    jam, two sheets fed together) leaves the scans one short: the tally says so, and --final refuses until
    the count and the scans agree, and while no count is entered. The count is saved, and printed in the
    minutes."""
    ws = make_workspace(tmp_path / "ws", copies=4, summoned=60, present=50)
    with closing(db.connect(ws.db_path)) as conn:
        for k in range(3):
            add_page(conn, f"{k}.pdf", 0, choices=all_persons("high"))
    result = CliRunner().invoke(main, ["tally", str(ws.root)])
    assert result.exit_code == 0 and "Chưa nhập số phiếu ban kiểm phiếu đếm được" in result.output, result.output
    result = CliRunner().invoke(main, ["tally", str(ws.root), "--final", "--minutes", str(tmp_path / "m.pdf")])
    assert result.exit_code == ExitCode.BAD_INPUT and "trước khi lập kết quả chính thức" in result.output, result.output
    assert not (tmp_path / "m.pdf").exists()
    result = CliRunner().invoke(main, ["tally", str(ws.root), "--counted", "4"])
    assert result.exit_code == 0 and "đếm được 4 phiếu trong thùng phiếu" in result.output, result.output
    assert ws.load_session().counted == 4  # written back
    out = tmp_path / "m.pdf"
    result = CliRunner().invoke(main, ["tally", str(ws.root), "--final", "--minutes", str(out)])
    assert result.exit_code == ExitCode.BAD_INPUT and "quét những phiếu còn thiếu" in result.output, result.output
    assert not out.exists()
    with closing(db.connect(ws.db_path)) as conn:  # the missing sheet, scanned
        add_page(conn, "3.pdf", 0, choices=all_persons("high"))
    result = CliRunner().invoke(main, ["tally", str(ws.root), "--final", "--minutes", str(out)])
    assert result.exit_code == 0 and "thùng phiếu" not in result.output, result.output
    assert out.read_bytes().startswith(b"%PDF")


def test_cli_missing_output_folder_is_clear_error(counted: Workspace, tmp_path: Path) -> None:
    good = tmp_path / "t.csv"
    result = CliRunner().invoke(main, ["tally", str(counted.root), "--csv", str(good),
                                       "--xlsx", str(tmp_path / "nowhere" / "t.xlsx")])
    assert result.exit_code == ExitCode.BAD_INPUT and "nowhere" in result.output
    assert not good.exists() and list(tmp_path.glob(".*.tmp")) == []


def test_cli_export_and_minutes_hash(counted: Workspace, tmp_path: Path) -> None:
    res = tmp_path / "results.csv"
    result = CliRunner().invoke(main, ["export", str(counted.root), "--results", str(res)])
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(res.read_bytes()).hexdigest()
    assert digest in result.output and res.read_bytes() == results_csv_bytes(counted)


def test_cli_summary_side_by_side(tmp_path: Path) -> None:
    roots = []
    for k, place in enumerate(["Sở A", "Sở B", "Sở C"]):
        ws = make_workspace(tmp_path / f"ws{k}", copies=1, organisation=place, session_id=f"S{k}")
        with closing(db.connect(ws.db_path)) as conn:
            add_page(conn, "a.pdf", 0, choices=all_persons("low" if k == 0 else "high"))
        roots.append(str(ws.root))
    result = CliRunner().invoke(main, ["--lang", "en", "summary", *roots[:2]])
    assert result.exit_code == 0, result.output
    assert "Sở A" in result.output and "Sở B" in result.output and "WARNING" not in result.output
    result = CliRunner().invoke(main, ["--lang", "en", "summary", *roots])
    assert "WARNING" in result.output and "3 places" in result.output


def test_commands_have_help() -> None:
    for name in ("tally", "summary", "export"):
        assert main.commands[name].help

