"""Stage 7: ink outside the boxes that the printed ballot does not explain (:func:`inspect`): crossed
names, marks in a level cell beside its box, on a box's rim, between two rows or across the level
columns, ink on the names, writing."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from kiemphieu import readings as R
from kiemphieu.layout import LEVELS, PageLayout
from scanner.boxes import found_rects
from scanner.folds import level_area
from scanner.imaging import PX, _blob_area_mm2, _px, _region, on_kernels
from scanner.names import CreaseTest, crossed_names, name_cell_ink
from scanner.results import BoxResult
from scanner.settings import ScanSettings
from scanner.writing import writing_found


def inspect(ink: np.ndarray, page: PageLayout, boxes: list[BoxResult], s: ScanSettings,
            trace: np.ndarray | None = None, dark: np.ndarray | None = None,
            printed: np.ndarray | None = None, crease: CreaseTest | None = None) -> tuple[dict[int, list[str]], list[str]]:
    """Ink that the printed ballot does not explain → row reasons and page reasons.

    ``ink`` is the light-ink map, ``dark`` the pen-dark one, ``trace`` the faint one, ``printed`` the print
    darkness of the blank page (none when the session's reference PDF is missing).

    * a printed name crossed out: long straight strokes over the name (:func:`scanner.names.crossed_names`);
    * a mark outside the boxes: ink in a level cell away from its box (``rim_mm`` round it, where the box's rim is
      looked at: :func:`inked_rims`) and the rules (``outside_rule_mm``), ``outside_ink_mm2`` of it in pieces of
      ``outside_speck_mm`` or more;
    * writing: ink in the free areas, where nothing is printed (elsewhere: :func:`scanner.writing.writing_elsewhere`).
    """
    row_reasons: dict[int, list[str]] = {}
    shift = {(b.person, b.level): (b.dx_mm, b.dy_mm) for b in boxes}
    state = {(b.person, b.level): b.state for b in boxes}
    crossed = crossed_names(ink, dark, page, boxes, s, trace, printed, crease)
    for row in page.rows:
        reasons = row_reasons.setdefault(row.person, [])
        if row.person in crossed:
            reasons.append(R.R_CROSSED)
        outside_levels = []
        for level in LEVELS:
            cx, cy, cw, ch = row.cells_mm[level]
            cell = _region(ink, row.cells_mm[level]).copy()
            dx, dy = shift[(row.person, level)]
            bx, by, bw, bh = row.boxes_mm[level]
            pad = s.rim_mm  # the box's rim is inked_rims' to look at
            r0, c0 = _px(by + dy - cy - pad), _px(bx + dx - cx - pad)
            r1, c1 = _px(by + dy - cy + bh + pad), _px(bx + dx - cx + bw + pad)
            cell[max(0, r0) : r1, max(0, c0) : c1] = False
            edge = _px(s.outside_rule_mm)  # the table rules around the cell, slightly misregistered
            h, w = cell.shape
            cell[:edge, :] = False
            cell[max(0, h - edge) :, :] = False
            cell[:, :edge] = False
            cell[:, max(0, w - edge) :] = False
            limit = s.outside_ink_mm2
            if np.count_nonzero(cell) >= limit * PX**2 and _blob_area_mm2(cell, s.outside_speck_mm) >= limit:
                outside_levels.append(level)
        marked = [lv for lv in LEVELS if state[(row.person, lv)] == "marked"]
        if outside_levels and (not marked or any(lv not in marked for lv in outside_levels)):
            reasons.append(R.R_OUTSIDE)
    for person in sorted(straddling_marks(ink, page, boxes, s) | strokes_across_columns(ink, page, s)):
        row_reasons.setdefault(person, []).append(R.R_BETWEEN_ROWS)
    for person in sorted(inked_rims(ink, page, boxes, s)):
        row_reasons.setdefault(person, []).append(R.R_RIM)
    if printed is not None:
        for person in sorted(name_cell_ink(ink, page, boxes, printed, s) - crossed):
            row_reasons.setdefault(person, []).append(R.R_NAME_INK)
    page_reasons = [R.R_WRITING] if writing_found(ink, trace, page, s) else []
    return row_reasons, page_reasons


def rim_ink_mm2(ink: np.ndarray, rect_mm: tuple[float, float, float, float], s: ScanSettings) -> float:
    """Light ink (mm^2) on a box's rim: within ``rim_mm`` of its outline, inside or out."""
    x, y, w, h = rect_mm
    rim = s.rim_mm
    outer = _region(ink, (x - rim, y - rim, w + 2 * rim, h + 2 * rim))
    inner = _region(ink, (x + rim, y + rim, w - 2 * rim, h - 2 * rim))
    return (cv2.countNonZero(outer.view(np.uint8)) - cv2.countNonZero(inner.view(np.uint8))) / PX**2


def inked_rims(ink: np.ndarray, page: PageLayout, boxes: list[BoxResult], s: ScanSettings) -> set[int]:
    """Persons with a box read as empty whose outline the voter drew over: traced it, or circled the box
    close round it. Such a box is the voter's choice to a human, but its interior is left empty and the ink
    lies where neither the interior (``box_inset_mm`` in) nor the cell's outside check (1 mm out) looks: the row
    read as no mark, invalid, with no reason. A rim holding ``rim_ink_mm2`` more light ink than the page's
    empty boxes' usual rim (the printed outline as this scan shows it: the median) and than the leaner of the
    row's two other boxes' rims sends the row to review. A box
    read as marginal sends its row to review already (a fill, a scribble, a thick pen's ring reaching in)."""
    rims = {(b.person, b.level): rim_ink_mm2(ink, rect, s)
            for b, rect in zip(boxes, found_rects(page, boxes), strict=True)}
    usual = [rims[(b.person, b.level)] for b in boxes if b.state == "empty"]
    if not usual:
        return set()
    page_rim = float(np.median(usual))
    found = set()
    for b in boxes:
        if b.state != "empty":
            continue
        # the row's other boxes share its rules and any bend of the sheet: a rule brought near the boxes by a
        # fold inks all three rims alike
        row_rim = min(rims[(b.person, level)] for level in LEVELS if level != b.level)
        if rims[(b.person, b.level)] >= max(page_rim, row_rim) + s.rim_ink_mm2:
            found.add(b.person)
    return found


def straddling_marks(ink: np.ndarray, page: PageLayout, boxes: list[BoxResult], s: ScanSettings) -> set[int]:
    """Persons whose box shares one mark with the box of the same level in the row above or below: a voter's
    X or tick drawn across the space between two rows, read as a mark in one box or both. Each row would be
    counted as marked, or one counted and the other doubtful, while the mark is one: whose it is, is for a
    human.

    Asked of two boxes one above the other, both inked and one of them marked (two voters' marks overshooting
    towards each other are common, so the ink must run across): one piece of ink (``ink``, the light-ink map)
    running from the interior of one box (``box_inset_mm`` in) to the interior of the other, across the box
    outlines and the rule between the rows (level lines, left out and bridged where a stroke crosses them).
    Asked of boxes ``between_rows_max_mm`` apart at most; the piece must cross the rule within
    ``between_rows_middle`` of the boxes' width from their middle (:func:`_runs_across`)."""
    at = {(b.person, b.level): b for b in boxes}
    rows = sorted(page.rows, key=lambda r: r.row_mm[1])
    found: set[int] = set()
    inset = s.box_inset_mm
    for upper, lower in zip(rows, rows[1:], strict=False):
        for level in LEVELS:
            a, b = at.get((upper.person, level)), at.get((lower.person, level))
            if a is None or b is None or "empty" in (a.state, b.state) or "marked" not in (a.state, b.state):
                continue
            ax, ay, aw, ah = upper.boxes_mm[level]
            bx, by, bw, bh = lower.boxes_mm[level]
            ax, ay, bx, by = ax + a.dx_mm, ay + a.dy_mm, bx + b.dx_mm, by + b.dy_mm
            if not 0 < by - (ay + ah) <= s.between_rows_max_mm:
                continue
            top, bottom = ay + ah - min(ah / 2, inset + 0.5), by + min(bh / 2, inset + 0.5)
            left, right = min(ax, bx) - 1.0, max(ax + aw, bx + bw) + 1.0
            inner = slice(_px(max(ax, bx) + inset - left), _px(min(ax + aw, bx + bw) - inset - left))
            middle = (max(ax, bx) + min(ax + aw, bx + bw)) / 2 - left
            half = s.between_rows_middle * min(aw, bw)
            if _runs_across(_region(ink, (left, top, right - left, bottom - top)), inner,
                            slice(_px(middle - half), _px(middle + half)), s):
                found |= {upper.person, lower.person}
    return found


COLUMN_RULE_MM = 9.0  # an upright line this long is a rule between the level columns (a box's side is 7, a row 10):
#                      fixed by the printed layout


def _on_columns(ink: np.ndarray, tilt_deg: float) -> np.ndarray:
    """The pixels of ``ink`` (bool) on upright lines :data:`COLUMN_RULE_MM` long, tilted up to ``tilt_deg``
    (``level_tilt_deg``; 2 degrees: 1.9 px over 9 mm at 6 px a mm): the rules between the level columns, as the
    page's straightening left them. The ink is widened either side by that drift, rounded (2 px at 2 degrees),
    so that one upright kernel (fast: a rectangle) finds such a line however it steps sideways, and only the
    ink's own pixels are returned."""
    length = _px(COLUMN_RULE_MM)
    side = round(length * np.tan(np.radians(tilt_deg)))  # how far such a line steps sideways along its length
    wide = cv2.dilate(ink.view(np.uint8), np.ones((1, 2 * side + 1), np.uint8))
    kernel = np.ones((length, 1), np.uint8)
    return np.asarray(cv2.morphologyEx(wide, cv2.MORPH_OPEN, kernel)).view(bool) & ink


def strokes_across_columns(ink: np.ndarray, page: PageLayout, s: ScanSettings) -> set[int]:
    """Persons whose rows one stroke runs through from the column of one level to another's, across the rule
    between two rows, ``runaway_mm`` into both: a line struck slanting over the boxes (a voter spoiling
    the ballot, or crossing out several rows at once), which a box it passes through reads as that row's mark.
    An X overshooting its box stays in its level's column (7 mm of paper either side of the box), and one
    reaching the box of the same level in the next row is :func:`straddling_marks`' to judge.

    On the light-ink map of the level columns, level lines (the rules between the rows, the boxes' top and
    bottom) and upright lines longer than a box (the rules between the columns) are left out and a stroke's
    crossing of them bridged, as :func:`_runs_across` does. Most pages hold no ink crossing the rules between
    the columns, and are told by that alone."""
    if not page.rows:
        return set()
    area = level_area(page)
    row = page.rows[0]
    columns = [_px(row.cells_mm[level][0]) - area.c0 for level in LEVELS[1:]]
    crop = ink[area.r0 : area.r1, area.c0 : area.c1]
    tops = [_px(r.row_mm[1]) - area.r0 for r in page.rows]
    # a stroke from one column to the next passes beside the rule between them; the rules themselves, and the
    # rules between the rows where they cross it, are 0.8 mm away or more
    clear, side = _px(0.8), _px(2.3)
    between = np.ones(crop.shape[0], bool)
    for t in [*tops, crop.shape[0]]:  # the table's top and bottom rules too
        between[max(0, t - clear) : t + clear + 1] = False
    beside = sum(np.count_nonzero(crop[between, max(0, x + a) : x + b])
                 for x in columns for a, b in ((-side, -clear), (clear + 1, side + 1)))
    if beside < PX**2:
        return set()
    rest = crop & ~on_kernels(crop, _level_kernels(s.level_tilt_deg))
    rest &= ~_on_columns(rest, s.level_tilt_deg)
    n, _, stats, _ = cv2.connectedComponentsWithStats(_bridged(rest), connectivity=8)
    reach, near = _px(s.runaway_mm), _px(1.0)
    found: set[int] = set()
    for i in range(1, n):
        x, y, w, h = (int(v) for v in stats[i, :4])
        if not any(x - near <= c <= x + w - 1 + near for c in columns):  # cut where it crosses: reaching it
            continue
        if any(y <= t - reach and y + h - 1 >= t + reach for t in tops[1:]):
            found |= {r.person for r, t in zip(page.rows, tops, strict=True)
                      if t < y + h and t + _px(r.row_mm[3]) > y}
    return found


@cache
def _level_kernels(tilt_deg: float) -> tuple[np.ndarray, ...]:
    """Line kernels 3 mm long, level and tilted by ``tilt_deg`` (``level_tilt_deg``) either way: a slightly tilted
    printed line steps from one pixel row to the next, and a level kernel alone leaves its short steps behind (a
    chain of them joined a mark in one box to the next row's box outline)."""
    n = _px(3.0)
    rise = round(n * np.tan(np.radians(tilt_deg)))
    out = [np.ones((1, n), np.uint8)]
    for a, b in ((0, rise), (rise, 0)):
        k = np.zeros((rise + 1, n), np.uint8)
        cv2.line(k, (0, a), (n - 1, b), 1, 1)
        out.append(k)
    return tuple(out)


def _bridged(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool) as uint8 after a 5 px upright closing: a stroke's crossing of the level lines taken out of
    it bridged again."""
    return np.asarray(cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 1), np.uint8)))


def _runs_across(crop: np.ndarray, inner: slice, middle: slice, s: ScanSettings) -> bool:
    """Whether one stroke of ink in ``crop`` (bool) runs from its top row to its bottom row, within the columns
    ``inner`` at both: level lines (the boxes' outlines, the printed rule between the rows) left out, and a
    stroke's crossing of them bridged (a 5 px upright closing). Where the piece crosses the rule between the
    rows it must go straight through (:func:`_straight_through`) in the columns ``middle``: two marks' tips
    meeting on the rule from either side, a chevron, are two marks."""
    if crop.shape[0] < 3 or not (crop[0, inner].any() and crop[-1, inner].any()):
        return False
    level = on_kernels(crop, _level_kernels(s.level_tilt_deg))
    _, labels = cv2.connectedComponents(_bridged(crop & ~level), connectivity=8)
    first, last = labels[0, inner], labels[-1, inner]
    across = np.intersect1d(first[first > 0], last[last > 0])
    if not across.size:
        return False
    lines = np.flatnonzero(level.mean(axis=1) >= 0.5)  # rows of level lines: the outlines and the rule
    half = crop.shape[0] / 2
    bands = np.split(lines, np.flatnonzero(np.diff(lines) > 1) + 1) if lines.size else []
    rule = min(bands, key=lambda b: abs((b[0] + b[-1]) / 2 - half), default=None)
    if rule is None or not 0.25 * crop.shape[0] < (rule[0] + rule[-1]) / 2 < 0.75 * crop.shape[0]:
        return True  # no rule found between the boxes: the piece runs across
    return any(_straight_through(labels == k, int(rule[0]), int(rule[-1]), middle, s.upright_px) for k in across)


STRAIGHT_WINDOW_PX = (2, 7)  # rows either side of the rule in which a crossing stroke's direction is seen (its cap and
#                             the blur, nearer, point any way): the window's shape at the canonical 6 px/mm


def _straight_through(piece: np.ndarray, r0: int, r1: int, middle: slice, upright_px: float) -> bool:
    """Whether ``piece`` (bool) goes straight through the level band of rows ``r0``..``r1`` somewhere: at a place
    where it crosses, its ink just above and just below lies on opposite sides of the crossing (a slanted
    stroke) or in line with it, not both to one side (a chevron: two strokes meeting on the line). A slanted
    stroke must cross in the columns ``middle`` (a big X's arm overshooting its own box crosses near the box's
    side); an upright one anywhere (a line drawn down a column of boxes): its ink either side of the rule within
    ``upright_px`` of its crossing."""
    cols = np.flatnonzero(piece[r0 : r1 + 1].any(axis=0))
    if not cols.size:
        return False
    near, far = STRAIGHT_WINDOW_PX
    for run in np.split(cols, np.flatnonzero(np.diff(cols) > 3) + 1):  # strokes crossing close together: one place
        c0, c1 = max(0, int(run[0]) - far), int(run[-1]) + far + 1
        above, below = piece[max(0, r0 - far) : max(0, r0 - near + 1), c0:c1], piece[r1 + near : r1 + far + 1, c0:c1]
        if not (above.any() and below.any()):
            continue
        centre = (run[0] + run[-1]) / 2 - c0
        up = float(np.nonzero(above)[1].mean()) - centre
        down = float(np.nonzero(below)[1].mean()) - centre
        if not (up * down <= 0 or min(abs(up), abs(down)) < 1.0):
            continue  # a chevron
        if max(abs(up), abs(down)) < upright_px or middle.start <= (run[0] + run[-1]) / 2 < middle.stop:
            return True
    return False
