"""Persons lists and the workspace: good input is read exactly, bad input names its line."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from conftest import EXAMPLE_PERSONS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ballot_templates.render import fit_problem
from kiemphieu.errors import ExitCode, InputError, KiemphieuError, LayoutError, WorkspaceError
from kiemphieu.session import (
    Person,
    Session,
    Workspace,
    init_workspace,
    open_workspace,
    read_persons,
    session_from_toml,
    session_to_toml,
)

DETAILS: dict = dict(
    organisation="Đảng ủy Khối các cơ quan tỉnh",
    title="Hội nghị lấy phiếu tín nhiệm giữa nhiệm kỳ",
    place="Thái Bình",
    date="2026-11-22",
    summoned=40,
    session_id="SESSTEST02",
)


def _csv(tmp_path: Path, text: str, *, name: str = "persons.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _error(path: Path, **kw: object) -> KiemphieuError:
    with pytest.raises(InputError) as info:
        read_persons(path, **kw)  # type: ignore[arg-type]
    return info.value


# --- good input ---------------------------------------------------------------


def test_example_list_read_in_order() -> None:
    persons = read_persons(EXAMPLE_PERSONS)
    assert len(persons) == 12
    assert persons[0] == Person(1, "Nguyễn Văn Thắng", "Giám đốc Sở")
    assert [p.stt for p in persons] == list(range(1, 13))
    assert persons[11].name == "Lý Thị Diệu Huyền"


def test_semicolon_delimiter_with_bom_and_commas_in_positions(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "STT;Họ và tên;Chức vụ\r\n1;Trần Thị Ánh;Trưởng phòng Kế hoạch, Tài chính\r\n2;Đỗ Văn Ẩn;Phó Chánh Văn phòng\r\n",
        encoding="utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert read_persons(path) == (
        Person(1, "Trần Thị Ánh", "Trưởng phòng Kế hoạch, Tài chính"),
        Person(2, "Đỗ Văn Ẩn", "Phó Chánh Văn phòng"),
    )


def test_tab_delimiter_and_english_headers_without_stt(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Name\tPosition\nLê Thị Mỹ Hạnh\tChuyên viên\n", name="persons.tsv")
    assert read_persons(path) == (Person(1, "Lê Thị Mỹ Hạnh", "Chuyên viên"),)


def test_decomposed_text_is_stored_composed(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn  Thị Hường")
    path = _csv(tmp_path, f"Họ và tên,Chức vụ\n{nfd},Kế toán trưởng\n")
    (person,) = read_persons(path)
    assert person.name == "Nguyễn Thị Hường" and unicodedata.is_normalized("NFC", person.name)


def test_xlsx_input(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["STT", "Họ và tên", "Chức vụ"])
    sheet.append([1, "Phạm Đức Thịnh", "Bí thư Đảng ủy"])
    sheet.append([2.0, "Vũ Thị Ngọc Diệp", None])
    sheet.append([None, None, None])
    sheet.append([3, "Hoàng Văn Đặng", "Chủ tịch Công đoàn"])
    book.save(tmp_path / "persons.xlsx")
    assert read_persons(tmp_path / "persons.xlsx") == (
        Person(1, "Phạm Đức Thịnh", "Bí thư Đảng ủy"),
        Person(2, "Vũ Thị Ngọc Diệp", ""),
        Person(3, "Hoàng Văn Đặng", "Chủ tịch Công đoàn"),
    )


def test_xlsx_error_names_its_row(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Họ và tên", "Chức vụ"])
    sheet.append(["Phạm Đức Thịnh", "Bí thư"])
    sheet.append(["Phạm Đức Thịnh", "Bí thư"])
    book.save(tmp_path / "persons.xlsx")
    err = _error(tmp_path / "persons.xlsx")
    assert "dòng 3" in err.vi and "dòng 2" in err.vi and "line 3" in err.en


# --- bad input, each naming its line ------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    err = _error(_csv(tmp_path, ""))
    assert "persons.csv, dòng 1" in err.vi and "trống" in err.vi
    assert "line 1" in err.en and "empty" in err.en
    assert err.exit_code == ExitCode.BAD_INPUT


def test_header_only(tmp_path: Path) -> None:
    err = _error(_csv(tmp_path, "STT,Họ và tên,Chức vụ\n\n"))
    assert "dòng 2" in err.vi and "trống" in err.vi and "line 2" in err.en


def test_duplicate_person(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "STT,Họ và tên,Chức vụ\n1,Lê Văn Hà,Giám đốc\n2,Trần Thị Nụ,Phó Giám đốc\n3,lê văn  hà,giám đốc\n",
    )
    err = _error(path)
    assert "dòng 4" in err.vi and "trùng với dòng 2" in err.vi
    assert "line 4" in err.en and "duplicate of line 2" in err.en


def test_same_name_different_position_is_two_persons(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Họ và tên,Chức vụ\nLê Văn Hà,Giám đốc\nLê Văn Hà,Kế toán trưởng\n")
    assert len(read_persons(path)) == 2


@pytest.mark.parametrize(
    ("header", "missing_vi", "missing_en"),
    [("STT,Họ và tên,Đơn vị", "Chức vụ", "position"), ("STT,Tên đầy đủ,Chức vụ", "Họ và tên", "name")],
)
def test_missing_column(tmp_path: Path, header: str, missing_vi: str, missing_en: str) -> None:
    err = _error(_csv(tmp_path, f"{header}\n1,Lê Văn Hà,Giám đốc\n"))
    assert "dòng 1" in err.vi and f"thiếu cột '{missing_vi}'" in err.vi
    assert "line 1" in err.en and f"missing column '{missing_en}'" in err.en


@pytest.mark.parametrize("encoding", ["cp1258", "latin-1"])
def test_wrong_encoding_names_the_first_bad_line(tmp_path: Path, encoding: str) -> None:
    name = "Lê Văn Hà" if encoding == "cp1258" else "Hélène Trần"[:6]
    text = f"STT,Ho va ten,Chuc vu\n1,Tran Van Nam,Giam doc\n2,{name},Pho Giam doc\n"
    path = _csv(tmp_path, text, encoding=encoding)
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    err = _error(path)
    assert "dòng 3" in err.vi and "UTF-8" in err.vi
    assert "line 3" in err.en and "not UTF-8" in err.en


def test_empty_name(tmp_path: Path) -> None:
    err = _error(_csv(tmp_path, "Họ và tên,Chức vụ\nLê Văn Hà,Giám đốc\n,Phó Giám đốc\n"))
    assert "dòng 3" in err.vi and "thiếu họ và tên" in err.vi and "line 3" in err.en


def test_stt_out_of_order(tmp_path: Path) -> None:
    err = _error(_csv(tmp_path, "STT,Họ và tên,Chức vụ\n1,Lê Văn Hà,Giám đốc\n3,Trần Thị Nụ,Phó Giám đốc\n"))
    assert "dòng 3" in err.vi and "STT '3'" in err.vi and "expected 2" in err.en


def test_name_over_the_character_limit(tmp_path: Path) -> None:
    long_name = "Nguyễn " * 10 + "Văn Hà"
    err = _error(_csv(tmp_path, f"Họ và tên,Chức vụ\nLê Văn Hà,Giám đốc\n{long_name},Chuyên viên\n"))
    assert "dòng 3" in err.vi and "quá dài" in err.vi and "too long" in err.en


def test_name_too_long_to_print_names_the_line(tmp_path: Path) -> None:
    # 46 characters: under the character limit, but wider than the name column
    wide = "Tôn Nữ Hoàng Thị Khánh Nguyễn Phương Quỳnh Như"
    assert fit_problem(wide, "") is not None and fit_problem("Lê Văn Hà", "") is None
    path = _csv(tmp_path, f"STT,Họ và tên,Chức vụ\n1,Lê Văn Hà,Giám đốc\n2,{wide},Chuyên viên\n")
    err = _error(path, fits=fit_problem)
    assert "persons.csv, dòng 3" in err.vi and "quá dài để in" in err.vi
    assert "line 3" in err.en and "too long to print" in err.en
    with pytest.raises(InputError) as info:
        init_workspace(tmp_path / "ws", path, **DETAILS)
    assert "line 3" in info.value.en
    assert not (tmp_path / "ws").exists(), "a refused list must not leave a half-made workspace"


def test_position_too_long_to_print_names_the_line(tmp_path: Path) -> None:
    position = "Giám đốc Trung tâm Giáo dục nghề nghiệp - Giáo dục thường xuyên " * 2
    path = _csv(tmp_path, f"Họ và tên,Chức vụ\nLê Văn Hà,{position}\n")
    err = _error(path, fits=fit_problem)
    assert "dòng 2" in err.vi and "chức vụ" in err.vi and "position" in err.en


def test_long_real_position_fits_on_three_lines() -> None:
    long = "Giám đốc Trung tâm Giáo dục nghề nghiệp - Giáo dục thường xuyên quận Hồng Bàng"
    assert fit_problem("Ngô Thu Kiệt", long) is None


def test_unknown_file_type_and_missing_file(tmp_path: Path) -> None:
    assert "CSV" in _error(_csv(tmp_path, "x", name="persons.xls")).vi
    assert "Không tìm thấy" in _error(tmp_path / "nothing.csv").vi


def test_damaged_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "persons.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    assert "XLSX" in _error(path).vi


# --- workspace and session.toml -----------------------------------------------


def test_init_writes_session_and_database(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", EXAMPLE_PERSONS, committee=("Nguyễn Thị Lan", " "), present=35, **DETAILS)
    assert ws.session_file.exists() and ws.db_path.exists()
    session = open_workspace(ws.root).load_session()
    assert session.session_id == "SESSTEST02" and session.rule_set == "qd96-2023"
    assert session.committee == ("Nguyễn Thị Lan",) and session.present == 35
    assert session.persons == read_persons(EXAMPLE_PERSONS)
    text = ws.session_file.read_text(encoding="utf-8")
    assert "Đảng ủy Khối các cơ quan tỉnh" in text and "rule_set" in text


def test_init_refuses_an_existing_workspace(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", EXAMPLE_PERSONS, **DETAILS)
    before = (tmp_path / "ws" / "session.toml").read_bytes()
    with pytest.raises(WorkspaceError):
        init_workspace(tmp_path / "ws", EXAMPLE_PERSONS, **{**DETAILS, "session_id": "OTHER"})
    assert (tmp_path / "ws" / "session.toml").read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("rule_set", "qd100-2030", "rule_set"),
        ("crossed_name_invalidates", "page", "crossed_name_invalidates"),
        ("summoned", 0, "triệu tập"),
        ("present", 41, "có mặt"),
    ],
)
def test_init_refuses_bad_details(tmp_path: Path, option: str, value: object, words: str) -> None:
    with pytest.raises(InputError) as info:
        init_workspace(tmp_path / "ws", EXAMPLE_PERSONS, **{**DETAILS, option: value})
    assert words in info.value.vi
    assert not (tmp_path / "ws").exists()


def test_organisation_too_long_to_print(tmp_path: Path) -> None:
    with pytest.raises(LayoutError) as info:
        init_workspace(tmp_path / "ws", EXAMPLE_PERSONS, **{**DETAILS, "organisation": "Ủy ban nhân dân " * 12})
    assert "cơ quan" in info.value.vi and info.value.exit_code == ExitCode.BAD_INPUT


def test_open_workspace_of_a_plain_folder(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as info:
        open_workspace(tmp_path)
    assert "kiemphieu init" in info.value.vi


def test_session_toml_syntax_error_is_input_error(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws", EXAMPLE_PERSONS, **DETAILS)
    ws.session_file.write_text("summoned = = 3\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        Workspace(ws.root).load_session()
    assert "TOML" in info.value.vi


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
_name = st.text(st.characters(exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    organisation=_text, title=_text, place=_text, date=_text,
    names=st.lists(_name, min_size=1, max_size=4),
    committee=st.lists(_text, max_size=3),
    present=st.none() | st.integers(0, 50),
)
def test_session_toml_round_trip(
    organisation: str, title: str, place: str, date: str, names: list[str], committee: list[str], present: int | None
) -> None:
    persons = tuple(Person(i, unicodedata.normalize("NFC", n), f"Chức vụ {i}") for i, n in enumerate(names, 1))
    session = Session(
        session_id="RT01", organisation=organisation, title=title, place=place, date=date, summoned=50,
        persons=persons, present=present, committee=tuple(committee), rule_set="qd262-2014",
        crossed_name_invalidates="ballot", two_person_review=True,
    )
    assert session_from_toml(session_to_toml(session)) == session


def test_with_counts_validates() -> None:
    from kiemphieu.session import with_counts

    session = session_from_toml(session_to_toml(Session(
        session_id="C1", organisation="", title="", place="", date="", summoned=10,
        persons=(Person(1, "Lê Văn Hà", ""),),
    )))
    assert with_counts(session, present=8, issued=8).present == 8
    with pytest.raises(InputError):
        with_counts(session, present=11)
    assert replace(session, present=None).present is None
