"""What each scanned page says, after human review: the input to the rules.

The scanner's reading (tables ``pages`` and ``rows``) is never changed. A human
decision (table ``decisions``) stands beside it; :func:`load_readings` merges
the two into :class:`PageReading` objects, applying the two-person rule when
the session asks for it.

Decision ``after`` documents (JSON):

* row decision (``person`` set): ``{"marks": "none"|"one"|"multiple", "choice": "high"|"medium"|"low"|null}``
* ballot decision (``person`` NULL): ``{"verdict": V}`` with V one of

  - ``valid``: the page-level doubts are cleared (no extra writing, no crossed name, issued);
  - ``not_issued``: not issued by the committee (foreign, copied): the ballot is invalid;
  - ``name_crossed``: with ``"persons": [stt, ...]``, the printed names crossed out;
  - ``extra_writing``: a name or other text was written on the ballot;
  - ``duplicate_copy``: a second scan of a ballot already counted: this page is left out;
  - ``not_a_ballot``: a blank sheet or another document: left out, not collected.

An entry with ``undoes`` set withdraws the decision it names.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from kiemphieu.layout import Layout
    from kiemphieu.session import Session, Workspace

PageKind = Literal["ballot", "blank", "unreadable", "not_issued", "rejected"]
PageStatus = Literal["auto", "review", "reviewed", "rejected"]
Marks = Literal["none", "one", "multiple"]
BALLOT_VERDICTS = ("valid", "not_issued", "name_crossed", "extra_writing", "duplicate_copy", "not_a_ballot")
ROW_MARKS = ("none", "one", "multiple")

# reason codes -------------------------------------------------------------
# page level
R_BLANK = "blank"
R_NO_MARKERS = "no_markers"
R_SOME_MARKERS = "markers_missing"
R_SEVERAL = "several_ballots"
R_BACK_WRITING = "back_writing"
R_WRITING_ON_BACK = "writing_on_back"
R_NO_QR = "qr_unreadable"
R_FOREIGN = "foreign_session"
R_LAYOUT = "layout_mismatch"
R_UNKNOWN_TOKEN = "unknown_token"
R_DUPLICATE = "duplicate"
R_WRITING = "writing"
R_FILE = "file_error"
# row level
R_MARGINAL = "marginal"
R_MULTIPLE = "multiple"
R_CROSSED = "name_crossed"
R_STREAK = "streak"
R_RED = "red_ink"
R_OUTSIDE = "mark_outside_box"
R_BETWEEN_ROWS = "between_rows"
R_RIM = "box_outline_inked"
R_NAME_INK = "name_cell_ink"
R_FAINT = "faint"
R_SCRIBBLE = "scribble"
R_FOLD = "fold_line"
R_BITONAL = "bitonal"
R_FADED = "faded_print"
R_GLARE = "glare"
R_LOW_RES = "low_resolution"
R_OVEREXPOSED = "overexposed"

REASON_TEXT: dict[str, tuple[str, str]] = {
    R_BLANK: ("Trang trắng (mặt sau)", "Blank page (back side)"),
    R_NO_MARKERS: ("Không tìm thấy dấu định vị", "Alignment markers not found"),
    R_SOME_MARKERS: ("Chỉ thấy một phần dấu định vị: trang quét bị cắt (khổ quét nhỏ hơn A4?) hoặc dấu bị hỏng; "
                     "hãy quét lại cả tờ khổ A4",
                     "Only some alignment markers found: the scan cuts off part of the sheet (a scan area smaller "
                     "than A4?) or they are damaged; scan the whole A4 sheet again"),
    R_SEVERAL: ("Nhiều phiếu trong một ảnh: hãy quét hoặc chụp riêng từng phiếu",
                "Several ballots in one image: scan or photograph each ballot on its own"),
    R_BACK_WRITING: ("Trang không có dấu định vị nhưng có chữ viết tay: mặt sau của một phiếu có ghi thêm? "
                     "Phiếu quét ngay trước trang này cũng được đưa ra xem xét",
                     "A page without alignment markers but with handwriting on it: the back of a ballot written "
                     "on? The ballot scanned right before it goes to review too"),
    R_WRITING_ON_BACK: ("Mặt sau của phiếu này (trang quét ngay sau nó) có chữ viết tay",
                        "The back of this ballot (the page scanned right after it) has handwriting on it"),
    R_NO_QR: ("Không đọc được mã QR", "QR code unreadable"),
    R_FOREIGN: ("Phiếu của phiên khác", "Ballot of another session"),
    R_LAYOUT: ("Mẫu phiếu không khớp", "Ballot layout does not match"),
    R_UNKNOWN_TOKEN: ("Mã phiếu không có trong danh sách đã phát", "Ballot token was never issued"),
    R_DUPLICATE: ("Phiếu bị quét trùng (bản sao?)", "Same ballot scanned twice (a copy?)"),
    R_WRITING: ("Có chữ viết thêm trên phiếu", "Extra writing on the ballot"),
    R_FILE: ("Tệp hỏng hoặc không đọc được", "File damaged or unreadable"),
    R_MARGINAL: ("Dấu không rõ", "Unclear mark"),
    R_MULTIPLE: ("Đánh dấu nhiều ô", "More than one box marked"),
    R_CROSSED: ("Họ tên in sẵn có thể bị gạch", "Printed name may be crossed out"),
    R_STREAK: ("Vệt dọc của máy quét (bụi trên kính quét) đi qua ô hoặc dọc theo họ tên: có thể che một phần dấu",
               "A scanner streak (dust on the scanner's glass) through a box or along the name: it may hide part "
               "of a mark"),
    R_RED: ("Mực đỏ, hồng, cam hoặc vàng (bị lọc cùng con dấu): cần xem bằng mắt",
            "Red, pink, orange or yellow ink (dropped with the seal): look at it"),
    R_OUTSIDE: ("Có nét ngoài ô đánh dấu", "Ink outside the boxes"),
    R_FAINT: ("Dấu mờ", "Faint mark"),
    R_BETWEEN_ROWS: ("Dấu vắt qua hai dòng: không rõ đánh cho người nào", "A mark runs across two rows: whose is it?"),
    R_RIM: ("Có nét bút trên hoặc sát viền ô (tô lại viền ô, khoanh tròn ô?)",
            "Pen strokes on or just around a box's outline (the box traced over, or circled?)"),
    R_NAME_INK: ("Có nét bút trong ô số thứ tự, họ tên hoặc chức vụ (gạch xoá, đánh dấu hay ghi thêm?)",
                 "Pen strokes in the number, name or position cells (crossed out, marked or written on?)"),
    # file problems (the second reason of a rejected page)
    "empty_file": ("Tệp rỗng (0 byte)", "Empty file (0 bytes)"),
    "not_an_image": ("Không phải tệp ảnh hay PDF", "Not an image or PDF file"),
    "truncated": ("Tệp ảnh bị cắt cụt (chưa ghi xong?)", "Truncated image file (not fully written?)"),
    "damaged": ("Tệp hỏng, không giải mã được", "Damaged file, cannot be decoded"),
    "too_large": ("Ảnh quá lớn: hãy quét ở 300 dpi", "Image too large: scan at 300 dpi"),
    "encrypted": ("PDF có mật khẩu: hãy quét lại không đặt mật khẩu", "Password-protected PDF: scan again without one"),
    "unreadable": ("Không đọc được tệp", "The file cannot be read"),
    "internal_error": ("Lỗi nội bộ khi đọc trang này", "Internal error while reading this page"),
    R_FOLD: ("Nếp gấp hoặc đường kẻ đi qua ô", "A fold or ruled line crosses the boxes"),
    R_SCRIBBLE: ("Ô bị tô kín hoặc gạch xoá (huỷ dấu?)", "Box filled or scribbled over (a cancelled mark?)"),
    R_FADED: ("Bản in quá nhạt (máy in hết mực, hoặc máy quét đặt chế độ quá sáng): máy không phân biệt được chữ in "
              "với nét bút; hãy xem cả trang",
              "The print is too faint (a printer low on toner, or the scanner set too light): the machine cannot tell "
              "the print from pen strokes; look at the whole page"),
    R_GLARE: ("Vùng lóa sáng trên ô đánh dấu: giấy và nét bút ở đó bị xoá trắng, dấu có thể đã mất; hãy chụp hoặc quét lại",
              "Glare over a box: the paper and any pen stroke there are washed to white, a mark may be lost; "
              "photograph or scan again"),
    R_LOW_RES: ("Ảnh có độ phân giải quá thấp (dưới 90 điểm ảnh mỗi inch trên tờ phiếu): nét bút mảnh, bút chì nhạt "
                "có thể không còn thấy; hãy quét lại từ 150 dpi trở lên, hoặc chụp gần hơn",
                "Image resolution too low (under 90 pixels per inch on the sheet): a fine pen or a light pencil may "
                "not show; rescan at 150 dpi or more, or photograph closer"),
    R_OVEREXPOSED: ("Giấy trong ô bị cháy sáng (trắng tuyệt đối ở mọi màu, ảnh hoặc bản quét quá sáng): nét bút chì, "
                    "mực nhạt ở đó có thể đã mất; hãy xem phiếu giấy, hoặc chụp, quét lại tối hơn",
                    "Overexposed: the paper in a box is pure white in every colour (the photo or scan is too bright), "
                    "a light pencil or ink mark there may be lost; look at the paper ballot, or photograph or scan "
                    "again darker"),
    R_BITONAL: ("Ảnh quét đen trắng (1 bit, hoặc máy quét tăng tương phản đến mức giấy trắng hẳn, mực đen hẳn): nét bút "
                "chì, mực nhạt có thể đã mất; nên quét lại ở chế độ xám hoặc màu, tắt chế độ tự tăng tương phản/xoá nền",
                "Black-and-white scan (1-bit, or contrast stretched until the paper is pure white and the ink pure "
                "black): pencil or light ink may be lost; rescan in greyscale or colour, without auto-enhancement or "
                "background removal"),
}

#: what to do about a cause at the scanner seen on many pages, where its reason's text does not say it already
CAUSE_REMEDY: dict[str, tuple[str, str]] = {
    R_STREAK: ("Vệt dọc của máy quét đi qua ô hoặc dọc theo họ tên: kính quét (hoặc thanh quét của khay nạp giấy) "
               "có bụi hay vết bẩn. Hãy lau kính rồi quét lại các trang này",
               "A scanner streak through a box or along the name: dust or a smudge on the scanner's glass (or the "
               "feeder's scan strip). Clean the glass and scan these pages again"),
}


#: review reasons whose cause is the scanner, the camera or the printer: mended at the machine, not page by page
SCANNER_CAUSES = (R_STREAK, R_BITONAL, R_OVEREXPOSED, R_GLARE, R_LOW_RES, R_FADED, R_SOME_MARKERS)
RECURRING_PAGES = 3  # a cause at the scanner is named, with what to do, once it is seen on this many pages


def recurring_causes(pages: Iterable[Iterable[str]]) -> dict[str, int]:
    """Causes at the scanner or camera that the committee can remove (a dirty glass, a black-and-white
    mode, too bright a setting, a lamp's glare, a low resolution, a printer low on toner, a scan area
    smaller than A4), each with the number of pages it sent to review, when that is :data:`RECURRING_PAGES`
    or more, most pages first. ``pages``: each page's reason codes, its rows' included."""
    seen = Counter(code for reasons in pages for code in dict.fromkeys(reasons) if code in SCANNER_CAUSES)
    return {code: n for code, n in seen.most_common() if n >= RECURRING_PAGES}


def cause_text(code: str) -> tuple[str, str]:
    """What to say (Vietnamese, English) about a cause at the scanner seen on many pages: what to do about it
    (:data:`CAUSE_REMEDY`) where the reason's own text does not say it already."""
    return CAUSE_REMEDY.get(code) or REASON_TEXT.get(code, (code, code))


@dataclass(frozen=True)
class RowReading:
    """One person's line on one page, effective (machine, or human where decided)."""

    person: int
    marks: Marks
    choice: str | None
    machine_marks: Marks
    machine_choice: str | None
    reasons: tuple[str, ...]
    decided: bool  # a standing human decision gives marks/choice
    pending: bool  # flagged and not yet decided


@dataclass(frozen=True)
class PageReading:
    page_id: int
    source: str
    page_index: int
    kind: PageKind
    status: PageStatus
    token: str | None
    layout_page: int | None
    reasons: tuple[str, ...]
    rows: tuple[RowReading, ...]
    verdict: str | None  # standing ballot-level decision
    crossed_persons: frozenset[int]
    pending: bool  # anything on this page still waits for a human

    @property
    def counted(self) -> bool:
        """True when this page is a collected ballot page (counted, valid or not)."""
        if self.verdict in ("duplicate_copy", "not_a_ballot"):
            return False
        if self.verdict is not None:
            return True
        return self.kind == "ballot" and not self.pending


@dataclass(frozen=True)
class Decision:
    id: int
    page_id: int
    person: int | None
    reviewer: str
    after: dict[str, Any]
    undoes: int | None


def _decisions(conn: sqlite3.Connection) -> list[Decision]:
    return [
        Decision(r["id"], r["page_id"], r["person"], r["reviewer"], json.loads(r["after"]), r["undoes"])
        for r in conn.execute("SELECT id, page_id, person, reviewer, after, undoes FROM decisions ORDER BY id")
    ]


def standing_decisions(
    conn: sqlite3.Connection, *, two_person: bool
) -> tuple[dict[tuple[int, int | None], dict[str, Any]], list[tuple[int, int | None]]]:
    """The decision that stands for each (page, person-or-None), and the disagreements.

    Without the two-person rule the latest decision stands. With it, a decision
    stands only when the latest decisions of two different reviewers agree.
    """
    all_decisions = _decisions(conn)
    undone = {d.undoes for d in all_decisions if d.undoes is not None}
    latest_by_reviewer: dict[tuple[int, int | None], dict[str, Decision]] = defaultdict(dict)
    for d in all_decisions:
        if d.undoes is not None or d.id in undone:
            continue
        latest_by_reviewer[(d.page_id, d.person)][d.reviewer] = d
    standing: dict[tuple[int, int | None], dict[str, Any]] = {}
    disagreements: list[tuple[int, int | None]] = []
    for key, by_reviewer in latest_by_reviewer.items():
        ordered = sorted(by_reviewer.values(), key=lambda d: d.id)
        if not two_person:
            standing[key] = ordered[-1].after
        elif len(ordered) >= 2:
            if ordered[-1].after == ordered[-2].after:
                standing[key] = ordered[-1].after
            else:
                disagreements.append(key)
    return standing, disagreements


@dataclass(frozen=True)
class WorkspaceReadings:
    """A workspace's session, its ballot layout (None before printing) and every page reading."""

    session: Session
    layout: Layout | None
    readings: list[PageReading]


def workspace_readings(ws: Workspace) -> WorkspaceReadings:
    """Load the session, the layout and the merged readings of a workspace."""
    from kiemphieu import db
    from kiemphieu.layout import load_layout

    session = ws.load_session()
    layout = load_layout(ws.layout_json) if ws.layout_json.exists() else None
    conn = db.connect(ws.db_path)
    try:
        readings = load_readings(conn, two_person=session.two_person_review)
    finally:
        conn.close()
    return WorkspaceReadings(session, layout, readings)


def load_readings(conn: sqlite3.Connection, *, two_person: bool = False) -> list[PageReading]:
    """Every recorded page, machine reading merged with standing decisions."""
    standing, _ = standing_decisions(conn, two_person=two_person)
    rows_by_page: dict[int, list[sqlite3.Row]] = defaultdict(list)
    for r in conn.execute("SELECT page_id, person, marks, choice, reasons FROM rows ORDER BY page_id, person"):
        rows_by_page[r["page_id"]].append(r)
    readings = []
    for p in conn.execute("SELECT * FROM pages ORDER BY file_sha256, page_index"):
        page_id = p["id"]
        ballot = standing.get((page_id, None))
        verdict = ballot.get("verdict") if ballot else None
        rows = []
        for r in rows_by_page.get(page_id, []):
            reasons = tuple(json.loads(r["reasons"]))
            decided = standing.get((page_id, r["person"]))
            rows.append(
                RowReading(
                    person=r["person"],
                    marks=decided["marks"] if decided else r["marks"],
                    choice=decided.get("choice") if decided else r["choice"],
                    machine_marks=r["marks"],
                    machine_choice=r["choice"],
                    reasons=reasons,
                    decided=decided is not None,
                    pending=bool(reasons) and decided is None,
                )
            )
        page_reasons = tuple(json.loads(p["reasons"]))
        needs_ballot_decision = p["kind"] != "blank" and (
            bool(page_reasons) or p["kind"] in ("unreadable", "not_issued", "rejected")
        )
        pending = (needs_ballot_decision and verdict is None) or any(r.pending for r in rows)
        if verdict in ("duplicate_copy", "not_a_ballot", "not_issued"):
            pending = False  # the rows do not matter any more
        status = p["status"]
        if status in ("review", "rejected") and not pending and (verdict is not None or any(r.decided for r in rows)):
            status = "reviewed"
        readings.append(
            PageReading(
                page_id=page_id,
                source=p["source"],
                page_index=p["page_index"],
                kind=p["kind"],
                status=status,
                token=p["token"],
                layout_page=p["layout_page"],
                reasons=page_reasons,
                rows=tuple(rows),
                verdict=verdict,
                crossed_persons=frozenset(int(x) for x in (ballot or {}).get("persons", [])),
                pending=pending,
            )
        )
    return readings
