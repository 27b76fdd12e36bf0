"""The tally as the committee reads it: terminal table, CSV, XLSX, and the summary.

Every output carries the rule set applied (with the crossed-name option), the
status (PROVISIONAL / TẠM TÍNH while pages wait for review) and the warnings.
Outputs are built in memory as bytes and written by :func:`write_outputs`
atomically (temporary file, then rename), so a failed run leaves no half file.
The counting minutes (PDF) are in :mod:`kiemphieu.minutes`.
"""

from __future__ import annotations

import csv
import io
import os
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kiemphieu.errors import InputError
from kiemphieu.i18n import tr
from kiemphieu.tally import PersonTally, Tally

if TYPE_CHECKING:
    from rich.console import Console

PERCENT_LEVELS = ("high", "medium", "low")


def crossed_option_text(tally: Tally) -> str:
    if tally.session.crossed_name_invalidates == "ballot":
        return tr("gạch tên in sẵn làm cả phiếu không hợp lệ", "a crossed-out printed name invalidates the whole ballot")
    return tr(
        "gạch tên in sẵn chỉ làm dòng của người đó không hợp lệ",
        "a crossed-out printed name invalidates only that person's line",
    )


def rule_line(tally: Tally) -> str:
    """One sentence: the rule set and the crossed-name option applied."""
    return tr(
        f"Quy định áp dụng: {tally.rules.title_vi} ({tally.rules.rule_id}); {crossed_option_text(tally)}.",
        f"Rules applied: {tally.rules.title_en} ({tally.rules.rule_id}); {crossed_option_text(tally)}.",
    )


def flag_text(tally: Tally, row: PersonTally) -> str:
    if row.flag is None:
        return ""
    return getattr(tally.rules, row.flag).label


def table_headers() -> list[str]:
    return [
        tr("STT", "No."), tr("Họ và tên", "Name"), tr("Chức vụ", "Position"),
        tr("Phiếu phát ra", "Issued"), tr("Phiếu thu về", "Collected"), tr("Hợp lệ", "Valid"),
        tr("Không hợp lệ", "Invalid"), tr("Chờ xem xét", "Pending"),
        tr("Tín nhiệm cao", "High"), tr("% cao", "High %"),
        tr("Tín nhiệm", "Medium"), tr("% tín nhiệm", "Medium %"),
        tr("Tín nhiệm thấp", "Low"), tr("% thấp", "Low %"),
        tr("Ghi chú", "Flag"),
    ]


def table_rows(tally: Tally) -> list[list[str]]:
    """The per-person table as text cells, in the order of :func:`table_headers`."""
    out = []
    for r in tally.rows:
        cells = [str(r.stt), r.name, r.position, "" if r.issued is None else str(r.issued),
                 str(r.collected), str(r.valid), str(r.invalid), str(r.pending)]
        for level in PERCENT_LEVELS:
            cells += [str(r.count(level)), r.percent(level)]
        cells.append(flag_text(tally, r))
        out.append(cells)
    return out


def preamble(tally: Tally) -> list[str]:
    """Lines that head every output: conference, rules, status, warnings."""
    s = tally.session
    lines = [
        tr(
            f"KẾT QUẢ KIỂM PHIẾU TÍN NHIỆM — {s.organisation} — {s.title} — {s.place} {s.date}",
            f"CONFIDENCE VOTE RESULTS — {s.organisation} — {s.title} — {s.place} {s.date}",
        ),
        rule_line(tally),
        tr(
            f"Phiếu phát ra: {s.issued if s.issued is not None else '?'}; thu về: {tally.ballots_collected}.",
            f"Ballots issued: {s.issued if s.issued is not None else '?'}; collected: {tally.ballots_collected}.",
        ),
        tally.status_text,
    ]
    lines += [c.text for c in tally.checks if c.code != "pending"]
    return lines


# --- CSV ----------------------------------------------------------------------

def tally_csv_bytes(tally: Tally) -> bytes:
    """The tally as CSV, UTF-8 with BOM (so Excel shows Vietnamese), CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in preamble(tally):
        writer.writerow([line])
    writer.writerow([])
    writer.writerow(table_headers())
    writer.writerows(table_rows(tally))
    return buffer.getvalue().encode("utf-8-sig")


# --- XLSX ---------------------------------------------------------------------

def tally_xlsx_bytes(tally: Tally) -> bytes:
    """The same table as a formatted Excel workbook."""
    from decimal import Decimal

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = tr("Kết quả", "Results")
    lines = preamble(tally)
    for i, line in enumerate(lines, start=1):
        cell = sheet.cell(row=i, column=1, value=line)
        cell.font = Font(bold=i == 1, color="C00000" if (tally.provisional or tally.checks) and i > 3 else None)
    header_row = len(lines) + 2
    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for col, title in enumerate(table_headers(), start=1):
        cell = sheet.cell(row=header_row, column=col, value=title)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
        cell.border = border
    fills = {"over_half": PatternFill("solid", fgColor="FFE699"), "two_thirds": PatternFill("solid", fgColor="F4B084")}
    for i, (r, cells) in enumerate(zip(tally.rows, table_rows(tally), strict=True), start=header_row + 1):
        values: list[object] = [r.stt, r.name, r.position, r.issued, r.collected, r.valid, r.invalid, r.pending]
        for level in PERCENT_LEVELS:
            pct = r.percent(level)
            values += [r.count(level), float(Decimal(pct)) if r.collected else None]
        values.append(cells[-1])
        for col, value in enumerate(values, start=1):
            cell = sheet.cell(row=i, column=col, value=value)  # type: ignore[arg-type]
            cell.border = border
            if col in (10, 12, 14):
                cell.number_format = "0.00"
            if r.flag is not None:
                cell.fill = fills[r.flag]
    widths = [6, 28, 28, 10, 10, 9, 11, 10, 10, 8, 10, 8, 10, 8, 34]
    for col, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = width
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=3)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- terminal -----------------------------------------------------------------

def _console() -> Console:
    """A rich console; wide when writing to a file or pipe, so no name is cut."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=220)


def render_terminal(tally: Tally, console: Console | None = None) -> None:
    """Print the table with rich, so the chair can read it aloud."""
    from rich.table import Table

    out = console if console is not None else _console()
    lines = preamble(tally)
    table = Table(title=lines[0], show_lines=False, header_style="bold")
    for i, h in enumerate(table_headers()):
        table.add_column(h, justify="right" if i not in (1, 2, 14) else "left", overflow="fold")
    for r, cells in zip(tally.rows, table_rows(tally), strict=True):
        style = {"over_half": "yellow", "two_thirds": "bold red"}.get(r.flag or "", "")
        table.add_row(*cells, style=style)
    out.print(table)
    out.print(lines[1])
    out.print(lines[2])
    out.print(lines[3], style="bold red" if tally.provisional else "green")
    for check in tally.checks:
        if check.code != "pending":
            out.print(check.text, style="bold red" if check.severity == "stop" else "yellow")


# --- writing ------------------------------------------------------------------

def write_outputs(outputs: Mapping[Path, bytes]) -> None:
    """Write every output atomically: temporary files first, then rename each.

    Nothing is renamed until every temporary file is written, so a failure
    (a missing folder, a full disk) leaves no output half written.
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for path, data in outputs.items():
            path = Path(path)
            if not path.parent.is_dir():
                raise InputError(
                    f"Thư mục {path.parent} không tồn tại: không ghi được {path.name}.",
                    f"Folder {path.parent} does not exist: cannot write {path.name}.",
                )
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                temps.append((tmp, path))
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in temps:
        tmp.replace(path)


# --- summary of one person rated in up to two places ---------------------------

def _person_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


@dataclass(frozen=True)
class PlaceResult:
    """One person's result in one place (workspace)."""

    place: str
    row: PersonTally
    flag_label: str
    provisional: bool


@dataclass(frozen=True)
class Summary:
    """Persons side by side across places; ``too_many`` lists persons in more than 2 places."""

    places: tuple[str, ...]
    persons: tuple[tuple[str, tuple[PlaceResult, ...]], ...]
    too_many: tuple[tuple[str, int], ...]


def place_label(tally: Tally) -> str:
    s = tally.session
    parts = [p for p in (s.organisation, s.title, s.date) if p]
    return " — ".join(parts) or s.session_id


def summarise(tallies: Sequence[Tally]) -> Summary:
    """Group persons by name (Unicode NFC, case and spacing ignored) across places."""
    if not tallies:
        raise InputError("Cần ít nhất một thư mục làm việc.", "At least one workspace is needed.")
    found: dict[str, list[PlaceResult]] = defaultdict(list)
    names: dict[str, str] = {}
    for tally in tallies:
        for row in tally.rows:
            key = _person_key(row.name)
            names.setdefault(key, row.name)
            found[key].append(PlaceResult(place_label(tally), row, flag_text(tally, row), tally.provisional))
    persons = tuple((names[k], tuple(v)) for k, v in found.items())
    too_many = tuple((names[k], len(v)) for k, v in found.items() if len(v) > 2)
    return Summary(tuple(place_label(t) for t in tallies), persons, too_many)


def render_summary(summary: Summary, console: Console | None = None) -> None:
    """Print each person with up to two places side by side."""
    from rich.table import Table

    out = console if console is not None else _console()
    table = Table(title=tr("TỔNG HỢP KẾT QUẢ THEO NGƯỜI", "RESULTS BY PERSON"), show_lines=True)
    table.add_column(tr("Họ và tên", "Name"))
    for n in (1, 2):
        table.add_column(tr(f"Nơi {n}", f"Place {n}"), overflow="fold")
    for name, results in summary.persons:
        cells = [name]
        for res in results[:2]:
            r = res.row
            text = (
                f"{res.place}\n{r.position}\n"
                + tr(f"Thu về {r.collected}: ", f"Collected {r.collected}: ")
                + tr("cao", "high") + f" {r.percent('high')}%, "
                + tr("tín nhiệm", "medium") + f" {r.percent('medium')}%, "
                + tr("thấp", "low") + f" {r.percent('low')}%"
            )
            if res.flag_label:
                text += f"\n{res.flag_label}"
            if res.provisional:
                text += "\n" + tr("(TẠM TÍNH)", "(PROVISIONAL)")
            cells.append(text)
        cells += [""] * (3 - len(cells))
        table.add_row(*cells)
    out.print(table)
    for name, count in summary.too_many:
        out.print(
            tr(
                f"CẢNH BÁO: {name} được lấy phiếu ở {count} nơi (tối đa 2 nơi); chỉ hiện 2 nơi đầu.",
                f"WARNING: {name} is rated in {count} places (at most 2 allowed); only the first 2 are shown.",
            ),
            style="bold red",
        )
