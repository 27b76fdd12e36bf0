"""Folds, creases and ruler lines: long straight lines through the level columns.

A ballot folded in halves or quarters shows a faint straight line where the
paper was creased. Where such a line runs through a box it leaves a trace that
looks like a faint stroke, so every such line is found here and either

* **explained**: it runs from edge to edge of the sheet (it shows in the margins
  on both sides of the table, or below it for a vertical one), it is faint (no
  pen-dark ink along it) — a crease, not a voter's stroke. Its pixels are taken
  out of the ink maps before the boxes are measured; or
* **flagged**: any other long straight line through the level columns (a ruler
  line, a crease that shows only inside the table, a pen line across a row):
  the rows it crosses go to review (``fold_line``).

Lines may be tilted by up to ``fold_max_tilt_deg`` on the straightened page (a
sheet folded by hand is not folded square). Arrays are indexed (row, column);
a horizontal line is ``row = offset + slope * (column - centre)``, a vertical
one the same with rows and columns exchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from kiemphieu.layout import CANONICAL_PX_PER_MM, LEVELS, PageLayout
from scanner.settings import ScanSettings

PX = CANONICAL_PX_PER_MM
# filters' shapes at the canonical 6 px/mm, fixed by the construction (the thresholds are in ScanSettings):
INK_SPREAD_PX = 6  # the smoothed page darkens this far beside dark ink: no line is looked for there
RIDGE_WINDOW_PX = 13  # a crease is compared with the paper about 1 mm either side of it


def _px(v_mm: float) -> int:
    return int(round(v_mm * PX))


@dataclass(frozen=True)
class Line:
    """A straight line on the straightened page (pixels)."""

    vertical: bool
    offset: float  # row of a horizontal line (column of a vertical one) at ``centre``
    slope: float  # rows per column (columns per row for a vertical line)
    centre: float  # the column (row) where ``offset`` is measured
    explained: bool  # a crease from edge to edge, taken out of the ink maps

    def at(self, t: float | np.ndarray) -> float | np.ndarray:
        """Row (column) of the line at column (row) ``t``."""
        return self.offset + self.slope * (t - self.centre)


@dataclass(frozen=True)
class _Area:
    r0: int
    r1: int
    c0: int
    c1: int


def level_area(page: PageLayout) -> _Area:
    """The level columns over the table's rows, in pixels of the straightened page."""
    x0 = min(r.cells_mm[LEVELS[0]][0] for r in page.rows)
    x1 = max(r.cells_mm[LEVELS[-1]][0] + r.cells_mm[LEVELS[-1]][2] for r in page.rows)
    y0 = page.rows[0].row_mm[1]
    y1 = page.rows[-1].row_mm[1] + page.rows[-1].row_mm[3]
    return _Area(_px(y0), _px(y1), _px(x0), _px(x1))


def structure_mask(page: PageLayout, shape: tuple[int, int]) -> np.ndarray:
    """Printed rules of the level columns (widened by 0.8 mm) and the box outlines (by 1.2 mm).

    No line is looked for there. The box outlines get the wider band: on the
    smoothed page they spread. The inside of a box stays free, so that a crease
    through a column of boxes is seen all along it.
    """
    mask = np.zeros(shape, bool)
    band = _px(0.8)
    box_band = _px(1.2)
    for row in page.rows:
        _, ry, _, rh = row.row_mm
        mask[max(0, _px(ry) - band) : _px(ry) + band, :] = True
        mask[max(0, _px(ry + rh) - band) : _px(ry + rh) + band, :] = True
        for level in LEVELS:
            cx, _, cw, _ = row.cells_mm[level]
            mask[:, max(0, _px(cx) - band) : _px(cx) + band] = True
            mask[:, max(0, _px(cx + cw) - band) : _px(cx + cw) + band] = True
            bx, by, bw, bh = row.boxes_mm[level]
            top, bottom = max(0, _px(by) - box_band), _px(by + bh) + box_band
            left, right = max(0, _px(bx) - box_band), _px(bx + bw) + box_band
            for edge in (_px(by), _px(by + bh)):
                mask[max(0, edge - box_band) : edge + box_band, left:right] = True
            for edge in (_px(bx), _px(bx + bw)):
                mask[top:bottom, max(0, edge - box_band) : edge + box_band] = True
    return mask


_STRUCTURE: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}


def _printed(page: PageLayout, shape: tuple[int, int]) -> np.ndarray:
    key = (page.page, shape)
    printed = _STRUCTURE.get(key)
    if printed is None:
        printed = _STRUCTURE[key] = structure_mask(page, shape)
    return printed


@cache
def _slopes(width: int, max_tilt_deg: float) -> np.ndarray:
    """Slopes to try: steps small enough that the line moves at most 1 px at the area's ends."""
    top = float(np.tan(np.deg2rad(max_tilt_deg)))
    n = max(1, int(np.ceil(top * width)))
    return np.linspace(-top, top, 2 * n + 1)


def _cumulative(mask: np.ndarray) -> np.ndarray:
    """Running sums along each row, with a leading zero column: (H, W + 1)."""
    out = np.zeros((mask.shape[0], mask.shape[1] + 1), np.int32)
    np.cumsum(mask, axis=1, dtype=np.int32, out=out[:, 1:])
    return out


def _sheared_coverage(m_cum: np.ndarray, f_cum: np.ndarray, slope: float, min_free_share: float) -> np.ndarray:
    """Coverage of a mask over the free pixels along lines of ``slope``, one value per starting row.

    ``m_cum`` and ``f_cum`` are the :func:`_cumulative` sums of the mask and of the
    free pixels. Row ``y`` of the result is the share of the free pixels on the line
    through (``y``, centre column) that are set in the mask; 0 where under ``min_free_share`` of its
    length is free.
    """
    h, w = m_cum.shape[0], m_cum.shape[1] - 1
    shifts = np.round(slope * (np.arange(w) - (w - 1) / 2)).astype(int)
    hits = np.zeros(h, np.float64)
    room = np.zeros(h, np.float64)
    edges = np.concatenate([[0], np.flatnonzero(np.diff(shifts)) + 1, [w]])
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        d = int(shifts[a])
        lo, hi = max(0, -d), min(h, h - d)  # result row y reads mask row y + d
        hits[lo:hi] += m_cum[lo + d : hi + d, b] - m_cum[lo + d : hi + d, a]
        room[lo:hi] += f_cum[lo + d : hi + d, b] - f_cum[lo + d : hi + d, a]
    cover = hits / np.maximum(room, 1.0)
    cover[room < min_free_share * w] = 0.0  # a line that runs mostly over print: nothing to judge it by
    return np.asarray(cover)


def _pool(mask: np.ndarray, *, any_: bool) -> np.ndarray:
    """Half resolution: a 2 x 2 block is set when any (else: at least half) of its pixels is."""
    h, w = mask.shape[0] // 2 * 2, mask.shape[1] // 2 * 2
    m = mask[:h, :w].view(np.uint8)
    count = m[0::2, 0::2] + m[1::2, 0::2] + m[0::2, 1::2] + m[1::2, 1::2]
    return np.asarray(count >= (1 if any_ else 2))


def _candidates(mask: np.ndarray, free: np.ndarray, s: ScanSettings) -> list[tuple[float, float]]:
    """Lines ``(offset, slope)`` over ``fold_coverage`` of the free pixels, one per run of rows.

    Searched at half resolution (a line 1-2 px wide stays one block wide), so the
    offsets are good to a pixel: the explained band around a line is wider than that.
    """
    found = _candidates_full(_pool(mask, any_=True), _pool(free, any_=False), s)
    return [(2 * y + 0.5, slope) for y, slope in found]


def _candidates_full(mask: np.ndarray, free: np.ndarray, s: ScanSettings) -> list[tuple[float, float]]:
    h, w = mask.shape
    thick = cv2.dilate(mask.view(np.uint8), np.ones((3, 1), np.uint8)).view(bool)  # a tilted line spans rows
    slopes = _slopes(w, s.fold_max_tilt_deg)
    # no band of rows as high as the steepest line holds enough marked pixels: no line at all
    reach = int(np.ceil(abs(slopes[0]) * w / 2)) + 1
    per_row = thick.sum(axis=1)
    band = np.convolve(per_row, np.ones(2 * reach + 1), mode="same")
    if band.max(initial=0) < s.fold_coverage * s.fold_min_free_share * w:
        return []
    m_cum, f_cum = _cumulative(thick), _cumulative(free)
    cover = np.stack([_sheared_coverage(m_cum, f_cum, float(slope), s.fold_min_free_share) for slope in slopes])  # (slopes, rows)
    best = cover.max(axis=0)
    hot = np.flatnonzero(best >= s.fold_coverage)
    if hot.size == 0:
        return []
    lines = []
    for run in _runs(hot):
        lo, hi = _best_run(best[run])
        y = int(run[(lo + hi) // 2])
        lo, hi = _best_run(cover[:, y])
        lines.append((float(y), float((slopes[lo] + slopes[hi]) / 2)))
    return lines


def _runs(indices: np.ndarray) -> list[np.ndarray]:
    """Sorted ``indices`` split into runs of consecutive values (none for none)."""
    return np.split(indices, np.flatnonzero(np.diff(indices) > 1) + 1) if indices.size else []


COVER_TIE = 0.02  # rows or slopes whose coverage is this close to the best one fit the line as well: how a found
#                   line is placed (in the 3-row thickened mask), fixed by the construction; it decides no reading


def _best_run(cover: np.ndarray) -> tuple[int, int]:
    """First and last index of the run of values around the largest within :data:`COVER_TIE` of it.

    The line is searched for in a mask thickened to 3 rows, so across the level
    columns a range of rows and of slopes covers it fully. The first of them, taken
    alone, put the line a row or two high, and tilted it by up to 1.5 rows over the
    area: 2 mm off 150 mm away, in the margins where an edge-to-edge crease is
    checked and over the names. The middle of the range is the line.
    """
    top = int(np.argmax(cover))
    near = cover >= cover[top] - COVER_TIE
    lo = hi = top
    while lo > 0 and near[lo - 1]:
        lo -= 1
    while hi < len(cover) - 1 and near[hi + 1]:
        hi += 1
    return lo, hi


def _strip_coverage(crease: np.ndarray, line: Line, lo: int, hi: int, band: int) -> float:
    """Share of the positions ``lo:hi`` along ``line`` with crease pixels within ``band`` of it."""
    if hi - lo < 3:
        return 0.0
    t = np.arange(lo, hi)
    centre = np.round(line.at(t)).astype(int)
    limit = crease.shape[1] if line.vertical else crease.shape[0]
    found = np.zeros(t.size, bool)
    for k in range(-band, band + 1):
        at = np.clip(centre + k, 0, limit - 1)
        found |= crease[t, at] if line.vertical else crease[at, t]
    return float(found.mean())


def _ridges(smooth: np.ndarray, paper: np.ndarray, *, across_rows: bool, threshold: float) -> np.ndarray:
    """Thin lines darker than the paper on both sides (a crease), not broad shading.

    ``across_rows``: horizontal lines (darker than the rows above and below);
    otherwise vertical ones. Inputs are (H, W) crops of the smoothed page and its
    paper level; returns (H, W) bool.
    """
    return _ridges_of(darkness(smooth, paper), across_rows=across_rows, threshold=threshold)


def darkness(smooth: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """1 - smooth / paper, float32: how much darker than the local paper each pixel is."""
    return np.asarray(1.0 - cv2.divide(smooth, paper, dtype=cv2.CV_32F), np.float32)


def _ridge_map(smooth: np.ndarray, paper: np.ndarray, parts: list[tuple[slice, slice]], *, across_rows: bool,
               threshold: float) -> np.ndarray:
    """A page-sized map of the :func:`_ridges` in each ``(rows, cols)`` part at least 3 px long along its lines."""
    out = np.zeros(smooth.shape, bool)
    for rs, cs in parts:
        along = cs if across_rows else rs
        if along.stop - along.start >= 3:
            out[rs, cs] = _ridges(smooth[rs, cs], paper[rs, cs], across_rows=across_rows, threshold=threshold)
    return out


def _ridges_of(dark: np.ndarray, *, across_rows: bool, threshold: float) -> np.ndarray:
    size = (1, RIDGE_WINDOW_PX) if across_rows else (RIDGE_WINDOW_PX, 1)  # OpenCV sizes are (width, height)
    return np.asarray(dark - cv2.blur(dark, size, borderType=cv2.BORDER_REPLICATE) >= threshold)


def find_lines(smooth: np.ndarray, paper: np.ndarray, ink: np.ndarray, page: PageLayout,
               size_mm: tuple[float, float], s: ScanSettings) -> list[Line]:
    """Long straight lines through the level columns of the straightened page.

    Parameters
    ----------
    smooth : (H, W) uint8, the straightened page smoothed.
    paper : (H, W) uint8, its local paper level.
    ink : (H, W) bool, pen-dark ink.
    page : the layout page.
    size_mm : page width and height in mm.
    """
    if not page.rows:
        return []
    area = level_area(page)
    rows, cols = slice(area.r0, area.r1), slice(area.c0, area.c1)
    pen_dark = ink[rows, cols]
    printed = _printed(page, ink.shape)[rows, cols]
    # where something dark is printed or written, as found on this page (plus a smoothing's spread)
    near_ink = cv2.dilate(pen_dark.view(np.uint8), np.ones((2 * INK_SPREAD_PX + 1,) * 2, np.uint8)).view(bool)
    free = ~(printed | near_ink)
    pen = pen_dark & ~printed
    band = _px(s.fold_band_mm)
    tx, ty, tw, th = page.table_mm
    margin = _px(s.fold_margin_mm)
    h, w = ink.shape
    found: list[Line] = []

    dark = darkness(smooth[rows, cols], paper[rows, cols])
    level = _ridges_of(dark, across_rows=True, threshold=s.fold_ridge) & free
    side = slice(max(0, area.r0 - 2 * band), min(h, area.r1 + 2 * band))
    across = None  # horizontal ridges in the left and right margins, beside the table rows
    centre_c = area.c0 + (area.c1 - area.c0 - 1) / 2
    for y, slope in _candidates(level, free, s):
        if across is None:  # looked for only when the table holds a line to follow out
            margins = [(side, slice(margin, _px(tx) - margin)), (side, slice(_px(tx + tw) + margin, w - margin))]
            across = _ridge_map(smooth, paper, margins, across_rows=True, threshold=s.fold_ridge)
        line = Line(False, area.r0 + y, slope, centre_c, False)
        inside = Line(False, y, slope, (area.c1 - area.c0 - 1) / 2, False)
        edge_to_edge = (
            _strip_coverage(across, line, margin, _px(tx) - margin, band) >= s.fold_coverage
            and _strip_coverage(across, line, _px(tx + tw) + margin, w - margin, band) >= s.fold_coverage
            and _strip_coverage(pen, inside, 0, pen.shape[1], 1) < s.fold_ink_share
        )
        found.append(Line(False, line.offset, slope, centre_c, edge_to_edge))

    level = _ridges_of(dark, across_rows=False, threshold=s.fold_ridge) & free
    below = slice(min(h, _px(ty + th) + margin), max(0, _px(size_mm[1]) - margin))
    side_c = slice(max(0, area.c0 - 2 * band), min(w, area.c1 + 2 * band))
    down = None  # vertical ridges below the table, under the level columns
    centre_r = area.r0 + (area.r1 - area.r0 - 1) / 2
    for x, slope in _candidates(np.ascontiguousarray(level.T), np.ascontiguousarray(free.T), s):
        if down is None:
            down = _ridge_map(smooth, paper, [(below, side_c)], across_rows=False, threshold=s.fold_ridge)
        line = Line(True, area.c0 + x, slope, centre_r, False)
        inside = Line(True, x, slope, (area.r1 - area.r0 - 1) / 2, False)
        edge_to_edge = (
            _strip_coverage(down, line, below.start, below.stop, band) >= s.fold_coverage
            and _strip_coverage(pen, inside, 0, pen.shape[0], 1) < s.fold_ink_share
        )
        found.append(Line(True, line.offset, slope, centre_r, edge_to_edge))
    # pen lines are looked for outside the boxes only: a column of heavy marks is not a line
    outside = ~(printed | _interiors(page, ink.shape)[rows, cols])
    found += _pen_lines(pen & outside, outside, area, found, band, s)
    return found


def below_table(smooth: np.ndarray, paper: np.ndarray, ink: np.ndarray, page: PageLayout,
                 size_mm: tuple[float, float], s: ScanSettings) -> list[Line]:
    """Creases across the free areas under the table (a sheet folded in quarters or thirds).

    Nothing is counted there but writing, so only faint lines that run over most
    of the area (``fold_coverage``) are returned, all explained; anything else is
    left to the writing test. The pipeline looks for them only when that test
    found something (most pages have nothing there).

    They are looked for from the table's bottom rule down: the rule itself, and the smoothed page's
    shade beside it, are not free (``INK_SPREAD_PX`` from dark ink). A sheet folded in thirds to go into
    the ballot box is creased a third of the way up, which on a ballot of twelve persons is 1-3 mm under
    the rule; a search starting 3 mm under it missed that crease, and its traces read as writing.
    """
    tx, ty, tw, th = page.table_mm
    h, w = ink.shape
    margin = _px(s.fold_margin_mm)
    r0, r1 = min(h, _px(ty + th)), max(0, _px(size_mm[1]) - 2 * margin)
    c0, c1 = margin, w - margin
    if r1 - r0 < 20 or c1 - c0 < 20:
        return []
    rows, cols = slice(r0, r1), slice(c0, c1)
    pen_dark = ink[rows, cols]
    free = ~cv2.dilate(pen_dark.view(np.uint8), np.ones((2 * INK_SPREAD_PX + 1,) * 2, np.uint8)).view(bool)
    dark = darkness(smooth[rows, cols], paper[rows, cols])
    found: list[Line] = []
    for vertical in (False, True):
        ridge = _ridges_of(dark, across_rows=not vertical, threshold=s.fold_ridge) & free
        mask, room = (ridge, free) if not vertical else (np.ascontiguousarray(ridge.T), np.ascontiguousarray(free.T))
        centre = (c0 + (c1 - c0 - 1) / 2) if not vertical else (r0 + (r1 - r0 - 1) / 2)
        start = r0 if not vertical else c0
        for offset, slope in _candidates(mask, room, s):
            inside = Line(vertical, offset, slope, (mask.shape[1] - 1) / 2, False)
            along = pen_dark.shape[0] if vertical else pen_dark.shape[1]
            if _strip_coverage(pen_dark, inside, 0, along, 1) < s.fold_ink_share:
                found.append(Line(vertical, start + offset, slope, centre, True))
    return found


_INTERIORS: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}


def _interiors(page: PageLayout, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: inside the page's boxes (cached per layout page and size)."""
    key = (page.page, shape)
    inside = _INTERIORS.get(key)
    if inside is None:
        inside = _INTERIORS[key] = np.zeros(shape, bool)
        for row in page.rows:
            for level in LEVELS:
                bx, by, bw, bh = row.boxes_mm[level]
                inside[_px(by) : _px(by + bh), _px(bx) : _px(bx + bw)] = True
    return inside


def _pen_lines(pen: np.ndarray, free: np.ndarray, area: _Area, found: list[Line], band: int,
               s: ScanSettings) -> list[Line]:
    """Straight pen-dark lines across the level columns (a ruler line, a row struck through): never explained."""
    out: list[Line] = []
    centre_c = area.c0 + (area.c1 - area.c0 - 1) / 2
    centre_r = area.r0 + (area.r1 - area.r0 - 1) / 2
    for vertical, centre, start, mask, room in (
        (False, centre_c, area.r0, pen, free),
        (True, centre_r, area.c0, np.ascontiguousarray(pen.T), np.ascontiguousarray(free.T)),
    ):
        for offset, slope in _candidates(mask, room, s):
            at = start + offset
            if any(line.vertical == vertical and abs(line.offset - at) <= 2 * band for line in found + out):
                continue
            out.append(Line(vertical, at, slope, centre, False))
    return out


def explained_mask(lines: list[Line], shape: tuple[int, int], s: ScanSettings, *,
                   band_mm: float | None = None) -> np.ndarray:
    """(H, W) bool: a band of ``band_mm`` (default ``fold_band_mm``) around every explained line."""
    mask = np.zeros(shape, np.uint8)
    thickness = 2 * _px(s.fold_band_mm if band_mm is None else band_mm) + 1
    h, w = shape
    for line in lines:
        if not line.explained:
            continue
        if line.vertical:
            ends = ((float(line.at(0)), 0.0), (float(line.at(h - 1)), float(h - 1)))
        else:
            ends = ((0.0, float(line.at(0))), (float(w - 1), float(line.at(w - 1))))
        (xa, ya), (xb, yb) = ends  # OpenCV points are (x, y) = (column, row)
        cv2.line(mask, (round(xa), round(ya)), (round(xb), round(yb)), 1, thickness)
    return mask.view(bool)


def runs_on_as_crease(smooth: np.ndarray, paper: np.ndarray, page: PageLayout, size_mm: tuple[float, float],
                      rows: np.ndarray, cols: np.ndarray, s: ScanSettings, *, reach_mm: float | None = None) -> bool:
    """Whether the straight faint traces at the pixels ``rows``, ``cols`` (page pixels) lie along a crease.

    A crease runs from edge to edge of the sheet. It is looked for in the margins
    on both sides of the table, within ``crease_search_mm`` of the traces'
    height: a row whose darkness, the median across the margin's width, stands
    ``crease_margin_ridge`` above the mean of the rows about 1 mm either side of it.
    The median over the margin's width is steady: on the 300-voter adf-rough and
    phone decks it reaches 0.009 at most away from a crease, and 0.027 or more
    on one. The line through such a row on the left and one on the right, 190 mm
    apart, is the crease; the traces lie along it when 90 % of their pixels are
    within ``reach_mm`` of it (default ``crease_reach_mm``): ``crease_reach_mm`` for faint traces (the
    shade beside a crease leaves them that far off its line), ``crease_line_mm``
    for light ink (the crease's own line). A voter's stroke over a name stops at the table. A
    crease hugging a table rule is found this way too, where :func:`find_lines`
    sees nothing beside the rule.
    """
    if rows.size == 0:
        return False
    tx, _, tw, _ = page.table_mm
    h, w = smooth.shape
    reach_mm = s.crease_reach_mm if reach_mm is None else reach_mm
    margin, reach, search = _px(s.fold_margin_mm), reach_mm * PX, _px(s.crease_search_mm)
    sides = ((margin, _px(tx) - margin), (_px(tx + tw) + margin, min(w, _px(size_mm[0])) - margin))
    r0, r1 = max(0, int(rows.min()) - search), min(h, int(rows.max()) + search + 1)
    if r1 - r0 < RIDGE_WINDOW_PX or any(hi - lo < 3 for lo, hi in sides):
        return False
    found = []
    for lo, hi in sides:
        profile = np.median(darkness(smooth[r0:r1, lo:hi], paper[r0:r1, lo:hi]), axis=1).reshape(-1, 1)
        ridge = _ridges_of(profile, across_rows=True, threshold=s.crease_margin_ridge).ravel()
        found.append([(r0 + float(run.mean()), (lo + hi - 1) / 2) for run in _runs(np.flatnonzero(ridge))])
    for (yl, xl), (yr, xr) in ((a, b) for a in found[0] for b in found[1]):
        slope = (yr - yl) / (xr - xl)
        if np.mean(np.abs(rows - (yl + slope * (cols - xl))) <= reach) >= 0.9:
            return True
    return False


def rows_crossed(lines: list[Line], page: PageLayout, *, explained: bool) -> set[int]:
    """Persons whose boxes (with 1 mm around) one of ``lines`` (explained or not, as asked) passes through."""
    hit: set[int] = set()
    for line in lines:
        if line.explained != explained:
            continue
        for row in page.rows:
            for level in LEVELS:
                bx, by, bw, bh = row.boxes_mm[level]
                if line.vertical:
                    pos = float(line.at(_px(by + bh / 2))) / PX
                    if bx - 1.0 <= pos <= bx + bw + 1.0:
                        hit.add(row.person)
                else:
                    pos = float(line.at(_px(bx + bw / 2))) / PX
                    if by - 1.0 <= pos <= by + bh + 1.0:
                        hit.add(row.person)
    return hit


def local_creases(smooth: np.ndarray, paper: np.ndarray, rects_mm: list[tuple[float, float, float, float]],
                  s: ScanSettings) -> np.ndarray | None:
    """A band of ``fold_band_mm`` around every short crease through one of ``rects_mm`` (boxes), or None.

    A crease over part of the table is not found edge to edge (:func:`find_lines`), and it can be fainter
    than a faint pencil mark. But a faint straight line through a box that goes on, as straight, for
    ``local_crease_reach_mm`` on both sides of it is a crease, not a voter's mark: a mark stays in or near its box,
    and an X's overshoot is not one straight line out of both sides. Averaged along its length beside the
    box, such a line stands out from the paper (``local_crease_ridge``) far more than its pixels do. Only lines
    along the rows are looked for: across them, the stretches beside a box reach into the next row's boxes.
    The caller asks only about boxes that hold traces and no light ink.
    """
    mask: np.ndarray | None = None
    for rect in rects_mm:
        ends = _local_crease(smooth, paper, rect, s)
        if ends is None:
            continue
        if mask is None:
            mask = np.zeros(smooth.shape, np.uint8)
        (xa, ya), (xb, yb) = ends
        cv2.line(mask, (round(xa), round(ya)), (round(xb), round(yb)), 1, 2 * _px(s.fold_band_mm) + 1)
    return None if mask is None else mask.view(bool)


def _local_crease(smooth: np.ndarray, paper: np.ndarray, rect_mm: tuple[float, float, float, float],
                  s: ScanSettings) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The ends (x, y) of a faint straight line through the box ``rect_mm`` and ``local_crease_reach_mm`` beyond it
    on both sides, or None."""
    x, y, w, h = rect_mm
    reach, gap, window = _px(s.local_crease_reach_mm), _px(0.5), RIDGE_WINDOW_PX
    r0, r1 = max(0, _px(y - 1.5)), min(smooth.shape[0], _px(y + h + 1.5))
    c0, c1 = _px(x) - reach, _px(x + w) + reach
    if c0 < 0 or c1 > smooth.shape[1] or r1 - r0 < window:
        return None
    dark = darkness(smooth[r0:r1, c0:c1], paper[r0:r1, c0:c1])
    height, width = dark.shape
    cols = np.arange(width)
    left, right = cols < reach - gap, cols >= width - reach + gap  # clear of the box's own outline
    inside = np.zeros(height, bool)  # the line must cross the box's interior, not run along its outline
    inside[_px(y + 0.5) - r0 : _px(y + h - 0.5) - r0] = True
    best, best_row, best_slope = 0.0, 0, 0.0
    for slope in _slopes(width, s.fold_max_tilt_deg):
        shifts = np.round(slope * (cols - (width - 1) / 2)).astype(int)
        rows = np.clip(np.arange(height)[:, None] + shifts[None, :], 0, height - 1)
        sheared = dark[rows, np.broadcast_to(cols, rows.shape)]
        ridge = np.full(height, np.inf, np.float32)
        for side in (left, right):  # the line's darkness along the stretch, above the paper about it
            profile = sheared[:, side].mean(axis=1).astype(np.float32).reshape(-1, 1)
            above = profile[:, 0] - cv2.blur(profile, (1, window), borderType=cv2.BORDER_REPLICATE)[:, 0]
            np.minimum(ridge, above, out=ridge)
        ridge[~inside] = -np.inf
        k = int(np.argmax(ridge))
        if ridge[k] > best:
            best, best_row, best_slope = float(ridge[k]), k, float(slope)
    if best < s.local_crease_ridge:
        return None
    centre = (width - 1) / 2
    return ((float(c0), r0 + best_row - best_slope * centre),
            (float(c0 + width - 1), r0 + best_row + best_slope * centre))
