"""The counting minutes: rasterised with poppler and read back with Tesseract (vie)."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from kiemphieu.errors import InputError, NoQuorumError
from kiemphieu.i18n import set_lang
from kiemphieu.minutes import minutes_pdf_bytes
from kiemphieu.readings import PageReading, RowReading
from kiemphieu.session import Person, Session
from kiemphieu.tally import Tally, compute_tally

NAMES = ("Nguyễn Văn Thắng", "Trần Thị Hồng Nhung", "Lê Đức Việt")
SHA = "ab" * 32


def _row(person: int, choice: str | None, pending: bool = False) -> RowReading:
    m = "one" if choice else "none"
    reasons = ("marginal",) if pending else ()
    return RowReading(person, m, choice, m, choice, reasons, False, pending)  # type: ignore[arg-type]


def _page(pid: int, choices: tuple[str | None, ...], pending: int | None = None) -> PageReading:
    rows = tuple(_row(i, c, pending == i) for i, c in enumerate(choices, start=1))
    return PageReading(pid, f"s{pid}.pdf", 0, "ballot", "review" if pending else "auto", f"T{pid}", 1, (),
                       rows, None, frozenset(), pending is not None)


def make_tally(*, pending: bool = False, present: int = 15, counted: int | None = None) -> Tally:
    session = Session(
        session_id="M1", organisation="Sở Giáo dục và Đào tạo Hải Phòng", title="Hội nghị lấy phiếu tín nhiệm năm 2026",
        place="Hải Phòng", date="2026-11-22", summoned=15, present=present, issued=15, counted=counted,
        persons=tuple(Person(i, n, "Phó Giám đốc Sở") for i, n in enumerate(NAMES, start=1)),
        committee=("Nguyễn Thị Lan", "Trần Văn Bình"),
    ).validate()
    # person 1: 10 low of 15 (exactly 2/3); person 2: 8 low (over 1/2); person 3: 15 high
    pages = [
        _page(k, ("low" if k <= 10 else "high", "low" if k <= 8 else "medium", "high"),
              pending=3 if pending and k == 15 else None)
        for k in range(1, 16)
    ]
    return compute_tally(session, pages)


def ocr_pdf(pdf: Path) -> str:
    if not shutil.which("pdftoppm") or not shutil.which("tesseract"):
        pytest.skip("poppler-utils and tesseract-ocr are required")
    subprocess.run(["pdftoppm", "-r", "200", "-gray", "-png", str(pdf), str(pdf.with_suffix(""))], check=True)
    text = []
    for png in sorted(pdf.parent.glob(f"{pdf.stem}-*.png")):
        out = subprocess.run(["tesseract", str(png), "-", "-l", "vie", "--psm", "4"], check=True,
                             capture_output=True, text=True)
        text.append(out.stdout)
    return unicodedata.normalize("NFC", "\n".join(text))


def test_minutes_read_back_with_tesseract(tmp_path: Path) -> None:
    set_lang("vi")
    pdf = tmp_path / "minutes.pdf"
    pdf.write_bytes(minutes_pdf_bytes(make_tally(counted=15), results_sha256=SHA))
    text = ocr_pdf(pdf)
    flat = " ".join(text.split())
    assert "BIÊN BẢN KIỂM PHIẾU" in flat
    assert "MẬT" in flat
    for name in NAMES:
        assert name in flat, name
    # the per-person counts and percentages: 10 low of 15 = 66.67 %, 8 of 15 = 53.33 %
    assert "66.67" in flat and "53.33" in flat and "100.00" in flat
    assert re.search(r"thu về: 15", flat) and re.search(r"trong thùng phiếu: 15", flat)  # the hand count beside it
    assert "Nguyễn Thị Lan" in flat and "Trần Văn Bình" in flat
    assert "96-QĐ/TW" in flat
    assert SHA[:16] in flat.replace(" ", "")
    assert "TẠM TÍNH" not in flat


def test_provisional_minutes_say_so(tmp_path: Path) -> None:
    set_lang("vi")
    tally = make_tally(pending=True)
    assert tally.provisional
    pdf = tmp_path / "p.pdf"
    pdf.write_bytes(minutes_pdf_bytes(tally, results_sha256=SHA))
    assert "TẠM TÍNH" in " ".join(ocr_pdf(pdf).split())


def test_minutes_refused_without_quorum() -> None:
    with pytest.raises(NoQuorumError):
        minutes_pdf_bytes(make_tally(present=9), results_sha256=SHA)  # 27 < 30
    minutes_pdf_bytes(make_tally(present=10), results_sha256=SHA)  # exactly 2/3
    with pytest.raises(InputError):
        minutes_pdf_bytes(make_tally(), results_sha256="abc")


def test_minutes_are_deterministic() -> None:
    set_lang("en")
    try:
        assert minutes_pdf_bytes(make_tally(), results_sha256=SHA) == minutes_pdf_bytes(make_tally(), results_sha256=SHA)
    finally:
        set_lang("vi")
