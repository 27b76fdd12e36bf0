"""Scanner streaks: thin lines the scanner draws along the feed (:func:`find_streak_lines`), placed on
the page (:func:`streak_lines_mm`), the rows they cross sent to review and their band taken out of the
ink (:func:`without_streaks`)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from kiemphieu.layout import LEVELS, PageLayout
from scanner.boxes import _interior_slices, found_rects
from scanner.grid import rule_columns, rule_rows
from scanner.imaging import PX, _px, percentile_u8, scale_of
from scanner.ink import InkMaps
from scanner.results import BoxResult
from scanner.settings import ScanSettings


def find_streaks(grey: np.ndarray, s: ScanSettings, *, dark: bool = True) -> list[float]:
    """Image x positions of thin dark vertical lines that run over the whole image height.

    A dark streak is 40 % darker than the paper (under ``streak_dark`` of its level) over ``streak_coverage`` of
    the rows. A thin one on a high-resolution scan read at reduced size (a 1 px line at 600 dpi is a quarter
    of a pixel at 150 dpi) is only a little darker, but darker than the
    columns on both sides of it (``streak_side_px`` away, by ``streak_contrast``) in almost every row, which
    neither noise, nor a shadow's edge, nor a printed rule that stops with the table is. Without ``dark`` (a photo), only such thin lines are: a
    photo's dark background above and below the sheet, with a shadow across it, is 40 % darker than its
    brightest paper down whole columns (the other hand's phone deck, ``hand-0175``: three "streaks"). More
    columns than ``streak_max_share`` of them found: a dark border or a photo of something else, no streak.
    """
    h, w = grey.shape
    # how the image is sampled, fixed by the construction: about 400 rows, the paper's level on about 200 columns
    # (the brightest tenth's edge: paper, whatever ink lies on it)
    step = max(1, h // 400)
    sample = grey[::step]
    paper = percentile_u8(sample[:, :: max(1, w // 200)], 90)
    coverage = _column_share(sample < s.streak_dark * paper) if dark else np.zeros(w)
    k = s.streak_side_px
    if w > 2 * k:
        # darker than both sides by the contrast: (integers) a column + ceil(contrast) <= the lighter side
        below = (np.asarray(cv2.min(sample[:, : -2 * k], sample[:, 2 * k :])).astype(np.int16)
                 - int(np.ceil(s.streak_contrast * paper)))
        faint = _column_share(cv2.compare(sample[:, k:-k].astype(np.int16), below, cv2.CMP_LE), 255)
        coverage[k:-k] = np.maximum(coverage[k:-k], faint)
    cols = np.flatnonzero(coverage >= s.streak_coverage)
    if cols.size == 0 or cols.size > w * s.streak_max_share:  # a dark border or a photo of something else
        return []
    groups, start = [], cols[0]
    for a, b in zip(cols[:-1], cols[1:], strict=True):
        if b - a > 2:  # columns 2 px apart or closer are one streak's (a line's blur): fixed by the construction
            groups.append((start + a) / 2)
            start = b
    groups.append((start + cols[-1]) / 2)
    return [float(g) for g in groups]


def parallelogram_gap_mm(hom: np.ndarray, size_mm: tuple[float, float]) -> float:
    """How far (mm) the page's fourth corner falls from the parallelogram the other three make in the image:
    next to nothing on a scanner's flat glass or feeder (an affine map), millimetres in a photo's
    perspective (the pipeline takes a page within ``streak_flat_mm`` for a scan)."""
    w, h = size_mm
    corners = cv2.perspectiveTransform(np.array([[[0.0, 0.0]], [[w, 0.0]], [[0.0, h]], [[w, h]]]), hom).reshape(4, 2)
    gap = corners[3] - (corners[1] + corners[2] - corners[0])
    return float(np.hypot(*gap)) / scale_of(hom)


def find_streak_lines(grey: np.ndarray, s: ScanSettings, *, rows: bool = True) -> list[np.ndarray]:
    """Scanner streaks as image lines, each its two ends ((x, y) pixels, shape (2, 2)): the columns of
    :func:`find_streaks`, over the whole image height, and rows over its whole width, found the same way.

    A streak runs along the sheet's path past the sensor: a column of the scanner's image. Scan software
    that turns the image by a quarter to set the page upright (auto-orientation, or a user) turns it into
    a row, which was not looked for: a streak through a box then read as the voter's mark, counted with no
    reason (``bench/robustness.py`` on the 2,226-page deck). The rows are looked for on about 200 of the
    columns (the columns on about 400 rows): 1.3 ms a 300-dpi page. Without ``rows`` (a photo: no scanner,
    no streak), only the columns are, and only thin ones (:func:`find_streaks` without ``dark``): in a
    phone photo of a curled sheet, a printed rule can lie along a row over 80 % of the width, bent off the
    rule's place at the table's ends, and a shadow with the background beyond the sheet can darken whole
    columns. A flat scan taken for a photo still has its thin streaks found.
    """
    h, w = grey.shape
    lines = [np.array([[x, 0.0], [x, float(h)]]) for x in find_streaks(grey, s, dark=rows)]
    if not rows:
        return lines
    k = max(1, w // 200)
    across = cv2.transpose(cv2.resize(grey, (w // k, h), interpolation=cv2.INTER_NEAREST))  # every k-th column
    lines += [np.array([[0.0, y], [float(w), y]]) for y in find_streaks(across, s)]
    return lines


def _column_share(mask: np.ndarray, on: int = 1) -> np.ndarray:
    """The share of each column of ``mask`` (uint8 or bool; ``on`` where set, 0 elsewhere) that is set."""
    counts = cv2.reduce(mask.view(np.uint8), 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    return np.asarray(counts / (float(on) * mask.shape[0]))


def _along_rows(line: np.ndarray) -> bool:
    """Whether a page line (two points, mm) runs more across the page than down it."""
    dx, dy = line[1] - line[0]
    return bool(abs(dx) > abs(dy))


def _line_across(line: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Where a page line (two points, mm) is across its run at the positions ``at`` along it: its y at
    those x for a line along the rows, else its x at those y."""
    i = 0 if _along_rows(line) else 1
    (a, b) = line
    return np.asarray(a[1 - i] + (at - a[i]) * (b[1 - i] - a[1 - i]) / (b[i] - a[i]))


def streak_lines_mm(streaks: list[np.ndarray], hom: np.ndarray, page: PageLayout, s: ScanSettings) -> list[np.ndarray]:
    """Each streak (an image line of :func:`find_streak_lines`: the sheet moves past the scanner's sensor)
    as the two page points (mm, shape (2, 2)) its ends fall on: a straight line on the page too.

    A sheet fed sideways turns the table's long horizontal rules into image columns dark over 90 % of
    the image's height, which :func:`find_streaks` takes for streaks: a line lying on a printed rule
    over the whole width (or height) of the table (within ``streak_on_rule_mm`` of it at both ends) is that
    rule, and is left out here.
    """
    to_page = np.linalg.inv(hom)
    tx, ty, tw, th = page.table_mm
    lines = []
    for ends_img in streaks:
        line = cv2.perspectiveTransform(ends_img.reshape(2, 1, 2).astype(np.float64), to_page).reshape(2, 2)
        ends, rules = ((tx, tx + tw), rule_rows(page)) if _along_rows(line) else ((ty, ty + th), rule_columns(page))
        at = _line_across(line, np.array(ends))
        if not any(bool(np.all(np.abs(at - r) <= s.streak_on_rule_mm)) for r in rules):
            lines.append(line)
    return lines


def streak_boxes(streaks: list[np.ndarray], hom: np.ndarray, page: PageLayout) -> set[int]:
    """Persons with a box a streak (an image column or row, :func:`find_streak_lines`) passes through, or
    passes within 3 image pixels of."""
    if not streaks:
        return set()
    # every box's four corners in the image, in one transform: (rows, levels, 4 corners, x y)
    boxes = np.array([[row.boxes_mm[level] for level in LEVELS] for row in page.rows], np.float64)
    bx, by, bw, bh = (boxes[..., k, None] for k in range(4))
    corners = np.stack([np.concatenate([bx, bx + bw, bx + bw, bx], -1), np.concatenate([by, by, by + bh, by + bh], -1)],
                       -1)
    img = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), hom).reshape(corners.shape)
    low, high = img.min(axis=2) - 3, img.max(axis=2) + 3  # (rows, levels, x y): each box's extent, 3 px more
    hit: set[int] = set()
    for (x0, y0), (x1, _) in streaks:
        i, at = (1, y0) if x0 != x1 else (0, x0)  # a row (its y) or a column (its x)
        through = ((low[..., i] <= at) & (at <= high[..., i])).any(axis=1)
        hit |= {row.person for row, hit_row in zip(page.rows, through, strict=True) if hit_row}
    return hit


def streak_names(lines_mm: list[np.ndarray], page: PageLayout, s: ScanSettings) -> set[int]:
    """Persons whose name or position a streak runs along (``lines_mm``: :func:`streak_lines_mm`): a sheet fed
    sideways lays the streak along the rows, where a strike would be, and :func:`without_streaks` takes out
    whatever lies under it (``streak_band_mm`` either side of its line)."""
    hit: set[int] = set()
    for line in lines_mm:
        if not _along_rows(line):  # down the page: it crosses names and positions, a strike runs along them
            continue
        for row in page.rows:
            for x, y, w, h in (row.name_mm, row.position_mm):
                ys = _line_across(line, np.array([x, x + w]))
                if ys.max() >= y - s.streak_band_mm and ys.min() <= y + h + s.streak_band_mm:
                    hit.add(row.person)
    return hit


def streak_band(lines_mm: list[np.ndarray], shape: tuple[int, ...], s: ScanSettings) -> np.ndarray:
    """(H, W) bool, the page's pixels: a band of ``streak_band_mm`` either side of each streak's line."""
    band = np.zeros(shape[:2], np.uint8)
    for ends in lines_mm:
        (c0, r0), (c1, r1) = np.round(ends * PX).astype(int)
        cv2.line(band, (int(c0), int(r0)), (int(c1), int(r1)), 1, 2 * _px(s.streak_band_mm) + 1)
    return band.view(bool)


def band_in_boxes(band: np.ndarray, page: PageLayout, boxes: list[BoxResult], s: ScanSettings) -> set[int]:
    """Persons with a box whose interior, where the box was found (:func:`scanner.boxes.found_rects`), a streak's band
    (:func:`streak_band`, taken out of what the box is read from) reaches: whatever :func:`streak_boxes` finds
    from the layout's boxes, a box found a little off its place is not left out."""
    inset = min(s.box_inset_mm, s.trace_inset_mm)
    return {b.person for b, rect in zip(boxes, found_rects(page, boxes), strict=True)
            if band[_interior_slices(rect, inset)].any()}


def without_streaks(maps: InkMaps, band: np.ndarray | None) -> InkMaps:
    """``maps`` with the scanner streaks' ``band`` (:func:`streak_band`: ``streak_band_mm`` either side
    of each streak's line on the page, :func:`streak_lines_mm`) cleared (``band`` is None on a page without one).

    Through a level cell beside its box, through the free areas or across a name, a streak is the
    scanner's ink, not the voter's: this keeps it from reading as a mark outside a box, as writing, or
    as a strike. A 2 mm band leaves any real mark or word most of its length. What it could hide is in
    review anyway: the rows of the boxes it crosses (:func:`streak_boxes`), and the names and positions it
    runs along (:func:`streak_names`). Drawn with the page transform alone: streaks come from scanners, whose
    sheets lie flat.
    """
    if band is None:
        return maps
    keep = ~band
    return replace(maps, ink=maps.ink & keep, light=maps.light & keep, trace=maps.trace & keep)
