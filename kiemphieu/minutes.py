"""The counting minutes (biên bản kiểm phiếu) as a PDF.

Organisation, conference, date and place, summoned / present, the counting
committee, ballots issued / collected / valid / invalid, the per-person table
with percentages and flags, the rule set applied, a signature line for each
committee member, the confidentiality mark (MẬT), and the SHA-256 of the
results export the minutes were made from. A provisional tally says so in a
banner on every page.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from kiemphieu.errors import InputError
from kiemphieu.i18n import tr
from kiemphieu.reports import flag_text, rule_line
from kiemphieu.tally import Tally, require_quorum


def minutes_pdf_bytes(tally: Tally, *, results_sha256: str) -> bytes:
    """Build the minutes; refuse when the conference had no quorum.

    Parameters
    ----------
    tally : Tally
        The tally to record (a provisional tally is marked TẠM TÍNH on every page).
    results_sha256 : str
        SHA-256 (hex) of the results export the minutes are made from.

    Raises
    ------
    NoQuorumError
        Fewer than 2/3 of those summoned were present, or the number present is unknown.
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    from kiemphieu.fonts import register_fonts

    require_quorum(tally)
    if len(results_sha256) != 64:
        raise InputError("Mã SHA-256 của tệp kết quả không hợp lệ.", "The SHA-256 of the results export is malformed.")
    regular, bold = register_fonts()
    s = tally.session
    body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10)
    cell = ParagraphStyle("cell", parent=body, fontSize=8.5, leading=10)
    cell_b = ParagraphStyle("cellb", parent=cell, fontName=bold, fontSize=8)
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=15, leading=19, alignment=TA_CENTER)
    centre = ParagraphStyle("centre", parent=body, alignment=TA_CENTER)
    banner = ParagraphStyle("banner", parent=body, fontName=bold, fontSize=12, leading=15,
                            textColor=colors.HexColor("#C00000"), alignment=TA_CENTER)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text), style)

    story: list[object] = []
    head = Table(
        [[p(s.organisation.upper(), cell_b), p(tr("MẬT", "CONFIDENTIAL (MẬT)"), banner)]],
        colWidths=[180 * mm, 85 * mm],
    )
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (1, 0), (1, 0), "RIGHT")]))
    story += [head, Spacer(1, 3 * mm)]
    story.append(p(tr("BIÊN BẢN KIỂM PHIẾU", "COUNTING MINUTES"), title))
    story.append(p(tr("Lấy phiếu tín nhiệm — ", "Confidence vote — ") + s.title, centre))
    story.append(Spacer(1, 3 * mm))
    if tally.provisional:
        story.append(p(tally.status_text, banner))
        story.append(Spacer(1, 2 * mm))
    present = "?" if s.present is None else str(s.present)
    issued = "?" if s.issued is None else str(s.issued)
    facts = [
        tr(f"Thời gian: {s.date}. Địa điểm: {s.place}.", f"Date: {s.date}. Place: {s.place}."),
        tr(
            f"Số người được triệu tập: {s.summoned}; số người có mặt: {present} (đủ 2/3 theo quy định).",
            f"Summoned: {s.summoned}; present: {present} (at least 2/3, as required).",
        ),
        tr("Ban kiểm phiếu: ", "Counting committee: ") + (", ".join(s.committee) or "—") + ".",
        tr(
            f"Số phiếu phát ra: {issued}; số phiếu thu về: {tally.ballots_collected}"
            + (f" (ban kiểm phiếu đếm được trong thùng phiếu: {s.counted})" if s.counted is not None else "") + "; "
            f"phiếu hợp lệ hoàn toàn: {tally.ballots_valid}; phiếu không hợp lệ hoàn toàn: {tally.ballots_invalid}; "
            f"phiếu hợp lệ một phần: {tally.ballots_partly_valid}"
            + (f"; phiếu còn chờ xem xét: {tally.ballots_pending}" if tally.ballots_pending else "") + ".",
            f"Ballots issued: {issued}; collected: {tally.ballots_collected}"
            + (f" (counted in the ballot box by the committee: {s.counted})" if s.counted is not None else "") + "; "
            f"wholly valid: {tally.ballots_valid}; wholly invalid: {tally.ballots_invalid}; "
            f"partly valid: {tally.ballots_partly_valid}"
            + (f"; still waiting for review: {tally.ballots_pending}" if tally.ballots_pending else "") + ".",
        ),
        rule_line(tally),
        tr(
            "Tỉ lệ phần trăm tính trên tổng số phiếu thu về.",
            "Percentages are of the ballots collected.",
        ),
    ]
    story += [p(f) for f in facts]
    story.append(Spacer(1, 3 * mm))

    header = [
        tr("STT", "No."), tr("Họ và tên", "Name"), tr("Chức vụ", "Position"), tr("Phát ra", "Issued"),
        tr("Thu về", "Collected"), tr("Hợp lệ", "Valid"), tr("Không hợp lệ", "Invalid"),
        tr("Tín nhiệm cao", "High"), "%", tr("Tín nhiệm", "Medium"), "%", tr("Tín nhiệm thấp", "Low"), "%",
        tr("Ghi chú", "Flag"),
    ]
    if tally.provisional:
        header.insert(7, tr("Chờ xem xét", "Pending"))
    data = [[p(h, cell_b) for h in header]]
    for r in tally.rows:
        cells = [str(r.stt), r.name, r.position, issued, str(r.collected), str(r.valid), str(r.invalid)]
        if tally.provisional:
            cells.append(str(r.pending))
        for level in ("high", "medium", "low"):
            cells += [str(r.count(level)), r.percent(level)]
        cells.append(flag_text(tally, r))
        data.append([p(c, cell) for c in cells])
    widths = [12, 42, 35, 14, 14, 14, 17, 17, 16, 17, 16, 17, 16, 26]
    if tally.provisional:
        widths = [12, 38, 30, 13, 13, 13, 16, 15, 15, 16, 15, 16, 15, 16, 22]
    table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDEBF7")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    for i, r in enumerate(tally.rows, start=1):  # light tint on the flag cell only: stays legible
        if r.flag == "two_thirds":
            style.append(("BACKGROUND", (-1, i), (-1, i), colors.HexColor("#FBE2D5")))
        elif r.flag == "over_half":
            style.append(("BACKGROUND", (-1, i), (-1, i), colors.HexColor("#FFF2CC")))
    table.setStyle(TableStyle(style))
    story += [table, Spacer(1, 3 * mm)]

    flagged = [r for r in tally.rows if r.flag]
    if flagged:
        story.append(p(tr("Các trường hợp theo quy định:", "Cases under the rules:"), cell_b))
        for r in flagged:
            consequence = getattr(tally.rules, r.flag or "").consequence
            story.append(p(f"{r.stt}. {r.name}: {flag_text(tally, r)} — {consequence}", small))
        story.append(Spacer(1, 2 * mm))
    for check in tally.checks:
        if check.code != "pending":
            story.append(p(check.text, banner if check.severity == "stop" else body))
    story.append(p(tr(
        "Biên bản được lập thành 03 bản và quản lý theo chế độ mật.",
        "These minutes are made in 3 copies and kept confidential.",
    )))
    story.append(p(tr("SHA-256 của tệp kết quả (results.csv): ", "SHA-256 of the results export (results.csv): ")
                   + results_sha256, small))
    story.append(Spacer(1, 5 * mm))
    members = list(s.committee) or ["", "", ""]
    signs = [[p(name or "……………………………"), p(tr("Ký tên: ", "Signature: ") + "……………………………………")]
             for name in members]
    sign_table = Table(signs, colWidths=[90 * mm, 120 * mm], rowHeights=[13 * mm] * len(signs))
    sign_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
    story.append(KeepTogether([
        p(tr("BAN KIỂM PHIẾU (ký, ghi rõ họ tên)", "COUNTING COMMITTEE (sign, with full name)"), cell_b),
        sign_table,
    ]))

    def decorate(canvas: object, doc: object) -> None:
        c = canvas
        c.saveState()  # type: ignore[attr-defined]
        c.setFont(bold, 9)  # type: ignore[attr-defined]
        c.setFillColor(colors.HexColor("#C00000"))  # type: ignore[attr-defined]
        page = c.getPageNumber()  # type: ignore[attr-defined]
        mark = tr("MẬT", "CONFIDENTIAL")
        if tally.provisional:
            mark += " — " + tr("TẠM TÍNH", "PROVISIONAL")
        c.drawString(12 * mm, 8 * mm, f"{mark} — {tr('Trang', 'Page')} {page}")  # type: ignore[attr-defined]
        c.restoreState()  # type: ignore[attr-defined]

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm,
        bottomMargin=15 * mm, title=tr("Biên bản kiểm phiếu", "Counting minutes"), author="kiemphieu",
        invariant=1,
    )
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)  # type: ignore[arg-type]
    return buffer.getvalue()
