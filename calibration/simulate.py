"""The simulator of voters and scanners: voted, scanned ballots with known truth.

Two levels:

* :func:`render_page` / :func:`blank_page` draw one scanned page from a
  :class:`PageSpec` (what the voter did) and a :class:`ScanSpec` (what the scanner
  or camera did). Other engineers' tests use these directly.
* :func:`simulate` writes a whole deck of scan files for ``voters`` voters with a
  profile (``adf``, ``adf-rough``, ``phone``, ``field``) and a truth file beside
  (never inside) the scan folder.

Profiles: ``adf`` a clean office scanner; ``adf-rough`` worn scanners, folds, streaks,
not-marks, ambiguous marks, duplicates and foreign ballots; ``phone`` phone photos, with
the same share of not-marks and ambiguous marks as ``adf-rough``.
``field`` is held out from tuning: conditions no other profile produces, to check
that thresholds tuned on the first three generalise. Page by page about 35 % phone
photos with barrel lens distortion (``lens_k1``) and a sheet that is not flat
(``curl``: a bulge along a fold or a curled edge, ``curl_mm`` up to 3 mm, applied
before the perspective); 20 % bitonal 1-bit scans (``bitonal``: a fixed or adaptive
threshold; CCITT Group 4 TIFF or 1-bit PNG); 25 % greyscale scans (JPEG or PDF);
20 % colour scans at 400 dpi or with a dark background strip (``edge``). Voters use
:func:`~calibration.strokes.field_pen` (violet ballpoint, gel pen, thick marker; 4 % of
them :func:`~calibration.strokes.warm_pen`, a red ballpoint or pink gel pen the seal's
dropout hides, drawn from a random stream of their own so that every other voter stays
as the deck drew them before) and
mostly the :data:`~calibration.strokes.FIELD_CLEAR_STYLES` (``hooked_x``,
``big_shaky_x``, ``v_tick``, ``plus``, ``hatch``, ``asterisk``) besides some usual
clear styles; some rows have no mark or two, a few an ambiguous or a not-mark
style, some ballots a crossed name, written-in words or a signature.

Truth file (JSON, schema ``kiemphieu.truth/1``)::

    {"schema": "kiemphieu.truth/1", "session_id": "...", "profile": "adf", "seed": 1,
     "voters": 20, "pages_per_ballot": 1,
     "files": [{"name": "scan-0001.jpg", "format": "jpg", "pages": 1}, ...],
     "pages": [
       {"source": "scan-0001.jpg",    # file name inside the scan folder
        "page": 1,                    # 1-based page within the file
        "kind": "ballot",             # ballot | blank | foreign | duplicate
        "token": "ABC...",            # token in the QR (null for a blank page)
        "session_id": "...",          # session id in the QR (another one for "foreign")
        "layout_page": 1,             # null for a blank page
        "voter": 3,                   # 1-based voter number (null for blank; foreign: 0)
        "rows": {"1": {"expect": "one", "choice": "high",
                       "styles": {"high": "x", "medium": "empty", "low": "dots"}}, ...},
        "crossed": [3], "writing": false, "signature": true,
        "scan": {"dpi": 300, "rotation": 0, ...},     # the ScanSpec as a dict
        "pen": {"kind": "gel", "color_bgr": [...], ...}}]}  # only when the plan chose the pen (field)

Row ``expect``: ``review`` when any box of the row holds an ambiguous style
(``cancelled``, ``tiny_tick``, ``faint``: a human must look); otherwise ``none``,
``one`` (with ``choice``) or ``multiple`` from the clear marks (:data:`CLEAR_STYLES`
and the field profile's :data:`FIELD_CLEAR_STYLES`). Not-mark styles
(``dots``, ``neighbour_stroke``, ``fold_line``) count as empty boxes.
A ``duplicate`` page is a photocopy of an earlier ballot (same token, same marks);
a ``foreign`` page carries another session's id.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import segno
from PIL import Image

from calibration import effects
from calibration.strokes import (
    AMBIGUOUS_STYLES,
    CLEAR_STYLES,
    FIELD_CLEAR_STYLES,
    NOT_MARK_STYLES,
    STYLES,
    Pen,
    draw_strokes,
    field_pen,
    mark_strokes,
    pen_for_style,
    random_pen,
    signature_strokes,
    strike_strokes,
    warm_pen,
    word_strokes,
)
from kiemphieu import db
from kiemphieu.errors import InputError, WorkspaceError
from kiemphieu.layout import LEVELS, PAGE_H, PAGE_W, Layout, load_layout
from kiemphieu.session import Workspace

TRUTH_SCHEMA = "kiemphieu.truth/1"
PROFILES = ("adf", "adf-rough", "phone", "field")
MM_PER_INCH = 25.4

__all__ = [
    "AMBIGUOUS_STYLES",
    "CLEAR_STYLES",
    "FIELD_CLEAR_STYLES",
    "NOT_MARK_STYLES",
    "PROFILES",
    "STYLES",
    "MarkSpec",
    "PageSpec",
    "ScanSpec",
    "SimulationResult",
    "blank_page",
    "render_page",
    "row_truth",
    "simulate",
]


@dataclass(frozen=True)
class MarkSpec:
    """One mark in one box: ``level`` high|medium|low, ``style`` one of :data:`STYLES`."""

    level: str
    style: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}")
        if self.style not in STYLES:
            raise ValueError(f"unknown mark style {self.style!r}; use one of {', '.join(STYLES)}")


@dataclass(frozen=True)
class PageSpec:
    """What the voter did on one ballot page."""

    layout_page: int
    token: str | None
    marks: dict[int, tuple[MarkSpec, ...]]
    crossed: tuple[int, ...] = ()
    writing: bool = False
    signature: bool = False
    session_id: str | None = None
    pen: Pen | None = None  # the voter's pen; None: drawn with random_pen when rendering


@dataclass(frozen=True)
class ScanSpec:
    """What the scanner or camera did to the page.

    The fields after ``phone`` are the ``field`` profile's; their defaults change
    nothing, so older specs and truth files mean what they meant.
    """

    dpi: int = 300
    rotation: int = 0
    skew_deg: float = 0.0
    seal: bool = True
    color: bool = True
    noise: float = 0.0
    blur: float = 0.0
    jpeg_quality: int | None = None
    fold: str | None = None
    streak_x_mm: float | None = None
    bleed: bool = False
    phone: bool = False
    # phone only: radial lens distortion r_d = r_u (1 + k1 r_u^2), r = 1 at the frame's
    # corners; negative is barrel (field: -0.08..-0.02)
    lens_k1: float = 0.0
    # phone only: the sheet is not flat, "fold_bulge" (along the middle fold) or
    # "edge_curl" (one edge lifts), moving the page by at most curl_mm before the perspective
    curl: str | None = None
    curl_mm: float = 0.0
    # scanner only: "grey_border" (the four edges darken softly) or "dark_strip"
    # (dark background strip outside the paper at one edge)
    edge: str | None = None
    # scanner only: 1-bit output, "fixed" (black below threshold * 255) or "adaptive"
    # (black below threshold * the local paper level); needs color=False and no JPEG
    bitonal: str | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.rotation not in (0, 90, 180, 270):
            raise ValueError("rotation must be 0, 90, 180 or 270")
        if self.fold not in (None, "half", "quarter"):
            raise ValueError("fold must be None, 'half' or 'quarter'")
        if not 50 <= self.dpi <= 1200:
            raise ValueError("dpi must be within 50..1200")
        self._check_field_options()

    def _check_field_options(self) -> None:
        if self.curl not in (None, *effects.SHEET_BENDS):
            raise ValueError(f"curl must be None or one of {', '.join(effects.SHEET_BENDS)}")
        if self.edge not in (None, *effects.SCANNER_EDGES):
            raise ValueError(f"edge must be None or one of {', '.join(effects.SCANNER_EDGES)}")
        if self.bitonal not in (None, *effects.BITONAL_METHODS):
            raise ValueError(f"bitonal must be None or one of {', '.join(effects.BITONAL_METHODS)}")
        if not self.phone and (self.curl is not None or self.lens_k1 != 0.0):
            raise ValueError("curl and lens_k1 are for phone photos (phone=True)")
        if self.phone and (self.edge is not None or self.bitonal is not None):
            raise ValueError("edge and bitonal are for scanners (phone=False)")
        if self.bitonal is not None and (self.color or self.jpeg_quality is not None):
            raise ValueError("a bitonal scan has no colour and no JPEG (color=False, jpeg_quality=None)")
        if not 0.0 < self.threshold < 1.0 or not 0.0 <= self.curl_mm <= 10.0 or not -0.3 <= self.lens_k1 <= 0.3:
            raise ValueError("threshold must be within (0, 1), curl_mm within 0..10 mm, lens_k1 within -0.3..0.3")


# --- truth of one row ---------------------------------------------------------


def row_truth(marks: tuple[MarkSpec, ...]) -> dict[str, Any]:
    """The expected reading of a row: ``{"expect", "choice", "styles"}``."""
    styles: dict[str, str] = {level: "empty" for level in LEVELS}
    for m in marks:
        styles[m.level] = m.style if styles[m.level] == "empty" else f"{styles[m.level]}+{m.style}"
    clear = sorted({m.level for m in marks if m.style in CLEAR_STYLES or m.style in FIELD_CLEAR_STYLES}, key=LEVELS.index)
    if any(m.style in AMBIGUOUS_STYLES for m in marks):
        return {"expect": "review", "choice": None, "styles": styles}
    if not clear:
        return {"expect": "none", "choice": None, "styles": styles}
    if len(clear) > 1:
        return {"expect": "multiple", "choice": None, "styles": styles}
    return {"expect": "one", "choice": clear[0], "styles": styles}


# --- rendering ----------------------------------------------------------------


@cache
def _layout(layout_json: Path) -> Layout:
    return load_layout(layout_json)


@cache
def _organisation(session_file: Path) -> str:
    from kiemphieu.session import session_from_toml

    return session_from_toml(session_file.read_text(encoding="utf-8")).organisation


@cache
def _printed(reference_pdf: Path, dpi: int, page: int) -> np.ndarray:
    """Grey raster (H, W) of one blank layout page at ``dpi`` (cached per process)."""
    from pdf2image import convert_from_path
    from pdf2image.exceptions import PDFInfoNotInstalledError

    try:
        images = convert_from_path(str(reference_pdf), dpi=dpi, first_page=page, last_page=page, grayscale=True)
    except PDFInfoNotInstalledError:
        from kiemphieu.errors import MissingDependencyError

        raise MissingDependencyError(
            "Chưa cài poppler-utils (pdftoppm).", "poppler-utils (pdftoppm) is not installed."
        ) from None
    arr = np.asarray(images[0].convert("L"))
    arr.setflags(write=False)
    return arr


def _draw_qr(img: np.ndarray, payload: str, rect: tuple[float, float, float, float], px_per_mm: float, toner: int) -> None:
    matrix = np.array(segno.make(payload, error="h", micro=False).matrix, dtype=bool)
    n = matrix.shape[0]
    x, y, w, h = rect
    r0, r1 = int(round(y * px_per_mm)), int(round((y + h) * px_per_mm))
    c0, c1 = int(round(x * px_per_mm)), int(round((x + w) * px_per_mm))
    rows = np.minimum(((np.arange(r0, r1) + 0.5) / px_per_mm - y) * n / h, n - 1).astype(int)
    cols = np.minimum(((np.arange(c0, c1) + 0.5) / px_per_mm - x) * n / w, n - 1).astype(int)
    dark = matrix[np.ix_(rows, cols)]
    roi = img[r0:r1, c0:c1]
    roi[dark] = toner


def _voter_ink(img: np.ndarray, layout: Layout, spec: PageSpec, px_per_mm: float, rng: np.random.Generator) -> None:
    page = layout.page(spec.layout_page)
    pen = random_pen(rng) if spec.pen is None else spec.pen
    rows = {row.person: row for row in page.rows}
    for stt, marks in sorted(spec.marks.items()):
        if stt not in rows:
            raise ValueError(f"person {stt} is not on layout page {spec.layout_page}")
        for mark in marks:
            strokes = mark_strokes(mark.style, rows[stt].boxes_mm[mark.level], rng)
            draw_strokes(img, strokes, pen_for_style(mark.style, pen, rng), px_per_mm=px_per_mm, rng=rng)
    for stt in spec.crossed:
        draw_strokes(img, strike_strokes(rows[stt].name_mm, rng), pen, px_per_mm=px_per_mm, rng=rng)
    if spec.writing and page.free_mm:
        area = page.free_mm[int(rng.integers(0, len(page.free_mm)))]
        draw_strokes(img, word_strokes(area, rng), pen, px_per_mm=px_per_mm, rng=rng)
    if spec.signature and page.signature_mm is not None:
        draw_strokes(img, signature_strokes(page.signature_mm, rng), pen, px_per_mm=px_per_mm, rng=rng)


def _finish(img: np.ndarray, scan: ScanSpec, px_per_mm: float, rng: np.random.Generator, back: np.ndarray | None) -> np.ndarray:
    """Folds, bleed-through, then the scanner or the camera."""
    if scan.fold:
        effects.fold(img, scan.fold, px_per_mm=px_per_mm, rng=rng)
    if scan.bleed and back is not None:
        img = effects.bleed_through(img, back, rng)
    if scan.phone:
        if scan.rotation == 180:
            img = np.ascontiguousarray(img[::-1, ::-1])
        if scan.curl is not None:  # the sheet is bent before the camera projects it
            bend = effects.sheet_bend(img.shape[:2], kind=scan.curl, amplitude_mm=scan.curl_mm, px_per_mm=px_per_mm, rng=rng)
            img = effects.bend_sheet(img, bend, px_per_mm=px_per_mm)
        img = effects.phone_photo(img, rng)
        if scan.lens_k1 != 0.0:
            img = effects.lens_distortion(img, k1=scan.lens_k1)
        img = effects.sensor(img, noise=max(scan.noise, 2.0), blur=max(scan.blur, 0.6), rng=rng)
    else:
        img = effects.scan_geometry(img, skew_deg=scan.skew_deg, rotation=scan.rotation, px_per_mm=px_per_mm, rng=rng)
        if scan.edge is not None:
            img = effects.scanner_edge(img, scan.edge, px_per_mm=px_per_mm, rng=rng)
        if scan.streak_x_mm is not None:
            effects.streak(img, scan.streak_x_mm, px_per_mm=px_per_mm, rng=rng)
        img = effects.sensor(img, noise=scan.noise, blur=scan.blur, rng=rng)
    if not scan.color:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if scan.bitonal is not None:
        img = effects.bitonal(img, method=scan.bitonal, threshold=scan.threshold, px_per_mm=px_per_mm)
    if scan.jpeg_quality is not None:
        img = effects.jpeg(img, scan.jpeg_quality)
    return img


def render_page(ws: Workspace, spec: PageSpec, scan: ScanSpec, *, rng: np.random.Generator) -> np.ndarray:
    """Draw one voted ballot page as the scanner (or phone) delivers it.

    Parameters
    ----------
    ws : a workspace with printed ballots (``reference.pdf`` and ``layout.json``).
    spec : what the voter did.
    scan : what the scanner or camera did.
    rng : the only source of randomness.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8 BGR, or ``(H, W)`` uint8 when ``scan.color`` is False
        (holding only 0 and 255 when ``scan.bitonal`` is set).
        Without skew, rotation or phone, page pixel (row, col) = (y_mm, x_mm) *
        dpi / 25.4 plus the scanner margin added by the scan (1-4 mm).
    """
    layout = _layout(ws.layout_json)
    if not 1 <= spec.layout_page <= layout.pages_per_ballot:
        raise ValueError(f"layout page {spec.layout_page} does not exist (1..{layout.pages_per_ballot})")
    img = _page_with_ink(ws, layout, spec, scan, rng)
    back = _printed(ws.reference_pdf, scan.dpi, 1 + int(rng.integers(0, layout.pages_per_ballot))) if scan.bleed else None
    return _finish(img, scan, scan.dpi / MM_PER_INCH, rng, back)


def _page_with_ink(ws: Workspace, layout: Layout, spec: PageSpec, scan: ScanSpec, rng: np.random.Generator) -> np.ndarray:
    """The voted page before folds and the scanner: printed page, QR, seal, ink."""
    px_per_mm = scan.dpi / MM_PER_INCH
    img = effects.paper(_printed(ws.reference_pdf, scan.dpi, spec.layout_page), rng)
    session_id = spec.session_id or layout.session_id
    payload = f"KP1:{session_id}:{layout.layout_hash}:{spec.layout_page}:{spec.token or '-'}"
    _draw_qr(img, payload, layout.page(spec.layout_page).qr_mm, px_per_mm, 30)
    if scan.seal:
        effects.stamp_seal(img, _organisation(ws.session_file), px_per_mm=px_per_mm, rng=rng)
    _voter_ink(img, layout, spec, px_per_mm, rng)
    return img


def blank_page(scan: ScanSpec, *, rng: np.random.Generator, writing: str | None = None) -> np.ndarray:
    """A blank back side: paper, scanner effects, and faint bleed-through if ``scan.bleed``; with ``writing``
    (``words`` or ``signature``), a voter's note or signature on it in ballpoint, somewhere in its middle."""
    px_per_mm = scan.dpi / MM_PER_INCH
    h, w = int(round(PAGE_H * px_per_mm)), int(round(PAGE_W * px_per_mm))
    grey = np.full((h, w), 255, np.uint8)
    img = effects.paper(grey, rng)
    if writing is not None:
        area = (30.0, float(rng.uniform(60, 200)), 150.0, 30.0)
        strokes = word_strokes(area, rng, words=2) if writing == "words" else signature_strokes(area, rng)
        pen = Pen("ballpoint", (int(rng.integers(120, 170)), 60, 25), 0.35, 0.95)
        draw_strokes(img, strokes, pen, px_per_mm=px_per_mm, rng=rng)
    back = None
    if scan.bleed:  # the printed front shows through: a table and text lines
        back = np.full((h, w), 255, np.uint8)
        for k in range(int(rng.integers(8, 16))):
            y = int((75 + 10 * k) * px_per_mm)
            cv2.line(back, (int(10 * px_per_mm), y), (int(200 * px_per_mm), y), 40, max(1, int(0.3 * px_per_mm)))
            cv2.rectangle(back, (int(25 * px_per_mm), y + int(3 * px_per_mm)), (int(70 * px_per_mm), y + int(6 * px_per_mm)), 60, -1)
    return _finish(img, replace(scan, seal=False), px_per_mm, rng, back)


def _photocopy(img: np.ndarray) -> np.ndarray:
    """A photocopy of a page: grey toner, harder contrast, a slight loss of detail."""
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    grey = cv2.GaussianBlur(grey, (0, 0), 0.8)
    lut = np.clip((np.arange(256) - 60) * 255.0 / 160.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.LUT(grey, lut), cv2.COLOR_GRAY2BGR)


# --- the deck -----------------------------------------------------------------


@dataclass(frozen=True)
class PageJob:
    kind: str  # ballot | blank | foreign | duplicate
    spec: PageSpec | None
    scan: ScanSpec
    seed: int
    voter: int | None = None
    writing: str | None = None  # a blank back written on: "words" or "signature" (blank_page)
    back_writing: bool = False  # a ballot page whose back (the next page scanned) is written on


BACK_WRITING = 0.15  # adf-rough: the share of blank backs written on (a name, a note; a third of them signed)


def _back_writing(profile: str, seed: int) -> str | None:
    """What is written on a blank back of ``profile`` (adf-rough only), drawn from the back's own seed so
    that every other draw of the deck stays as it was."""
    u = float(np.random.default_rng([seed, 7]).random())
    if profile != "adf-rough" or u >= BACK_WRITING:
        return None
    return "signature" if u < BACK_WRITING / 3 else "words"


@dataclass(frozen=True)
class FileJob:
    name: str
    fmt: str  # jpg | png | tif | pdf
    pages: tuple[PageJob, ...]


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate` wrote."""

    out_dir: Path
    truth_path: Path
    files: tuple[Path, ...]
    pages: int
    ballots: int
    voters: int
    profile: str
    seed: int
    counts: dict[str, int] = field(default_factory=dict)


def _weighted(rng: np.random.Generator, options: dict[str, float]) -> str:
    keys = list(options)
    p = np.array([options[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


LEVEL_WEIGHTS = {"high": 0.6, "medium": 0.3, "low": 0.1}
ADF_STYLES = {"x": 0.78, "check": 0.07, "slash": 0.04, "small_x": 0.04, "x_overshoot": 0.04, "circle": 0.015, "fill": 0.015}
ROUGH_STYLES = {"x": 0.45, "check": 0.12, "slash": 0.08, "small_x": 0.1, "x_overshoot": 0.12, "circle": 0.06, "fill": 0.07}


FIELD_STYLES = {"hooked_x": 0.16, "big_shaky_x": 0.1, "v_tick": 0.14, "plus": 0.12, "hatch": 0.1, "asterisk": 0.1,
                "x": 0.12, "check": 0.08, "small_x": 0.04, "circle": 0.04}
"""The field profile's clear marks: mostly other hands' marks, some usual ones."""


def _field_row_marks(rng: np.random.Generator) -> tuple[MarkSpec, ...]:
    """One row of the field profile: 4 % no mark, 4 % two, else one.

    Then, in a free box, a not-mark (``dots``, ``neighbour_stroke``: 10 %) or an
    ambiguous style (5 %), as in ``adf-rough``.
    """
    u = rng.random()
    marks: list[MarkSpec] = []
    if 0.04 <= u < 0.08:
        a, b = rng.choice(3, size=2, replace=False)
        marks = [MarkSpec(LEVELS[int(a)], _weighted(rng, FIELD_STYLES)), MarkSpec(LEVELS[int(b)], _weighted(rng, FIELD_STYLES))]
    elif u >= 0.08:
        marks = [MarkSpec(_weighted(rng, LEVEL_WEIGHTS), _weighted(rng, FIELD_STYLES))]
    free = [lv for lv in LEVELS if lv not in {m.level for m in marks}]
    v = rng.random()
    if free and v < 0.1:
        marks.append(MarkSpec(free[int(rng.integers(0, len(free)))], str(rng.choice(NOT_MARK_STYLES[:2]))))
    elif free and v < 0.15:
        marks.append(MarkSpec(free[int(rng.integers(0, len(free)))], str(rng.choice(AMBIGUOUS_STYLES))))
    return tuple(marks)


def _row_marks(profile: str, rng: np.random.Generator) -> tuple[MarkSpec, ...]:
    if profile == "field":
        return _field_row_marks(rng)
    styles = ADF_STYLES if profile == "adf" else ROUGH_STYLES
    u = rng.random()
    if u < 0.03:
        marks: list[MarkSpec] = []
    elif u < 0.06:
        a, b = rng.choice(3, size=2, replace=False)
        marks = [MarkSpec(LEVELS[int(a)], _weighted(rng, styles)), MarkSpec(LEVELS[int(b)], _weighted(rng, styles))]
    else:
        marks = [MarkSpec(_weighted(rng, LEVEL_WEIGHTS), _weighted(rng, styles))]
    if profile == "adf-rough":
        return _with_doubt(tuple(marks), rng)
    return tuple(marks)


def _with_doubt(marks: tuple[MarkSpec, ...], rng: np.random.Generator) -> tuple[MarkSpec, ...]:
    """``marks`` and, in a free box, a not-mark (12 % of rows) or an ambiguous style (6 %)."""
    free = [lv for lv in LEVELS if lv not in {m.level for m in marks}]
    v = rng.random()
    if free and v < 0.12:
        return (*marks, MarkSpec(free[int(rng.integers(0, len(free)))], str(rng.choice(NOT_MARK_STYLES))))
    if free and v < 0.18:
        return (*marks, MarkSpec(free[int(rng.integers(0, len(free)))], str(rng.choice(AMBIGUOUS_STYLES))))
    return marks


def _scan_spec(profile: str, rng: np.random.Generator, *, fmt: str) -> ScanSpec:
    lossy = fmt in ("jpg", "pdf")
    if profile == "adf":
        return ScanSpec(
            dpi=int(rng.choice([200, 300])),
            rotation=180 if rng.random() < 0.15 else 0,
            skew_deg=round(float(rng.uniform(-2.0, 2.0)), 2),
            noise=round(float(rng.uniform(1.0, 3.0)), 2),
            blur=round(float(rng.uniform(0.0, 0.5)), 2),
            jpeg_quality=int(rng.integers(85, 96)) if lossy else None,
        )
    if profile == "adf-rough":
        u = rng.random()
        rotation = 180 if u < 0.2 else (90 if u < 0.25 else (270 if u < 0.3 else 0))
        fold_u = rng.random()
        return ScanSpec(
            dpi=int(rng.choice([150, 200, 300, 600], p=[0.2, 0.35, 0.35, 0.1])),
            rotation=rotation,
            skew_deg=round(float(rng.uniform(-5.0, 5.0)), 2),
            color=bool(rng.random() < 0.8),
            noise=round(float(rng.uniform(0.0, 8.0)), 2),
            blur=round(float(rng.uniform(0.0, 1.5)), 2),
            jpeg_quality=int(rng.integers(60, 96)) if lossy else None,
            fold="half" if fold_u < 0.2 else ("quarter" if fold_u < 0.3 else None),
            streak_x_mm=round(float(rng.uniform(5.0, 205.0)), 1) if rng.random() < 0.1 else None,
            bleed=bool(rng.random() < 0.15),
        )
    return ScanSpec(
        dpi=int(rng.choice([200, 250])),
        rotation=180 if rng.random() < 0.1 else 0,
        noise=round(float(rng.uniform(2.0, 5.0)), 2),
        blur=round(float(rng.uniform(0.5, 1.2)), 2),
        jpeg_quality=int(rng.integers(80, 93)),
        fold="half" if rng.random() < 0.2 else None,
        phone=True,
    )


FIELD_DEVICES = {"phone": 0.45, "bitonal": 0.17, "grey": 0.21, "colour": 0.17}
"""Devices of the field profile per file. Scanner files hold 1.5-1.7 pages on average
(some multi-page), phone files one, so pages are about 35 % phone, 20 % bitonal,
25 % grey, 20 % colour."""


@dataclass(frozen=True)
class FieldFile:
    """One file of the field profile: the device that made it, its format, pages, dpi."""

    device: str  # phone | bitonal | grey | colour
    fmt: str  # jpg | png | tif | pdf
    pages: int
    dpi: int


def _field_file(rng: np.random.Generator, pages_per_ballot: int) -> FieldFile:
    """The device, format, page count and resolution of the next field file."""
    device = _weighted(rng, FIELD_DEVICES)
    if device == "phone":
        return FieldFile(device, "jpg", 1, int(rng.choice([200, 250])))
    multi = rng.random() < (0.35 if device == "bitonal" else 0.3 if device == "grey" else 0.25)
    pages = int(rng.integers(2, 5)) * pages_per_ballot if multi else 1
    if device == "bitonal":
        fmt = "tif" if multi or rng.random() < 0.5 else "png"
        return FieldFile(device, fmt, pages, int(rng.choice([200, 300, 400], p=[0.4, 0.45, 0.15])))
    fmt = "pdf" if multi else "jpg"
    if device == "grey":
        return FieldFile(device, fmt, pages, int(rng.choice([200, 300, 400], p=[0.3, 0.5, 0.2])))
    return FieldFile(device, fmt, pages, 400 if rng.random() < 0.6 else 300)


def _field_scan_spec(device: FieldFile, rng: np.random.Generator) -> ScanSpec:
    """One page of a field file, as its device made it."""
    if device.device == "phone":
        return _field_photo_spec(device.dpi, rng)
    u = rng.random()
    base = ScanSpec(
        dpi=device.dpi,
        rotation=180 if u < 0.15 else (90 if u < 0.18 else (270 if u < 0.2 else 0)),
        skew_deg=round(float(rng.uniform(-3.0, 3.0)), 2),
        noise=round(float(rng.uniform(1.0, 4.0)), 2),
        blur=round(float(rng.uniform(0.0, 0.8)), 2),
        fold="half" if rng.random() < 0.12 else None,
        bleed=bool(rng.random() < 0.1),
    )
    if device.device == "bitonal":
        method = "fixed" if rng.random() < 0.6 else "adaptive"
        threshold = rng.uniform(0.45, 0.62) if method == "fixed" else rng.uniform(0.6, 0.78)
        edge = "dark_strip" if rng.random() < 0.15 else None
        return replace(base, color=False, bitonal=method, threshold=round(float(threshold), 3), edge=edge)
    if device.device == "grey":
        quality = int(rng.integers(70, 93))
        return replace(base, color=False, jpeg_quality=quality, edge="grey_border" if rng.random() < 0.3 else None)
    quality = int(rng.integers(80, 96))
    v = 0.0 if device.dpi == 300 else rng.random()  # colour: 400 dpi, or a dark strip at 300 dpi
    return replace(base, jpeg_quality=quality, edge="dark_strip" if v < 0.3 else ("grey_border" if v < 0.5 else None))


def _field_photo_spec(dpi: int, rng: np.random.Generator) -> ScanSpec:
    """A field phone photo: barrel lens distortion, and mostly a bent sheet (fold bulge or curled edge)."""
    curl = str(rng.choice(effects.SHEET_BENDS)) if rng.random() < 0.85 else None
    return ScanSpec(
        dpi=dpi,
        rotation=180 if rng.random() < 0.1 else 0,
        noise=round(float(rng.uniform(2.0, 5.0)), 2),
        blur=round(float(rng.uniform(0.5, 1.2)), 2),
        jpeg_quality=int(rng.integers(78, 93)),
        fold="half" if curl == "fold_bulge" or rng.random() < 0.1 else None,
        phone=True,
        lens_k1=round(float(rng.uniform(-0.08, -0.02)), 3),
        curl=curl,
        curl_mm=round(float(rng.uniform(1.5, 3.0)), 2) if curl else 0.0,
    )


WARM_PEN_SHARE = 0.04
"""The field profile's voters whose pen the seal's dropout hides (:func:`~calibration.strokes.warm_pen`)."""


def _ballot_pages(
    layout: Layout, profile: str, token: str, rng: np.random.Generator, *, session_id: str | None = None,
    warm: np.random.Generator | None = None, doubt: np.random.Generator | None = None,
) -> list[PageSpec]:
    """One voter's pages. ``warm``: the field profile's own stream for the warm pens; ``doubt``: the phone
    profile's own stream for its not-marks and ambiguous marks (:func:`_with_doubt`). Both are kept apart
    from ``rng`` so that choosing them leaves every other draw of the deck as it was."""
    rough = profile in ("adf-rough", "field")
    crossed_page = int(rng.integers(1, layout.pages_per_ballot + 1)) if rough and rng.random() < 0.04 else 0
    writing_page = int(rng.integers(1, layout.pages_per_ballot + 1)) if rough and rng.random() < 0.06 else 0
    signature = bool(rough and rng.random() < 0.2)
    pen = field_pen(rng) if profile == "field" else None  # one pen per voter
    if pen is not None and warm is not None and warm.random() < WARM_PEN_SHARE:
        pen = warm_pen(warm)
    specs = []
    for page in layout.pages:
        marks = {row.person: _row_marks(profile, rng) for row in page.rows}
        if doubt is not None:
            marks = {person: _with_doubt(row_marks, doubt) for person, row_marks in marks.items()}
        crossed: tuple[int, ...] = ()
        if page.page == crossed_page:
            crossed = (page.rows[int(rng.integers(0, len(page.rows)))].person,)
        specs.append(
            PageSpec(
                layout_page=page.page,
                token=token,
                marks=marks,
                crossed=crossed,
                writing=page.page == writing_page,
                signature=signature and page.signature_mm is not None,
                session_id=session_id,
                pen=pen,
            )
        )
    return specs


def _plan(layout: Layout, tokens: list[str], profile: str, seed: int) -> list[FileJob]:
    """Which pages go into which files, with every random choice of the deck made here."""
    rng = np.random.default_rng([seed, 0x5EED])
    warm = np.random.default_rng([seed, 0xC0102]) if profile == "field" else None
    # the phone profile's not-marks and ambiguous marks, from a stream of their own (added later than the
    # rest: every other draw of a phone deck, its clear marks among them, stays as it was before)
    doubt = np.random.default_rng([seed, 0xD0B7]) if profile == "phone" else None

    def seed_() -> int:
        return int(rng.integers(0, 2**63 - 1))

    ballots: list[tuple[int, list[PageSpec]]] = []
    for voter, token in enumerate(tokens, start=1):
        ballots.append((voter, _ballot_pages(layout, profile, token, rng, warm=warm, doubt=doubt)))
    extras: list[tuple[str, int | None, list[PageSpec]]] = []
    if profile == "adf-rough" and ballots:
        copied_voter, copied = ballots[int(rng.integers(0, len(ballots)))]
        extras.append(("duplicate", copied_voter, copied))
        foreign_token = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), size=13))
        foreign_session = "".join(rng.choice(list("0123456789ABCDEF"), size=10))
        extras.append(("foreign", 0, _ballot_pages(layout, profile, foreign_token, rng, session_id=foreign_session)))
    order: list[tuple[str, int | None, list[PageSpec]]] = [("ballot", v, s) for v, s in ballots]
    for extra in extras:  # the duplicate always comes after its original
        lo = 1 + next((i for i, (_, v, _) in enumerate(order) if v == extra[1]), len(order) - 1) if extra[0] == "duplicate" else 0
        order.insert(int(rng.integers(lo, len(order) + 1)), extra)

    files: list[FileJob] = []
    pending: list[tuple[str, int | None, PageSpec]] = [(k, v, s) for k, v, specs in order for s in specs]
    index = 0
    while pending:
        index += 1
        device = _field_file(rng, layout.pages_per_ballot) if profile == "field" else None
        if device is not None:
            fmt, n_pages = device.fmt, device.pages
        elif profile == "phone":
            fmt, n_pages = "jpg", 1
        elif rng.random() < 0.8:
            fmt, n_pages = ("jpg" if rng.random() < 0.8 else "png"), 1
        else:
            fmt = "tif" if rng.random() < 0.5 else "pdf"
            n_pages = int(rng.integers(2, 7)) * layout.pages_per_ballot
        chunk, pending = pending[:n_pages], pending[n_pages:]
        pages: list[PageJob] = []
        for kind, who, spec in chunk:
            scan = _scan_spec(profile, rng, fmt=fmt) if device is None else _field_scan_spec(device, rng)
            pages.append(PageJob(kind, spec, scan, seed_(), who))
            if profile != "phone" and not scan.phone and rng.random() < 0.1:  # duplex: a blank back side
                back = replace(scan, rotation=(scan.rotation + 180) % 360 if rng.random() < 0.5 else scan.rotation)
                seed = seed_()
                writing = _back_writing(profile, seed)
                if writing is not None and pages[-1].kind == "ballot":
                    pages[-1] = replace(pages[-1], back_writing=True)
                pages.append(PageJob("blank", None, back, seed, writing=writing))
        stem = "scan" if len(pages) == 1 else "batch"
        if len(pages) > 1 and fmt in ("jpg", "png"):  # a duplex back of a single image: its own file
            for k, job in enumerate(pages):
                files.append(FileJob(f"scan-{index:04d}{'b' if k else ''}.{fmt}", fmt, (job,)))
        else:
            files.append(FileJob(f"{stem}-{index:04d}.{fmt}", fmt, tuple(pages)))
    return files


def _render_job(ws: Workspace, job: PageJob) -> np.ndarray:
    rng = np.random.default_rng(job.seed)
    scan = job.scan
    if job.kind == "blank" or job.spec is None:
        return blank_page(scan, rng=rng, writing=job.writing)
    if job.kind == "duplicate":
        layout = _layout(ws.layout_json)
        px_per_mm = scan.dpi / MM_PER_INCH
        original = _page_with_ink(ws, layout, job.spec, replace(scan, seal=True), rng)
        return _finish(_photocopy(original), scan, px_per_mm, rng, None)
    return render_page(ws, job.spec, scan, rng=rng)


def _to_pil(img: np.ndarray, *, bitonal: bool = False) -> Image.Image:
    if bitonal:  # mode "1": one bit per pixel, no dithering
        return Image.fromarray(img > 127)
    if img.ndim == 2:
        return Image.fromarray(img, mode="L")
    return Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), mode="RGB")


def _write_file(args: tuple[Path, Path, FileJob]) -> str:
    """Render the pages of one file and write it atomically (runs in a worker process)."""
    root, out_dir, fjob = args
    ws = Workspace(root)
    images = []
    quality = 90
    for job in fjob.pages:
        scan = job.scan
        if fjob.fmt in ("jpg", "pdf") and scan.jpeg_quality is not None:
            quality = scan.jpeg_quality  # the file's own JPEG encoding is the compression
            job = replace(job, scan=replace(scan, jpeg_quality=None))
        images.append(_to_pil(_render_job(ws, job), bitonal=job.scan.bitonal is not None))
    dpi = fjob.pages[0].scan.dpi if not fjob.pages[0].scan.phone else 72
    tmp = out_dir / f".{fjob.name}.part"
    first, rest = images[0], images[1:]
    if fjob.fmt == "jpg":
        first.save(tmp, format="JPEG", quality=quality, dpi=(dpi, dpi))
    elif fjob.fmt == "png":
        first.save(tmp, format="PNG", compress_level=1, dpi=(dpi, dpi))
    elif fjob.fmt == "tif":
        group4 = all(im.mode == "1" for im in images)  # CCITT Group 4, as office scanners write 1-bit pages
        first.save(tmp, format="TIFF", save_all=True, append_images=rest, compression="group4" if group4 else "tiff_deflate",
                   dpi=(dpi, dpi))
    else:
        first.save(tmp, format="PDF", save_all=True, append_images=rest, quality=quality, resolution=float(dpi),
                   creationDate=None, modDate=None, producer=None, creator=None, title=None)
    tmp.replace(out_dir / fjob.name)
    return fjob.name


def _truth_page(layout: Layout, job: PageJob, source: str, page_no: int) -> dict[str, Any]:
    base: dict[str, Any] = {"source": source, "page": page_no, "kind": job.kind, "scan": asdict(job.scan),
                            "back_writing": job.back_writing or job.writing is not None}
    if job.spec is None:
        return base | {"token": None, "session_id": None, "layout_page": None, "voter": None, "rows": {},
                       "crossed": [], "writing": False, "signature": False}
    spec = job.spec
    rows = {str(row.person): row_truth(spec.marks.get(row.person, ())) for row in layout.page(spec.layout_page).rows}
    if spec.pen is not None:
        base["pen"] = asdict(spec.pen)
    return base | {
        "token": spec.token,
        "session_id": spec.session_id or layout.session_id,
        "layout_page": spec.layout_page,
        "voter": job.voter,
        "rows": rows,
        "crossed": list(spec.crossed),
        "writing": spec.writing,
        "signature": spec.signature,
    }


def default_truth_path(out_dir: Path) -> Path:
    out_dir = Path(out_dir).resolve()
    return out_dir.parent / (out_dir.name + "-truth.json")


def simulate(
    ws: Workspace,
    out_dir: Path,
    *,
    voters: int,
    profile: str,
    seed: int,
    truth_path: Path | None = None,
    jobs: int = 1,
) -> SimulationResult:
    """Write a deck of scanned, voted ballots for ``voters`` voters, and its truth file.

    Parameters
    ----------
    ws : workspace with printed ballots; tokens are taken from its issued set.
    out_dir : folder for the scan files (created; must not already hold files).
    voters : number of voters, each one ballot of ``pages_per_ballot`` pages.
    profile : ``adf``, ``adf-rough``, ``phone`` or ``field`` (held-out conditions,
        see the module docstring).
    seed : the deck is a pure function of the workspace, the arguments and ``seed``
        (not of ``jobs``).
    truth_path : where to write the truth JSON; default ``<out_dir>-truth.json``
        beside ``out_dir``. It may not be inside ``out_dir``.
    jobs : worker processes.

    Raises
    ------
    InputError
        Unknown profile, too many voters, a truth path inside ``out_dir``, or an
        ``out_dir`` that already holds files.
    WorkspaceError
        The workspace has no printed ballots.
    """
    if profile not in PROFILES:
        raise InputError(
            f"Hồ sơ mô phỏng '{profile}' không có; chọn một trong {', '.join(PROFILES)}.",
            f"Unknown simulation profile '{profile}'; use one of {', '.join(PROFILES)}.",
        )
    if voters < 1:
        raise InputError("Số người ghi phiếu phải lớn hơn 0.", "--voters must be at least 1.")
    if jobs < 1:
        raise InputError("Số tiến trình phải lớn hơn 0.", "--jobs must be at least 1.")
    out_dir = Path(out_dir).resolve()
    truth = Path(truth_path).resolve() if truth_path is not None else default_truth_path(out_dir)
    if truth == out_dir or out_dir in truth.parents:
        raise InputError(
            f"Tệp đáp án {truth} không được nằm trong thư mục ảnh quét {out_dir} (thư mục đó sẽ được quét).",
            f"The truth file {truth} must not be inside the scan folder {out_dir} (that folder gets scanned).",
        )
    if not ws.reference_pdf.exists() or not ws.layout_json.exists():
        raise WorkspaceError(
            f"{ws.root}: chưa in phiếu (thiếu {ws.reference_pdf.name}); hãy chạy 'kiemphieu ballots' trước.",
            f"{ws.root}: no printed ballots ({ws.reference_pdf.name} missing); run 'kiemphieu ballots' first.",
        )
    layout = load_layout(ws.layout_json)
    conn = db.connect(ws.db_path)
    try:
        issued = sorted(db.issued_tokens(conn))
    finally:
        conn.close()
    if voters > len(issued):
        raise InputError(
            f"Có {voters} người ghi phiếu nhưng chỉ có {len(issued)} phiếu đã phát ra (in thêm phiếu bằng 'kiemphieu ballots').",
            f"{voters} voters but only {len(issued)} ballots were issued (print more with 'kiemphieu ballots').",
        )
    if out_dir.exists() and any(p for p in out_dir.iterdir() if not p.name.startswith(".")):
        raise InputError(
            f"Thư mục {out_dir} đã có tệp; chọn một thư mục trống để không trộn các bộ phiếu.",
            f"{out_dir} already holds files; choose an empty folder so that decks do not mix.",
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    pick = np.random.default_rng([seed, 0x70CE]).permutation(len(issued))[:voters]
    tokens = [issued[int(i)] for i in pick]
    plan = _plan(layout, tokens, profile, seed)
    args = [(ws.root.resolve(), out_dir, f) for f in plan]
    for _ in _run(args, jobs):
        pass
    pages: list[dict[str, Any]] = []
    for f in plan:
        pages += [_truth_page(layout, job, f.name, k) for k, job in enumerate(f.pages, start=1)]
    counts: dict[str, int] = {}
    for p in pages:
        counts[p["kind"]] = counts.get(p["kind"], 0) + 1
    doc = {
        "schema": TRUTH_SCHEMA,
        "session_id": layout.session_id,
        "profile": profile,
        "seed": seed,
        "voters": voters,
        "pages_per_ballot": layout.pages_per_ballot,
        "files": [{"name": f.name, "format": f.fmt, "pages": len(f.pages)} for f in plan],
        "pages": pages,
    }
    truth.parent.mkdir(parents=True, exist_ok=True)
    tmp = truth.with_name(truth.name + ".part")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(truth)
    return SimulationResult(
        out_dir=out_dir,
        truth_path=truth,
        files=tuple(out_dir / f.name for f in plan),
        pages=len(pages),
        ballots=counts.get("ballot", 0) // max(1, layout.pages_per_ballot),
        voters=voters,
        profile=profile,
        seed=seed,
        counts=counts,
    )


def _run(args: list[tuple[Path, Path, FileJob]], jobs: int) -> Iterator[str]:
    if jobs == 1 or len(args) <= 1:
        for a in args:
            yield _write_file(a)
        return
    ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    with ctx.Pool(processes=jobs, maxtasksperchild=200) as pool:
        yield from pool.imap_unordered(_write_file, args, chunksize=1)
