"""Printed ballots read back from a raster: names, boxes, markers, QR codes, seal and free areas.

The 60-person ballot is rendered once per module and rasterised once at 300 dpi and
once at 150 dpi (first ballot only); every test reads those images.
"""

from __future__ import annotations

import base64
import math
import re
import sqlite3
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytesseract
import pytest
from conftest import FIXTURES, decode_qr_at, make_workspace
from pdf2image import convert_from_path

from ballot_templates.markers import dictionary
from kiemphieu import db
from kiemphieu.layout import (
    MARKER_IDS,
    Layout,
    PageLayout,
    Rect,
    load_layout,
    parse_qr_payload,
    qr_payload,
)
from kiemphieu.session import Workspace

PERSONS_60 = FIXTURES / "persons_60.csv"
COPIES = 2
BOX_TOLERANCE_MM = 0.3


@dataclass(frozen=True)
class Raster:
    """Grey pages (uint8, rows x cols) of the first ballot at ``dpi``."""

    dpi: int
    pages: tuple[np.ndarray, ...]

    @property
    def px_per_mm(self) -> float:
        return self.dpi / 25.4


def _rasterise(pdf: Path, *, dpi: int, first: int, last: int) -> Raster:
    images = convert_from_path(str(pdf), dpi=dpi, first_page=first, last_page=last, grayscale=True)
    return Raster(dpi, tuple(np.asarray(im, dtype=np.uint8) for im in images))


def _crop(image: np.ndarray, rect: Rect, px_per_mm: float, *, inset_mm: float = 0.0) -> np.ndarray:
    x, y, w, h = rect
    r0 = int(round((y + inset_mm) * px_per_mm))
    r1 = int(round((y + h - inset_mm) * px_per_mm))
    c0 = int(round((x + inset_mm) * px_per_mm))
    c1 = int(round((x + w - inset_mm) * px_per_mm))
    return image[r0:r1, c0:c1]


@pytest.fixture(scope="module")
def ws60(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("b60") / "ws", copies=COPIES, persons=PERSONS_60)


@pytest.fixture(scope="module")
def layout60(ws60: Workspace) -> Layout:
    return load_layout(ws60.layout_json)


@pytest.fixture(scope="module")
def r300(ws60: Workspace, layout60: Layout) -> Raster:
    return _rasterise(ws60.ballots_pdf, dpi=300, first=1, last=layout60.pages_per_ballot)


@pytest.fixture(scope="module")
def r150(ws60: Workspace, layout60: Layout) -> Raster:
    return _rasterise(ws60.ballots_pdf, dpi=150, first=1, last=layout60.pages_per_ballot)


# --- pages, persons, PDF ------------------------------------------------------


def test_sixty_persons_span_pages_each_person_once(ws60: Workspace, layout60: Layout) -> None:
    session = ws60.load_session()
    assert layout60.pages_per_ballot >= 3
    seen = [row.person for page in layout60.pages for row in page.rows]
    assert sorted(seen) == list(range(1, 61)) and len(set(seen)) == 60
    for row in layout60.persons:
        person = session.persons[row.person - 1]
        assert (row.name, row.position) == (person.name, person.position)
    assert [p.page for p in layout60.pages] == list(range(1, layout60.pages_per_ballot + 1))
    # the signature place is on the last page only
    assert [p.signature_mm is not None for p in layout60.pages] == [False] * (layout60.pages_per_ballot - 1) + [True]


def test_pdf_is_a4_portrait_with_copies_times_pages(ws60: Workspace, layout60: Layout) -> None:
    with pikepdf.open(ws60.ballots_pdf) as pdf:
        assert len(pdf.pages) == COPIES * layout60.pages_per_ballot
        for page in pdf.pages:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            assert abs((x1 - x0) - 595.28) < 0.5 and abs((y1 - y0) - 841.89) < 0.5
    with pikepdf.open(ws60.reference_pdf) as ref:
        assert len(ref.pages) == layout60.pages_per_ballot


def test_fonts_are_embedded_truetype(ws60: Workspace) -> None:
    out = subprocess.run(["pdffonts", str(ws60.ballots_pdf)], capture_output=True, text=True, check=True).stdout
    fonts = [ln.split() for ln in out.splitlines()[2:] if ln.strip()]
    assert fonts, out
    for cols in fonts:
        assert "TrueType" in " ".join(cols), out
        # columns: name type [encoding] emb sub uni object ID; emb is the 5th from the end
        assert cols[-5] == "yes", out


# --- OCR read-back ------------------------------------------------------------


def _name_strip(image: np.ndarray, page: PageLayout, px_per_mm: float) -> np.ndarray:
    """The name cells of a page stacked on white, without the table's rules."""
    gap = np.full((int(4 * px_per_mm), 1), 255, dtype=np.uint8)
    crops = [_crop(image, row.name_mm, px_per_mm) for row in page.rows]
    width = max(c.shape[1] for c in crops)
    parts: list[np.ndarray] = []
    for c in crops:
        padded = np.full((c.shape[0], width + int(6 * px_per_mm)), 255, dtype=np.uint8)
        padded[:, int(3 * px_per_mm) : int(3 * px_per_mm) + c.shape[1]] = c
        parts += [np.repeat(gap, padded.shape[1], axis=1), padded]
    parts.append(np.repeat(gap, width + int(6 * px_per_mm), axis=1))
    return np.vstack(parts)


def _nfc_lines(text: str) -> list[str]:
    return [" ".join(unicodedata.normalize("NFC", ln).split()) for ln in text.splitlines() if ln.strip()]


def test_ocr_reads_every_name_with_diacritics(r300: Raster, layout60: Layout) -> None:
    missing = []
    for image, page in zip(r300.pages, layout60.pages, strict=True):
        strip = _name_strip(image, page, r300.px_per_mm)
        text = pytesseract.image_to_string(strip, lang="vie", config="--psm 6")
        lines = _nfc_lines(text)
        for row in page.rows:
            if unicodedata.normalize("NFC", row.name) not in lines:
                missing.append((page.page, row.name, lines))
    assert not missing, missing


def test_text_layer_holds_every_name_exactly(ws60: Workspace, layout60: Layout) -> None:
    last = layout60.pages_per_ballot
    out = subprocess.run(
        ["pdftotext", "-f", "1", "-l", str(last), "-layout", str(ws60.ballots_pdf), "-"],
        capture_output=True, text=True, check=True,
    ).stdout
    text = unicodedata.normalize("NFC", out)
    for row in layout60.persons:
        assert row.name in text, row.name
    assert "Đánh dấu X vào một ô tương ứng với mức độ tín nhiệm" in text
    for head in ("STT", "Họ và tên", "Chức vụ", "Tín nhiệm", "cao", "thấp", "PHIẾU TÍN NHIỆM"):
        assert head in text, head


# --- boxes --------------------------------------------------------------------


def _edge_centre(profile: np.ndarray, start_px: int, px_per_mm: float) -> float | None:
    """Centre (mm) of the dark run in a darkness profile that starts at pixel ``start_px``."""
    weights = np.where(profile > 0.5, profile, 0.0)
    if weights.sum() == 0:
        return None
    idx = np.arange(len(profile)) + start_px + 0.5
    return float((weights * idx).sum() / weights.sum() / px_per_mm)


def box_edge_errors(image: np.ndarray, box: Rect, px_per_mm: float, *, window_mm: float = 1.0) -> list[float]:
    """Distance (mm) between each edge of ``box`` (left, right, top, bottom) and the printed stroke.

    The stroke is found as the dark-pixel profile across the edge, within ``window_mm``
    of where the layout says it is, along the middle half of the edge. A missing
    stroke counts as an infinite error.
    """
    dark = 1.0 - image.astype(np.float64) / 255.0
    x, y, w, h = box
    s = px_per_mm
    errors = []
    rows = slice(int((y + h * 0.25) * s), int((y + h * 0.75) * s))
    cols = slice(int((x + w * 0.25) * s), int((x + w * 0.75) * s))
    for expected in (x, x + w):
        c0, c1 = int((expected - window_mm) * s), int((expected + window_mm) * s)
        found = _edge_centre(dark[rows, c0:c1].mean(axis=0), c0, s)
        errors.append(math.inf if found is None else abs(found - expected))
    for expected in (y, y + h):
        r0, r1 = int((expected - window_mm) * s), int((expected + window_mm) * s)
        found = _edge_centre(dark[r0:r1, cols].mean(axis=1), r0, s)
        errors.append(math.inf if found is None else abs(found - expected))
    return errors


def _shift(rect: Rect, dx: float, dy: float) -> Rect:
    return (rect[0] + dx, rect[1] + dy, rect[2], rect[3])


def test_every_box_lies_on_the_printed_box(r300: Raster, layout60: Layout) -> None:
    worst = 0.0
    for image, page in zip(r300.pages, layout60.pages, strict=True):
        for row in page.rows:
            for level, box in row.boxes_mm.items():
                errors = box_edge_errors(image, box, r300.px_per_mm)
                assert max(errors) <= BOX_TOLERANCE_MM, (page.page, row.person, level, errors)
                worst = max(worst, *errors)
    assert worst < BOX_TOLERANCE_MM


@pytest.mark.parametrize(("dx", "dy"), [(0.5, 0.0), (0.0, -0.5)])
def test_box_comparison_detects_a_layout_shifted_by_half_a_millimetre(
    r300: Raster, layout60: Layout, dx: float, dy: float
) -> None:
    page = layout60.pages[0]
    for row in page.rows:
        for box in row.boxes_mm.values():
            errors = box_edge_errors(r300.pages[0], _shift(box, dx, dy), r300.px_per_mm)
            assert max(errors) > BOX_TOLERANCE_MM, (row.person, errors)


# --- markers ------------------------------------------------------------------


def _detect_markers(image: np.ndarray) -> dict[int, np.ndarray]:
    """Marker id -> its four corners as (x, y) pixels, in ArUco's corner order."""
    detector = cv2.aruco.ArucoDetector(dictionary(), cv2.aruco.DetectorParameters())
    corners, ids, _ = detector.detectMarkers(image)
    assert ids is not None, "no marker found"
    found: dict[int, np.ndarray] = {}
    for c, i in zip(corners, ids.ravel(), strict=True):
        assert int(i) not in found, f"marker {i} found twice"
        found[int(i)] = c.reshape(4, 2)
    return found


def _rot90_point(x: float, y: float, shape: tuple[int, int], k: int) -> tuple[float, float]:
    """Where pixel point (x, y) of an image of ``shape`` goes under ``np.rot90(image, k)``."""
    rows, cols = shape
    for _ in range(k % 4):
        x, y = y, cols - x  # one counter-clockwise quarter turn
        rows, cols = cols, rows
    return x, y


def _orientation(found: dict[int, np.ndarray]) -> int:
    """Quarter turns (counter-clockwise) of the page, from where the distinct markers lie."""
    bl = found[MARKER_IDS["bottom_left"]].mean(axis=0)
    tr = found[MARKER_IDS["top_right"]].mean(axis=0)
    upright = math.atan2(-269.0, 178.0)  # bottom_left -> top_right on an upright page (x, y down)
    angle = math.atan2(tr[1] - bl[1], tr[0] - bl[0])
    return round(math.degrees(upright - angle) / 90.0) % 4


@pytest.mark.parametrize("dpi", [150, 300])
def test_markers_found_at_their_corners(dpi: int, r150: Raster, r300: Raster, layout60: Layout) -> None:
    raster = r150 if dpi == 150 else r300
    for image, page in zip(raster.pages, layout60.pages, strict=True):
        found = _detect_markers(image)
        assert set(found) == set(MARKER_IDS.values())
        for name, rect in page.markers_mm.items():
            centre = found[layout60.marker_ids[name]].mean(axis=0) / raster.px_per_mm
            assert abs(centre[0] - (rect[0] + rect[2] / 2)) < 0.5, name
            assert abs(centre[1] - (rect[1] + rect[3] / 2)) < 0.5, name


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_markers_tell_the_orientation(k: int, r150: Raster, layout60: Layout) -> None:
    upright = r150.pages[0]
    image = np.ascontiguousarray(np.rot90(upright, k))
    found = _detect_markers(image)
    assert set(found) == set(MARKER_IDS.values())
    s = r150.px_per_mm
    for name, rect in layout60.pages[0].markers_mm.items():
        ex, ey = _rot90_point((rect[0] + rect[2] / 2) * s, (rect[1] + rect[3] / 2) * s, upright.shape, k)
        cx, cy = found[layout60.marker_ids[name]].mean(axis=0)
        assert math.hypot(cx - ex, cy - ey) < 0.5 * s, (name, k)
        # each marker's own corner order turns with the page too
        c = found[layout60.marker_ids[name]]
        right = math.degrees(math.atan2(c[1][1] - c[0][1], c[1][0] - c[0][0]))
        assert abs(((right + 90 * k) + 180) % 360 - 180) < 3, (name, k, right)
    assert _orientation(found) == k
    # an upside-down page is not taken for an upright one
    if k == 2:
        assert _orientation(found) != 0


# --- QR codes -----------------------------------------------------------------


def test_qr_decodes_to_the_payload_with_an_issued_token(ws60: Workspace, r150: Raster, layout60: Layout) -> None:
    conn = db.connect(ws60.db_path)
    try:
        issued = db.issued_tokens(conn)
    finally:
        conn.close()
    tokens = set()
    for image, page in zip(r150.pages, layout60.pages, strict=True):
        text = decode_qr_at(image, page.qr_mm, r150.px_per_mm)
        parsed = parse_qr_payload(text)
        assert parsed is not None, f"page {page.page}: QR not decoded"
        assert parsed.token is not None and parsed.token in issued
        assert text == qr_payload(layout60, page.page, parsed.token)
        assert parsed.page == page.page and parsed.layout_hash == layout60.layout_hash
        tokens.add(parsed.token)
    assert len(tokens) == 1, "the pages of one ballot share its token"


# --- seal and free areas ------------------------------------------------------


def _large_components(image: np.ndarray, rect: Rect, px_per_mm: float, *, size_mm: float = 4.0) -> list[tuple[float, float]]:
    """(width, height) in mm of dark components in ``rect`` larger than ``size_mm`` both ways."""
    crop = _crop(image, rect, px_per_mm)
    _, binary = cv2.threshold(crop, 128, 255, cv2.THRESH_BINARY_INV)
    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    big = []
    for i in range(1, n):
        w, h = stats[i, cv2.CC_STAT_WIDTH] / px_per_mm, stats[i, cv2.CC_STAT_HEIGHT] / px_per_mm
        if w > size_mm and h > size_mm:
            big.append((w, h))
    return big


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_seal_area_has_no_marker_box_or_code(r300: Raster, layout60: Layout) -> None:
    for image, page in zip(r300.pages, layout60.pages, strict=True):
        machine_read = [page.qr_mm, *page.markers_mm.values()]
        machine_read += [box for row in page.rows for box in row.boxes_mm.values()]
        assert not [r for r in machine_read if _overlaps(r, page.seal_mm)]
        # only text (the organisation's name) may be printed there
        assert _large_components(image, page.seal_mm, r300.px_per_mm) == []
        # the same check sees the QR code and a marker where they are
        assert _large_components(image, page.qr_mm, r300.px_per_mm)
        assert _large_components(image, page.markers_mm["top_right"], r300.px_per_mm)


def test_free_areas_are_blank(r300: Raster, layout60: Layout) -> None:
    for image, page in zip(r300.pages, layout60.pages, strict=True):
        assert page.free_mm
        for rect in page.free_mm:
            crop = _crop(image, rect, r300.px_per_mm, inset_mm=0.3)
            assert crop.size and int((crop < 160).sum()) == 0, (page.page, rect)


def test_free_area_check_sees_ink(r300: Raster, layout60: Layout) -> None:
    page = layout60.pages[0]
    crop = _crop(r300.pages[0], page.table_mm, r300.px_per_mm, inset_mm=0.3)
    assert int((crop < 160).sum()) > 0


# --- tokens and print runs -----------------------------------------------------


def _tokens(ws: Workspace) -> frozenset[str]:
    conn = db.connect(ws.db_path)
    try:
        return db.issued_tokens(conn)
    finally:
        conn.close()


def test_tokens_random_distinct_and_kept_unordered(tmp_path: Path) -> None:
    from ballot_templates.render import new_token

    ws = make_workspace(tmp_path / "ws", copies=20)
    tokens = _tokens(ws)
    assert len(tokens) == 20
    values = sorted(int.from_bytes(base64.b32decode(t + "===")) for t in tokens)
    gaps = np.diff(values)
    assert gaps.min() > 1000 and len(set(gaps.tolist())) > 1, "tokens look sequential"
    assert all(re.fullmatch(r"[A-Z2-7]{13}", t) for t in tokens)
    assert new_token() != new_token()
    conn = sqlite3.connect(ws.db_path)
    try:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'issued_tokens'").fetchone()[0]
        assert "WITHOUT ROWID" in sql.upper()
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("SELECT rowid FROM issued_tokens")
    finally:
        conn.close()


def test_repeated_runs_add_tokens(tmp_path: Path) -> None:
    from ballot_templates.render import render_ballots

    ws = make_workspace(tmp_path / "ws", copies=3)
    first = _tokens(ws)
    render_ballots(ws, copies=2)
    second = _tokens(ws)
    assert first < second and len(second) == 5


def test_no_tokens_prints_a_dash(tmp_path: Path) -> None:
    from ballot_templates.render import render_ballots
    from kiemphieu.session import init_workspace

    ws = init_workspace(
        tmp_path / "ws", FIXTURES / "example_persons.csv", organisation="UBND xã Đồng Tâm",
        title="Hội nghị", place="", date="", summoned=20, session_id="NOTOKEN01",
    )
    run = render_ballots(ws, copies=1, tokens=False)
    assert not run.tokens
    layout = load_layout(ws.layout_json)
    image = np.asarray(_rasterise(ws.ballots_pdf, dpi=150, first=1, last=1).pages[0])
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert text == qr_payload(layout, 1, None) and text.endswith(":1:-")
    assert _tokens(ws) == frozenset()
    conn = db.connect(ws.db_path)
    try:
        assert db.get_meta(conn, "untokened_issued") == "1"
    finally:
        conn.close()


def test_changed_persons_after_printing_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    from ballot_templates.render import render_ballots
    from kiemphieu.errors import WorkspaceError
    from kiemphieu.session import Person

    ws = make_workspace(tmp_path / "ws", copies=2)
    before = ws.ballots_pdf.read_bytes(), ws.layout_json.read_bytes(), _tokens(ws)
    session = ws.load_session()
    changed = replace(session, persons=(*session.persons, Person(13, "Trịnh Văn Mới", "Chuyên viên")))
    ws.save_session(changed)
    with pytest.raises(WorkspaceError) as info:
        render_ballots(ws, copies=1)
    assert "thay đổi" in info.value.vi and "changed" in info.value.en
    assert (ws.ballots_pdf.read_bytes(), ws.layout_json.read_bytes(), _tokens(ws)) == before
    assert not list(ws.root.glob("*.tmp"))


def test_failed_run_leaves_previous_files_and_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ballot_templates import render

    ws = make_workspace(tmp_path / "ws", copies=2)
    before = ws.ballots_pdf.read_bytes(), ws.layout_json.read_bytes(), _tokens(ws)

    def broken(conn: sqlite3.Connection, tokens: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(render.db, "add_tokens", broken)
    with pytest.raises(sqlite3.OperationalError):
        render.render_ballots(ws, copies=3)
    assert (ws.ballots_pdf.read_bytes(), ws.layout_json.read_bytes(), _tokens(ws)) == before
    assert not list(ws.root.glob("*.tmp"))


@pytest.mark.parametrize("angle", [-7.0, 4.0, 183.0])
def test_markers_found_on_a_skewed_perspective_photo(angle: float, r150: Raster, layout60: Layout) -> None:
    """A phone photo: the page rotated by ``angle`` degrees and seen in perspective, on grey."""
    page = r150.pages[0]
    rows, cols = page.shape
    src = np.array([[0, 0], [cols, 0], [cols, rows], [0, rows]], dtype=np.float32)
    dst = np.array([[cols * 0.08, rows * 0.05], [cols * 0.95, 0], [cols, rows], [0, rows * 0.97]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(src, dst)
    turn = np.vstack([cv2.getRotationMatrix2D((cols / 2, rows / 2), angle, 0.8), [0, 0, 1]])
    matrix = turn @ warp
    photo = cv2.warpPerspective(page, matrix, (cols, rows), borderValue=110)
    found = _detect_markers(photo)
    assert set(found) == set(MARKER_IDS.values())
    s = r150.px_per_mm
    for name, rect in layout60.pages[0].markers_mm.items():
        centre = np.array([[[(rect[0] + rect[2] / 2) * s, (rect[1] + rect[3] / 2) * s]]], dtype=np.float32)
        ex, ey = cv2.perspectiveTransform(centre, matrix)[0, 0]
        cx, cy = found[layout60.marker_ids[name]].mean(axis=0)
        assert math.hypot(cx - ex, cy - ey) < 1.0 * s, name
