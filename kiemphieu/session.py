"""The conference (session) and its workspace folder.

A workspace holds ``session.toml`` (human-editable conference details and the
list of persons), ``kiemphieu.sqlite`` (everything the later stages record),
and the printed ``ballots.pdf`` with its ``layout.json``.
"""

from __future__ import annotations

import csv
import io
import secrets
import tomllib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kiemphieu.errors import InputError, WorkspaceError

SESSION_FILE = "session.toml"
DB_FILE = "kiemphieu.sqlite"
BALLOTS_PDF = "ballots.pdf"
LAYOUT_JSON = "layout.json"
REFERENCE_PDF = "reference.pdf"
RULE_SETS = ("qd96-2023", "qd262-2014")
CROSSED_NAME_SCOPES = ("person", "ballot")
MAX_NAME_CHARS = 60


@dataclass(frozen=True)
class Person:
    stt: int
    name: str
    position: str


@dataclass(frozen=True)
class Session:
    session_id: str
    organisation: str
    title: str
    place: str
    date: str
    summoned: int
    persons: tuple[Person, ...]
    present: int | None = None
    issued: int | None = None
    counted: int | None = None  # ballots the committee counted in the ballot box, by hand
    rule_set: str = "qd96-2023"
    crossed_name_invalidates: str = "person"
    two_person_review: bool = False
    committee: tuple[str, ...] = field(default_factory=tuple)

    def validate(self) -> Session:
        if self.rule_set not in RULE_SETS:
            raise InputError(
                f"rule_set '{self.rule_set}' không hợp lệ; chọn một trong {', '.join(RULE_SETS)}.",
                f"rule_set '{self.rule_set}' is unknown; use one of {', '.join(RULE_SETS)}.",
            )
        if self.crossed_name_invalidates not in CROSSED_NAME_SCOPES:
            raise InputError(
                "crossed_name_invalidates phải là 'person' hoặc 'ballot'.",
                "crossed_name_invalidates must be 'person' or 'ballot'.",
            )
        if self.summoned < 1:
            raise InputError("Số người được triệu tập phải lớn hơn 0.", "The number summoned must be positive.")
        for label, value in (("present", self.present), ("issued", self.issued), ("counted", self.counted)):
            if value is not None and value < 0:
                raise InputError(f"{label} không được âm.", f"{label} must not be negative.")
        if self.present is not None and self.present > self.summoned:
            raise InputError(
                f"Số người có mặt ({self.present}) lớn hơn số người được triệu tập ({self.summoned}).",
                f"The number present ({self.present}) is larger than the number summoned ({self.summoned}).",
            )
        if not self.persons:
            raise InputError("Danh sách người được lấy phiếu trống.", "The list of persons is empty.")
        return self


def normalise(text: str) -> str:
    """Unicode NFC, single spaces: how names are stored and compared."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _fold(text: str) -> str:
    """Lower case without diacritics, for matching column headers."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower().strip()


NAME_HEADERS = {"ho va ten", "ho ten", "ten", "name", "full name", "hovaten"}
POSITION_HEADERS = {"chuc vu", "chuc danh", "position", "title", "chucvu"}
STT_HEADERS = {"stt", "no", "#", "so thu tu"}


FitCheck = Callable[[str, str], tuple[str, str] | None]


def read_persons(path: Path, *, fits: FitCheck | None = None) -> tuple[Person, ...]:
    """Read a persons list from CSV (UTF-8, ``,`` ``;`` or tab separated, BOM allowed) or XLSX.

    The file needs a header row with a name column (``Họ và tên`` / ``name``) and a
    position column (``Chức vụ`` / ``position``); an ``STT`` column is optional
    and only checked, the order of the rows is the printed order.

    Parameters
    ----------
    path
        The CSV or XLSX file.
    fits
        Optional check ``fits(name, position) -> (vi, en) | None`` that returns why a
        person cannot be printed; its reason is raised naming the file's line.

    Raises
    ------
    InputError
        Naming the file and line: missing file, wrong encoding, missing column,
        empty list, empty or too long name, duplicate person, wrong STT, text that
        does not fit on the ballot.
    """
    if not path.exists():
        raise InputError(f"Không tìm thấy tệp {path}.", f"File not found: {path}.")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        table = _read_xlsx(path)
    elif suffix in (".csv", ".txt", ".tsv"):
        table = _read_csv(path)
    else:
        raise InputError(
            f"{path.name}: chỉ nhận tệp CSV hoặc XLSX.", f"{path.name}: only CSV or XLSX files are accepted."
        )
    return _persons_from_table(path.name, table, fits=fits)


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path.name}, dòng {line}: tệp không phải UTF-8. Hãy lưu lại dưới dạng 'CSV UTF-8'.",
            f"{path.name}, line {line}: the file is not UTF-8. Save it again as 'CSV UTF-8'.",
        ) from None
    # the header line decides the delimiter: names and positions may hold commas
    header = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = ","
    for cand in (";", "\t"):
        if header.count(cand) > header.count(delimiter):
            delimiter = cand
    rows = []
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        rows.append((number, [c.strip() for c in row]))
    return rows


def _read_xlsx(path: Path) -> list[tuple[int, list[str]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise InputError(f"{path.name}: không đọc được tệp XLSX ({exc}).", f"{path.name}: cannot read XLSX ({exc}).") from None
    try:
        if not book.worksheets:
            raise InputError(f"{path.name}: tệp XLSX không có trang tính nào.", f"{path.name}: the XLSX file has no sheet.")
        sheet = book.worksheets[0]
        rows = []
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            rows.append((number, [_cell_text(c) for c in row]))
    finally:
        book.close()
    return rows


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an STT typed as 1 may come back as 1.0
    return str(value).strip()


def _persons_from_table(
    fname: str, table: list[tuple[int, list[str]]], *, fits: FitCheck | None = None
) -> tuple[Person, ...]:
    table = [(n, r) for n, r in table if any(r)]
    if not table:
        raise InputError(
            f"{fname}, dòng 1: tệp trống, không có người nào được lấy phiếu.",
            f"{fname}, line 1: the file is empty, it lists no persons.",
        )
    header_line, header = table[0]
    folded = [_fold(h) for h in header]

    def column(names: set[str], label_vi: str, label_en: str) -> int:
        for i, h in enumerate(folded):
            if h in names:
                return i
        raise InputError(
            f"{fname}, dòng {header_line}: thiếu cột '{label_vi}' (tiêu đề hiện có: {', '.join(header)}).",
            f"{fname}, line {header_line}: missing column '{label_en}' (headers found: {', '.join(header)}).",
        )

    name_col = column(NAME_HEADERS, "Họ và tên", "name")
    pos_col = column(POSITION_HEADERS, "Chức vụ", "position")
    stt_col = next((i for i, h in enumerate(folded) if h in STT_HEADERS), None)
    persons: list[Person] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in table[1:]:
        cells = row + [""] * (max(name_col, pos_col, stt_col or 0) + 1 - len(row))
        name, position = normalise(cells[name_col]), normalise(cells[pos_col])
        if stt_col is not None and cells[stt_col] and cells[stt_col] != str(len(persons) + 1):
            raise InputError(
                f"{fname}, dòng {line}: STT '{cells[stt_col]}' không đúng thứ tự, phải là {len(persons) + 1}. "
                "Phiếu in theo thứ tự các dòng; hãy sửa cột STT hoặc để trống.",
                f"{fname}, line {line}: STT '{cells[stt_col]}' is out of order, expected {len(persons) + 1}. "
                "Ballots follow the order of the lines; correct the STT column or leave it empty.",
            )
        if not name:
            raise InputError(f"{fname}, dòng {line}: thiếu họ và tên.", f"{fname}, line {line}: the name is empty.")
        if len(name) > MAX_NAME_CHARS:
            raise InputError(
                f"{fname}, dòng {line}: họ và tên quá dài để in ({len(name)} ký tự, tối đa {MAX_NAME_CHARS}).",
                f"{fname}, line {line}: the name is too long to print ({len(name)} characters, at most {MAX_NAME_CHARS}).",
            )
        key = (name.casefold(), position.casefold())
        if key in seen:
            raise InputError(
                f"{fname}, dòng {line}: trùng với dòng {seen[key]} ({name}, {position}).",
                f"{fname}, line {line}: duplicate of line {seen[key]} ({name}, {position}).",
            )
        seen[key] = line
        problem = fits(name, position) if fits is not None else None
        if problem is not None:
            raise InputError(f"{fname}, dòng {line}: {problem[0]}.", f"{fname}, line {line}: {problem[1]}.")
        persons.append(Person(stt=len(persons) + 1, name=name, position=position))
    if not persons:
        raise InputError(
            f"{fname}, dòng {header_line + 1}: danh sách người được lấy phiếu trống (chỉ có dòng tiêu đề).",
            f"{fname}, line {header_line + 1}: the list of persons is empty (only the header line).",
        )
    return tuple(persons)


# --- session.toml -----------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        out = []
        for ch in value:
            if ch in ('"', "\\"):
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:  # TOML basic strings forbid raw control characters
                out.append(f"\\u{ord(ch):04X}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def session_to_toml(s: Session) -> str:
    lines = [
        "# kiemphieu — thông tin hội nghị lấy phiếu tín nhiệm (conference details).",
        "# Có thể sửa bằng tay. Sau khi đã in phiếu, đừng sửa danh sách người được lấy phiếu:",
        "# phiếu đã in sẽ không còn khớp. (Editable; do not change the persons after printing.)",
        'schema = "kiemphieu.session/1"',
        f"session_id = {_toml_value(s.session_id)}",
        f"organisation = {_toml_value(s.organisation)}",
        f"title = {_toml_value(s.title)}",
        f"place = {_toml_value(s.place)}",
        f"date = {_toml_value(s.date)}",
        f"summoned = {s.summoned}   # số người được triệu tập",
        f"present = {s.present if s.present is not None else -1}   # số người có mặt (-1: chưa nhập)",
        f"issued = {s.issued if s.issued is not None else -1}   # số phiếu phát ra (-1: chưa nhập)",
        f"counted = {s.counted if s.counted is not None else -1}   # số phiếu đếm được trong thùng phiếu (-1: chưa nhập)",
        f"rule_set = {_toml_value(s.rule_set)}   # qd96-2023 | qd262-2014",
        f"crossed_name_invalidates = {_toml_value(s.crossed_name_invalidates)}   # person | ballot",
        f"two_person_review = {_toml_value(s.two_person_review)}",
        f"committee = {_toml_value(list(s.committee))}   # thành viên ban kiểm phiếu",
        "",
    ]
    for p in s.persons:
        lines += ["[[persons]]", f"stt = {p.stt}", f"name = {_toml_value(p.name)}", f"position = {_toml_value(p.position)}", ""]
    return "\n".join(lines)


def session_from_toml(text: str, *, source: str = SESSION_FILE) -> Session:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: lỗi cú pháp TOML ({exc}).", f"{source}: TOML syntax error ({exc}).") from None
    try:
        persons = tuple(
            Person(stt=i, name=normalise(str(p["name"])), position=normalise(str(p.get("position", ""))))
            for i, p in enumerate(doc.get("persons", []), start=1)
        )
        present = int(doc.get("present", -1))
        issued = int(doc.get("issued", -1))
        counted = int(doc.get("counted", -1))
        session = Session(
            session_id=str(doc["session_id"]),
            organisation=str(doc.get("organisation", "")),
            title=str(doc.get("title", "")),
            place=str(doc.get("place", "")),
            date=str(doc.get("date", "")),
            summoned=int(doc["summoned"]),
            persons=persons,
            present=None if present < 0 else present,
            issued=None if issued < 0 else issued,
            counted=None if counted < 0 else counted,
            rule_set=str(doc.get("rule_set", "qd96-2023")),
            crossed_name_invalidates=str(doc.get("crossed_name_invalidates", "person")),
            two_person_review=bool(doc.get("two_person_review", False)),
            committee=tuple(str(c) for c in doc.get("committee", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{source}: thiếu hoặc sai trường {exc}.", f"{source}: missing or wrong field {exc}.") from None
    return session.validate()


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def session_file(self) -> Path:
        return self.root / SESSION_FILE

    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    @property
    def ballots_pdf(self) -> Path:
        return self.root / BALLOTS_PDF

    @property
    def layout_json(self) -> Path:
        return self.root / LAYOUT_JSON

    @property
    def reference_pdf(self) -> Path:
        return self.root / REFERENCE_PDF

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    def load_session(self) -> Session:
        if not self.session_file.exists():
            raise WorkspaceError(
                f"{self.root} không phải thư mục làm việc của kiemphieu (thiếu {SESSION_FILE}). Hãy chạy 'kiemphieu init'.",
                f"{self.root} is not a kiemphieu workspace ({SESSION_FILE} missing). Run 'kiemphieu init' first.",
            )
        return session_from_toml(self.session_file.read_text(encoding="utf-8"), source=str(self.session_file))

    def save_session(self, session: Session) -> None:
        tmp = self.session_file.with_suffix(".toml.tmp")
        tmp.write_text(session_to_toml(session), encoding="utf-8")
        tmp.replace(self.session_file)


def open_workspace(path: Path) -> Workspace:
    ws = Workspace(Path(path))
    ws.load_session()
    return ws


def init_workspace(
    root: Path,
    persons_file: Path,
    *,
    organisation: str,
    title: str,
    place: str,
    date: str,
    summoned: int,
    present: int | None = None,
    rule_set: str = "qd96-2023",
    crossed_name_invalidates: str = "person",
    committee: Sequence[str] = (),
    session_id: str | None = None,
) -> Workspace:
    """Create a workspace folder for one conference; refuse to overwrite one."""
    root = Path(root)
    ws = Workspace(root)
    if ws.session_file.exists():
        raise WorkspaceError(
            f"{root} đã là một thư mục làm việc; chọn thư mục khác.",
            f"{root} is already a workspace; choose another folder.",
        )
    from ballot_templates.render import check_fits, fit_problem

    persons = read_persons(Path(persons_file), fits=fit_problem)
    session = Session(
        session_id=session_id or secrets.token_hex(5).upper(),
        organisation=normalise(organisation),
        title=normalise(title),
        place=normalise(place),
        date=date,
        summoned=summoned,
        present=present,
        persons=persons,
        rule_set=rule_set,
        crossed_name_invalidates=crossed_name_invalidates,
        committee=tuple(normalise(c) for c in committee if c.strip()),
    ).validate()
    check_fits(session)
    root.mkdir(parents=True, exist_ok=True)
    ws.save_session(session)
    from kiemphieu import db

    db.connect(ws.db_path).close()
    return ws


def with_counts(session: Session, *, present: int | None = None, issued: int | None = None,
                counted: int | None = None) -> Session:
    return replace(
        session,
        present=session.present if present is None else present,
        issued=session.issued if issued is None else issued,
        counted=session.counted if counted is None else counted,
    ).validate()
