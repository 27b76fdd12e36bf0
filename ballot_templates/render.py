"""Render print-ready ballots (A4 PDF) and the published ``layout.json``."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from ballot_templates.markers import marker_bits
from kiemphieu import db
from kiemphieu.errors import LayoutError, WorkspaceError
from kiemphieu.fonts import register_fonts
from kiemphieu.layout import (
    COL_W,
    COLUMN_X,
    HEADER_H,
    HEADER_TOP,
    LEVELS,
    PAGE_H,
    PAGE_W,
    Layout,
    PageLayout,
    Rect,
    build_layout,
    load_layout,
    qr_payload,
)
from kiemphieu.session import Session, Workspace

NAME_SIZES = (10.0, 9.0, 8.0)
# (font size, most lines) tried in order for the position column
POSITION_FITS = ((9.0, 1), (9.0, 2), (8.0, 2), (7.0, 2), (7.0, 3), (6.5, 3))
ORG_SIZES = (9.5, 8.5, 7.5)
ORG_WIDTH_MM, ORG_MAX_LINES = 60.0, 3
TITLE_SIZES = (10.5, 9.5, 8.5)
TITLE_WIDTH_MM = 186.0
LEVEL_TITLES = {"high": ("Tín nhiệm", "cao"), "medium": ("Tín nhiệm", ""), "low": ("Tín nhiệm", "thấp")}
INSTRUCTION = "Đánh dấu X vào một ô tương ứng với mức độ tín nhiệm"
PT_MM = 25.4 / 72.0  # one typographic point in millimetres


def _fit_size(text: str, font: str, width_mm: float, sizes: Sequence[float]) -> float | None:
    for size in sizes:
        if stringWidth(text, font, size) <= width_mm * mm:
            return size
    return None


def _wrap(text: str, font: str, size: float, width_mm: float) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        cand = f"{line} {word}".strip()
        if stringWidth(cand, font, size) <= width_mm * mm or not line:
            line = cand
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def _fit_lines(
    text: str, font: str, width_mm: float, fits: Sequence[tuple[float, int]]
) -> tuple[float, list[str]] | None:
    """The first (size, lines) that wraps ``text`` within ``width_mm`` and the line limit."""
    for size, most in fits:
        lines = _wrap(text, font, size, width_mm)
        if len(lines) <= most and all(stringWidth(ln, font, size) <= width_mm * mm for ln in lines):
            return size, lines
    return None


def _position_lines(position: str, font: str) -> tuple[float, list[str]] | None:
    return _fit_lines(position, font, COL_W["position"] - 3.0, POSITION_FITS)


def _org_lines(organisation: str, font: str) -> tuple[float, list[str]] | None:
    return _fit_lines(organisation.upper(), font, ORG_WIDTH_MM, [(s, ORG_MAX_LINES) for s in ORG_SIZES])


def _baselines(centre_mm: float, size: float, count: int) -> list[float]:
    """Baselines (mm, y down) of ``count`` lines of ``size`` pt centred on ``centre_mm``."""
    lead = 1.15 * size * PT_MM
    cap = 0.73 * size * PT_MM
    first = centre_mm - (count - 1) * lead / 2 + cap / 2
    return [first + i * lead for i in range(count)]


def fit_problem(name: str, position: str) -> tuple[str, str] | None:
    """Why a person's name or position cannot be printed, as (vi, en); ``None`` when it fits."""
    regular, _ = register_fonts()
    if _fit_size(name, regular, COL_W["name"] - 3.0, NAME_SIZES) is None:
        return (
            f"họ và tên '{name}' quá dài để in trên một dòng của cột 'Họ và tên'",
            f"the name '{name}' is too long to print on one line of the name column",
        )
    if position and _position_lines(position, regular) is None:
        return (
            f"chức vụ '{position}' quá dài để in (tối đa ba dòng)",
            f"the position '{position}' is too long to print (three lines at most)",
        )
    return None


def check_fits(session: Session) -> None:
    """Raise :class:`LayoutError` naming the first text that cannot be printed."""
    regular, bold = register_fonts()
    if _org_lines(session.organisation, bold) is None:
        raise LayoutError(
            f"Tên cơ quan, đơn vị quá dài để in (tối đa {ORG_MAX_LINES} dòng): {session.organisation}",
            f"The organisation is too long to print ({ORG_MAX_LINES} lines at most): {session.organisation}",
        )
    if _fit_size(session.title, regular, TITLE_WIDTH_MM, TITLE_SIZES) is None:
        raise LayoutError(
            f"Tên hội nghị quá dài để in trên một dòng: {session.title}",
            f"The conference title is too long to print on one line: {session.title}",
        )
    for p in session.persons:
        problem = fit_problem(p.name, p.position)
        if problem is not None:
            raise LayoutError(f"STT {p.stt}: {problem[0]}.", f"STT {p.stt}: {problem[1]}.")


def new_token() -> str:
    """A random ballot token: 64 bits, base32, 13 characters, never sequential."""
    return base64.b32encode(secrets.token_bytes(8)).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class PrintRun:
    pdf: Path
    layout: Path
    copies: int
    pages_per_ballot: int
    tokens: bool


class _Painter:
    """Draws in millimetres with y down, as layout.json speaks."""

    def __init__(self, c: canvas.Canvas) -> None:
        self.c = c

    def rect(self, r: Rect, *, fill: bool = False, width: float = 0.3) -> None:
        x, y, w, h = r
        self.c.setLineWidth(width * mm)
        self.c.rect(x * mm, (PAGE_H - y - h) * mm, w * mm, h * mm, stroke=0 if fill else 1, fill=1 if fill else 0)

    def line(self, x1: float, y1: float, x2: float, y2: float, width: float = 0.3) -> None:
        self.c.setLineWidth(width * mm)
        self.c.line(x1 * mm, (PAGE_H - y1) * mm, x2 * mm, (PAGE_H - y2) * mm)

    def text(self, x: float, y: float, s: str, font: str, size: float, align: str = "left") -> None:
        self.c.setFont(font, size)
        if align == "centre":
            self.c.drawCentredString(x * mm, (PAGE_H - y) * mm, s)
        elif align == "right":
            self.c.drawRightString(x * mm, (PAGE_H - y) * mm, s)
        else:
            self.c.drawString(x * mm, (PAGE_H - y) * mm, s)


def _draw_marker(p: _Painter, rect: Rect, marker_id: int) -> None:
    bits = marker_bits(marker_id)
    x, y, w, _ = rect
    cell = w / bits.shape[0]
    for r in range(bits.shape[0]):
        for c in range(bits.shape[1]):
            if bits[r, c]:
                p.rect((x + c * cell, y + r * cell, cell + 0.01, cell + 0.01), fill=True)


def _draw_qr(p: _Painter, rect: Rect, payload: str) -> None:
    qr = segno.make(payload, error="h", micro=False)
    matrix = qr.matrix
    n = len(matrix)
    x, y, w, _ = rect
    cell = w / n
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                p.rect((x + c * cell, y + r * cell, cell + 0.01, cell + 0.01), fill=True)


def _draw_page(
    p: _Painter, session: Session, layout: Layout, page: PageLayout, payload: str | None
) -> None:
    regular, bold = register_fonts()
    c = p.c
    c.setFillColorRGB(0, 0, 0)
    c.setStrokeColorRGB(0, 0, 0)
    # organisation, top left: the hanging seal is stamped over it
    fitted_org = _org_lines(session.organisation, bold)
    if fitted_org is None:  # check_fits refuses this before any drawing
        raise LayoutError("Tên cơ quan, đơn vị quá dài để in.", "The organisation is too long to print.")
    org_size, org_lines = fitted_org
    for i, line in enumerate(org_lines):
        p.text(36.0, 16.0 + i * 4.5, line, bold, org_size, align="centre")
    if org_lines:
        rule_y = 18.0 + len(org_lines) * 4.5 - 2.5
        p.line(24.0, rule_y, 48.0, rule_y, width=0.25)
    p.text(PAGE_W / 2, 44.0, "PHIẾU TÍN NHIỆM", bold, 16.0, align="centre")
    title_size = _fit_size(session.title, regular, TITLE_WIDTH_MM, TITLE_SIZES) or TITLE_SIZES[-1]
    p.text(PAGE_W / 2, 50.5, session.title, regular, title_size, align="centre")
    p.text(PAGE_W / 2, 57.5, INSTRUCTION, regular, 10.0, align="centre")
    if layout.pages_per_ballot > 1:
        p.text(200.0, 37.0, f"Trang {page.page}/{layout.pages_per_ballot}", regular, 8.0, align="right")
    # table
    tx, ty, tw, th = page.table_mm
    p.rect((tx, ty, tw, th), width=0.35)
    p.line(tx, HEADER_TOP + HEADER_H, tx + tw, HEADER_TOP + HEADER_H, width=0.35)
    for col in ("name", "position", "high", "medium", "low"):
        p.line(COLUMN_X[col], ty, COLUMN_X[col], ty + th, width=0.3)
    heads = {"stt": ("STT", ""), "name": ("Họ và tên", ""), "position": ("Chức vụ", ""), **LEVEL_TITLES}
    for col, (l1, l2) in heads.items():
        width = COL_W["level"] if col in LEVELS else COL_W[col]
        cx = COLUMN_X[col] + width / 2
        if l2:
            p.text(cx, HEADER_TOP + 5.2, l1, bold, 8.5, align="centre")
            p.text(cx, HEADER_TOP + 9.4, l2, bold, 8.5, align="centre")
        else:
            p.text(cx, HEADER_TOP + 7.3, l1, bold, 8.5, align="centre")
    for row in page.rows:
        rx, ry, rw, rh = row.row_mm
        p.line(rx, ry + rh, rx + rw, ry + rh, width=0.2)
        p.text(COLUMN_X["stt"] + COL_W["stt"] / 2, ry + 6.3, str(row.person), regular, 9.5, align="centre")
        size = _fit_size(row.name, regular, COL_W["name"] - 3.0, NAME_SIZES) or NAME_SIZES[-1]
        p.text(COLUMN_X["name"] + 1.5, ry + 6.3, row.name, regular, size)
        fitted = _position_lines(row.position, regular) if row.position else None
        if fitted:
            psize, lines = fitted
            if len(lines) == 1:
                p.text(COLUMN_X["position"] + 1.5, ry + 6.3, lines[0], regular, psize)
            else:
                for line, base in zip(lines, _baselines(ry + rh / 2, psize, len(lines)), strict=True):
                    p.text(COLUMN_X["position"] + 1.5, base, line, regular, psize)
        for level in LEVELS:
            p.rect(row.boxes_mm[level], width=0.45)
    if page.signature_mm:
        sx, sy, sw, _ = page.signature_mm
        p.text(sx + sw / 2, sy + 3.5, "Chữ ký người ghi phiếu (không bắt buộc)", regular, 7.5, align="centre")
    for name, rect in page.markers_mm.items():
        _draw_marker(p, rect, layout.marker_ids[name])
    p.text(PAGE_W / 2, 285.0, f"kiemphieu · {layout.session_id}", regular, 6.5, align="centre")
    if payload is not None:
        _draw_qr(p, page.qr_mm, payload)


def _write_pdf(path: Path, session: Session, layout: Layout, tokens: Sequence[str | None], *, qr: bool) -> None:
    regular, _ = register_fonts()
    # every font on the page is the embedded TrueType one (no stray Helvetica reference)
    c = canvas.Canvas(
        str(path), pagesize=(PAGE_W * mm, PAGE_H * mm), pageCompression=1, initialFontName=regular
    )
    c.setTitle("Phiếu tín nhiệm")
    c.setAuthor(session.organisation)
    c.setCreator("kiemphieu")
    painter = _Painter(c)
    for token in tokens:
        for page in layout.pages:
            payload = qr_payload(layout, page.page, token) if qr else None
            _draw_page(painter, session, layout, page, payload)
            c.showPage()
    c.save()


def render_ballots(ws: Workspace, *, copies: int, tokens: bool = True) -> PrintRun:
    """Write ``ballots.pdf`` (``copies`` ballots), ``layout.json`` and ``reference.pdf``.

    Tokens are random and recorded only as an unordered set of issued tokens.
    A second print run with the same list adds its tokens to the set; a list
    changed after ballots were issued is refused.

    Every file is written beside its final name first; the tokens are committed
    to the database before the files take their final names, so a failed run
    leaves neither a half-written file nor a printed token that is not issued.
    """
    if copies < 1:
        raise LayoutError("Số bản in phải lớn hơn 0.", "--copies must be at least 1.")
    session = ws.load_session()
    check_fits(session)
    layout = build_layout(session.session_id, [(p.name, p.position) for p in session.persons])
    conn = db.connect(ws.db_path)
    outputs = {
        ws.ballots_pdf: ws.ballots_pdf.with_suffix(".pdf.tmp"),
        ws.reference_pdf: ws.reference_pdf.with_suffix(".pdf.tmp"),
        ws.layout_json: ws.layout_json.with_suffix(".json.tmp"),
    }
    try:
        previous = db.get_meta(conn, "layout_hash")
        if previous and previous != layout.layout_hash:
            issued = conn.execute("SELECT COUNT(*) FROM issued_tokens").fetchone()[0]
            printed = db.get_meta(conn, "untokened_issued") == "1"
            if issued or printed:
                raise WorkspaceError(
                    "Danh sách người được lấy phiếu đã thay đổi sau khi phiếu được in. Phiếu đã in sẽ không còn hợp lệ; "
                    "hãy tạo một thư mục làm việc mới.",
                    "The persons list changed after ballots were printed; those ballots would no longer match. "
                    "Create a new workspace instead.",
                )
        token_list: list[str | None] = [new_token() for _ in range(copies)] if tokens else [None] * copies
        _write_pdf(outputs[ws.ballots_pdf], session, layout, token_list, qr=True)
        _write_pdf(outputs[ws.reference_pdf], session, layout, [None], qr=False)
        outputs[ws.layout_json].write_text(layout.to_json(), encoding="utf-8")
        if load_layout(outputs[ws.layout_json]).layout_hash != layout.layout_hash:
            raise LayoutError("layout.json không đọc lại được.", "layout.json does not read back.")
        conn.execute("BEGIN IMMEDIATE")
        try:
            db.set_meta(conn, "layout_hash", layout.layout_hash)
            if tokens:
                db.add_tokens(conn, [t for t in token_list if t])
            else:
                db.set_meta(conn, "untokened_issued", "1")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        for final, tmp in outputs.items():
            tmp.replace(final)
    finally:
        conn.close()
        for tmp in outputs.values():
            tmp.unlink(missing_ok=True)
    return PrintRun(ws.ballots_pdf, ws.layout_json, copies, layout.pages_per_ballot, tokens)
