"""Page geometry after straightening: fold lines (:mod:`scanner.folds`) and the table grid (:mod:`scanner.grid`).

Every case starts from the blank printed ballot rendered on the canonical grid
(``CANONICAL_PX_PER_MM`` = 6 px/mm, so layout mm * 6 = pixel; arrays are
(row, column)), on slightly grey paper with fixed-seed sensor noise. The faults
are drawn on it with known geometry: a faint crease, a pen line, broad shading,
clear X marks, and a sheet bent by a known smooth displacement field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np
import pytest
from conftest import make_workspace
from pdf2image import convert_from_path

from kiemphieu import readings as R
from kiemphieu.layout import CANONICAL_PX_PER_MM, LEVELS, Layout, PageLayout, RowLayout, load_layout
from scanner import folds, grid, names, writing
from scanner.boxes import (
    BoxInk,
    box_regions,
    classify_box,
    classify_rows,
    faint_lines,
    heavier_than_the_page,
    is_heavy,
    measure_box,
    overdrawn,
    pen_travel_mm,
    score_boxes,
)
from scanner.exposure import glare_rows
from scanner.imaging import _region
from scanner.ink import InkMaps, explain_folds, ink_maps
from scanner.names import (
    PRINTED_DARKNESS,
    _loose_ink_mm2,
    _off_print,
    _row_cells,
    crease_test,
    crossed_names,
    name_cell_ink,
    strike_coverage,
    strikes,
    width_covered,
)
from scanner.outside import _runs_across, inked_rims, inspect, rim_ink_mm2, strokes_across_columns
from scanner.pipeline import _explain_local_creases
from scanner.results import BoxResult, RowResult
from scanner.settings import ScanSettings
from scanner.writing import (
    crease_pieces,
    crease_tilts,
    signature_overflow,
    writing_beside_creases,
    writing_elsewhere,
    writing_found,
)

PX = CANONICAL_PX_PER_MM
S = ScanSettings()
CREASE = 0.17  # a crease darkens the paper by 17 % over 2 px
PEN = 0.8  # pen-dark ink

Field = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Printed:
    layout: Layout
    page: PageLayout
    grey: np.ndarray  # (H, W) uint8, the blank ballot straightened at PX
    print: np.ndarray  # (H, W) float32 0..1, the print's darkness without paper or noise (bleed.printed_pages)

    @property
    def shape(self) -> tuple[int, int]:
        h, w = self.grey.shape
        return h, w


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Printed:
    ws = make_workspace(tmp_path_factory.mktemp("geometry") / "ws", copies=1)
    layout = load_layout(ws.layout_json)
    width, height = (round(v * PX) for v in layout.page_size_mm)
    image = convert_from_path(str(ws.reference_pdf), size=(width, height), first_page=1, last_page=1,
                              grayscale=True)[0]
    grey = np.asarray(image.convert("L"), np.float64)
    assert grey.shape == (height, width)
    rng = np.random.default_rng(20261122)
    paper = np.clip(grey * (238 / 255) + rng.normal(0.0, 2.0, grey.shape), 0, 255).round().astype(np.uint8)
    paper.setflags(write=False)
    return Printed(layout, layout.pages[0], paper, np.asarray(1.0 - grey / 255.0, np.float32))


def test_rendered_page_is_on_the_canonical_grid(printed: Printed) -> None:
    """The premise of every test below: the printed rules are where the layout has them, to 0.15 mm."""
    samples = grid.measure(ink_maps(printed.grey, S).ink, printed.page, S)
    assert samples.shift_mm.size >= 200
    assert np.abs(samples.shift_mm).max() < 0.15


# --- drawing helpers -------------------------------------------------------------


def _line_cover(shape: tuple[int, int], *, vertical: bool, at_mm: float, centre_mm: float, tilt_deg: float,
                span_mm: tuple[float, float], width_px: float = 2.0) -> np.ndarray:
    """(H, W) coverage 0..1 of a straight line ``width_px`` wide, anti-aliased.

    A horizontal line runs through row ``at_mm`` at column ``centre_mm`` and
    rises ``tan(tilt_deg)`` rows per column, between columns ``span_mm``; a
    vertical one the same with rows and columns exchanged (as :class:`folds.Line`).
    """
    h, w = shape
    rows, cols = np.arange(h, dtype=np.float64)[:, None], np.arange(w, dtype=np.float64)[None, :]
    along, across = (rows, cols) if vertical else (cols, rows)
    slope = np.tan(np.deg2rad(tilt_deg))
    dist = np.abs(across - (at_mm * PX + slope * (along - centre_mm * PX))) * np.cos(np.deg2rad(tilt_deg))
    cover = np.clip(width_px / 2 + 0.5 - dist, 0.0, 1.0)
    inside = (along >= span_mm[0] * PX) & (along <= span_mm[1] * PX)
    return np.asarray(cover * inside, np.float32)


def _darken(grey: np.ndarray, cover: np.ndarray, darkness: float) -> np.ndarray:
    return np.clip(grey * (1.0 - darkness * cover), 0, 255).round().astype(np.uint8)


def _find(grey: np.ndarray, printed: Printed) -> tuple[InkMaps, list[folds.Line]]:
    maps = ink_maps(grey, S)
    lines = folds.find_lines(maps.smooth, maps.paper, maps.ink, printed.page, printed.layout.page_size_mm, S)
    return maps, lines


def _explained(maps: InkMaps, lines: list[folds.Line]) -> InkMaps:
    return explain_folds(maps, folds.explained_mask(lines, maps.grey.shape, S))


def _states(maps: InkMaps, row: RowLayout) -> list[str]:
    return [classify_box(measure_box(maps, row.boxes_mm[lv], S), S) for lv in LEVELS]


def _box_centre(row: RowLayout, level: str) -> tuple[float, float]:
    x, y, w, h = row.boxes_mm[level]
    return x + w / 2, y + h / 2


def _from_centre(row: RowLayout, level: str) -> Callable[[float, float], tuple[int, int]]:
    """A point given in mm from the centre of a box of ``row``, as OpenCV drawing wants it (4 fraction bits)."""
    cx, cy = _box_centre(row, level)

    def at(x_mm: float, y_mm: float) -> tuple[int, int]:
        return round((cx + x_mm) * PX * 16), round((cy + y_mm) * PX * 16)

    return at


# --- folds ------------------------------------------------------------------------

ROW = 5  # index of the row the horizontal lines cross (person 6, boxes 126.5-133.5 mm down)
TILT = 1.0  # degrees: a sheet folded by hand is not folded square


def _horizontal(printed: Printed, span_mm: tuple[float, float], width_px: float = 2.0) -> np.ndarray:
    x, y = _box_centre(printed.page.rows[ROW], "medium")
    return _line_cover(printed.shape, vertical=False, at_mm=y, centre_mm=x, tilt_deg=TILT, span_mm=span_mm,
                       width_px=width_px)


def _assert_on_drawn_line(line: folds.Line, printed: Printed) -> None:
    """The line found is the horizontal one drawn through row ROW: within 0.5 mm at every box centre."""
    row = printed.page.rows[ROW]
    x0, y0 = _box_centre(row, "medium")
    assert not line.vertical
    for level in LEVELS:
        x, _ = _box_centre(row, level)
        drawn = y0 + np.tan(np.deg2rad(TILT)) * (x - x0)
        assert abs(float(line.at(x * PX)) / PX - drawn) < 0.5, (level, line)


def test_clean_page_has_no_lines(printed: Printed) -> None:
    maps, lines = _find(printed.grey, printed)
    assert lines == []
    assert not folds.explained_mask(lines, printed.shape, S).any()
    assert all(_states(maps, row) == ["empty"] * 3 for row in printed.page.rows)


def test_faint_crease_edge_to_edge_is_explained_and_its_boxes_read_empty(printed: Printed) -> None:
    page_w = printed.layout.page_size_mm[0]
    grey = _darken(printed.grey, _horizontal(printed, (0.0, page_w)), CREASE)
    maps, lines = _find(grey, printed)
    assert len(lines) == 1 and lines[0].explained
    _assert_on_drawn_line(lines[0], printed)
    person = printed.page.rows[ROW].person
    assert folds.rows_crossed(lines, printed.page, explained=True) == {person}
    assert folds.rows_crossed(lines, printed.page, explained=False) == set()
    row = printed.page.rows[ROW]
    # the crease alone leaves every box of its row marginal (a human would have to look) ...
    assert _states(maps, row) == ["marginal"] * 3
    # ... and once it is explained they are empty, and nothing else on the page changed
    after = _explained(maps, lines)
    assert _states(after, row) == ["empty"] * 3
    assert all(_states(after, r) == ["empty"] * 3 for r in printed.page.rows)



@pytest.mark.parametrize("beside_an_x", [True, False])
def test_a_tiny_tick_lying_along_a_crease_is_not_taken_out_with_it(printed: Printed, beside_an_x: bool) -> None:
    """A crease found edge to edge is explained: a band of ``fold_band_mm`` around it is taken out of the light
    ink. A tiny tick drawn in pen right along it was taken out with it. Alone in its row, its box read empty
    and the row was read as no mark, with no doubt; on a 757-page adf-rough deck such a tick, a speck of it
    left outside the band, read as dots beside the row's fill, which was counted. (Beside this X the
    faint-stroke look happens to flag it.) A crease is not pen-dark: pen-dark ink the band took out of
    the light ink now keeps its box from being empty or dots, so the row goes to review."""
    row = printed.page.rows[ROW]
    page_w = printed.layout.page_size_mm[0]
    creased = _darken(printed.grey, _horizontal(printed, (0.0, page_w)), CREASE)
    tick, x = np.zeros(printed.shape, np.float32), np.zeros(printed.shape, np.float32)
    at = _from_centre(row, "medium")
    cv2.polylines(tick, [np.array([at(-0.9, -0.1), at(-0.4, 0.3), at(0.9, -0.3)], np.int32)], False, 1.0,
                  round(0.5 * PX), cv2.LINE_AA, 4)  # within 0.6 mm of the crease: inside its band
    if beside_an_x:
        at = _from_centre(row, "high")
        for sign in (1, -1):
            cv2.line(x, at(-2.5, -2.5 * sign), at(2.5, 2.5 * sign), 1.0, round(0.5 * PX), cv2.LINE_AA, 4)

    def reading(pen: np.ndarray) -> tuple[dict[str, BoxResult], RowResult]:
        maps, lines = _find(_darken(creased, pen, PEN), printed)
        assert len(lines) == 1 and lines[0].explained
        boxes, _ = score_boxes(_explained(maps, lines), printed.page, S)
        return {b.level: b for b in boxes if b.person == row.person}, classify_rows(boxes, S)[row.person]

    boxes, line = reading(np.maximum(tick, x))
    assert line.reasons, (line, boxes["medium"])  # to review
    assert boxes["medium"].state != "empty" and not boxes["medium"].dots, boxes["medium"]
    # without the tick the crease alone is explained, and the row is read as the X alone (or as no mark)
    boxes, line = reading(x)
    assert boxes["medium"].state == "empty" and line.reasons == (), (boxes["medium"], line)
    assert line.marks == ("one" if beside_an_x else "none")

@pytest.mark.parametrize("tilt", [0.0, 0.6, -1.2])
def test_a_crease_is_followed_out_to_the_margins_and_over_the_names(printed: Printed, tilt: float) -> None:
    """The line is found across the level columns (66 mm), where a range of slopes fits it; the middle of
    that range is its tilt. The first of them, taken alone, put it 2 mm off in the page's margins, where it
    is checked from edge to edge: a crease not explained."""
    x0, y0 = _box_centre(printed.page.rows[ROW], "medium")
    cover = _line_cover(printed.shape, vertical=False, at_mm=y0, centre_mm=x0, tilt_deg=tilt, span_mm=(0.0, 210.0))
    _, lines = _find(_darken(printed.grey, cover, CREASE), printed)
    assert len(lines) == 1 and lines[0].explained
    for x in (5.0, 30.0, 80.0, 205.0):  # the margins and the names
        drawn = y0 + np.tan(np.deg2rad(tilt)) * (x - x0)
        assert abs(float(lines[0].at(x * PX)) / PX - drawn) < 0.5, x


def test_crease_only_inside_the_table_is_flagged(printed: Printed) -> None:
    """The same faint line across the level columns only (not in the margins): a ruler line? Review."""
    row = printed.page.rows[ROW]
    x0 = row.cells_mm[LEVELS[0]][0] - 1.0
    x1 = row.cells_mm[LEVELS[-1]][0] + row.cells_mm[LEVELS[-1]][2] - 0.5
    grey = _darken(printed.grey, _horizontal(printed, (x0, x1)), CREASE)
    maps, lines = _find(grey, printed)
    assert len(lines) == 1 and not lines[0].explained
    _assert_on_drawn_line(lines[0], printed)
    assert folds.rows_crossed(lines, printed.page, explained=False) == {row.person}
    assert folds.rows_crossed(lines, printed.page, explained=True) == set()
    assert not folds.explained_mask(lines, printed.shape, S).any()
    assert _states(_explained(maps, lines), row) == ["marginal"] * 3  # nothing taken out


def test_pen_line_across_the_page_is_not_explained(printed: Printed) -> None:
    """A pen-dark straight line from edge to edge is not a crease: its ink stays in the boxes."""
    page_w = printed.layout.page_size_mm[0]
    grey = _darken(printed.grey, _horizontal(printed, (0.0, page_w), width_px=2.4), PEN)
    maps, lines = _find(grey, printed)
    assert not any(line.explained for line in lines)
    assert not folds.explained_mask(lines, printed.shape, S).any()
    row = printed.page.rows[ROW]
    assert _states(_explained(maps, lines), row) == _states(maps, row) == ["marked"] * 3


def test_pen_line_across_a_row_is_flagged(printed: Printed) -> None:
    page_w = printed.layout.page_size_mm[0]
    grey = _darken(printed.grey, _horizontal(printed, (0.0, page_w), width_px=2.4), PEN)
    _, lines = _find(grey, printed)
    assert folds.rows_crossed(lines, printed.page, explained=False) == {printed.page.rows[ROW].person}


def _vertical(printed: Printed, x_mm: float) -> np.ndarray:
    """A crease from the table top to the page bottom at ``x_mm``, tilted 0.5 degree."""
    _, ty, _, _ = printed.page.table_mm
    page_h = printed.layout.page_size_mm[1]
    return _line_cover(printed.shape, vertical=True, at_mm=x_mm, centre_mm=130.0, tilt_deg=0.5,
                       span_mm=(ty, page_h))


def test_vertical_crease_through_a_level_column_is_explained(printed: Printed) -> None:
    """Through the 'high' column, between its boxes and the column's right rule."""
    row = printed.page.rows[0]
    bx, _, bw, _ = row.boxes_mm["high"]
    cx, _, cw, _ = row.cells_mm["high"]
    x = (bx + bw + cx + cw) / 2  # 152.5 mm
    grey = _darken(printed.grey, _vertical(printed, x), CREASE)
    maps, lines = _find(grey, printed)
    assert len(lines) == 1 and lines[0].vertical and lines[0].explained
    for y in (80.0, 130.0, 190.0):
        drawn = x + np.tan(np.deg2rad(0.5)) * (y - 130.0)
        assert abs(float(lines[0].at(y * PX)) / PX - drawn) < 0.5, y
    mask = folds.explained_mask(lines, printed.shape, S)
    assert mask[_vertical(printed, x) > 0.5].all()  # the crease's pixels are taken out, all of them


def test_vertical_crease_through_the_boxes_is_explained(printed: Printed) -> None:
    x, _ = _box_centre(printed.page.rows[0], "medium")
    grey = _darken(printed.grey, _vertical(printed, x), CREASE)
    maps, lines = _find(grey, printed)
    assert [_states(maps, row)[1] for row in printed.page.rows] == ["marginal"] * len(printed.page.rows)
    assert len(lines) == 1 and lines[0].vertical and lines[0].explained
    after = _explained(maps, lines)
    assert all(_states(after, row) == ["empty"] * 3 for row in printed.page.rows)


@pytest.mark.parametrize("vertical", [False, True], ids=["shade-down", "shade-across"])
def test_broad_shading_is_not_a_line(printed: Printed, vertical: bool) -> None:
    """A shadow edge: the paper darkens smoothly by 20 % over 30 mm across the table."""
    h, w = printed.shape
    rows, cols = np.arange(h, dtype=np.float64)[:, None], np.arange(w, dtype=np.float64)[None, :]
    t = (cols / PX - 150.0) / 30.0 if vertical else (rows / PX - 110.0) / 30.0
    shade = np.broadcast_to(np.clip(t, 0.0, 1.0), printed.shape)
    grey = _darken(printed.grey, shade, 0.2)
    maps, lines = _find(grey, printed)
    light, dark = (maps.paper[900, 860], maps.paper[900, 1150]) if vertical else (maps.paper[600, 1000],
                                                                                  maps.paper[900, 1000])
    assert dark < 0.85 * light  # the shading is there (the test can fail) ...
    assert lines == []  # ... and it is not a line


# --- grid ---------------------------------------------------------------------------

BULGE_MM = 2.4  # |displacement| <= 2.5 mm


def _fold_bulge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) mm: a sheet folded in half bulges along its middle (y = 148.5 mm) and moves away from the camera.

    Zero at the top and bottom page edges (the markers stay put), 2.4-2.5 mm in the
    middle, a little less at the sides; smooth enough for a cubic over the table.
    """
    dy = BULGE_MM * np.sin(np.pi * y / 297.0) ** 2 * (0.85 + 0.15 * np.sin(np.pi * x / 210.0))
    return 0.3 * dy, dy


def _narrow_bulge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) mm: a fold bulge of sigma 30 mm (``calibration.effects.sheet_bend`` draws 25-40), 2.5 mm high."""
    dy = 2.5 * np.exp(-(((y - 148.5) / 30.0) ** 2)) * np.ones_like(x)
    return np.zeros_like(dy), dy


def _sideways_bulge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) mm: the same bulge seen from the left: the lifted middle moves 2.5 mm sideways."""
    dy, dx = _narrow_bulge(x, y)
    return dx, dy


def _bend(grey: np.ndarray, field: Field) -> np.ndarray:
    """The page as seen when its point p shows at p + field(p) (the inverse map by fixed-point iteration)."""
    h, w = grey.shape
    qy, qx = np.mgrid[0:h, 0:w].astype(np.float64) / PX
    px, py = qx, qy
    for _ in range(8):
        dx, dy = field(px, py)
        px, py = qx - dx, qy - dy
    return np.asarray(cv2.remap(grey, (px * PX).astype(np.float32), (py * PX).astype(np.float32),
                                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def _max_offset(grey: np.ndarray, page: PageLayout) -> tuple[int, float]:
    samples = grid.measure(ink_maps(grey, S).ink, page, S)
    return samples.shift_mm.size, float(np.abs(samples.shift_mm).max())


def _turn(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) mm: the middle of the sheet turned against its ends, as a sheet that does not lie flat.

    The rules tilt by up to 1.2 degrees: 2 mm up at the right of the table, 2 mm down at its left, nothing
    at the top and bottom page edges (the markers stay put).
    """
    dy = 2.0 * ((x - 105.0) / 95.0) * np.sin(np.pi * y / 297.0) ** 2
    return np.zeros_like(dy), -dy


@pytest.fixture(scope="module")
def bent(printed: Printed) -> np.ndarray:
    grey = _bend(printed.grey, _fold_bulge)
    grey.setflags(write=False)
    return grey


def test_flat_page_needs_no_correction(printed: Printed) -> None:
    assert grid.register_grid(ink_maps(printed.grey, S).ink, printed.page, S) is None


def test_bent_page_is_followed_and_unwarped(printed: Printed, bent: np.ndarray) -> None:
    page = printed.page
    pieces, before = _max_offset(bent, page)
    assert before > 1.0  # the bend moves the rules (the test can fail)
    fit = grid.register_grid(ink_maps(bent, S).ink, page, S)
    assert fit, fit
    assert fit.failure == "" and fit.residual_mm < 0.3
    tx, ty, tw, th = page.table_mm
    xs, ys = np.meshgrid(np.linspace(tx, tx + tw, 5), np.linspace(ty, ty + th, 5))
    dx, dy = fit.shift(xs.ravel(), ys.ravel())
    true_dx, true_dy = _fold_bulge(xs.ravel(), ys.ravel())
    assert np.abs(dx - true_dx).max() < 0.3
    assert np.abs(dy - true_dy).max() < 0.3
    assert abs(fit.max_shift_mm - float(np.hypot(true_dx, true_dy).max())) < 0.3
    after_pieces, after = _max_offset(grid.unwarp(bent, fit), page)
    assert after_pieces == pieces  # every rule piece is still found ...
    assert after < 0.3  # ... where the layout has it


def test_a_steady_turn_is_followed_out_to_the_tables_edge(printed: Printed) -> None:
    """Where the sheet turns, the rules' offsets change by 0.46 mm from one column of pieces to the next. The
    last column, the boxes', must be followed, not dropped as off its neighbours (all on one side of it there)
    and filled in from the column before (0.5 mm off, rows to review)."""
    page = printed.page
    pieces, _ = _max_offset(printed.grey, page)
    turned = _bend(printed.grey, _turn)
    turned_pieces, before = _max_offset(turned, page)
    assert before > 1.5
    assert turned_pieces == pieces  # every piece found, the tilted ones too
    fit = grid.register_grid(ink_maps(turned, S).ink, page, S)
    assert fit, fit
    after_pieces, after = _max_offset(grid.unwarp(turned, fit), page)
    assert after_pieces == pieces and after < 0.3
    truth = _truth(page)
    marked = _bend(_draw_marks(printed.grey, page, truth), _turn)
    fit = grid.register_grid(ink_maps(marked, S).ink, page, S)
    assert fit, fit
    assert _misread(grid.unwarp(marked, fit), page, truth) == {}


def test_a_lone_piece_off_a_steady_turn_is_dropped_at_the_edge_too() -> None:
    """The offsets change by 0.46 mm a column (a turn) and 0.1 mm a rule: none is dropped, the edge's neither.
    A pen stroke along a rule moves one piece by 0.6 mm: in the middle either way, and at the last column or
    in a corner ahead of the turn, that piece alone is dropped; so is every piece of a line along one rule
    only. (Behind the turn at the edge, where the neighbours' median lags a step, it takes 0.4 + 0.46 mm, as
    it always did.)"""
    steady = 0.46 * np.arange(10)[None, :] + 0.1 * np.arange(6)[:, None]
    values = steady.copy()
    assert grid._drop_outliers(values, S.grid_outlier_mm) == 0 and np.isfinite(values).all()
    for (i, j), off in (((2, 4), 0.6), ((2, 4), -0.6), ((3, 9), 0.6), ((5, 9), 0.6), ((0, 0), -0.6)):
        values = steady.copy()
        values[i, j] += off
        assert grid._drop_outliers(values, S.grid_outlier_mm) == 1, (i, j, off)
        assert np.isnan(values[i, j]), (i, j, off)
    # a line found along one rule only, 3.7 mm off over its last four pieces (a crease or a stroke beside the
    # rule): on a straight line, but the rules either side do not follow it; every one of its pieces is dropped
    values = steady.copy()
    values[3, 6:] += 3.7
    assert grid._drop_outliers(values, S.grid_outlier_mm) == 4 and np.isnan(values[3, 6:]).all()


def test_fit_on_too_few_samples_is_falsy_and_explains(printed: Printed) -> None:
    page = printed.page
    tx, ty, tw, _ = page.table_mm
    few = grid.Samples(np.array([[tx + k * tw / 9, ty] for k in range(10)]), np.full(10, 1.0), np.zeros(10, bool))
    fit = grid.fit(few, page, S)
    assert not fit
    assert fit.samples == 10 and "too few" in fit.failure
    with pytest.raises(ValueError, match="too few"):
        fit.shift(np.array([100.0]), np.array([100.0]))
    # a page where no rule is found at all: not flat, but not measurable either
    blank = grid.register_grid(np.zeros(printed.shape, bool), page, S)
    assert blank is not None and not blank and "(0)" in blank.failure


def test_sideways_bulge_is_not_taken_for_flat(printed: Printed) -> None:
    grey = _bend(printed.grey, _sideways_bulge)
    _, before = _max_offset(grey, printed.page)
    assert before > 2.0
    ink = ink_maps(grey, S).ink
    assert grid.register_grid(ink, printed.page, S) is not None, "taken for a flat page"


def test_narrow_bulge_is_unwarped_or_reported(printed: Printed) -> None:
    grey = _bend(printed.grey, _narrow_bulge)
    _, before = _max_offset(grey, printed.page)
    assert before > 2.0
    fit = grid.register_grid(ink_maps(grey, S).ink, printed.page, S)
    assert fit, fit
    _, after = _max_offset(grid.unwarp(grey, fit), printed.page)
    assert after < 0.3 or fit.residual_mm > S.grid_max_residual_mm, (after, fit.residual_mm, fit.outliers)


# --- end to end: marks read through the bend ---------------------------------------------


def _truth(page: PageLayout) -> dict[int, str | None]:
    """One clear X in every row, in turn medium, low, (none), high."""
    cycle: tuple[str | None, ...] = ("high", "medium", "low", None)
    return {row.person: cycle[row.person % 4] for row in page.rows}


def _draw_marks(grey: np.ndarray, page: PageLayout, truth: dict[int, str | None]) -> np.ndarray:
    """Clear X marks (pen 0.4 mm, darkness 0.8), 4.4 x 4 mm, in the boxes of ``truth``."""
    cover = np.zeros(grey.shape, np.float32)
    scale = 16  # cv2 sub-pixel points: 4 fractional bits
    for row in page.rows:
        level = truth[row.person]
        if level is None:
            continue
        cx, cy = _box_centre(row, level)
        for sx, sy in ((1, 1), (1, -1)):
            a = (round((cx - 2.2 * sx) * PX * scale), round((cy - 2.0 * sy) * PX * scale))
            b = (round((cx + 2.2 * sx) * PX * scale), round((cy + 2.0 * sy) * PX * scale))
            cv2.line(cover, a, b, 1.0, 2, cv2.LINE_AA, 4)  # OpenCV points are (x, y) = (column, row)
    return _darken(grey, cover, PEN)


def _misread(grey: np.ndarray, page: PageLayout, truth: dict[int, str | None]) -> dict[int, object]:
    """Rows read wrong or sent to review (a reason, or a box outline moved too far), as read_page would."""
    boxes, distorted = score_boxes(ink_maps(grey, S), page, S)
    rows = classify_rows(boxes, S)
    assert set(rows) == set(truth)
    return {p: (r.choice, r.reasons, p in distorted) for p, r in rows.items()
            if r.choice != truth[p] or r.reasons or p in distorted}


def test_marks_on_a_bent_page_read_after_unwarp(printed: Printed) -> None:
    page = printed.page
    truth = _truth(page)
    flat = _draw_marks(printed.grey, page, truth)
    assert _misread(flat, page, truth) == {}  # the marks are clear
    bent = _bend(flat, _fold_bulge)
    # read as it is, the bend puts the boxes up to 2.5 mm from their layout place, beyond the box
    # refinement's reach (1.5 mm): most rows below the top of the table read as multiple marks
    assert len(_misread(bent, page, truth)) >= 1
    fit = grid.register_grid(ink_maps(bent, S).ink, page, S)
    assert fit, fit
    assert _misread(grid.unwarp(bent, fit), page, truth) == {}


# --- a very faint mark: a straight-stroke matched filter against the page's own clutter ------------


def _faint_x(printed: Printed, row: RowLayout, level: str, darkness: float) -> np.ndarray:
    """The page with a thin X (1 px strokes, anti-aliased) of ``darkness`` in one box."""
    cover = np.zeros(printed.shape, np.float32)
    cx, cy = _box_centre(row, level)
    scale = 16
    for sx, sy in ((1, 1), (1, -1)):
        a = (round((cx - 2.0 * sx) * PX * scale), round((cy - 1.8 * sy) * PX * scale))
        b = (round((cx + 2.0 * sx) * PX * scale), round((cy + 1.8 * sy) * PX * scale))
        cv2.line(cover, a, b, 1.0, 1, cv2.LINE_AA, 4)  # OpenCV points are (x, y) = (column, row)
    return _darken(printed.grey, cover, darkness)


def _box_states(grey: np.ndarray, page: PageLayout) -> dict[tuple[int, str], str]:
    boxes, _ = score_boxes(ink_maps(grey, S), page, S)
    return {(b.person, b.level): b.state for b in boxes}


def test_a_very_faint_x_goes_to_review_and_clean_boxes_stay_empty(printed: Printed) -> None:
    row = printed.page.rows[3]
    clean = _box_states(printed.grey, printed.page)
    assert set(clean.values()) == {"empty"}  # the noise of the paper alone is not a mark
    # an X too faint for a trace (darkness 0.06 on 1 px strokes: about 0.02 once smoothed)
    grey = _faint_x(printed, row, "medium", 0.06)
    maps = ink_maps(grey, S)
    ink = measure_box(maps, row.boxes_mm["medium"], S)
    assert ink.trace == 0.0 and classify_box(ink, S) == "empty"  # the per-box measures miss it
    states = _box_states(grey, printed.page)
    assert states[(row.person, "medium")] == "marginal"
    assert [k for k, v in states.items() if v != "empty"] == [(row.person, "medium")]


@pytest.mark.parametrize("reach_mm", [0.9, 1.0])
def test_the_tip_of_a_stroke_entering_a_box_is_not_a_faint_mark(printed: Printed, reach_mm: float) -> None:
    """A light pen stroke (0.33 mm) from the row above ends just inside the top of an empty box: a speck of
    light ink, not pen-dark (so not a dot), that leaves the box empty, but the smoothed page blurs it further in, where the faint-stroke filter
    saw a faint mark (a row holding one X went to review as "faint"). The speck's halo is left out of the
    faint-mark measures. A faint X drawn in a box that such a tip also enters is still found."""
    row = printed.page.rows[5]

    def tip(level: str, from_right_mm: float) -> np.ndarray:
        x, y, w, _ = row.boxes_mm[level]
        cover = np.zeros(printed.shape, np.float32)
        cv2.line(cover, (round((x + w - from_right_mm) * PX * 16), round((y - 4.0) * PX * 16)),
                 (round((x + w - from_right_mm - 0.2) * PX * 16), round((y + reach_mm) * PX * 16)), 1.0,
                 round(0.33 * PX), cv2.LINE_AA, 4)
        return cover

    grey = _darken(printed.grey, tip("high", 2.0), 0.35)
    assert classify_box(measure_box(ink_maps(grey, S), row.boxes_mm["high"], S), S) == "empty"
    states = _box_states(grey, printed.page)
    assert set(states.values()) == {"empty"}, {k: v for k, v in states.items() if v != "empty"}
    faint = _darken(_faint_x(printed, row, "medium", 0.06), tip("medium", 1.5), 0.35)
    states = _box_states(faint, printed.page)
    assert [k for k, v in states.items() if v != "empty"] == [(row.person, "medium")]


def _soft_scan(grey: np.ndarray) -> np.ndarray:
    """A soft scan of ``grey``: blurred 2.5 px, then the sensor's noise."""
    blurred = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 2.5)
    return np.clip(blurred + np.random.default_rng(3).normal(0.0, 3.0, grey.shape), 0, 255).astype(np.uint8)


def test_the_outlines_halo_on_a_soft_scan_is_not_a_faint_line_but_a_faint_x_still_is(printed: Printed) -> None:
    """On a soft scan each box's printed outline spreads into its interior, darkest at the interior's edge.
    The faint-stroke filter takes what lies beyond the interior for paper, so a segment along the edge
    stood darker than its outer flank: a faint line in 22 of the 36 empty boxes here. A segment whose
    flank lies beyond the interior is no longer judged; a faint X (6 %) on the same soft page still is."""
    page = printed.page
    maps = ink_maps(_soft_scan(printed.grey), S)
    boxes, _ = score_boxes(maps, page, S)
    where = {(row.person, level): row.boxes_mm[level] for row in page.rows for level in LEVELS}
    rects = []
    for b in boxes:
        x, y, w, h = where[(b.person, b.level)]
        rects.append((x + b.dx_mm, y + b.dy_mm, w, h))
    inside, beside = faint_lines(box_regions(maps, rects, S), S)
    limit = max(S.faint_line_min, S.faint_line_ratio * float(np.median(beside)))  # as score_boxes sets it
    assert (inside < limit).all(), int((inside >= limit).sum())
    row = page.rows[3]
    assert _box_states(_soft_scan(_faint_x(printed, row, "medium", 0.06)), page)[(row.person, "medium")] == "marginal"


def test_a_faint_crease_across_a_row_is_not_a_faint_mark_but_an_x_over_it_is(printed: Printed) -> None:
    """A horizontal crease too faint for the crease search (a 1 px line, darkness 0.08, tilted 1 degree)
    runs through a row's boxes and on through the paper between them: the faint-stroke filter saw a
    faint mark in each box. It now leaves the boxes empty; a faint X drawn over the crease, and a faint
    horizontal dash that stays inside its box, are still found."""
    row = printed.page.rows[3]
    x, y = _box_centre(row, "medium")
    crease = _line_cover(printed.shape, vertical=False, at_mm=y + 0.7, centre_mm=x, tilt_deg=TILT,
                         span_mm=(5.0, 205.0), width_px=1.0)
    creased = _darken(printed.grey, crease, 0.08)
    maps = ink_maps(creased, S)
    assert all(classify_box(measure_box(maps, row.boxes_mm[lv], S), S) == "empty" for lv in LEVELS)
    states = _box_states(creased, printed.page)
    assert set(states.values()) == {"empty"}, {k: v for k, v in states.items() if v != "empty"}
    # the comparison can fail: the same line cut short at the box's sides is a faint dash in that box
    bx, _, bw, _ = row.boxes_mm["medium"]
    dash = _line_cover(printed.shape, vertical=False, at_mm=y + 0.7, centre_mm=x, tilt_deg=TILT,
                       span_mm=(bx + 1.5, bx + bw - 1.5), width_px=1.0)
    states = _box_states(_darken(printed.grey, dash, 0.12), printed.page)
    assert [k for k, v in states.items() if v != "empty"] == [(row.person, "medium")]
    faint_x = _faint_x(printed, row, "medium", 0.06)
    states = _box_states(_darken(faint_x, crease, 0.08), printed.page)
    assert [k for k, v in states.items() if v != "empty"] == [(row.person, "medium")]


@pytest.mark.parametrize("through", [0.2, 0.35, 0.5])
def test_the_edge_of_a_shadow_across_a_row_is_not_a_faint_mark_but_an_x_in_it_is(printed: Printed,
                                                                                  through: float) -> None:
    """A phone photo of a sheet folded in half: the lower half lies in the fold's shadow, 4 % darker, from an
    edge (softened over 0.3 mm) across a row's boxes, at ``through`` of their height, to the bottom of the
    page. Straight segments along the edge are as dark as the shadow on one side of them, and the paper
    beside each box is as dark at the same height: no box is doubtful (judged by the segments' darkness
    alone, at the earlier limit of 0.012, three boxes of the row were, with the edge at 0.35 and 0.5 of
    their height). A faint X in the shadow is darker than the shadow both sides of its strokes: found.
    (A shadow 7 % darker is beyond this: the paper level the page is judged against lags behind so sharp
    a step, and the band it leaves is a faint line to the filter.)"""
    row = printed.page.rows[4]
    _, y, _, h = row.boxes_mm["medium"]
    shade = np.zeros(printed.shape, np.float32)
    shade[round((y + through * h) * PX) :] = 1.0
    shade = cv2.GaussianBlur(shade, (0, 0), 2.0)
    states = _box_states(_darken(printed.grey, shade, 0.04), printed.page)
    assert set(states.values()) == {"empty"}, {k: v for k, v in states.items() if v != "empty"}
    below = printed.page.rows[6]
    states = _box_states(_darken(_faint_x(printed, below, "low", 0.06), shade, 0.04), printed.page)
    assert [k for k, v in states.items() if v != "empty"] == [(below.person, "low")]


def test_page_clutter_raises_the_faint_stroke_limit(printed: Printed) -> None:
    """The same faint X on paper full of faint strokes (bleed-through of the other side) is not singled out."""
    row = printed.page.rows[3]
    grey = _faint_x(printed, row, "medium", 0.06).astype(np.float64)
    rng = np.random.default_rng(7)
    cover = np.zeros(printed.shape, np.float32)
    h, w = printed.shape
    for _ in range(4000):  # short faint strokes everywhere, as mirrored print showing through
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        a = rng.uniform(0, np.pi)
        dx, dy = 9 * np.cos(a), 9 * np.sin(a)
        cv2.line(cover, (round((x - dx) * 16), round((y - dy) * 16)), (round((x + dx) * 16), round((y + dy) * 16)),
                 1.0, 1, cv2.LINE_AA, 4)
    maps = ink_maps(_darken(grey, cover, 0.09), S)

    def doubtful(settings: ScanSettings) -> int:
        boxes, _ = score_boxes(maps, printed.page, settings)
        return sum(b.state != "empty" for b in boxes)

    ignoring_clutter = doubtful(replace(S, faint_line_ratio=0.0))
    assert ignoring_clutter >= 20  # the clutter reaches the fixed limit nearly everywhere
    assert doubtful(S) <= ignoring_clutter // 4


# --- crossed-out names: straight strokes over a printed name, judged against the page's other names ----


def _strike(printed: Printed, grey: np.ndarray, row: RowLayout, darkness: float, end: float = 0.8) -> np.ndarray:
    """A straight stroke (0.4 mm) through the middle of ``row``'s printed name, to ``end`` of the name cell."""
    cover = np.zeros(printed.shape, np.float32)
    nx, ny, nw, nh = row.name_mm
    y = (ny + nh * 0.55) * PX * 16
    cv2.line(cover, (round((nx + 1) * PX * 16), round(y)), (round((nx + end * nw) * PX * 16), round(y + 8)),
             1.0, 2, cv2.LINE_AA, 4)
    return _darken(grey, cover, darkness)


def _crossed(grey: np.ndarray, printed: Printed, *, traces: bool = True, margins: bool = True) -> set[int]:
    """The names read as struck, as ``read_page`` reads them: creases found across the level columns taken
    out, strikes that run on as a crease across the margins not counted (or on the light and dark ink only;
    or without looking for the crease in the margins)."""
    maps, lines = _find(grey, printed)
    maps = _explained(maps, lines)
    boxes, _ = score_boxes(maps, printed.page, S)
    if not traces:
        return crossed_names(maps.light, maps.ink, printed.page, boxes, S)
    crease = crease_test(maps, printed.page, printed.layout.page_size_mm, S) if margins else None
    return crossed_names(maps.light, maps.ink, printed.page, boxes, S, maps.trace, printed.print, crease)


def test_crossed_names_pen_and_pencil(printed: Printed) -> None:
    page = printed.page
    assert _crossed(printed.grey, printed) == set()
    assert _crossed(_strike(printed, printed.grey, page.rows[2], PEN), printed) == {page.rows[2].person}
    pencil = 0.3  # light ink only: never pen-dark
    assert _crossed(_strike(printed, printed.grey, page.rows[7], pencil), printed) == {page.rows[7].person}


def test_blurred_names_are_not_taken_for_struck_but_a_pen_strike_still_is(printed: Printed) -> None:
    """A soft, low-resolution scan: the letters of every name run together into straight runs."""
    page = printed.page
    soft = cv2.GaussianBlur(printed.grey, (0, 0), 2.2)
    maps = ink_maps(soft, S)
    boxes, _ = score_boxes(maps, page, S)
    light_runs = [strike_coverage(_region(maps.light, row.name_mm), S) for row in page.rows]
    assert np.median(light_runs) >= S.name_cross_coverage  # every name would look struck on light ink alone
    assert crossed_names(maps.light, maps.ink, page, boxes, S, maps.trace, printed.print) == set()
    assert _crossed(_strike(printed, soft, page.rows[4], PEN), printed) == {page.rows[4].person}


def test_on_a_page_whose_usual_name_is_just_under_the_limit_a_name_must_stand_out(printed: Printed) -> None:
    """A slightly soft scan (sigma 1.05 px): the usual name's light-ink runs come just under
    ``name_cross_coverage``, and several names reach it without a strike; none stands out from the usual
    name. A pencil strike over the first part of one name makes it stand out by about 0.14, and it is
    struck (the strike does not run past the name's end, so only the light ink can show it)."""
    page = printed.page
    soft = cv2.GaussianBlur(printed.grey, (0, 0), 1.05)
    maps = ink_maps(soft, S)
    light_runs = [strike_coverage(_region(maps.light, row.name_mm), S) for row in page.rows]
    assert np.median(light_runs) < S.name_cross_coverage
    assert sum(run >= S.name_cross_coverage for run in light_runs) >= 4
    assert _crossed(soft, printed) == set()
    row = page.rows[2]
    struck = cv2.GaussianBlur(_strike(printed, printed.grey, row, 0.3, end=0.4), (0, 0), 1.05)
    struck_runs = [strike_coverage(_region(ink_maps(struck, S).light, r.name_mm), S)
                   for r in page.rows]
    assert struck_runs[2] - np.median(struck_runs) < 0.15
    assert _crossed(struck, printed) == {row.person}


def test_a_short_pen_dark_strike_over_a_blurred_name_is_flagged(printed: Printed) -> None:
    """On a soft scan a pencil strike is pen-dark only in parts: 6 mm of it (about a tenth of the name's
    width) is still a straight dark stroke no printed letter holds, while on light ink it is lost among
    the letters' runs."""
    page = printed.page
    soft = cv2.GaussianBlur(printed.grey, (0, 0), 2.2)
    row = page.rows[4]
    nx, ny, nw, nh = row.name_mm
    cover = np.zeros(printed.shape, np.float32)
    y = round((ny + nh * 0.55) * PX * 16)
    cv2.line(cover, (round((nx + 2) * PX * 16), y), (round((nx + 8) * PX * 16), y), 1.0, 3, cv2.LINE_AA, 4)
    struck = _darken(soft, cover, PEN)
    dark_share = strike_coverage(_region(ink_maps(struck, S).ink, row.name_mm), S)
    assert S.name_cross_dark <= dark_share < S.name_cross_coverage  # under the light-ink limit, over the dark one
    assert _crossed(struck, printed) == {row.person}


def _zigzag(printed: Printed, grey: np.ndarray, row: RowLayout, *, step_mm: float, darkness: float = PEN,
            end: float = 0.7) -> np.ndarray:
    """A zigzag across ``row``'s printed name (0.4 mm, a pen's ``darkness`` or a pencil's): strokes from 1.2 mm
    under the cell's top to 1.2 mm over its bottom, ``step_mm`` apart along the name, to ``end`` of its width."""
    nx, ny, nw, nh = row.name_mm
    xs = np.arange(nx + 2, nx + end * nw, step_mm)
    pts = [(x, ny + (1.2 if i % 2 else nh - 1.2)) for i, x in enumerate(xs)]
    cover = np.zeros(printed.shape, np.float32)
    cv2.polylines(cover, [np.round(np.array(pts) * PX * 16).astype(np.int32)], False, 1.0, 2, cv2.LINE_AA, 4)
    return _darken(grey, cover, darkness)


@pytest.mark.parametrize(("step_mm", "darkness"), [(2.0, PEN), (3.0, PEN), (5.0, PEN), (3.0, 0.3)])
def test_a_name_crossed_out_by_a_zigzag_is_struck(printed: Printed, step_mm: float, darkness: float) -> None:
    """A zigzag across a name has no stroke along it: each stroke runs steeply across the name, and the
    strike measures (within 30 degrees of the horizontal) did not see it: the ballot was counted with a
    crossed-out name. Strokes across the name find it, on a sharp page and on a soft one: in pen-dark ink
    with or without the blank page's print to weigh the names' ink against, in a pencil's light ink with
    it; no name of either page is struck without one."""
    page = printed.page
    row = page.rows[5]
    soft = cv2.GaussianBlur(printed.grey, (0, 0), 2.2)
    for grey in (printed.grey, soft):
        assert _crossed(grey, printed) == set()
        maps = ink_maps(grey, S)
        across = [width_covered(strikes(_region(maps.ink, r.name_mm), S, steep=True))
                  for r in page.rows]
        assert max(across) < S.name_cross_steep / 2  # printed letters hold no long stroke across the name
    for grey in (printed.grey, soft):
        struck = _zigzag(printed, grey, row, step_mm=step_mm, darkness=darkness)
        flat = replace(S, name_cross_steep=1.0, name_cross_steep_light=1.0, name_cross_ink_ratio=100.0)  # as before
        maps = ink_maps(struck, S)
        boxes, _ = score_boxes(maps, page, S)
        assert crossed_names(maps.light, maps.ink, page, boxes, flat, maps.trace, printed.print) == set()
        assert _crossed(struck, printed) == {row.person}
        if darkness == PEN:  # without the blank page, on pen-dark ink only
            assert crossed_names(maps.light, maps.ink, page, boxes, S) == {row.person}


def test_on_a_page_of_one_name_a_zigzag_or_a_pencil_strike_over_it_is_struck(printed: Printed) -> None:
    """The last page of a long ballot may hold one or two names: no usual name can be told there, so every
    name is searched for strokes across it (it was searched only when it held more ink than the usual
    name: with one name, never), and a pencil strike along it is held to the fixed bar alone (it had to
    stand out from the usual name: itself)."""
    page = replace(printed.page, rows=printed.page.rows[5:6])
    row = page.rows[0]
    for grey, expected in ((printed.grey, set()), (_zigzag(printed, printed.grey, row, step_mm=3.0), {row.person}),
                           (_strike(printed, printed.grey, row, 0.3), {row.person})):
        maps = ink_maps(grey, S)
        boxes, _ = score_boxes(maps, page, S)
        assert crossed_names(maps.light, maps.ink, page, boxes, S, maps.trace, printed.print) == expected


@pytest.mark.parametrize("darkness", [PEN, 0.3])
def test_a_name_scribbled_over_in_loops_is_struck(printed: Printed, darkness: float) -> None:
    """Loops along a name (a pen's or a pencil's) make no straight stroke along or across it; they add ink
    the print does not explain, more than twice the page's usual name holds for its print, and the name is
    crossed out, on a sharp page and on a soft one. No name of either page holds that much without one."""
    page = printed.page
    row = page.rows[8]
    nx, ny, nw, nh = row.name_mm
    t = np.linspace(0, 1, 600)
    loops = np.column_stack([nx + 1 + 0.7 * nw * t + 1.2 * np.cos(2 * np.pi * 12 * t),
                             ny + nh / 2 + 1.6 * np.sin(2 * np.pi * 12 * t)])
    cover = np.zeros(printed.shape, np.float32)
    cv2.polylines(cover, [np.round(loops * PX * 16).astype(np.int32)], False, 1.0, 2, cv2.LINE_AA, 4)
    # the ink alone: every strike measure off
    ink_only = replace(S, name_cross_dark=1.0, name_cross_coverage=1.0, name_cross_trace=1.0, name_cross_steep=1.0,
                       name_cross_steep_light=1.0)
    for soft in (False, True):
        clean = cv2.GaussianBlur(printed.grey, (0, 0), 2.2) if soft else printed.grey
        grey = _darken(printed.grey, cover, darkness)
        if soft:
            grey = cv2.GaussianBlur(grey, (0, 0), 2.2)
        for image, expected in ((clean, set()), (grey, {row.person})):
            maps, lines = _find(image, printed)
            maps = _explained(maps, lines)
            boxes, _ = score_boxes(maps, page, S)
            args = (maps.light, maps.ink, page, boxes)
            assert crossed_names(*args, ink_only, maps.trace, printed.print) == expected, (darkness, soft)
            assert crossed_names(*args, S, maps.trace, printed.print) == expected, (darkness, soft)


def test_a_faint_strike_lost_among_a_soft_pages_letters_shows_where_nothing_is_printed(printed: Printed) -> None:
    """A faint pencil strike (14 % darker than the paper) over the name and on past its end, then the soft scan:
    on light ink the name does not stand out from the others (every name runs together), and no part is
    pen-dark; past the name's end, where no letter is printed, it is a long straight trace that no other name
    has."""
    page = printed.page
    row = page.rows[4]
    struck = cv2.GaussianBlur(_strike(printed, printed.grey, row, 0.14, end=0.95), (0, 0), 2.2)
    maps = ink_maps(struck, S)
    light_runs = [strike_coverage(_region(maps.light, r.name_mm), S) for r in page.rows]
    assert light_runs[4] < np.median(light_runs) + S.name_cross_margin
    assert _crossed(struck, printed, traces=False) == set()  # the strike is lost on light and dark ink
    assert _crossed(struck, printed) == {row.person}


# --- creases across the free areas are not writing ------------------------------------------------


def _creased(grey: np.ndarray, printed: Printed, at_mm: float, *, shade: float = 0.0, side: int = 1,
             span_mm: tuple[float, float] = (0.0, 210.0)) -> np.ndarray:
    """A crease across the page at ``at_mm`` (tilted 0.3 degree), and ``shade`` beside it on one ``side``, fading
    over 15 mm: a sheet folded in half and flattened does not lie quite flat."""
    crease = _line_cover(printed.shape, vertical=False, at_mm=at_mm, centre_mm=105.0, tilt_deg=0.3, span_mm=span_mm)
    creased = _darken(grey, crease, CREASE)
    off_mm = (np.arange(printed.shape[0], dtype=np.float32) / PX - at_mm) * side
    fade = np.where(off_mm > 0, np.clip(1.0 - off_mm / 15.0, 0.0, 1.0), 0.0).astype(np.float32)[:, None]
    return _darken(creased, np.broadcast_to(fade, printed.shape), shade)


@pytest.mark.parametrize(("below_mm", "shade", "side"), [(1.0, 0.05, 1), (2.0, 0.07, -1), (4.0, 0.07, -1),
                                                          (7.2, 0.05, 1), (7.2, 0.07, -1)])
def test_a_crease_along_a_name_is_not_a_strike(printed: Printed, below_mm: float, shade: float, side: int) -> None:
    """A sheet folded in half is creased across a row (the half fold runs through row 8 of the 300-voter
    decks). Found across the level columns, the crease is taken out, but the shade beside it leaves faint
    traces 1-3 mm off its line, along the name, where nothing is printed: a long straight trace, read as a
    faint strike (``below_mm`` 1, 2, 4). Hugging the
    row's bottom rule (7.2), it is not found there and its own line is light ink along the name. The
    crease runs on across both margins of the page, and a strike stops at the table: neither is a strike.
    On the 300-voter decks, names read as struck that were not: adf-rough 63 (60 on folded pages), phone 32,
    field 76 before; 11, 3 and 42 after."""
    row = printed.page.rows[7]
    _, ny, _, _ = row.name_mm
    creased = _creased(printed.grey, printed, ny + below_mm, shade=shade, side=side)
    assert _crossed(creased, printed, margins=False) == {row.person}  # the fault: read as struck
    assert _crossed(creased, printed) == set()


@pytest.mark.parametrize(("below_mm", "shade", "side"), [(7.2, 0.07, -1), (0.6, 0.07, 1)])
def test_a_pencil_strike_beside_a_crease_along_its_name_is_still_a_strike(printed: Printed, below_mm: float,
                                                                          shade: float, side: int) -> None:
    """A pencil strike through the name's letters, 2.8 mm above a crease hugging the row's bottom rule, or
    3.8 mm below one near its top: light ink is only a crease's when within 1 mm of the crease's line,
    traces within 3 mm."""
    row = printed.page.rows[7]
    _, ny, _, _ = row.name_mm
    creased = _creased(printed.grey, printed, ny + below_mm, shade=shade, side=side)
    assert _crossed(creased, printed) == set()
    assert _crossed(_strike(printed, creased, row, 0.3, end=0.95), printed) == {row.person}


def test_a_straight_line_across_the_table_is_a_strike_unless_it_runs_on_across_the_margins(printed: Printed) -> None:
    """The same faint line along a name's unprinted band, ruled across the table from its left rule to its
    right one: a voter's strike. Only a line that runs on across both margins of the sheet is a crease."""
    row = printed.page.rows[7]
    _, ny, _, _ = row.name_mm
    tx, _, tw, _ = printed.page.table_mm
    across_table = _creased(printed.grey, printed, ny + 7.2, shade=0.05, span_mm=(tx, tx + tw))
    assert _crossed(across_table, printed) == {row.person}
    one_margin = _creased(printed.grey, printed, ny + 7.2, shade=0.05, span_mm=(0.0, tx + tw))
    assert _crossed(one_margin, printed) == {row.person}


def _page_reasons(grey: np.ndarray, printed: Printed) -> list[str]:
    """The page-level reasons as ``read_page`` finds them (creases across the free areas re-checked)."""
    maps, lines = _find(grey, printed)
    maps = _explained(maps, lines)
    boxes, _ = score_boxes(maps, printed.page, S)
    _, reasons = inspect(maps.light, printed.page, boxes, S, maps.trace, maps.ink)
    if R.R_WRITING in reasons and not writing_beside_creases(maps, lines, printed.page,
                                                                      printed.layout.page_size_mm, S):
        reasons = [r for r in reasons if r != R.R_WRITING]
    return reasons


def _word_beside_the_crease(printed: Printed) -> np.ndarray:
    """Coverage of a pen word (three loops) in the first free area, beside a crease down the page's middle."""
    word = np.zeros(printed.shape, np.float32)
    fx, fy, _, _ = printed.page.free_mm[0]
    for k in range(3):
        cx, cy = (fx + 20 + 6 * k) * PX, (fy + 30) * PX
        cv2.ellipse(word, (round(cx), round(cy)), (round(2.5 * PX), round(4 * PX)), 20, 0, 360, 1.0, 2)
    return word


def test_quarter_fold_through_the_free_area_is_not_writing_but_a_word_is(printed: Printed) -> None:
    """A sheet folded in quarters: a crease down the middle of the page, through the free area."""
    page_h = printed.layout.page_size_mm[1]
    crease = _line_cover(printed.shape, vertical=True, at_mm=105.0, centre_mm=150.0, tilt_deg=0.4,
                         span_mm=(0.0, page_h))
    grey = _darken(printed.grey, crease, CREASE)
    assert _page_reasons(grey, printed) == []
    assert _page_reasons(_darken(grey, _word_beside_the_crease(printed), PEN), printed) == [R.R_WRITING]


def _word_at(printed: Printed, x_mm: float, y_mm: float, *, upright: bool = False) -> np.ndarray:
    """Coverage of a small pen word (three loops, 11 mm by 5 mm, or 5 mm by 11 mm written ``upright`` up a
    margin) from (``x_mm``, ``y_mm``), its top left."""
    word = np.zeros(printed.shape, np.float32)
    for k in range(3):
        cx, cy = (x_mm + 2.5, y_mm + 2 + 3.5 * k) if upright else (x_mm + 2 + 3.5 * k, y_mm + 2.5)
        axes = (2.3, 1.6) if upright else (1.6, 2.3)
        cv2.ellipse(word, (round(cx * PX), round(cy * PX)), (round(axes[0] * PX), round(axes[1] * PX)), 20, 0, 360,
                    1.0, 2)
    return word


def test_a_box_under_a_glare_goes_to_review_but_a_page_washed_white_everywhere_does_not(printed: Printed) -> None:
    """A lamp's glare drives the paper and any stroke under its core to pure white: the mark is gone, and the
    row read as empty with no reason (bench/robustness.py's glare variant, a wrong count). A box mostly
    clipped to white, its printed outline washed out too, on a page whose usual box is not, sends its row to
    review; a page whose paper the scanner turned white everywhere (background removal), an overexposed spot
    that keeps the print dark, and a plain page are read as they are."""
    page = printed.page
    row = page.rows[3]
    x, y, w, h = row.boxes_mm["high"]
    assert glare_rows(printed.grey, page, S) == set()
    glared = printed.grey.copy()
    cv2.ellipse(glared, (round((x + w / 2) * PX), round((y + h / 2) * PX)), (round(9 * PX), round(6 * PX)), 0, 0, 360,
                255, -1)
    assert glare_rows(glared, page, S) == {row.person}
    white = np.where(printed.grey > 200, 255, printed.grey).astype(np.uint8)  # the paper clipped, the print kept
    assert glare_rows(white, page, S) == set()
    bright = printed.grey.copy()  # an overexposed spot: the paper there clipped, the print (and a stroke) kept
    spot = np.zeros(bright.shape, np.uint8)
    cv2.ellipse(spot, (round((x + w / 2) * PX), round((y + h / 2) * PX)), (round(9 * PX), round(6 * PX)), 0, 0, 360,
                1, -1)
    bright[(spot == 1) & (bright > 200)] = 255
    assert glare_rows(bright, page, S) == set()


def test_writing_outside_the_free_areas_is_writing(printed: Printed) -> None:
    """Under QD 262 any extra writing spoils a ballot, wherever it is; only the free areas were looked at, so
    a word in a margin, in the title's space, at the foot, in the table's heading or beside a row's position
    was counted. Ink there that the blank page's print does not explain is writing now; the print itself,
    on a sharp or a soft page, is not."""
    page, size = printed.page, printed.layout.page_size_mm
    row = page.rows[4]
    ty = page.table_mm[1]
    places = {
        "title": (170.0, 40.0), "left margin": (4.7, 150.0), "right margin": (200.3, 120.0),
        "foot": (40.0, 285.0), "heading": (25.0, ty + 2.0),
        "position": (row.position_mm[0] + 34.0, row.row_mm[1] + 2.0),
    }
    for grey in (printed.grey, cv2.GaussianBlur(printed.grey, (0, 0), 2.2)):
        light = ink_maps(grey, S).light
        assert not writing_elsewhere(light, page, printed.print, size, S)
    for where, (x, y) in places.items():
        word = _word_at(printed, x, y, upright="margin" in where)
        light = ink_maps(_darken(printed.grey, word, PEN), S).light
        assert writing_elsewhere(light, page, printed.print, size, S), where
        assert not writing_found(light, None, page, S), where  # the free areas do not see it


def _signature(printed: Printed, *, flourish_mm: float, word_below_mm: float | None = None) -> np.ndarray:
    """A pen signature in its place: a scrawl of loops, and a flourish under it that dips ``flourish_mm`` below
    the place's foot; with ``word_below_mm``, a word written that far below the place too, apart from it."""
    sx, sy, sw, sh = printed.page.signature_mm
    cover = np.zeros(printed.shape, np.float32)
    for k in range(5):
        cv2.ellipse(cover, (round((sx + 22 + 5 * k) * PX), round((sy + sh - 9) * PX)), (round(2 * PX), round(4 * PX)),
                    15, 0, 360, 1.0, 2)
    xs = np.linspace(sx + 18, sx + 58, 40)
    ys = sy + sh - 5 + (sh - (sh - 5) + flourish_mm) * np.sin(np.pi * (xs - xs[0]) / (xs[-1] - xs[0]))
    cv2.polylines(cover, [np.round(np.stack([xs, ys], 1) * PX).astype(np.int32)], False, 1.0, 2, cv2.LINE_AA)
    if word_below_mm is not None:
        cover = np.maximum(cover, _word_at(printed, sx + 30, sy + sh + word_below_mm))
    return _darken(printed.grey, cover, PEN)


def test_a_signature_running_out_of_its_place_is_not_writing_but_a_word_below_it_is(printed: Printed) -> None:
    """A voter may sign. A signature's flourish that dips 4 mm below the signature's place reached the page's
    foot, where ink is writing: 15 of the 31 pages of the 2,226-page deck flagged for writing they did not
    hold. Ink that is one piece with the signature is the signature (``signature_overflow``); a word written
    below it, apart from it, is still writing."""
    page, size = printed.page, printed.layout.page_size_mm
    assert page.signature_mm is not None
    signed = _signature(printed, flourish_mm=4.0)
    light = ink_maps(signed, S).light
    assert signature_overflow(light, page, S)[round((page.signature_mm[1] + page.signature_mm[3] + 2) * PX):].any()
    assert not writing_elsewhere(light, page, printed.print, size, S)
    written = _signature(printed, flourish_mm=4.0, word_below_mm=8.0)
    assert writing_elsewhere(ink_maps(written, S).light, page, printed.print, size, S)


def test_the_crease_filter_is_tried_out_to_fold_max_tilt_deg() -> None:
    """``crease_pieces`` tries the angles of ``crease_tilts``: level and every half degree out to
    ``fold_max_tilt_deg`` either way, -2 to 2 at the default (the angles it was given as a constant); a crease in
    pieces tilted by 6 degrees is not one at the default, and is once ``fold_max_tilt_deg`` reaches it."""
    assert crease_tilts(S.fold_max_tilt_deg) == tuple(np.arange(-2.0, 2.01, 0.5))
    assert crease_tilts(1.2) == pytest.approx((-1.2, -0.8, -0.4, 0.0, 0.4, 0.8, 1.2))
    assert crease_tilts(0.0) == (0.0,)
    found = np.zeros((400, 200), bool)
    rows = np.arange(400)
    cols = np.round(100 + np.tan(np.radians(6.0)) * (rows - 200)).astype(int)
    dashed = (rows % 48) < 36  # pieces 6 mm long, 2 mm apart
    found[rows[dashed], cols[dashed]] = True
    assert not crease_pieces(found, S).any()
    assert crease_pieces(found, replace(S, fold_max_tilt_deg=6.0)).any()


@pytest.mark.parametrize(("tilt", "level"), [(0.0, False), (1.2, False), (-0.8, True)])
def test_a_crease_broken_into_pieces_outside_the_free_areas_is_not_writing_but_a_word_on_it_is(
        printed: Printed, tilt: float, level: bool) -> None:
    """A sheet folded in quarters is creased down the middle of the page, through the title's space; a
    sheet folded in thirds across it, here through the page's foot. The title's letters and the paper's
    grain break the crease into pieces shorter than the 10 mm that make a straight line, and the pieces
    read as writing: 13 of the 31 pages of the 2,226-page deck flagged for writing they did not hold.
    Thin pieces along one straight line within 2 degrees of upright or level, 12 mm of them in all, are a
    crease (``crease_pieces``); a word written over the crease is still writing."""
    page, size = printed.page, printed.layout.page_size_mm
    along = np.arange(printed.shape[1 if level else 0], dtype=np.float32) / PX
    gaps = ((along % 8.0) < 6.0).astype(np.float32)  # pieces 6 mm long, 2 mm apart
    line = _line_cover(printed.shape, vertical=not level, at_mm=283.0 if level else 104.0,
                       centre_mm=65.0 if level else 30.0, tilt_deg=tilt, span_mm=(10.0, 120.0) if level else (8.0, 58.0))
    pieces = line * (gaps[None, :] if level else gaps[:, None])
    creased = _darken(printed.grey, pieces, 0.35)
    light = ink_maps(creased, S).light
    assert crease_pieces(light, S).any()
    assert not writing_elsewhere(light, page, printed.print, size, S)
    word = _word_at(printed, 60.0 if level else 100.0, 280.5 if level else 30.0)
    written = ink_maps(_darken(creased, word, PEN), S).light
    assert writing_elsewhere(written, page, printed.print, size, S)


@pytest.mark.parametrize(("side", "shade"), [(1, 0.05), (-1, 0.07)])
def test_the_shade_beside_a_crease_through_the_free_area_is_not_writing(printed: Printed, side: int,
                                                                        shade: float) -> None:
    """A sheet folded in quarters and flattened does not lie quite flat: beside the crease, one side is
    a few per cent darker, fading over 15 mm. The paper level lags behind so sharp a step and leaves a
    faint trace up to 3 mm off the crease's line, along its whole length. Before, only 0.8 mm either
    side of the line was explained, and that trace read as writing (19 of the 66 quarter-folded pages of
    the 700-voter adf-rough deck; the 7 % case here); a word beside the crease is still writing."""
    page_h = printed.layout.page_size_mm[1]
    crease = _line_cover(printed.shape, vertical=True, at_mm=105.0, centre_mm=150.0, tilt_deg=0.0,
                         span_mm=(0.0, page_h))
    off_mm = (np.arange(printed.shape[1], dtype=np.float32) / PX - 105.0) * side
    fade = np.where(off_mm > 0, np.clip(1.0 - off_mm / 15.0, 0.0, 1.0), 0.0).astype(np.float32)
    grey = _darken(_darken(printed.grey, crease, CREASE), np.broadcast_to(fade, printed.shape), shade)
    assert _page_reasons(grey, printed) == []
    assert _page_reasons(_darken(grey, _word_beside_the_crease(printed), PEN), printed) == [R.R_WRITING]


@pytest.mark.parametrize(("below_mm", "side", "shade"), [(1.2, 1, 0.05), (2.0, 1, 0.07), (2.5, 1, 0.05), (1.5, -1, 0.05)])
def test_a_crease_hugging_the_table_s_bottom_rule_is_not_writing_but_a_word_under_it_is(
        printed: Printed, below_mm: float, side: int, shade: float) -> None:
    """A sheet folded in thirds to go into the ballot box is creased a third of the way up: on a ballot of
    twelve persons, that is 1-3 mm under the table's bottom rule. The search for creases across the free
    areas began 3 mm under the rule, and the traces of a crease above that read as writing (2 of the 3 of
    20 ``folded-thirds`` pages in bench/robustness.py flagged so; 2.0 and 2.5 mm here). A word under the
    table is still writing."""
    page_w = printed.layout.page_size_mm[0]
    _, ty, _, th = printed.page.table_mm
    at = ty + th + below_mm
    crease = _line_cover(printed.shape, vertical=False, at_mm=at, centre_mm=page_w / 2, tilt_deg=0.3,
                         span_mm=(0.0, page_w))
    off_mm = (np.arange(printed.shape[0], dtype=np.float32) / PX - at) * side
    fade = np.where(off_mm > 0, np.clip(1.0 - off_mm / 15.0, 0.0, 1.0), 0.0).astype(np.float32)[:, None]
    grey = _darken(_darken(printed.grey, crease, CREASE), np.broadcast_to(fade, printed.shape), shade)
    assert _page_reasons(grey, printed) == []
    fx, fy, _, _ = printed.page.free_mm[0]
    assert _page_reasons(_darken(grey, _word_at(printed, fx + 20, fy + 4), PEN), printed) == [R.R_WRITING]


def test_the_blank_pages_caches_keep_a_few_pages_and_give_what_is_worked_out_afresh(
        printed: Printed, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that reads pages of many sessions gets each session's blank pages as new arrays: the caches
    of the names' cells and of the places writing is looked for, keyed by those arrays, keep at most
    ``NAME_CELLS_KEPT`` and ``OPEN_KEPT`` of them (here 2, for fewer copies of a page), dropping the oldest,
    and still give what a first call works out."""
    monkeypatch.setattr(names, "NAME_CELLS_KEPT", 2)
    monkeypatch.setattr(writing, "OPEN_KEPT", 2)
    monkeypatch.setattr(names, "_NAME_CELLS", {})  # empty, whatever the tests before this one left
    monkeypatch.setattr(writing, "_OPEN", {})
    page, size = printed.page, printed.layout.page_size_mm
    cells = names._name_cells(page, printed.print, S)
    places = writing._open_places(page, printed.print, size, S, S.print_halo_mm)
    sessions = [printed.print.copy() for _ in range(3)]
    for other in sessions:
        names._name_cells(page, other, S)
        writing._open_places(page, other, size, S, S.print_halo_mm)
        assert len(names._NAME_CELLS) <= names.NAME_CELLS_KEPT and len(writing._OPEN) <= writing.OPEN_KEPT
    assert not any(key[0] == id(printed.print) for key in names._NAME_CELLS)  # the oldest went first
    again_cells = names._name_cells(page, printed.print, S)
    again = writing._open_places(page, printed.print, size, S, S.print_halo_mm)
    assert again_cells is not cells and again is not places  # worked out afresh
    assert [(c.strip, c.texts) for c in again_cells] == [(c.strip, c.texts) for c in cells]
    assert all(np.array_equal(a.open_strip, b.open_strip) for a, b in zip(again_cells, cells, strict=True))
    assert np.array_equal(again.whole, places.whole)
    assert [r for r, _ in again.places] == [r for r, _ in places.places]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(again.places, places.places, strict=True))


# --- hesitation dots: close together, joined by the smoothed trace map, still not a mark ---------------


def _dot_cover(printed: Printed, row: RowLayout, level: str, *, gap_mm: float, dot_mm: float,
               count: int) -> np.ndarray:
    """Coverage of ``count`` round dots ``dot_mm`` wide, ``gap_mm`` apart across one box of ``row``."""
    cx, cy = _box_centre(row, level)
    cover = np.zeros(printed.shape, np.float32)
    for dx, dy in ((-gap_mm, 0.4), (0.0, -0.5), (gap_mm, 0.6))[:count]:
        cv2.circle(cover, (round((cx + dx) * PX * 16), round((cy + dy) * PX * 16)), round(dot_mm / 2 * PX * 16),
                   1.0, -1, cv2.LINE_AA, 4)
    return cover


@pytest.mark.parametrize(("gap_mm", "dot_mm", "count"), [(1.2, 0.7, 3), (1.6, 0.7, 3), (2.0, 1.6, 3), (1.1, 1.5, 2)])
def test_dots_close_together_are_not_a_mark(printed: Printed, gap_mm: float, dot_mm: float, count: int) -> None:
    """Three pen dots (0.7 mm) a little over a millimetre apart: the trace map joins them into one
    4 mm "stroke" with enough ink in it, but no piece of their ink is longer than a speck. Marker dots
    (1.6 mm) are larger than a speck, but each is a round blot, not a drawn stroke; two of them touching
    (1.5 mm, 1.4 mm apart) make one blot under twice as long as it is thick, not a stroke either."""
    row = printed.page.rows[2]
    cx, cy = _box_centre(row, "high")
    cover = _dot_cover(printed, row, "high", gap_mm=gap_mm, dot_mm=dot_mm, count=count)
    dots = _darken(printed.grey, cover, PEN)
    ink = measure_box(ink_maps(dots, S), row.boxes_mm["high"], S)
    assert ink.trace_span_mm >= S.mark_span_mm or ink.light_span_mm >= S.mark_span_mm or ink.light < S.mark_ink
    assert _states(ink_maps(dots, S), row)[0] == "marginal", ink
    # a stroke through the same places (at least 5 mm long) is a mark
    stroke = cover.copy()
    reach = max(gap_mm, 2.5)
    cv2.line(stroke, (round((cx - reach) * PX * 16), round((cy + 0.4) * PX * 16)),
             (round((cx + reach) * PX * 16), round((cy + 0.6) * PX * 16)), 1.0, 2, cv2.LINE_AA, 4)
    assert _states(ink_maps(_darken(printed.grey, stroke, PEN), S), row)[0] == "marked"


@pytest.mark.parametrize(("shape", "state"), [("x", "marked"), ("plus", "marked"), ("blot", "marginal"),
                                              ("dots", "marginal")])
def test_a_small_x_by_a_thick_pen_is_a_mark_but_a_blot_is_not(printed: Printed, shape: str, state: str) -> None:
    """A felt pen 1-1.2 mm wide makes a 3.2 mm X (or a 3.5 mm plus) one short solid piece, under 2.5 times
    as long as it is thick, like a blot. Its arms tell it apart: it spreads as far across as along, and leaves paper
    between its arms. A round 3 mm blot and two 1.7 mm dots touching on a slant have no arms: marginal."""
    row = printed.page.rows[3]
    at = _from_centre(row, "medium")
    cover = np.zeros(printed.shape, np.float32)
    if shape == "x":
        for sign in (1, -1):
            cv2.line(cover, at(-0.9, -0.9 * sign), at(0.9, 0.9 * sign), 1.0, round(1.2 * PX), cv2.LINE_AA, 4)
    elif shape == "plus":
        cv2.line(cover, at(-1.2, 0), at(1.2, 0), 1.0, round(1.0 * PX), cv2.LINE_AA, 4)
        cv2.line(cover, at(0, -1.2), at(0, 1.2), 1.0, round(1.0 * PX), cv2.LINE_AA, 4)
    elif shape == "blot":
        cv2.circle(cover, at(0, 0), round(1.5 * PX * 16), 1.0, -1, cv2.LINE_AA, 4)
    else:
        for d in (-0.6, 0.6):
            cv2.circle(cover, at(d, d), round(0.85 * PX * 16), 1.0, -1, cv2.LINE_AA, 4)
    ys, xs = np.nonzero(cover > 0.5)
    assert max(np.ptp(xs), np.ptp(ys)) <= S.dot_max_mm * PX  # short: in the blot rule's range
    maps = ink_maps(_darken(printed.grey, cover, PEN), S)
    assert _states(maps, row)[1] == state, measure_box(maps, row.boxes_mm["medium"], S)


TINY_TICK_MM = ((-0.7, 0.0), (-0.2, 0.6), (0.75, -0.75))  # a tick 1.5 mm across, from a box's centre


@pytest.mark.parametrize(("shape", "state"), [("tick", "marginal"), ("small_x", "marked")])
def test_a_tiny_tick_is_doubtful_but_a_small_x_is_a_mark(printed: Printed, shape: str, state: str) -> None:
    """A tick 1.5 mm across, drawn with a 0.5 mm pen, spans about 3.2 mm in light ink: under
    ``mark_span_mm``, so a human decides whether it was meant (a 2,226-page deck had one counted as a
    vote). The smallest X the simulator's voters draw, 2.4 mm by 2.2 mm in ballpoint, is a mark."""
    row = printed.page.rows[4]
    at = _from_centre(row, "low")
    cover = np.zeros(printed.shape, np.float32)
    if shape == "tick":
        points = np.array([at(x, y) for x, y in TINY_TICK_MM], np.int32)
        cv2.polylines(cover, [points], False, 1.0, round(0.5 * PX), cv2.LINE_AA, 4)
    else:
        for sign in (1, -1):
            cv2.line(cover, at(-1.2, -1.1 * sign), at(1.2, 1.1 * sign), 1.0, round(0.5 * PX), cv2.LINE_AA, 4)
    maps = ink_maps(_darken(printed.grey, cover, PEN), S)
    ink = measure_box(maps, row.boxes_mm["low"], S)
    if shape == "tick":  # over 3 mm, the limit a tiny tick on that deck passed
        assert 3.0 <= ink.light_span_mm < S.mark_span_mm, ink
    assert _states(maps, row)[2] == state, ink


# --- a light pencil: the voter's marks judged against the page's own marks ------------------------------


def _pencil(grey: np.ndarray, row: RowLayout, level: str, *, darkness: float, seed: int, tick: bool = False) -> np.ndarray:
    """A grainy pencil X (4 x 3.6 mm; a tiny tick 1.5 mm across with ``tick``) in one box of ``row``: a 0.45 mm
    line of which 30 % of the pixels hold graphite (50 % for the tick), softened by a 0.8 px blur."""
    at = _from_centre(row, level)
    cover = np.zeros(grey.shape, np.float32)
    if tick:
        points = np.array([at(x, y) for x, y in TINY_TICK_MM], np.int32)
        cv2.polylines(cover, [points], False, 1.0, round(0.45 * PX), cv2.LINE_AA, 4)
    else:
        for sign in (1, -1):
            cv2.line(cover, at(-2.0, -1.8 * sign), at(2.0, 1.8 * sign), 1.0, round(0.45 * PX), cv2.LINE_AA, 4)
    cover *= np.random.default_rng(seed).random(cover.shape) < (0.5 if tick else 0.3)
    return _darken(grey, cv2.GaussianBlur(cover, (0, 0), 0.8), darkness)


def _assert_the_voters_marks(maps: InkMaps, page: PageLayout, last: str) -> None:
    """The page's first 11 rows, one mark each in the voter's pen (level by row), read as marked and counted
    without a reason; the last row's medium box reads ``last``."""
    boxes, _ = score_boxes(maps, page, S)
    states = {(b.person, b.level): b.state for b in boxes}
    assert [states[(row.person, LEVELS[i % 3])] for i, row in enumerate(page.rows[:-1])] == ["marked"] * 11
    assert states[(page.rows[-1].person, "medium")] == last
    rows = classify_rows(boxes, S)
    assert all(rows[row.person].choice == LEVELS[i % 3] and not rows[row.person].reasons
               for i, row in enumerate(page.rows[:-1]))


def _pencil_page(printed: Printed, rows: int) -> np.ndarray:
    grey = printed.grey
    for i, row in enumerate(printed.page.rows[:rows]):
        grey = _pencil(grey, row, LEVELS[i % 3], darkness=0.3, seed=i)
    return grey


@pytest.mark.parametrize(("last", "state"), [("pencil", "marked"), ("faint", "marginal"), ("tick", "marginal"),
                                             ("none", "empty")])
def test_a_light_pencil_voters_marks_are_read_against_the_pages_own_marks(printed: Printed, last: str,
                                                                          state: str) -> None:
    """A voter with a light, grainy pencil: an X in one box of each row. Alone, most of the boxes fall short
    of a mark (too little light ink, or no piece of it a speck long) and would go to review. The page's
    rows with one box inked show the voter's pen, and each of these boxes is as inked as the rest of them:
    all marked. In the last row, a very faint X (a third of the pencil's darkness) and a tiny tick in the same
    pencil are not like them: a human looks."""
    page = printed.page
    grey = _pencil_page(printed, len(page.rows) - 1)
    last_row = page.rows[-1]
    if last != "none":
        grey = _pencil(grey, last_row, "medium", darkness=0.1 if last == "faint" else 0.3, seed=99,
                       tick=last == "tick")
    maps = ink_maps(grey, S)
    alone = [_states(maps, row)[i % 3] for i, row in enumerate(page.rows[:-1])]
    assert alone.count("marginal") >= 5, alone
    _assert_the_voters_marks(maps, page, state)


def test_three_light_pencil_marks_do_not_show_a_pen(printed: Printed) -> None:
    """With fewer rows than ``pen_rows`` holding such a mark, nothing is assumed of the voter's pen: a box
    that falls short of a mark alone stays marginal."""
    grey = _pencil_page(printed, S.pen_rows - 1)
    boxes, _ = score_boxes(ink_maps(grey, S), printed.page, S)
    assert "marginal" in [b.state for b in boxes if b.state != "empty"]
    assert "marginal" not in [b.state for b in score_boxes(ink_maps(
        _pencil_page(printed, S.pen_rows), S), printed.page, S)[0]]


# --- a soft pencil on a soft scan: strokes in traces only, judged against the page's own marks -------


def _soft(grey: np.ndarray, row: RowLayout, level: str, *, darkness: float, shape: str = "x") -> np.ndarray:
    """A soft pencil's mark in one box of ``row`` as a blurred scan shows it: a smooth 0.45 mm line softened
    by a 1.2 px blur, so that no pixel of it is dark enough for light ink, only traces. ``shape``: an X
    4 x 3.6 mm, a tiny tick 1.5 mm across, a zigzag covering the box (a scribble), or an X scribbled over with
    a zigzag of five passes over the middle of the box (``scribbled``: a mark cancelled in a hurry)."""
    at = _from_centre(row, level)
    cover = np.zeros(grey.shape, np.float32)
    if shape == "tick":
        cv2.polylines(cover, [np.array([at(x, y) for x, y in TINY_TICK_MM], np.int32)], False, 1.0,
                      round(0.45 * PX), cv2.LINE_AA, 4)
    elif shape == "scribble":
        x, y, w, h = row.boxes_mm[level]
        zigzag = [at(sign * (w / 2 - 1.2), -h / 2 + 1.2 + i * (h - 2.4) / 9) for i, sign in zip(range(10), [-1, 1] * 5, strict=True)]
        cv2.polylines(cover, [np.array(zigzag, np.int32)], False, 1.0, round(0.45 * PX), cv2.LINE_AA, 4)
    else:
        for sign in (1, -1):
            cv2.line(cover, at(-2.0, -1.8 * sign), at(2.0, 1.8 * sign), 1.0, round(0.45 * PX), cv2.LINE_AA, 4)
        if shape == "scribbled":
            x, y, w, h = row.boxes_mm[level]
            zigzag = [at(0.6 * sign * (w / 2 - 1.2), 0.6 * (-h / 2 + 1.2 + i * (h - 2.4) / 4))
                      for i, sign in zip(range(5), [-1, 1, -1, 1, -1], strict=True)]
            cv2.polylines(cover, [np.array(zigzag, np.int32)], False, 1.0, round(0.45 * PX), cv2.LINE_AA, 4)
    return _darken(grey, cv2.GaussianBlur(cover, (0, 0), 1.2), darkness)


SOFT = 0.13  # the soft pencil's darkness at the middle of its line, before the blur


def _soft_page(printed: Printed, rows: int, darkness: float = SOFT) -> np.ndarray:
    grey = printed.grey
    for i, row in enumerate(printed.page.rows[:rows]):
        grey = _soft(grey, row, LEVELS[i % 3], darkness=darkness)
    return grey


@pytest.mark.parametrize(("last", "state"), [("soft", "marked"), ("fainter", "marginal"), ("tick", "marginal"),
                                             ("scribble", "marginal"), ("none", "empty")])
def test_a_soft_pencil_whose_marks_hold_no_light_ink_is_read_against_the_pages_own_marks(
        printed: Printed, last: str, state: str) -> None:
    """A soft pencil on a blurred scan (a phone photo, a 150-dpi scan): every X is a plain grey stroke to the
    eye, but no pixel of it is dark enough for light ink, so each box alone is marginal and its row went to
    review (on the 300-voter decks, about 20 rows of adf-rough and 18 of phone). The page's rows with one
    box inked show the voter's pen, and each such X is as dark and as inked as the rest: all marked. In the
    last row, a stroke half as dark (a pencil barely touching), a tiny tick, and a box scribbled over (its
    traces cover it: heavy) in the same pencil are not like them: a human looks."""
    page = printed.page
    grey = _soft_page(printed, len(page.rows) - 1)
    last_row = page.rows[-1]
    if last != "none":
        grey = _soft(grey, last_row, "medium", darkness=SOFT / 2 if last == "fainter" else SOFT,
                     shape=last if last in ("tick", "scribble") else "x")
    maps = ink_maps(grey, S)
    inks = [measure_box(maps, row.boxes_mm[LEVELS[i % 3]], S) for i, row in enumerate(page.rows[:-1])]
    assert max(i.light for i in inks) < S.empty_ink and min(i.trace_span_mm for i in inks) >= S.mark_span_mm, inks
    assert set(_states(maps, page.rows[0])) == {"marginal", "empty"}  # alone, a box falls short of a mark
    _assert_the_voters_marks(maps, page, state)


def test_a_mark_scribbled_over_short_of_heavy_is_not_taken_for_the_soft_pencils_mark(printed: Printed) -> None:
    """A fainter soft pencil (its X's traces cover a third of the box) and, in the last row, an X scribbled
    over with a short zigzag: its traces cover half the box, short of ``shaded_trace`` (not heavy), but half as
    much again as the voter's own marks. It is not one of them: a human looks (``heavy_pen_ratio``). Before,
    the page's own marks vouched for it and the cancelled mark was counted (bench/robustness.py found one in
    a 64-colour PNG of a soft page)."""
    page = printed.page
    fainter = 0.06  # a third of the box in traces; the zigzag's passes stay short of one level line (trace_line)
    grey = _soft(_soft_page(printed, len(page.rows) - 1, darkness=fainter), page.rows[-1], "medium",
                 darkness=fainter, shape="scribbled")
    maps = ink_maps(grey, S)
    mark = float(np.median([measure_box(maps, row.boxes_mm[LEVELS[i % 3]], S).trace
                            for i, row in enumerate(page.rows[:-1])]))
    last = measure_box(maps, page.rows[-1].boxes_mm["medium"], S)
    assert not is_heavy(last.light, last.trace, S) and last.trace > S.heavy_pen_ratio * mark, (last, mark)
    _assert_the_voters_marks(maps, page, "marginal")


def _scribbled_over(grey: np.ndarray, row: RowLayout, level: str) -> np.ndarray:
    """A mark cancelled in pencil in one box of ``row``: an X (4 x 3.6 mm) under a zigzag of five passes across
    the whole box, a 0.3 mm line of which half the pixels hold graphite, 0.3 dark, softened by a 0.8 px blur."""
    at = _from_centre(row, level)
    x, y, w, h = row.boxes_mm[level]
    cover = np.zeros(grey.shape, np.float32)
    for sign in (1, -1):
        cv2.line(cover, at(-2.0, -1.8 * sign), at(2.0, 1.8 * sign), 1.0, round(0.3 * PX), cv2.LINE_AA, 4)
    zigzag = [at(sign * (w / 2 - 0.9), -h / 2 + 0.9 + i * (h - 1.8) / 4) for i, sign in enumerate([-1, 1, -1, 1, -1])]
    cv2.polylines(cover, [np.array(zigzag, np.int32)], False, 1.0, round(0.3 * PX), cv2.LINE_AA, 4)
    cover *= np.random.default_rng(7).random(cover.shape) < 0.5
    return _darken(grey, cv2.GaussianBlur(cover, (0, 0), 0.8), 0.3)


def test_a_pencil_scribble_that_leaves_no_paper_open_in_the_box_is_a_cancelled_mark(printed: Printed) -> None:
    """A mark scribbled over in pencil was read as a vote with no doubt (the adf-rough deck of 100 voters,
    seed 2, ``scan-0053`` person 9, a 150-dpi JPEG): its traces covered 0.84 of the box, short of
    ``heavy_trace``, and its light ink was 0.26 of it, over a quarter of its traces, so not shaded faintly
    either. Drawn here the same way: a grainy pencil X under a zigzag across the box. Between its strokes no
    disc of paper is left open over ``scribble_open_mm`` in radius (:func:`open_paper_mm`), where an
    X leaves the paper between its arms open: heavy, and a human looks. The page's pencil X's in the other
    rows are still marks."""
    page = printed.page
    last = page.rows[-1]
    grey = _scribbled_over(_pencil_page(printed, len(page.rows) - 1), last, "medium")
    maps = ink_maps(grey, S)
    ink = measure_box(maps, last.boxes_mm["medium"], S)
    assert S.shaded_trace <= ink.trace < S.heavy_trace and 0.25 * ink.trace <= ink.light < S.heavy_ink, ink
    assert ink.open_mm <= S.scribble_open_mm, ink
    _assert_the_voters_marks(maps, page, "marginal")
    boxes, _ = score_boxes(maps, page, S)
    assert classify_rows(boxes, S)[last.person].reasons == (R.R_SCRIBBLE,)


def _marked_page(traces: list[float], lights: list[float]) -> tuple[list[BoxResult], list[BoxInk]]:
    """A page's marked boxes, one a row (medium), with their measures: the trace and light-ink shares given."""
    boxes = [BoxResult(person, "medium", light, trace, 7.0, "marked", 0.0, 0.0)
             for person, (trace, light) in enumerate(zip(traces, lights, strict=True), start=1)]
    inks = [BoxInk(light, 7.0, trace, 7.0, open_mm=0.7) for trace, light in zip(traces, lights, strict=True)]
    return boxes, inks


@pytest.mark.parametrize(("others", "state"), [(0.5, "marginal"), (0.7, "marked")])
def test_a_mark_gone_over_heavier_than_the_voters_own_marks_is_not_a_vote(others: float, state: str) -> None:
    """A mark gone over with a cross-hatch in ballpoint, as the held-out hand of bench/hands.py drew it and the
    scan read it as a vote (``hand-0031`` of its adf deck): light ink 0.47 of the box, traces 0.83, paper
    left open between the hatch's lines (0.7 mm), short of every heavy rule. The voter's other marks, in the
    same pen, cover half as much in traces (0.51): this box is heavier than their marks, near heavy, and
    goes to review as a scribble. On a page whose marks are all that heavy (a thick pen: 0.7), it is that
    pen's mark."""
    boxes, inks = _marked_page([others] * 11 + [0.83], [0.2] * 11 + [0.47])
    assert not is_heavy(inks[-1].light, inks[-1].trace, S, inks[-1].open_mm)
    out = heavier_than_the_page(boxes, inks, S)
    assert [b.state for b in out] == ["marked"] * 11 + [state]
    rows = classify_rows(out, S)
    assert rows[12].reasons == ((R.R_SCRIBBLE,) if state == "marginal" else ())
    assert all(rows[person].choice == "medium" for person in range(1, 12))


def test_heavier_than_the_page_asks_for_the_voters_marks_and_a_box_near_heavy() -> None:
    """Fewer marked boxes than ``pen_rows`` show no voter's mark: nothing is judged. A box twice as inked
    as the page's marks but short of near heavy (a big X over a small one's page) is a mark."""
    boxes, inks = _marked_page([0.5, 0.5, 0.83], [0.2, 0.2, 0.47])
    assert [b.state for b in heavier_than_the_page(boxes, inks, S)] == ["marked"] * 3
    boxes, inks = _marked_page([0.3] * 11 + [0.65], [0.12] * 11 + [0.3])
    assert [b.state for b in heavier_than_the_page(boxes, inks, S)] == ["marked"] * 12


@pytest.mark.parametrize("width_mm", [0.45, 0.6, 0.7])
def test_a_pens_x_leaves_the_paper_between_its_arms_open(printed: Printed, width_mm: float) -> None:
    """X's in pen, 0.45 to 0.8 mm wide (a ballpoint to a felt pen): their traces cover much of a box, but
    each leaves paper open between its arms (:func:`open_paper_mm` over ``scribble_open_mm``):
    every one is a mark, counted without a reason."""
    page = printed.page
    maps = ink_maps(_pen_page(printed, len(page.rows), width_mm=width_mm), S)
    inks = [measure_box(maps, row.boxes_mm[LEVELS[i % 3]], S) for i, row in enumerate(page.rows)]
    assert min(i.open_mm for i in inks) > S.scribble_open_mm, inks
    assert width_mm < 0.6 or min(i.trace for i in inks) >= S.shaded_trace, inks  # the rule is asked of them
    boxes, _ = score_boxes(maps, page, S)
    rows = classify_rows(boxes, S)
    assert all(rows[row.person].choice == LEVELS[i % 3] and not rows[row.person].reasons
               for i, row in enumerate(page.rows))


def _smudge(grey: np.ndarray, row: RowLayout, level: str, kind: str) -> np.ndarray:
    """A blot in one box of ``row``: a drop of ink 2.5, 3.5, 3.7, 4 or 4.4 mm across (``drop``, ``big_drop``,
    ``wide_drop``, ``large_drop``, ``felt_drop``), or a graphite
    smudge, a soft round smear (a Gaussian: ``smudge`` 1 mm and 0.35 dark at its middle, ``faint_smudge`` 0.8 mm
    and 0.15, ``soft_smudge`` 1 mm and 0.1)."""
    cx, cy = (v * PX for v in _box_centre(row, level))
    yy, xx = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]].astype(np.float32)
    r = np.hypot(xx - cx, yy - cy) / PX
    if kind in ("drop", "big_drop", "wide_drop", "large_drop", "felt_drop"):
        radius = {"drop": 1.25, "big_drop": 1.75, "wide_drop": 1.85, "large_drop": 2.0, "felt_drop": 2.2}[kind]
        return _darken(grey, np.clip((radius - r) * PX + 0.5, 0, 1).astype(np.float32), PEN)
    sigma, darkness = {"smudge": (1.0, 0.35), "faint_smudge": (0.8, 0.15), "soft_smudge": (1.0, 0.1)}[kind]
    return _darken(grey, np.exp(-(r**2) / (2 * sigma**2)).astype(np.float32), darkness)


def test_pen_travel_tells_one_mark_from_strokes_laid_over_it() -> None:
    """How far the pen went in a box's interior (5.5 x 4.5 mm; diagonal 7.1 mm), whatever its width: an X, a
    circle, an asterisk of four strokes, a felt pen's X stay under three diagonals; an X under seven upright
    strokes 0.85 mm apart, or a cross-hatch, run over. (Strokes laid closer than their traces' blur merge
    into a filled box, which the heavy rules take.)"""
    shape = (27, 33)  # a box's interior at 6 px/mm
    diagonal = float(np.hypot(5.5, 4.5))

    def travel(*lines: tuple[float, float, float, float], width_mm: float = 0.45, circle: bool = False) -> float:
        mask = np.zeros(shape, np.uint8)
        for x0, y0, x1, y1 in lines:
            cv2.line(mask, (round(x0 * PX), round(y0 * PX)), (round(x1 * PX), round(y1 * PX)), 1, max(1, round(width_mm * PX)))
        if circle:
            cv2.ellipse(mask, (16, 13), (14, 11), 0, 0, 360, 1, round(width_mm * PX))
        return pen_travel_mm(mask.view(bool)) / diagonal

    x = ((0.3, 0.3, 5.2, 4.2), (0.3, 4.2, 5.2, 0.3))
    assert 1.2 < travel(*x) < 2.3
    assert travel(*x, width_mm=1.2) < 2.3  # a felt pen: its skeleton is its middle line
    assert travel(circle=True) < 2.6
    assert travel(*x, (2.75, 0.2, 2.75, 4.3), (0.2, 2.25, 5.3, 2.25)) < S.pen_travel_diagonals  # an asterisk
    upright = tuple((0.2 + k * 0.85, 0.2, 0.3 + k * 0.85, 4.3) for k in range(7))  # 0.85 mm apart, 0.3 mm wide
    assert travel(*x, *upright, width_mm=0.3) > S.pen_travel_diagonals
    hatch = tuple((0.2 + k * 0.9, 0.2, 0.2 + k * 0.9 + 1.5, 4.3) for k in range(-1, 6))
    hatch += tuple((0.2 + k * 0.9 + 1.5, 0.2, 0.2 + k * 0.9, 4.3) for k in range(-1, 6))
    assert travel(*hatch, width_mm=0.3) > S.pen_travel_diagonals
    assert pen_travel_mm(np.zeros(shape, bool)) == 0.0


@pytest.mark.parametrize("limit", [3.0, 100.0])
def test_a_mark_whose_strokes_run_over_three_diagonals_is_not_a_vote(limit: float) -> None:
    """A pencil X gone over with seven light upright strokes about 1 mm apart was read as a vote with no doubt
    (the other hand's steady adf-rough deck, ``bench/hands.py --steady``, ``hand-0202`` person 6): light ink
    0.12 of the box, traces 0.57, paper open 0.67 mm between its strokes, short of every heavy rule, and no
    heavier than the voter's own pencil X's (traces 0.44-0.55). Its strokes ran 22.9 mm, 3.2 of the box's
    diagonals (:func:`pen_travel_mm`), which no single mark does: a human looks (``scribble``). With
    the rule off (a limit of 100 diagonals) it is read as a mark."""
    traces = [0.44, 0.5, 0.45, 0.55, 0.37, 0.42, 0.54, 0.51, 0.54, 0.5, 0.57]
    boxes = [BoxResult(person, "medium", 0.15, trace, 7.0, "marked", 0.0, 0.0)
             for person, trace in enumerate(traces, start=1)]
    inks = [BoxInk(0.15, 7.0, trace, 7.0, open_mm=math.inf, travel_mm=11.5) for trace in traces[:-1]]
    inks.append(BoxInk(0.12, 7.0, 0.57, 7.0, open_mm=0.67, travel_mm=22.9))
    assert not is_heavy(inks[-1].light, inks[-1].trace, S, inks[-1].open_mm)
    assert heavier_than_the_page(boxes, inks, S) == boxes
    rects = [(163.0, 76.5 + 10.0 * k, 8.0, 7.0) for k in range(len(boxes))]  # the layout's 8 x 7 mm boxes
    out = overdrawn(boxes, inks, rects, replace(S, pen_travel_diagonals=limit))
    rows = classify_rows(out, S)
    assert all(rows[person].choice == "medium" and not rows[person].reasons for person in range(1, len(traces)))
    assert rows[len(traces)].reasons == ((R.R_SCRIBBLE,) if limit == 3.0 else ())
    assert out[-1].state == ("marginal" if limit == 3.0 else "marked")


def _pen_page(printed: Printed, rows: int, width_mm: float = 0.4) -> np.ndarray:
    grey = printed.grey
    for i, row in enumerate(printed.page.rows[:rows]):
        at = _from_centre(row, LEVELS[i % 3])
        cover = np.zeros(grey.shape, np.float32)
        for sign in (1, -1):
            cv2.line(cover, at(-2.0, -1.8 * sign), at(2.0, 1.8 * sign), 1.0, round(width_mm * PX), cv2.LINE_AA, 4)
        grey = _darken(grey, cv2.GaussianBlur(cover, (0, 0), 0.7), PEN)
    return grey


@pytest.mark.parametrize("kind", ["wide_drop", "large_drop", "felt_drop"])
def test_a_round_drop_of_ink_is_not_a_felt_pens_mark(printed: Printed, kind: str) -> None:
    """On a page marked with a felt pen (strokes 1 mm wide), a drop of ink 3.7, 4 or 4.4 mm across alone in a
    row read as a mark: as thick as that pen's strokes crossing, it was a blob the pen could have drawn, and the
    row the voter left unmarked was counted. A drop is round: a digitised disc's outline encloses 0.96 of
    what a circle of its length would (4 pi area / perimeter^2), a marker's asterisk or X drawn into one blob
    at most 0.83 (the 300-voter field deck's 144 marked blots, ``/tmp/kp/s27/blotdeck.py``). A blot that round
    (``blot_round``) is not drawn; the row goes to review. The page's own felt-pen X's are still marks."""
    page = printed.page
    grey = _pen_page(printed, len(page.rows) - 1, width_mm=1.0)
    maps = ink_maps(_smudge(grey, page.rows[-1], "medium", kind), S)
    assert measure_box(maps, page.rows[-1].boxes_mm["medium"], S).big_blot
    _assert_the_voters_marks(maps, page, "marginal")
    assert classify_rows(score_boxes(maps, page, S)[0], S)[page.rows[-1].person].reasons


@pytest.mark.parametrize(("pen", "kind"), [("pen", "drop"), ("pen", "big_drop"), ("pen", "wide_drop"), ("pen", "large_drop"),
                                           ("pen", "smudge"), ("soft", "faint_smudge"), ("soft", "soft_smudge")])
def test_a_blot_is_not_taken_for_the_voters_mark(printed: Printed, pen: str, kind: str) -> None:
    """A drop of ink or a graphite smudge alone in a row is not drawn: no piece of it is a stroke, so alone
    it is marginal. Its ink, though, compares with the page's marks as a light pen's or a soft pencil's mark
    would, and the page rules took it for one: a row the voter left unmarked counted as a vote. A blot (its
    ink one round solid piece, however large: :func:`blotted`) is not taken; the row goes to
    review. A drop over 3.5 mm (``dot_max_mm``) was even a mark by itself, as a thick marker's X is: on a
    page marked in ballpoint it is not, its ink heavier than the page's marks (``blot_pen_ratio``: 4 mm) or
    as heavy but thicker than the page's strokes are wide (``blot_width_ratio``: 3.7 mm)."""
    page = printed.page
    grey = _pen_page(printed, len(page.rows) - 1) if pen == "pen" else _soft_page(printed, len(page.rows) - 1)
    maps = ink_maps(_smudge(grey, page.rows[-1], "medium", kind), S)
    last = measure_box(maps, page.rows[-1].boxes_mm["medium"], S)
    assert (last.piece_mm < S.speck_mm or last.big_blot) and last.trace_span_mm >= S.mark_span_mm, last  # long
    _assert_the_voters_marks(maps, page, "marginal")
    assert classify_rows(score_boxes(maps, page, S)[0], S)[page.rows[-1].person].reasons


def test_soft_strokes_on_a_page_marked_with_a_darker_pen_are_not_taken_for_its_marks(printed: Printed) -> None:
    """Four rows marked with a pen and five with soft grey strokes: the median of the page's lone marks falls
    short of a mark's light ink, but the pen's marks are far darker than the strokes, which are not this
    voter's marks (they may be anything: a pencil's ghost, a smudge). They stay marginal. With three soft
    rows only (fewer than ``pen_rows``), nothing is assumed either."""
    page = printed.page
    grey = printed.grey
    for row in page.rows[:4]:
        cover = np.zeros(grey.shape, np.float32)
        at = _from_centre(row, "high")
        for sign in (1, -1):
            cv2.line(cover, at(-2.0, -1.8 * sign), at(2.0, 1.8 * sign), 1.0, round(0.45 * PX), cv2.LINE_AA, 4)
        grey = _darken(grey, cover, PEN)
    for row in page.rows[4:9]:
        grey = _soft(grey, row, "low", darkness=SOFT)
    boxes, _ = score_boxes(ink_maps(grey, S), page, S)
    states = {(b.person, b.level): b.state for b in boxes}
    assert [states[(row.person, "high")] for row in page.rows[:4]] == ["marked"] * 4
    assert [states[(row.person, "low")] for row in page.rows[4:9]] == ["marginal"] * 5
    boxes, _ = score_boxes(ink_maps(_soft_page(printed, S.pen_rows - 1), S), page, S)
    assert [b.state for b in boxes if b.state != "empty"] == ["marginal"] * (S.pen_rows - 1)


# --- a box the page's correction did not follow: its outline is not where the box is read -----------


@pytest.mark.parametrize(("shear_mm", "flagged"), [(1.0, False), (2.0, True), (4.0, True)])
def test_a_box_sheared_into_a_parallelogram_sends_its_row_to_review(printed: Printed, shear_mm: float,
                                                                    flagged: bool) -> None:
    """A phone photo of a sheet bent sharply can turn one box into a parallelogram that no shift of the
    whole box lays on its print: its slanted sides reach into the interior, where they read as a stroke.
    The outline's cover sends that row to review. A slight shear (1 mm over the box's height) keeps the
    outline clear of the interior and is read as it is; a straight page, marked or not, has no such row."""
    page = printed.page
    truth = _truth(page)
    flat = _draw_marks(printed.grey, page, truth)
    assert score_boxes(ink_maps(flat, S), page, S)[1] == set()
    row = page.rows[6]
    assert truth[row.person] is None  # an empty row: nothing but the outline to read as a mark
    x, y, w, h = row.cells_mm["low"]
    c0, r0, c1, r1 = round(x * PX), round(y * PX), round((x + w) * PX), round((y + h) * PX)
    # the cell's content slides sideways more and more towards its bottom, about its middle
    k = shear_mm / row.boxes_mm["low"][3]
    shear = np.float32([[1, -k, k * (r1 - r0) / 2], [0, 1, 0]])
    sheared = flat.copy()
    sheared[r0:r1, c0:c1] = cv2.warpAffine(flat[r0:r1, c0:c1], shear, (c1 - c0, r1 - r0),
                                           borderMode=cv2.BORDER_REPLICATE)
    boxes, distorted = score_boxes(ink_maps(sheared, S), page, S)
    assert distorted == ({row.person} if flagged else set())
    if not flagged:
        assert [b.state for b in boxes if b.person == row.person] == ["empty"] * 3


# --- hesitation dots beside the row's one clear mark -------------------------------------------------


def _dots(printed: Printed, grey: np.ndarray, row: RowLayout, level: str, dot_mm: float = 0.7) -> np.ndarray:
    """Three pen dots 1.2 mm apart in one box of ``row``."""
    return _darken(grey, _dot_cover(printed, row, level, gap_mm=1.2, dot_mm=dot_mm, count=3), PEN)


def _rows(grey: np.ndarray, page: PageLayout) -> dict[int, RowResult]:
    boxes, _ = score_boxes(ink_maps(grey, S), page, S)
    return classify_rows(boxes, S)


def test_dots_beside_a_clear_mark_do_not_send_the_row_to_review_but_dots_alone_do(printed: Printed) -> None:
    """Hesitation dots in a box are not a mark. Beside the row's one clear X they do not make the row doubtful;
    with no mark in the row they do (a voter may have meant a dot as the mark), and so does a faint stroke
    drawn on past the dots, which a dot's halo does not explain."""
    page = printed.page
    truth = _truth(page)
    marked = next(r for r in page.rows if truth[r.person] == "high")
    empty = next(r for r in page.rows if truth[r.person] is None)
    grey = _draw_marks(printed.grey, page, truth)
    grey = _dots(printed, _dots(printed, grey, marked, "low"), empty, "medium")
    rows = _rows(grey, page)
    assert (rows[marked.person].marks, rows[marked.person].choice, rows[marked.person].reasons) == ("one", "high", ())
    assert rows[empty.person].marks == "none" and rows[empty.person].reasons == (R.R_MARGINAL,)
    # large dots (2 mm) cover too much of the box for hesitation: still doubtful
    big = _dots(printed, _draw_marks(printed.grey, page, truth), marked, "low", dot_mm=2.0)
    assert _rows(big, page)[marked.person].reasons != ()
    # a faint pencil stroke from the dots on across the box (a trace, no light ink): doubtful
    cover = np.zeros(printed.shape, np.float32)
    cx, cy = _box_centre(marked, "low")
    cv2.line(cover, (round((cx + 1.2) * PX * 16), round((cy + 0.6) * PX * 16)),
             (round((cx - 2.5) * PX * 16), round((cy + 2.2) * PX * 16)), 1.0, 2, cv2.LINE_AA, 4)
    faint = _darken(grey, cover, 0.12)
    assert _rows(faint, page)[marked.person].reasons != ()
    # a tiny tick (1.5 mm) beside the clear mark is not a dot: a human must look
    cover = np.zeros(printed.shape, np.float32)
    pts = [(cx - 0.6, cy - 0.1), (cx - 0.1, cy + 0.5), (cx + 0.9, cy - 0.8)]
    for (ax, ay), (bx, by) in zip(pts, pts[1:], strict=False):
        cv2.line(cover, (round(ax * PX * 16), round(ay * PX * 16)), (round(bx * PX * 16), round(by * PX * 16)),
                 1.0, 2, cv2.LINE_AA, 4)
    tick = _darken(_draw_marks(printed.grey, page, truth), cover, PEN)
    assert _rows(tick, page)[marked.person].reasons != ()


# --- a short crease through one box, going on past both its sides ---------------------------------------


@pytest.mark.parametrize(("reach_mm", "explained"), [((8.0, 8.0), True), ((-1.0, -1.0), False), ((8.0, -1.0), False)])
def test_a_short_crease_through_a_box_and_past_both_its_sides_is_explained(
        printed: Printed, reach_mm: tuple[float, float], explained: bool) -> None:
    """A faint straight line through an empty box that goes on for 8 mm on both sides (a crease over part of
    the table, too short to be found edge to edge) is taken out, and the row reads its clear mark. The same
    faint line inside the box only, or going out of one side only, may be a faint mark: review."""
    page = printed.page
    truth = _truth(page)
    row = page.rows[ROW]
    assert truth[row.person] == "low"
    x, y, w, h = row.boxes_mm["medium"]
    line = _line_cover(printed.shape, vertical=False, at_mm=y + h * 0.6, centre_mm=x + w / 2, tilt_deg=TILT,
                       span_mm=(x - reach_mm[0], x + w + reach_mm[1]), width_px=1.5)
    grey = _darken(_draw_marks(printed.grey, page, truth), line, 0.12)
    maps, lines = _find(grey, printed)
    assert lines == []  # too short to be a crease from edge to edge
    boxes, distorted = score_boxes(maps, page, S)
    assert classify_rows(boxes, S)[row.person].reasons == (R.R_FAINT,)  # a faint stroke in the box
    boxes, distorted, _ = _explain_local_creases(maps, page, boxes, distorted, S)
    reading = classify_rows(boxes, S)[row.person]
    assert (reading.marks, reading.choice) == ("one", "low")
    assert reading.reasons == (() if explained else (R.R_FAINT,))
    assert all(r.reasons == () for p, r in classify_rows(boxes, S).items() if p != row.person)


@pytest.mark.parametrize("off_mm", [-2.5, -1.0, 1.0, 2.5])
@pytest.mark.parametrize("bend", [None, _turn, _fold_bulge])
def test_a_pen_stroke_along_a_rule_across_the_boxes_never_reads_a_row_wrong(printed: Printed, off_mm: float,
                                                                            bend: Field | None) -> None:
    """A stroke along the rule between rows 3 and 4, over the three level cells (three pieces of the rule),
    on a flat, a turned and a bulging sheet: the piece it moves goes on in a line with the next two, so it
    can be kept as the rule's place (see grid._drop_outliers). The rows still read as marked, or go to
    review; none is read wrong."""
    page = printed.page
    truth = _truth(page)
    grey = _draw_marks(printed.grey, page, truth)
    cover = np.zeros(grey.shape, np.float32)
    y = (105.0 + off_mm) * PX
    cv2.line(cover, (round(136 * PX * 16), round(y * 16)), (round(198 * PX * 16), round((y + 3) * 16)), 1.0, 3,
             cv2.LINE_AA, 4)
    grey = _darken(grey, cover, PEN)
    if bend is not None:
        grey = _bend(grey, bend)
    fit = grid.register_grid(ink_maps(grey, S).ink, page, S)
    if fit:
        grey = grid.unwarp(grey, fit)
        if grid.verify(ink_maps(grey, S).ink, page, fit, S).residual_mm > S.grid_max_residual_mm:
            return  # the page goes to review
    boxes, distorted = score_boxes(ink_maps(grey, S), page, S)
    rows = classify_rows(boxes, S)
    wrong = {p: (r.marks, r.choice) for p, r in rows.items() if not r.reasons and p not in distorted
             and (r.choice != truth[p] or r.marks != ("none" if truth[p] is None else "one"))}
    assert wrong == {}


# --- one mark across two rows ------------------------------------------------------------------------------


def _mark_other_rows(cover: np.ndarray, page: PageLayout, skip: set[int], pen: int) -> None:
    """An X 4.4 by 4 mm drawn into ``cover`` in the box of level row % 3 of every row but the ``skip`` ones
    (row indices): the page's other marks, in a ``pen`` px wide pen."""
    for i, row in enumerate(page.rows):
        if i not in skip:
            at = _from_centre(row, LEVELS[i % 3])
            for sign in (1, -1):
                cv2.line(cover, at(-2.2, -2.0 * sign), at(2.2, 2.0 * sign), 1.0, pen, cv2.LINE_AA, 4)

ACROSS = 3  # the upper of the two rows (persons 4 and 5); their medium boxes are 3 mm apart


def _across_page(printed: Printed, marks: list[tuple[float, float, float, float, str]]) -> np.ndarray:
    """The page's other rows marked (an X in the box of level row % 3); ``marks`` in rows ``ACROSS`` and the
    next, each (x, y of its middle in mm from the middle of the space between their medium boxes, half width,
    half height, ``x`` or ``tick``), drawn with a 0.4 mm pen."""
    page = printed.page
    cover = np.zeros(printed.shape, np.float32)
    pen = round(0.4 * PX)
    _mark_other_rows(cover, page, {ACROSS, ACROSS + 1}, pen)
    x, y, w, h = page.rows[ACROSS].boxes_mm["medium"]
    gap_x, gap_y = x + w / 2, (y + h + page.rows[ACROSS + 1].boxes_mm["medium"][1]) / 2

    def at(dx: float, dy: float) -> tuple[int, int]:
        return round((gap_x + dx) * PX * 16), round((gap_y + dy) * PX * 16)

    for mx, my, a, b, shape in marks:
        if shape == "x":
            for sign in (1, -1):
                cv2.line(cover, at(mx - a, my - b * sign), at(mx + a, my + b * sign), 1.0, pen, cv2.LINE_AA, 4)
        else:
            tick = [at(mx - 0.6 * a, my - 0.1 * b), at(mx - 0.2 * a, my + b), at(mx + a, my - b)]
            cv2.polylines(cover, [np.array(tick, np.int32)], False, 1.0, pen, cv2.LINE_AA, 4)
    return _darken(printed.grey, cv2.GaussianBlur(cover, (0, 0), 0.7), PEN)


@pytest.mark.parametrize(("marks", "states"), [
    ([(0.0, 0.0, 3.5, 6.5, "x")], ("marked", "marked")),  # an X over both boxes: both rows counted
    ([(0.0, -0.5, 3.5, 5.5, "x")], ("marked", "marginal")),  # more on the upper box: that row counted
    ([(0.0, 0.0, 4.0, 7.5, "tick")], ("marginal", "marked")),  # a tick whose foot is in the lower box
])
def test_one_mark_across_two_rows_is_for_a_human(printed: Printed, marks: list, states: tuple[str, str]) -> None:
    """A voter's X or tick drawn across the space between two rows, over the boxes of one level in both: each
    box holds part of it, and each row read as one mark with no doubt (or one counted beside a doubtful one),
    a vote counted for a person the voter may not have meant, or two for one mark. Both rows go to review
    (``between_rows``)."""
    page = printed.page
    maps = ink_maps(_across_page(printed, marks), S)
    boxes, _ = score_boxes(maps, page, S)
    upper, lower = page.rows[ACROSS].person, page.rows[ACROSS + 1].person
    state = {(b.person, b.level): b.state for b in boxes}
    assert (state[(upper, "medium")], state[(lower, "medium")]) == states
    row_reasons, _ = inspect(maps.light, page, boxes, S, maps.trace, maps.ink)
    assert R.R_BETWEEN_ROWS in row_reasons[upper] and R.R_BETWEEN_ROWS in row_reasons[lower]
    assert all(R.R_BETWEEN_ROWS not in row_reasons[row.person] for row in page.rows if row.person not in (upper, lower))


@pytest.mark.parametrize("marks", [
    [(0.0, -5.0, 2.5, 2.2, "x"), (0.0, 5.0, 2.5, 2.2, "x")],  # an X in each box
    [(0.0, -4.4, 2.6, 3.5, "x"), (0.0, 4.4, 2.6, 3.5, "x")],  # each overshooting 0.6 mm towards the other
    [(0.0, -3.6, 2.6, 3.5, "x"), (0.0, 3.6, 2.6, 3.5, "x")],  # ... or 1.4 mm: their tips meet on the rule
    [(0.0, -3.0, 2.6, 3.5, "x")],  # an X overshooting 2 mm towards an empty box
])
def test_marks_that_stay_in_their_own_rows_are_not_across(printed: Printed, marks: list) -> None:
    """Two rows marked in the same level, one above the other, or an X running out of its box towards the empty
    box below: each mark is its own row's, and nothing is asked of anyone."""
    page = printed.page
    maps = ink_maps(_across_page(printed, marks), S)
    boxes, _ = score_boxes(maps, page, S)
    row_reasons, _ = inspect(maps.light, page, boxes, S, maps.trace, maps.ink)
    rows = classify_rows(boxes, S)
    for row in page.rows[ACROSS : ACROSS + 2]:
        assert not row_reasons.get(row.person) and not rows[row.person].reasons, (row.person, row_reasons, rows)
    assert [rows[row.person].choice for row in page.rows[ACROSS : ACROSS + 2]] == [
        "medium" if any(my < 0 for _, my, *_ in marks) else None, "medium" if any(my > 0 for _, my, *_ in marks) else None]


# --- a box traced over, or circled close round it ----------------------------------------------------------

TRACED = 6  # the row whose medium box the voter draws round


def _traced_page(printed: Printed, shape: str, pen_mm: float) -> np.ndarray:
    """The page's other rows marked (an X in the box of level row % 3); in row ``TRACED`` the medium box drawn
    round: ``square`` traced over its outline 0.15 mm out, ``ring`` a ring through its corners, ``x`` an X in it
    overshooting its sides by 1 mm, ``rule`` a level line 0.6 mm under the row's boxes, ``none`` nothing."""
    page = printed.page
    cover = np.zeros(printed.shape, np.float32)
    pen = max(1, round(pen_mm * PX))
    _mark_other_rows(cover, page, {TRACED}, pen)
    row = page.rows[TRACED]
    _, _, w, h = row.boxes_mm["medium"]
    at = _from_centre(row, "medium")
    if shape == "square":
        d = 0.15
        corners = [(-w / 2 - d, -h / 2 - d), (w / 2 + d, -h / 2 - d), (w / 2 + d, h / 2 + d), (-w / 2 - d, h / 2 + d)]
        cv2.polylines(cover, [np.array([at(x, y) for x, y in corners], np.int32)], True, 1.0, pen, cv2.LINE_AA, 4)
    elif shape == "ring":
        ring = [at(0.58 * w * np.cos(t), 0.58 * h * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 90)]
        cv2.polylines(cover, [np.array(ring, np.int32)], True, 1.0, pen, cv2.LINE_AA, 4)
    elif shape == "x":
        for sign in (1, -1):
            cv2.line(cover, at(-w / 2 - 1.0, -h / 2 * sign), at(w / 2 + 1.0, h / 2 * sign), 1.0, pen, cv2.LINE_AA, 4)
    elif shape == "rule":  # a line as the printed rule, 0.6 mm under the row's boxes: a fold bent the row to it
        y = row.boxes_mm["medium"][1] + h + 0.6
        xs = (row.boxes_mm["high"][0] - 5.0, row.boxes_mm["low"][0] + w + 5.0)
        cv2.line(cover, (round(xs[0] * PX * 16), round(y * PX * 16)), (round(xs[1] * PX * 16), round(y * PX * 16)),
                 1.0, max(1, round(0.25 * PX)), cv2.LINE_AA, 4)
    return _darken(printed.grey, cv2.GaussianBlur(cover, (0, 0), 0.7), PEN)


@pytest.mark.parametrize(("shape", "pen_mm"), [("square", 0.3), ("square", 0.45), ("ring", 0.3), ("ring", 0.45)])
def test_a_box_traced_over_or_circled_close_round_is_for_a_human(printed: Printed, shape: str, pen_mm: float) -> None:
    """A voter who draws over a box's outline, or rings the box close round it, leaves its interior empty and
    puts the ink where neither the interior nor the cell's outside check looks: the row read as no mark,
    counted invalid with no reason, though a human sees that box chosen. Its rim holds far more ink than the
    page's other empty boxes' rims: the row goes to review (``box_outline_inked``)."""
    page = printed.page
    maps = ink_maps(_traced_page(printed, shape, pen_mm), S)
    boxes, _ = score_boxes(maps, page, S)
    person = page.rows[TRACED].person
    states = [b.state for b in boxes if b.person == person]
    row_reasons, _ = inspect(maps.light, page, boxes, S, maps.trace, maps.ink)
    if states == ["empty"] * 3:  # read as no mark, counted invalid: the rim's ink sends it to review
        assert R.R_RIM in row_reasons[person]
    else:  # a thick pen's ring reaching in: that box is doubtful, and its row in review already
        assert "marked" not in states and classify_rows(boxes, S)[person].reasons
    assert all(R.R_RIM not in row_reasons[row.person] for row in page.rows if row.person != person)


@pytest.mark.parametrize("shape", ["x", "none"])
def test_a_mark_over_its_boxs_outline_or_an_empty_row_is_not_a_traced_box(printed: Printed, shape: str) -> None:
    """An X overshooting its box's sides inks the rim too, but the box is marked and the row counted; an empty
    row is an empty row. Neither is asked about."""
    page = printed.page
    maps = ink_maps(_traced_page(printed, shape, 0.4), S)
    boxes, _ = score_boxes(maps, page, S)
    row_reasons, _ = inspect(maps.light, page, boxes, S, maps.trace, maps.ink)
    rows = classify_rows(boxes, S)
    person = page.rows[TRACED].person
    assert rows[person].choice == ("medium" if shape == "x" else None) and not rows[person].reasons
    assert not any(row_reasons.values()), row_reasons


@pytest.mark.parametrize("off_mm", [0.0, 2.5])
def test_a_line_down_a_column_of_boxes_is_for_a_human(printed: Printed, off_mm: float) -> None:
    """One straight line drawn down the low column through the boxes of rows 3 to 9 (a voter striking the
    column out, or a slip of the pen), ``off_mm`` right of the boxes' middle: each box holds a stroke, and each
    row otherwise blank read as one mark, low, with no doubt: seven votes from one line. An upright stroke runs
    across from box to box wherever it crosses the rules; every row it joins goes to review."""
    page = printed.page
    first, last = 2, 8
    cover = np.zeros(printed.shape, np.float32)
    pen = round(0.4 * PX)
    _mark_other_rows(cover, page, set(range(first, last + 1)), pen)
    top, bottom = page.rows[first].boxes_mm["low"], page.rows[last].boxes_mm["low"]
    x = top[0] + top[2] / 2 + off_mm
    cv2.line(cover, (round(x * PX * 16), round((top[1] + 1.0) * PX * 16)),
             (round(x * PX * 16), round((bottom[1] + bottom[3] - 1.0) * PX * 16)), 1.0, pen, cv2.LINE_AA, 4)
    maps = ink_maps(_darken(printed.grey, cv2.GaussianBlur(cover, (0, 0), 0.7), PEN), S)
    boxes, _ = score_boxes(maps, page, S)
    rows = classify_rows(boxes, S)
    row_reasons, _ = inspect(maps.light, page, boxes, S, maps.trace, maps.ink)
    struck = [row.person for row in page.rows[first : last + 1]]
    assert [rows[p].choice for p in struck] == ["low"] * len(struck)  # each box holds the line
    assert all(R.R_BETWEEN_ROWS in row_reasons[p] for p in struck), row_reasons
    assert not any(row_reasons[row.person] for row in page.rows if row.person not in struck)


def test_a_rule_bent_near_a_rows_boxes_is_not_a_traced_box(printed: Printed) -> None:
    """A fold can bend a row towards the rule under it until the rule lies within 1 mm of the row's boxes (a
    2,226-page deck's page had it 0.5 mm under them): all three rims hold more ink than the page's usual rim,
    by more than ``rim_ink_mm2``, alike. That is the rule, not a box traced over: weighed against the row's
    other boxes as well, none is. (The boxes are given as read, empty and where printed.)"""
    page = printed.page
    maps = ink_maps(_traced_page(printed, "rule", 0.4), S)
    boxes = [BoxResult(row.person, level, 0.0, 0.0, 0.0, "empty", 0.0, 0.0) for row in page.rows
             for level in LEVELS]
    rims = {(row.person, level): rim_ink_mm2(maps.light, row.boxes_mm[level], S) for row in page.rows
            for level in LEVELS}
    usual = float(np.median(list(rims.values())))
    bent = page.rows[TRACED].person
    assert all(rims[(bent, level)] >= usual + S.rim_ink_mm2 for level in LEVELS), (rims, usual)
    assert inked_rims(maps.light, page, boxes, S) == set()


# The space between the medium boxes of rows 5 and 6 of a 200-dpi page skewed 1.46 degrees (the 2,000-voter adf
# deck's batch-0780.tif, page 2), as the light-ink map holds it: the upper box's bottom outline (rows 8-10) with
# its X's arm running out of it to row 15, the rule between the rows stepping down to the right (rows 17-19), and
# the lower box's top outline stepping likewise (rows 24-28), its X below.
TILTED_SPACE = """
...###.###########..........####...................###......
...#############.............####..................###......
...##########................#####.................###......
..########....................####.................###......
..#####........................####................###......
...###.........................#####...............###......
...###..........................####...............###......
...###..........................#####..............###......
...###################################################......
...###################################################......
...###################################################......
..................................####......................
...................................###......................
...................................####.....................
....................................###.....................
.....................................#......................
............................................................
############################################################
############################################################
###########.................##############................##
............................................................
............................................................
............................................................
............................................................
.........................................##.................
....#######............####################.................
...###################################################......
...###################################################......
...###################################################......
...###..........................#.#...#####........###......
...###.................................####........###......
...###................................####.........###......
...###................................####.........###......
...###................................###..........###......
...###................................###..........###......
"""


def test_the_steps_of_a_slightly_tilted_rule_do_not_join_two_rows_marks() -> None:
    """A rule the page's straightening left a degree or two off level steps from one pixel row to the next.
    A level kernel alone left its short steps behind, and they chained the upper X's arm, through the rule,
    to the lower box's outline and its X: one mark across two rows, which it is not (18 rows of that deck went
    to review so). Level lines are found tilted by up to 2 degrees too."""
    crop = np.array([[c == "#" for c in line] for line in TILTED_SPACE.strip().splitlines()])
    assert not _runs_across(crop, slice(12, 48), slice(16, 44), S)


NAMED = 3  # the row whose number, name or position cell the voter writes in


def _at_mm(x_mm: float, y_mm: float) -> tuple[int, int]:
    """A point given in page mm, as OpenCV drawing wants it (4 fraction bits)."""
    return round(x_mm * PX * 16), round(y_mm * PX * 16)


def _name_cell_page(printed: Printed, shape: str, pen_mm: float, *, shift_mm: float = 0.0) -> np.ndarray:
    """The page with an X in every row's box and ``shape`` drawn in row ``NAMED``'s number, name or position
    cells; with ``shift_mm``, the table's print left of the boxes moved that far right and down (a lens, a
    curl: the row's boxes in place, its names not)."""
    page = printed.page
    grey = printed.grey
    if shift_mm:
        right = round(min(c[0] for c in page.rows[0].cells_mm.values()) * PX) - 2
        moved = np.roll(grey, (round(shift_mm * PX), round(shift_mm * PX)), axis=(0, 1))
        grey = grey.copy()
        grey[:, : right] = moved[:, : right]
    cover = np.zeros(printed.shape, np.float32)
    pen = max(1, round(pen_mm * PX))
    _mark_other_rows(cover, page, set(), pen)
    row = page.rows[NAMED]
    nx, ny, nw, nh = row.name_mm
    px_, py, pw, ph = row.position_mm
    at = _at_mm
    strokes: list[list[tuple[float, float]]] = []
    if shape == "tick":  # beside the name, past its end
        strokes = [[(nx + nw - 12, ny + nh / 2), (nx + nw - 10, ny + nh / 2 + 2), (nx + nw - 6, ny + nh / 2 - 3)]]
    elif shape == "ring":  # round the position
        strokes = [[(px_ + pw / 2 + 0.45 * pw * np.cos(t), py + ph / 2 + 0.42 * ph * np.sin(t))
                    for t in np.linspace(0, 2 * np.pi, 90)]]
    elif shape == "number":  # a tick over the row's number
        x0 = row.row_mm[0] + 2.0
        strokes = [[(x0, ny + nh / 2), (x0 + 1.5, ny + nh / 2 + 2), (x0 + 5, ny + nh / 2 - 2.5)]]
    for points in strokes:
        cv2.polylines(cover, [np.array([at(x, y) for x, y in points], np.int32)], False, 1.0, pen, cv2.LINE_AA, 4)
    return _darken(grey, cv2.GaussianBlur(cover, (0, 0), 0.7), PEN)


@pytest.mark.parametrize("pen_mm", [0.3, 0.45])
@pytest.mark.parametrize("shape", ["tick", "ring", "number"])
def test_a_mark_by_a_name_or_a_position_ringed_is_for_a_human(printed: Printed, shape: str, pen_mm: float) -> None:
    """A tick beside a name, a position ringed, a tick over the row's number: the row's boxes hold one clear
    X, and the row was counted with no doubt, though under QD 262 such writing spoils the ballot and a mark by
    a name may be the voter's choice, or a name struck out. Ink the blank page's print does not explain in a
    row's number, name or position cells sends that row to review (``name_cell_ink``)."""
    page = printed.page
    maps = ink_maps(_name_cell_page(printed, shape, pen_mm), S)
    boxes, _ = score_boxes(maps, page, S)
    rows = classify_rows(boxes, S)
    person = page.rows[NAMED].person
    assert rows[person].marks == "one" and not rows[person].reasons
    row_reasons, _ = inspect(maps.light, page, boxes, S, maps.trace, maps.ink, printed.print)
    assert R.R_NAME_INK in row_reasons[person]
    assert not any(row_reasons[row.person] for row in page.rows if row.person != person), row_reasons


@pytest.mark.parametrize("shift_mm", [0.0, 1.3])
def test_names_printed_where_they_are_or_a_millimetre_off_are_not_ink_in_their_cells(printed: Printed,
                                                                                    shift_mm: float) -> None:
    """The print itself is no one's writing: where the boxes put it, or more than a millimetre off where a
    phone's lens or a curled sheet moved the names and positions more than the boxes (the print is fitted
    again within 1.5 mm). Without the fit, the moved letters' edges read as ink in every row's cells."""
    page = printed.page
    maps = ink_maps(_name_cell_page(printed, "none", 0.4, shift_mm=shift_mm), S)
    boxes, _ = score_boxes(maps, page, S)
    assert name_cell_ink(maps.light, page, boxes, printed.print, S) == set()
    if shift_mm:  # the print where the boxes put it: what the fit mends
        unfitted = [sum(_loose_ink_mm2(_region(maps.light, rect), _off_print(
                            _region(printed.print, rect) > PRINTED_DARKNESS, S.name_halo_mm), S)
                        for rect in _row_cells(row, S)) for row in page.rows]
        assert all(area >= S.name_ink_mm2 for area in unfitted), unfitted


def _struck_page(printed: Printed, *, marked: bool, overshoot_mm: float = 0.0) -> np.ndarray:
    """The page with (``marked``) an X in each row's box of level row % 3, overshooting the box by
    ``overshoot_mm`` on every side, and (without overshoot) one straight line struck slanting over the level
    columns, from below the last row's high box to above the first row's low box."""
    page = printed.page
    cover = np.zeros(printed.shape, np.float32)
    pen = round(0.4 * PX)
    at = _at_mm
    if marked:
        for i, row in enumerate(page.rows):
            x, y, w, h = row.boxes_mm[LEVELS[i % 3]]
            o = overshoot_mm
            for sign in (1, -1):
                cv2.line(cover, at(x - o, y + h / 2 - sign * (h / 2 + o)), at(x + w + o, y + h / 2 + sign * (h / 2 + o)),
                         1.0, pen, cv2.LINE_AA, 4)
    if not overshoot_mm:
        first, last = page.rows[0], page.rows[-1]
        cv2.line(cover, at(last.boxes_mm["high"][0] - 3.0, last.boxes_mm["high"][1] + 8.0),
                 at(first.boxes_mm["low"][0] + 12.0, first.boxes_mm["low"][1] - 3.0), 1.0, pen, cv2.LINE_AA, 4)
    return _darken(printed.grey, cv2.GaussianBlur(cover, (0, 0), 0.7), PEN)


@pytest.mark.parametrize("marked", [False, True])
def test_a_line_struck_slanting_over_the_boxes_is_for_a_human(printed: Printed, marked: bool) -> None:
    """One straight line struck slanting over the level columns, from the bottom row to the top (a voter
    spoiling the ballot, or striking several rows out at once): each box it passes through holds a stroke, and
    rows read as one mark with no doubt (on a blank ballot, two rows counted for the boxes the line crossed).
    A stroke running from one level's column to another's across the rules between the rows sends every row
    it passes to review (``between_rows``)."""
    page = printed.page
    maps = ink_maps(_struck_page(printed, marked=marked), S)
    boxes, _ = score_boxes(maps, page, S)
    rows = classify_rows(boxes, S)
    row_reasons, _ = inspect(maps.light, page, boxes, S, maps.trace, maps.ink, printed.print)
    assert all(R.R_BETWEEN_ROWS in row_reasons[row.person] for row in page.rows), row_reasons
    assert strokes_across_columns(maps.light, page, S) == {row.person for row in page.rows}
    assert any(r.marks == "one" and not r.reasons for r in rows.values())  # what was counted before


@pytest.mark.parametrize("overshoot_mm", [1.0, 2.5])
def test_marks_overshooting_their_boxes_do_not_run_across_columns(printed: Printed, overshoot_mm: float) -> None:
    """An X overshooting its box stays in its level's column: 7 mm of paper lie between a box and the rule to
    the next column."""
    maps = ink_maps(_struck_page(printed, marked=True, overshoot_mm=overshoot_mm), S)
    assert strokes_across_columns(maps.light, printed.page, S) == set()


def test_writing_far_from_the_print_is_writing_on_a_photo_too(printed: Printed) -> None:
    """A phone's photo was not looked at outside the free areas: its lens and a curled sheet move the title and
    the foot by more than the scan's 1.2 mm from where the markers put them, and the print itself read as
    writing. On a photo, ink 3 mm or more from the print is looked at: a word in the title's space or at the
    foot is found (the side margins, 5 mm wide beside the table's rule, are left to scans); the print moved
    2 mm is not writing."""
    page, size = printed.page, printed.layout.page_size_mm
    moved = np.roll(printed.grey, (round(2.0 * PX), round(-2.0 * PX)), axis=(0, 1))
    light = ink_maps(moved, S).light
    assert not writing_elsewhere(light, page, printed.print, size, S, photo=True)
    assert writing_elsewhere(light, page, printed.print, size, S)  # as a scan's: the print moved is ink
    for where, (x, y) in {"title": (170.0, 40.0), "foot": (40.0, 285.0)}.items():
        light = ink_maps(_darken(moved, _word_at(printed, x, y), PEN), S).light
        assert writing_elsewhere(light, page, printed.print, size, S, photo=True), where


def test_a_page_without_rows_is_inspected_without_error(printed: Printed) -> None:
    """A layout page holding no person's row (only free areas) has nothing for the row checks to look at: they
    find nothing rather than fail on the level columns' missing area."""
    page = replace(printed.page, rows=())
    maps = ink_maps(printed.grey, S)
    assert strokes_across_columns(maps.light, page, S) == set()
    row_reasons, _ = inspect(maps.light, page, [], S, maps.trace, maps.ink, printed.print)
    assert row_reasons == {}
