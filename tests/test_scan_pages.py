"""The whole scan on generated ballots with known marks: every page, every row, every reason.

One deck is rendered once for the module with :func:`calibration.simulate.render_page`
(explicit :class:`PageSpec`: clear X marks, none, two marks) and read with one
:func:`scanner.run.scan_folder`; each test then checks one behaviour in the database.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_workspace
from PIL import Image

from calibration import simulate
from calibration.simulate import MarkSpec, PageSpec, ScanSpec, blank_page, render_page
from calibration.strokes import Pen
from kiemphieu import db
from kiemphieu import readings as R
from kiemphieu.layout import LEVELS, QR_MM, load_layout
from kiemphieu.readings import load_readings
from kiemphieu.review.decisions import ballot_offer
from kiemphieu.session import Workspace
from scanner.run import ScanSummary, scan_folder

PERSONS = range(1, 13)
# person -> marked levels: one clear X each, person 10 none, person 11 two marks
CLEAR: dict[int, tuple[str, ...]] = {p: (LEVELS[p % 3],) for p in PERSONS}
CLEAR[10] = ()
CLEAR[11] = ("high", "low")
ORIENTED = [(dpi, rot) for dpi in (150, 300) for rot in (0, 90, 180, 270)]
RED_BALLPOINT = Pen("ballpoint", (45, 40, 195), 0.38, 0.95)
PINK_GEL = Pen("gel", (175, 110, 240), 0.45, 1.0)
#: voters whose pen the seal's dropout hides (the red channel turns it almost white)
WARM_PAGES = (("warm-pink-colour.png", PINK_GEL, ScanSpec(dpi=200)),
              ("warm-pink-phone.jpg", PINK_GEL, ScanSpec(dpi=200, phone=True)),
              ("warm-pink-colour.jpg", PINK_GEL, ScanSpec(dpi=200)),
              ("warm-red-colour.jpg", RED_BALLPOINT, ScanSpec(dpi=200)),
              ("warm-pink-grey.jpg", PINK_GEL, ScanSpec(dpi=200, color=False)))


def _marks(levels_by_person: dict[int, tuple[str, ...]], style: str = "x") -> dict[int, tuple[MarkSpec, ...]]:
    return {p: tuple(MarkSpec(lv, style) for lv in levels) for p, levels in levels_by_person.items() if levels}


def _expected(levels: tuple[str, ...]) -> tuple[str, str | None]:
    return ("none", None) if not levels else ("one", levels[0]) if len(levels) == 1 else ("multiple", None)


def _paint(img: np.ndarray, rect_mm: tuple[float, float, float, float], dpi: int, value: int = 236) -> None:
    """Paint an image-millimetre rectangle of an unrotated scan (the scanner adds a 1-4 mm margin)."""
    x, y, w, h = rect_mm
    k = dpi / 25.4
    img[max(0, round(y * k)) : round((y + h) * k), max(0, round(x * k)) : round((x + w) * k)] = value


@dataclass(frozen=True)
class Deck:
    ws: Workspace
    folder: Path
    summary: ScanSummary
    tokens: tuple[str, ...]

    def page(self, name: str) -> sqlite3.Row:
        conn = db.connect(self.ws.db_path)
        try:
            row = conn.execute("SELECT * FROM pages WHERE source = ?", (name,)).fetchone()
        finally:
            conn.close()
        assert row is not None, f"{name} not recorded"
        return row

    def rows(self, name: str) -> dict[int, sqlite3.Row]:
        conn = db.connect(self.ws.db_path)
        try:
            return {r["person"]: r for r in conn.execute(
                "SELECT r.* FROM rows r JOIN pages p ON p.id = r.page_id WHERE p.source = ?", (name,))}
        finally:
            conn.close()


def _faded(printed: Callable[..., np.ndarray], density: float) -> Callable[..., np.ndarray]:
    """The simulator's blank printed page, its print at ``density`` of its darkness (a printer low on toner)."""
    def faded(*args: object) -> np.ndarray:
        return (255 - (255 - printed(*args).astype(np.float32)) * density).astype(np.uint8)
    return faded


def _turned(img: np.ndarray, dpi: int) -> np.ndarray:
    """A sheet whose middle turned against its ends as it lay on the glass: the table's rules tilt by up to
    1.2 degrees (2 mm up at the right of the table, 2 mm down at its left); the markers stay put."""
    h, w = img.shape[:2]
    k = dpi / 25.4
    qy, qx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy = -2.0 * ((qx / k - 105.0) / 95.0) * np.sin(np.pi * qy / k / 297.0) ** 2
    return np.asarray(cv2.remap(img, qx, qy - dy * k, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def _pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


def _save(folder: Path, name: str, img: np.ndarray) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if name.endswith(".jpg") else []
    assert cv2.imwrite(str(folder / name), img, params)


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> Deck:
    root = tmp_path_factory.mktemp("pages")
    ws = make_workspace(root / "ws", copies=32)
    conn = db.connect(ws.db_path)
    try:
        tokens = tuple(sorted(db.issued_tokens(conn)))
    finally:
        conn.close()
    folder = root / "scans"
    folder.mkdir()
    rng = np.random.default_rng(20261122)
    clear = _marks(CLEAR)
    for i, (dpi, rot) in enumerate(ORIENTED):
        img = render_page(ws, PageSpec(1, tokens[i], clear), ScanSpec(dpi=dpi, rotation=rot), rng=rng)
        _save(folder, f"clear-{dpi}-{rot}.{'png' if dpi == 150 else 'jpg'}", img)
    _save(folder, "skew5.jpg", render_page(ws, PageSpec(1, tokens[8], clear), ScanSpec(dpi=200, skew_deg=5.0), rng=rng))
    _save(folder, "skew-4.png", render_page(ws, PageSpec(1, tokens[16], clear),
                                           ScanSpec(dpi=150, skew_deg=-4.0, rotation=90), rng=rng))
    _save(folder, "phone.jpg", render_page(ws, PageSpec(1, tokens[9], clear), ScanSpec(dpi=200, phone=True), rng=rng))
    _save(folder, "grey600.jpg", render_page(ws, PageSpec(1, tokens[17], clear),
                                             ScanSpec(dpi=600, color=False, rotation=270), rng=rng))
    _save(folder, "foreign.png", render_page(ws, PageSpec(1, tokens[10], clear, session_id="OTHERSESS1"),
                                             ScanSpec(dpi=150), rng=rng))
    _save(folder, "unknown-token.png", render_page(ws, PageSpec(1, "NOTISSUED0001", clear), ScanSpec(dpi=150), rng=rng))
    no_qr = render_page(ws, PageSpec(1, tokens[11], clear), ScanSpec(dpi=150), rng=rng)
    x, y, w, h = QR_MM  # the QR spans [x + m, x + w + m] with the scanner margin m in 1..4 mm: cover 90 % of it
    _paint(no_qr, (x + 3, y + 3, w - 1, h - 1), 150)
    _save(folder, "no-qr.png", no_qr)
    doubtful: dict[int, tuple[MarkSpec, ...]] = {1: (MarkSpec("high", "faint"),), 2: (MarkSpec("medium", "tiny_tick"),), 3: (MarkSpec("low", "cancelled"),),
                4: (MarkSpec("high", "x"),)}
    _save(folder, "doubtful.png", render_page(ws, PageSpec(1, tokens[12], doubtful), ScanSpec(dpi=150), rng=rng))
    _save(folder, "crossed-writing.png", render_page(ws, PageSpec(1, tokens[13], clear, crossed=(5,), writing=True),
                                                     ScanSpec(dpi=150), rng=rng))
    layout = load_layout(ws.layout_json)
    bx, _, bw, _ = layout.pages[0].rows[0].boxes_mm["high"]  # the medium column would cross the QR code
    _save(folder, "streak.png", render_page(ws, PageSpec(1, tokens[14], clear),
                                            ScanSpec(dpi=150, streak_x_mm=bx + bw / 2 + 0.5), rng=rng))
    _save(folder, "back-side.png", blank_page(ScanSpec(dpi=150), rng=rng))
    no_markers = render_page(ws, PageSpec(1, tokens[18], clear), ScanSpec(dpi=150), rng=rng)
    for mx, my, mw, mh in layout.pages[0].markers_mm.values():
        _paint(no_markers, (mx - 1, my - 1, mw + 7, mh + 7), 150)
    _save(folder, "no-markers.png", no_markers)
    sub = folder / "box2" / "late"
    sub.mkdir(parents=True)
    _save(sub, "dup-a.png", render_page(ws, PageSpec(1, tokens[15], clear), ScanSpec(dpi=150), rng=rng))
    _save(sub, "dup-b.png", render_page(ws, PageSpec(1, tokens[15], clear), ScanSpec(dpi=150, rotation=180), rng=rng))
    bitonal = render_page(ws, PageSpec(1, tokens[19], clear), ScanSpec(dpi=300, color=False, bitonal="fixed"), rng=rng)
    Image.fromarray(bitonal).convert("1").save(folder / "bitonal.png")  # a 1-bit PNG, as an office scanner's B/W mode
    # the same mode saved as a JPEG (a JPEG has no 1-bit form): grey again at every edge, what was dropped still gone
    bw_jpeg = render_page(ws, PageSpec(1, tokens[30], clear), ScanSpec(dpi=300, color=False, bitonal="fixed"), rng=rng)
    _save(folder, "bitonal-as-jpeg.jpg", bw_jpeg)
    # a streak through every row's "medium" cell beside its box (page x 173-176 mm: the scanner adds a
    # 1-4 mm margin), and through the free area below the table
    _save(folder, "streak-beside.png", render_page(ws, PageSpec(1, tokens[25], clear), ScanSpec(dpi=150, streak_x_mm=177.0),
                                                   rng=rng))
    # an A4 ballot on a Letter-size scan area: the image stops at 279.4 mm, below the table, above the bottom markers
    letter = render_page(ws, PageSpec(1, tokens[26], clear), ScanSpec(dpi=150), rng=rng)
    _save(folder, "letter-size.png", letter[: round(279.4 * 150 / 25.4)])
    # sheets printed with a printer low on toner: the print at 60 % of its darkness still reads exactly;
    # at 38 % it is no darker than a pencil, and the page says so
    for token, density, name in ((tokens[27], 0.6, "light-print.png"), (tokens[28], 0.38, "faded-print.png")):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(simulate, "_printed", _faded(simulate._printed, density))
            _save(folder, name, render_page(ws, PageSpec(1, token, clear), ScanSpec(dpi=200), rng=rng))
    # a torn corner (or a sticker, a staple) takes one alignment marker away: the other three place the page
    torn = render_page(ws, PageSpec(1, tokens[31], clear), ScanSpec(dpi=200), rng=np.random.default_rng(1))
    mx, my, mw, mh = layout.pages[0].markers_mm["top_right"]  # the scanner adds a 1-4 mm margin
    _paint(torn, (mx - 1, my - 1, mw + 7, mh + 7), 200)
    _save(folder, "torn-corner.png", torn)
    # its own random stream: the page does not change when pages are added before it
    _save(folder, "turned.png", _turned(render_page(ws, PageSpec(1, tokens[29], clear), ScanSpec(dpi=300),
                                                    rng=np.random.default_rng(0)), 300))
    for i, (name, pen, scan) in enumerate(WARM_PAGES, start=20):
        _save(folder, name, render_page(ws, PageSpec(1, tokens[i], clear, pen=pen), scan, rng=rng))
    # backs of ballots, each on its own random stream: written on, and blank with what blank backs carry
    for name, scan, writing in BACKS:
        _save(folder, name, blank_page(scan, rng=np.random.default_rng(len(name)), writing=writing))
    summary = scan_folder(ws, folder, jobs=2)
    return Deck(ws, folder, summary, tokens)


def _assert_rows_exact(deck: Deck, name: str) -> None:
    page = deck.page(name)
    assert (page["kind"], json.loads(page["reasons"])) == ("ballot", []), name
    rows = deck.rows(name)
    assert sorted(rows) == list(PERSONS)
    for person, row in rows.items():
        assert (row["marks"], row["choice"]) == _expected(CLEAR[person]), (name, person)
        expected_reasons = [R.R_MULTIPLE] if len(CLEAR[person]) > 1 else []
        assert json.loads(row["reasons"]) == expected_reasons, (name, person)


@pytest.mark.parametrize(("dpi", "rot"), ORIENTED)
def test_clear_marks_read_exactly_in_every_orientation(deck: Deck, dpi: int, rot: int) -> None:
    _assert_rows_exact(deck, f"clear-{dpi}-{rot}.{'png' if dpi == 150 else 'jpg'}")


@pytest.mark.parametrize("name", ["skew5.jpg", "skew-4.png", "grey600.jpg"])
def test_skewed_and_600_dpi_pages_read_exactly(deck: Deck, name: str) -> None:
    _assert_rows_exact(deck, name)


def test_boxes_are_all_scored(deck: Deck) -> None:
    conn = db.connect(deck.ws.db_path)
    try:
        counts = conn.execute("SELECT p.layout_page, COUNT(b.person) FROM pages p LEFT JOIN boxes b ON b.page_id = p.id "
                              "GROUP BY p.id").fetchall()
    finally:
        conn.close()
    for layout_page, n in counts:
        assert n == (36 if layout_page is not None else 0)


def _assert_never_silently_wrong(deck: Deck, name: str) -> None:
    """Every row of a page of clear marks is read as marked or goes to a human, and at least 10 of 12
    are read exactly."""
    rows = deck.rows(name)
    assert sorted(rows) == list(PERSONS)
    exact = 0
    for person, row in rows.items():
        if json.loads(row["reasons"]) and (row["marks"], row["choice"]) != _expected(CLEAR[person]):
            continue  # a human looks at it
        assert (row["marks"], row["choice"]) == _expected(CLEAR[person]), (name, person)
        exact += 1
    assert exact >= 10, name


def test_phone_photo_never_silently_wrong(deck: Deck) -> None:
    page = deck.page("phone.jpg")
    assert page["kind"] == "ballot" and page["token"] == deck.tokens[9]
    _assert_never_silently_wrong(deck, "phone.jpg")


@pytest.mark.parametrize("name", ["warm-pink-colour.png", "warm-pink-phone.jpg"])
def test_a_voter_whose_pen_the_dropout_hides_is_shown_to_a_human_row_by_row(deck: Deck, name: str) -> None:
    """A pink gel pen vanishes with the seal in the red channel: on a lossless colour scan or a phone
    photo every row this voter marked goes to review as ``red_ink``, none is counted as the empty row
    the dropped image shows; the unmarked row is not flagged for it."""
    page = deck.page(name)
    assert page["kind"] == "ballot" and page["status"] == "review"
    rows = deck.rows(name)
    assert sorted(rows) == list(PERSONS)
    for person, row in rows.items():
        assert (R.R_RED in json.loads(row["reasons"])) == bool(CLEAR[person]), (person, row["reasons"])


@pytest.mark.parametrize("name", ["warm-pink-colour.jpg", "warm-red-colour.jpg", "warm-pink-grey.jpg"])
def test_warm_ink_the_page_still_shows_is_read_as_ink_like_any_other(deck: Deck, name: str) -> None:
    """Where the red channel still shows the ink, it is read as marks like any light ink: a JPEG's
    coarser colour darkens a thin pink line's red channel by more than light ink's 14 %, a red
    ballpoint darkens it by about a quarter, and a grey scan has no colour to drop the seal with
    (the pink stays mid-grey). Whatever is not sure goes to review (on the JPEG, some rows as
    ``red_ink``: colour left beyond the seen line); nothing is counted wrongly."""
    assert deck.page(name)["kind"] == "ballot"
    _assert_never_silently_wrong(deck, name)


@pytest.mark.parametrize(("name", "kind", "reason"), [
    ("foreign.png", "not_issued", R.R_FOREIGN),
    ("no-qr.png", "unreadable", R.R_NO_QR),
])
def test_not_issued_or_unreadable_counts_nothing(deck: Deck, name: str, kind: str, reason: str) -> None:
    page = deck.page(name)
    assert (page["kind"], page["status"], json.loads(page["reasons"])) == (kind, "review", [reason])
    assert page["layout_page"] is None
    assert deck.rows(name) == {}
    assert page["image"] and (deck.ws.root / page["image"]).is_file()  # the committee sees the sheet


def test_unknown_token_is_read_but_not_counted(deck: Deck) -> None:
    """Our own ballot page with a token the committee never issued: read for the reviewer, counted by nobody."""
    page = deck.page("unknown-token.png")
    assert (page["kind"], page["status"], json.loads(page["reasons"])) == ("not_issued", "review", [R.R_UNKNOWN_TOKEN])
    assert page["token"] == "NOTISSUED0001" and page["layout_page"] == 1
    conn = db.connect(deck.ws.db_path)
    try:
        (reading,) = [r for r in load_readings(conn) if r.source == "unknown-token.png"]
    finally:
        conn.close()
    assert reading.pending and reading.verdict is None  # waits for the committee's verdict


def test_doubtful_marks_go_to_review(deck: Deck) -> None:
    page = deck.page("doubtful.png")
    assert (page["kind"], page["status"]) == ("ballot", "review")
    rows = deck.rows("doubtful.png")
    for person in (1, 2, 3):
        assert json.loads(rows[person]["reasons"]), person
    assert (rows[4]["marks"], rows[4]["choice"], json.loads(rows[4]["reasons"])) == ("one", "high", [])
    for person in range(5, 13):
        assert (rows[person]["marks"], json.loads(rows[person]["reasons"])) == ("none", []), person


def test_crossed_name_and_writing(deck: Deck) -> None:
    page = deck.page("crossed-writing.png")
    assert page["status"] == "review"
    assert json.loads(page["reasons"]) == [R.R_WRITING]
    rows = deck.rows("crossed-writing.png")
    assert R.R_CROSSED in json.loads(rows[5]["reasons"])
    for person in PERSONS:
        if person not in (5, 11):
            assert json.loads(rows[person]["reasons"]) == [], person
    # the marks are still read: a human decides what the crossed name means
    assert (rows[5]["marks"], rows[5]["choice"]) == _expected(CLEAR[5])


def test_a_streak_beside_the_boxes_is_not_a_mark_outside_them_nor_writing(deck: Deck) -> None:
    """A streak through the level cells beside the boxes and through the free area is the scanner's
    line: it crosses no box, so every row reads exactly, with no ``mark_outside_box`` and no
    ``writing`` (before, both)."""
    _assert_rows_exact(deck, "streak-beside.png")


def test_streak_through_a_box(deck: Deck) -> None:
    """A vertical streak crosses the "high" box of every row: every row goes to review (issue 3: never to a
    count), with the streak as its one reason. The boxes are read without the streak's band, as a crease's, so
    the reading shown to the committee is the voter's marks alone: exact, the streak read as no mark."""
    rows = deck.rows("streak.png")
    assert sorted(rows) == list(PERSONS)
    assert deck.page("streak.png")["status"] == "review"
    for person, row in rows.items():
        assert (row["marks"], row["choice"]) == _expected(CLEAR[person]), person
        assert json.loads(row["reasons"]) == ([R.R_MULTIPLE] if len(CLEAR[person]) > 1 else []) + [R.R_STREAK], person


def test_blank_back_side(deck: Deck) -> None:
    page = deck.page("back-side.png")
    assert (page["kind"], page["status"], json.loads(page["reasons"])) == ("blank", "auto", [R.R_BLANK])
    assert deck.rows("back-side.png") == {}


BACKS = (("back-words.png", ScanSpec(dpi=200), "words"), ("back-signed.jpg", ScanSpec(dpi=300, jpeg_quality=80), "signature"),
         ("back-bleed.png", ScanSpec(dpi=200, bleed=True, fold="quarter", noise=6.0), None),
         ("back-skewed.jpg", ScanSpec(dpi=150, skew_deg=4.5, edge="dark_strip", noise=4.0), None))


@pytest.mark.parametrize(("name", "written"), [(name, writing is not None) for name, _, writing in BACKS])
def test_writing_on_the_back_of_a_ballot_is_shown(deck: Deck, name: str, written: bool) -> None:
    """A page without markers holding a name, a note or a signature in pen is the back of a ballot written on:
    under QĐ 262 extra writing spoils the ballot, and under 96 a written-in name is not counted. It was
    recorded as a blank back side (too little ink for more) and shown to nobody. It is now rejected with
    its own reason and a picture; a blank back with the front showing through, a fold, noise, or a dark
    scanner lid beside a skewed sheet is still blank."""
    page = deck.page(name)
    if written:
        assert (page["kind"], page["status"], json.loads(page["reasons"])) == (
            "unreadable", "rejected", [R.R_BACK_WRITING])
        assert page["image"] and (deck.ws.root / page["image"]).is_file() and page["detail"]
        assert any(p.source == name for p in deck.summary.problems)
    else:
        assert (page["kind"], page["status"], json.loads(page["reasons"])) == ("blank", "auto", [R.R_BLANK])


def test_a_back_written_on_sends_its_front_to_review(workspace: Workspace, tmp_path: Path) -> None:
    """The ballot scanned right before a back written on goes to review (``writing_on_back``), where the
    committee can give it the verdict of extra writing: in a duplex TIFF the page before it, for single
    images the file before it by name. A blank back leaves its front counted; so does a back written on
    after a page that is not a ballot. Scanning again links nothing twice."""
    conn = db.connect(workspace.db_path)
    try:
        tokens = sorted(db.issued_tokens(conn))
    finally:
        conn.close()
    folder = tmp_path / "scans"
    folder.mkdir()
    rng = np.random.default_rng(7)
    clear = _marks({p: (LEVELS[p % 3],) for p in PERSONS})  # one X a row: nothing else to review

    def front(k: int) -> Image.Image:
        return _pil(render_page(workspace, PageSpec(1, tokens[k], clear), ScanSpec(dpi=150), rng=rng))

    def back(writing: str | None) -> Image.Image:
        return _pil(blank_page(ScanSpec(dpi=150), rng=rng, writing=writing))

    duplex = [front(0), back("words"), front(1), back(None)]
    duplex[0].save(folder / "duplex.tif", save_all=True, append_images=duplex[1:], compression="tiff_lzw")
    front(2).save(folder / "scan-0001.png")
    back("signature").save(folder / "scan-0002.png")
    back("words").save(folder / "scan-0003.png")  # after a back: nothing to link
    summary = scan_folder(workspace, folder, jobs=1)
    scan_folder(workspace, folder, jobs=1)
    conn = db.connect(workspace.db_path)
    try:
        pages = {(r["source"], r["page_index"] + 1): r for r in conn.execute("SELECT * FROM pages")}
    finally:
        conn.close()
    for key in (("duplex.tif", 1), ("scan-0001.png", 1)):
        assert (pages[key]["status"], json.loads(pages[key]["reasons"])) == ("review", [R.R_WRITING_ON_BACK]), key
        assert pages[key]["image"] and (workspace.root / pages[key]["image"]).is_file()
        assert any(p.source == key[0] and p.page == key[1] for p in summary.problems)
    assert (pages[("duplex.tif", 3)]["status"], json.loads(pages[("duplex.tif", 3)]["reasons"])) == ("auto", [])
    for key in (("duplex.tif", 2), ("scan-0002.png", 1), ("scan-0003.png", 1)):
        assert json.loads(pages[key]["reasons"]) == [R.R_BACK_WRITING], key
    assert pages[("duplex.tif", 4)]["kind"] == "blank"
    assert ballot_offer("ballot", [R.R_WRITING_ON_BACK]).agreeing == ("extra_writing",)


def test_page_without_markers_is_rejected_with_a_reason(deck: Deck) -> None:
    page = deck.page("no-markers.png")
    assert (page["kind"], page["status"], json.loads(page["reasons"])) == ("unreadable", "rejected", [R.R_NO_MARKERS])
    assert page["detail"]
    assert page["image"] and (deck.ws.root / page["image"]).is_file()
    assert any(p.source == "no-markers.png" and p.status == "rejected" for p in deck.summary.problems)


def test_a_sheet_cut_off_by_the_scan_area_says_so(deck: Deck) -> None:
    """The bottom markers cut off (a Letter-size scan area): the page is not read, and the reason says
    which markers are missing and what to do, rather than "not a ballot"."""
    page = deck.page("letter-size.png")
    assert (page["kind"], page["status"], json.loads(page["reasons"])) == ("unreadable", "rejected", [R.R_SOME_MARKERS])
    assert "Only 2 of the 4" in page["detail"] and "bottom left, bottom right" in page["detail"]
    assert "A4" in R.REASON_TEXT[R.R_SOME_MARKERS][0]
    assert deck.rows("letter-size.png") == {}
    assert any(p.source == "letter-size.png" and p.status == "rejected" for p in deck.summary.problems)


def test_duplicate_token_flags_both_pages(deck: Deck) -> None:
    for name in ("box2/late/dup-a.png", "box2/late/dup-b.png"):
        page = deck.page(name)
        assert R.R_DUPLICATE in json.loads(page["reasons"]), name
        assert page["status"] == "review" and page["token"] == deck.tokens[15]
        assert page["image"] and (deck.ws.root / page["image"]).is_file(), name
    # only these two carry the duplicate reason
    conn = db.connect(deck.ws.db_path)
    try:
        flagged = {r["source"] for r in conn.execute("SELECT source, reasons FROM pages")
                   if R.R_DUPLICATE in json.loads(r["reasons"])}
    finally:
        conn.close()
    assert flagged == {"box2/late/dup-a.png", "box2/late/dup-b.png"}


def test_summary_lists_every_page_needing_attention(deck: Deck) -> None:
    s = deck.summary
    files = sorted(p.relative_to(deck.folder).as_posix() for p in deck.folder.rglob("*") if p.is_file())
    assert s.files == len(files) and s.pages_read == len(files) and s.pages_known == 0
    assert sum(s.by_kind.values()) == len(files)
    listed = {p.source for p in s.problems}
    assert {"foreign.png", "unknown-token.png", "no-qr.png", "no-markers.png", "doubtful.png"} <= listed
    assert "back-side.png" not in listed
    assert s.needs_attention


@pytest.mark.parametrize("name", ["bitonal.png", "bitonal-as-jpeg.jpg"])
def test_black_and_white_scan_sends_every_line_to_review(deck: Deck, name: str) -> None:
    """A 1-bit scan keeps no grey: a pencil mark below the scanner's threshold is gone, so no reading is trusted;
    saved as a JPEG it is grey again at every edge, but what the threshold dropped is gone all the same."""
    page = deck.page(name)
    assert page["kind"] == "ballot" and page["status"] == "review"
    assert "greyscale or colour" in page["detail"]
    rows = deck.rows(name)
    assert sorted(rows) == list(PERSONS)
    for person, row in rows.items():
        assert R.R_BITONAL in json.loads(row["reasons"]), person
        assert (row["marks"], row["choice"]) == _expected(CLEAR[person]), person  # pen marks are still read


def test_a_sheet_printed_light_reads_exactly_and_a_faded_one_says_so(deck: Deck) -> None:
    """A print at 60 % of its darkness reads as any other; at 38 % the print is no darker than a pencil: every
    line of the page goes to review as a faded print (a faint mark there is not told from the print), and the
    page says so."""
    _assert_rows_exact(deck, "light-print.png")
    page = deck.page("faded-print.png")
    assert page["kind"] == "ballot" and page["status"] == "review"
    assert "too faint" in page["detail"]
    rows = deck.rows("faded-print.png")
    assert sorted(rows) == list(PERSONS)
    for person, row in rows.items():
        assert R.R_FADED in json.loads(row["reasons"]), person


def test_a_sheet_with_a_marker_torn_off_reads_exactly(deck: Deck) -> None:
    """Three markers place a page: a corner torn off, or a sticker over a marker, loses nothing, and the
    missing marker's paper is not taken for a faded print (every line went to review as one)."""
    _assert_rows_exact(deck, "torn-corner.png")


def test_a_sheet_turned_in_its_middle_reads_exactly(deck: Deck) -> None:
    """Over an 18 mm piece a tilted rule crosses 2-3 pixel rows of the straightened page; each piece must still
    be measured, or the field is filled in from the rule's flat part and the boxes at the tilted end are read
    where they are not (rows to review as marginal, fold_line, name_crossed)."""
    _assert_rows_exact(deck, "turned.png")
