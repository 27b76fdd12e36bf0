"""Stages 5 and 6: each box refined against its printed outline and its ink measured, marked /
marginal / empty per box (:func:`score_boxes`, :func:`classify_box`), then none / one / multiple per row
with the reasons for review (:func:`classify_rows`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache

import cv2
import numpy as np
from skimage.morphology import skeletonize

from kiemphieu import readings as R
from kiemphieu.layout import LEVELS, Level, PageLayout, Rect
from scanner.folds import darkness
from scanner.imaging import PX, _closed, _px
from scanner.ink import InkMaps
from scanner.results import BoxResult, RowResult
from scanner.settings import ScanSettings

# --- stage 5: score boxes ---------------------------------------------------------


def outline_cover(light: np.ndarray, rect_mm: tuple[float, float, float, float], band_mm: float) -> float:
    """How much of the printed box outline is where ``rect_mm`` puts it: for each of its four sides, the share
    of the side's length with light ink within ``band_mm`` of the printed line; the least of the four.

    A box printed square and seen square covers all four sides (ink added by a mark only adds to the cover).
    On a sheet bent under the camera a box can come out as a parallelogram: a shift of the whole box
    (:func:`refine_box`) no longer lays its sides on the print, and a side is found along part of its
    length only. What is read inside such a box is not trusted: the row goes to review.
    """
    x0, y0, x1, y1 = _px(rect_mm[0]), _px(rect_mm[1]), _px(rect_mm[0] + rect_mm[2]), _px(rect_mm[1] + rect_mm[3])
    t, b = OUTLINE_PX, _px(band_mm)
    if y0 - b < 0 or x0 - b < 0 or y1 + b > light.shape[0] or x1 + b > light.shape[1]:
        return 0.0
    across = light[y0 - b : y1 + b, x0 + t : x1 - t]  # the top and bottom sides, column by column
    down = light[y0 + t : y1 - t, x0 - b : x1 + b]  # the left and right sides, row by row
    found = (np.count_nonzero(across[: t + 2 * b].any(axis=0)), np.count_nonzero(across[-t - 2 * b :].any(axis=0)),
             np.count_nonzero(down[:, : t + 2 * b].any(axis=1)), np.count_nonzero(down[:, -t - 2 * b :].any(axis=1)))
    return min(found[0] / across.shape[1], found[1] / across.shape[1], found[2] / down.shape[0],
               found[3] / down.shape[0])


# fixed by the construction (the search's radius and what the outline must cover are in ScanSettings):
OUTLINE_PX = 3  # the printed outline, as the refinement's template draws it: the ring refine_box matches at the
#                 canonical 6 px/mm, and outline_cover leaves out when it looks for the sides


def refine_box(ink: np.ndarray, rect_mm: tuple[float, float, float, float], radius_mm: float) -> tuple[float, float, float]:
    """Local shift (dx_mm, dy_mm) of a printed box outline, and how well it matched (0..1).

    Every shift within ``radius_mm`` is tried: the ink on the outline's ring (``OUTLINE_PX`` thick) is the ink
    of the box's rectangle less that of its interior, both read off one summed-area table of the region.
    Thick strokes inside the box also cover the ring's inner edge, so only the ring is weighed. The first
    best shift, row by row, wins (as a template match would pick it).
    """
    x, y, w, h = rect_mm
    r = _px(radius_mm)
    x0, y0, bw, bh = _px(x), _px(y), _px(w), _px(h)
    top, left = max(0, y0 - r), max(0, x0 - r)
    region = ink[top : y0 + bh + r, left : x0 + bw + r]
    if region.shape[0] < bh or region.shape[1] < bw:
        return 0.0, 0.0, 0.0
    sums = cv2.integral(region.view(np.uint8), sdepth=cv2.CV_32S)
    ny, nx = region.shape[0] - bh + 1, region.shape[1] - bw + 1

    def rect_sums(dy: int, dx: int, rh: int, rw: int) -> np.ndarray:
        """Ink in the ``rh`` x ``rw`` rectangle at (dy, dx) from each candidate corner."""
        return (sums[dy + rh : dy + rh + ny, dx + rw : dx + rw + nx] - sums[dy : dy + ny, dx + rw : dx + rw + nx]
                - sums[dy + rh : dy + rh + ny, dx : dx + nx] + sums[dy : dy + ny, dx : dx + nx])

    t = OUTLINE_PX
    ring = rect_sums(0, 0, bh, bw) - rect_sums(t, t, bh - 2 * t, bw - 2 * t)
    best = int(np.argmax(ring))
    iy, ix = divmod(best, nx)
    quality = float(ring.flat[best]) / (bh * bw - (bh - 2 * t) * (bw - 2 * t))
    return (left + ix - x0) / PX, (top + iy - y0) / PX, quality


@dataclass(frozen=True)
class BoxInk:
    light: float  # share of the interior in light ink or darker
    light_span_mm: float  # longest extent of the light ink of one stroke (pencil grain bridged)
    trace: float  # share of the interior with a trace, specks left out
    trace_span_mm: float  # longest extent of one trace, specks left out
    line: float = 0.0  # share of the light ink lying on one horizontal or vertical straight line
    speck_light: float = 0.0  # share of the interior in light ink that lies in specks (pen touches)
    dark: float = 0.0  # share of the interior in pen-dark ink (``ink_darkness``)
    piece_mm: float = 0.0  # longest side of the largest drawn piece of light ink, dots left out (_largest_piece_mm)
    dots: bool = False  # the ink is dots only: no drawn piece, no trace beyond the dots' halo (_dots_only)
    trace_line: float = 0.0  # share of the strokes' traces on one horizontal or vertical line (boxes under mark_ink)
    big_blot: bool = False  # its drawn light ink is blots over dot_max_mm only (a drop of ink; a thick marker's X)
    thick_mm: float = 0.0  # how thick its light ink is at the thickest place (_largest_piece_mm)
    round_blot: bool = False  # that big blot is as round as a disc: a drop of ink, never a mark (_round_blot)
    open_mm: float = math.inf  # radius of the largest disc of paper its traces leave open (open_paper_mm), mm
    travel_mm: float = 0.0  # how far the pen went in the box: the length of its traces' skeleton (pen_travel_mm)
    hidden_mm: float = 0.0  # longest extent of pen-dark ink the light ink lacks: taken out of it as a crease's (see measure_box)


@cache
def _axis_kernels() -> tuple[np.ndarray, np.ndarray]:
    return np.ones((1, _px(4.0)), np.uint8), np.ones((_px(3.2), 1), np.uint8)


def _axis_line_share(mask: np.ndarray) -> float:
    """Share of ``mask`` on long horizontal or vertical straight lines: folds, creases, ruled lines."""
    total = int(mask.sum())
    if total == 0:
        return 0.0
    crop = mask.view(np.uint8)
    horizontal, vertical = _axis_kernels()
    on_line = np.asarray(cv2.morphologyEx(crop, cv2.MORPH_OPEN, horizontal)) | np.asarray(
        cv2.morphologyEx(crop, cv2.MORPH_OPEN, vertical))
    return float(on_line.sum()) / total


def _pieces(mask: np.ndarray, close_px: int) -> np.ndarray:
    """Connected-component stats (one row per piece, background left out) of ``mask`` after a
    :func:`scanner.imaging._closed` closing; (0, 5) when there is no ink."""
    if not mask.any():
        return np.zeros((0, 5), np.int32)
    return np.asarray(cv2.connectedComponentsWithStats(_closed(mask, close_px), connectivity=8)[2][1:])


def _longest_span_mm(mask: np.ndarray, close_px: int = 3) -> float:
    dims = _pieces(mask, close_px)[:, cv2.CC_STAT_WIDTH : cv2.CC_STAT_HEIGHT + 1]
    return float(np.hypot(dims[:, 0], dims[:, 1]).max(initial=0.0)) / PX


def _largest_piece_mm(mask: np.ndarray, s: ScanSettings) -> tuple[float, float, float, np.ndarray]:
    """The longest side of the bounding box of the largest drawn piece of ``mask`` (pencil grain bridged by a
    3 px closing), or 0; the same with blots of any size left out; how thick the ink is at its thickest
    place (twice its largest distance to the paper, mm); and the stats of all its pieces (as
    :func:`_pieces` gives them). A blot (:func:`_piece_shapes`) up to ``dot_max_mm`` is not drawn: a dot,
    dots touching (a pen touch, hesitation dots, a marker's dots) or a small drop. A stroke is, and so is a
    larger blot here: a thick marker's X is one (:func:`classify_box` weighs it against the page's marks).
    """
    if not mask.any():
        return 0.0, 0.0, 0.0, np.zeros((0, 5), np.int32)
    stats, long, blot, depth = _piece_shapes(mask, s)
    short = blot & (long <= s.dot_max_mm * PX)
    return (float(long[~short].max(initial=0.0)) / PX, float(long[~blot].max(initial=0.0)) / PX,
            2.0 * float(depth.max(initial=0.0)) / PX, stats)


def _piece_shapes(mask: np.ndarray, s: ScanSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each piece of ``mask`` (some ink; grain bridged by a 3 px closing): its stats (as :func:`_pieces`),
    the longest side of its bounding box (px), whether it is a blot: under ``dot_elongation`` times as
    long as it is thick (twice its largest distance to the paper), filling ``dot_fill`` of its bounding
    box, and without arms (:func:`_has_arms`: a thick pen's small X or plus has them); and that largest
    distance to the paper (px)."""
    closed = _closed(mask, 3)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    depth = np.zeros(n, np.float32)
    # the paper's distance counted within the crop: its edge is paper (with none, the transform is unbounded)
    edged = cv2.copyMakeBorder(closed, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    np.maximum.at(depth, np.asarray(labels, np.intp).ravel(),
                  cv2.distanceTransform(edged, cv2.DIST_L2, 3)[1:-1, 1:-1].ravel())
    w, h = stats[1:, cv2.CC_STAT_WIDTH].astype(np.float64), stats[1:, cv2.CC_STAT_HEIGHT].astype(np.float64)
    long = np.maximum(w, h)
    fill = stats[1:, cv2.CC_STAT_AREA] / (w * h)
    blot = (long < s.dot_elongation * 2.0 * depth[1:]) & (fill >= s.dot_fill)
    for k in np.flatnonzero(blot):
        x, y = stats[k + 1, cv2.CC_STAT_LEFT], stats[k + 1, cv2.CC_STAT_TOP]
        blot[k] = not _has_arms(labels[y : y + int(h[k]), x : x + int(w[k])] == k + 1, s)
    return np.asarray(stats[1:]), long, blot, depth[1:]


def blotted(maps: InkMaps, rect_mm: tuple[float, float, float, float], s: ScanSettings) -> bool:
    """Whether a box's traces (specks left out) are blots, not strokes: a round solid piece ``speck_mm``
    long or more, of any size, and no drawn piece as long (an ink blot, a graphite smudge, a fingertip's
    smear, a drop). The traces, not the light ink: a light pencil's X may be dark enough for light ink
    only where its strokes cross, a blot, while its traces show the strokes. Asked only by
    :func:`light_pen_marks` and :func:`soft_pen_marks`, of the few boxes they would take."""
    mask = _without_specks(_interior(maps.trace, rect_mm, s.trace_inset_mm), s.speck_mm)
    if not mask.any():
        return False
    _, long, blot, _ = _piece_shapes(mask, s)
    speck = s.speck_mm * PX
    return bool((long[blot] >= speck).any()) and not bool((long[~blot] >= speck).any())


def _round_blot(mask: np.ndarray, s: ScanSettings) -> bool:
    """Whether the largest piece of ``mask`` (light ink, grain bridged as :func:`_piece_shapes` does) is as round
    as a disc: 4 pi area / perimeter^2 at least ``blot_round``. A hand draws a mark in strokes, which leave
    corners and arms on even a thick marker's blob; a drop of ink spreads round."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(_closed(mask, 3), connectivity=8)
    if n < 2:
        return False
    piece = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).view(np.uint8)
    outline, _ = cv2.findContours(piece, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    perimeter = sum(cv2.arcLength(c, True) for c in outline)
    return perimeter > 0 and 4.0 * np.pi * cv2.countNonZero(piece) / perimeter**2 >= s.blot_round


def _has_arms(piece: np.ndarray, s: ScanSettings) -> bool:
    """Whether a short solid piece of ink (a bool mask) reaches out in arms both ways: a small X, plus or
    asterisk drawn with a thick pen, whose strokes are hardly longer than the pen is wide.

    Dots are convex, alone or touching: round, or, two of them, drawn out along one line. Strokes that
    cross spread as far across as along (the spread of the ink's second moments, smaller over larger, at
    least ``arms_spread``), and leave paper between their arms inside the piece's convex hull (the ink
    fills at most ``arms_solidity`` of it). Two round dots touching fill 0.88 of their hull and spread
    about half as far across; three in a triangle fill 0.87.
    """
    m = cv2.moments(piece.view(np.uint8), binaryImage=True)
    if m["m00"] < 1:
        return False
    mu20, mu02, mu11 = m["mu20"], m["mu02"], m["mu11"]
    half_gap = np.hypot((mu20 - mu02) / 2.0, mu11)
    larger, smaller = (mu20 + mu02) / 2.0 + half_gap, (mu20 + mu02) / 2.0 - half_gap
    if larger <= 0 or smaller < s.arms_spread**2 * larger:
        return False
    outline, _ = cv2.findContours(piece.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros(piece.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.vstack(outline)), 1)
    return m["m00"] <= s.arms_solidity * cv2.countNonZero(hull)


def _without_specks(trace: np.ndarray, speck_mm: float) -> np.ndarray:
    """``trace`` with its specks removed: components whose extent is under ``speck_mm``.

    A speck is a pen touch, a hesitation dot or a dust spot; it is not a mark, but
    the light ink in it still counts towards the box's ink (see :func:`classify_box`).
    """
    if not trace.any():
        return trace
    n, labels, stats, _ = cv2.connectedComponentsWithStats(trace.view(np.uint8), connectivity=8)
    dims = stats[:, cv2.CC_STAT_WIDTH : cv2.CC_STAT_HEIGHT + 1]
    keep = np.hypot(dims[:, 0], dims[:, 1]) >= speck_mm * PX
    keep[0] = False
    return np.asarray(keep[labels])


def _interior_slices(rect_mm: tuple[float, float, float, float], inset_mm: float) -> tuple[slice, slice]:
    x, y, w, h = rect_mm
    return (slice(max(0, _px(y + inset_mm)), _px(y + h - inset_mm)),
            slice(max(0, _px(x + inset_mm)), _px(x + w - inset_mm)))


def _interior(mask: np.ndarray, rect_mm: tuple[float, float, float, float], inset_mm: float) -> np.ndarray:
    return mask[_interior_slices(rect_mm, inset_mm)]


def _stroke_light_span_mm(light: np.ndarray, strokes: np.ndarray) -> float:
    """Longest extent of the light ink that lies in one stroke of the trace map.

    A pencil line is grainy: its light-ink pixels are scattered along the
    stroke, which the smoothed trace map shows whole. The extent of the light
    ink within each trace stroke is the stroke's length as far as it is dark
    enough to count, so a grainy pencil X spans the box while a faint one
    (almost no light ink) and a small tick (a short stroke) do not.
    """
    if not light.any() or not strokes.any():
        return 0.0
    n, labels = cv2.connectedComponents(_closed(strokes, 3), connectivity=8)
    rows, cols = np.nonzero(light & (labels > 0))
    if rows.size == 0:
        return 0.0
    lab = labels[rows, cols]
    best = 0.0
    for k in np.unique(lab):
        pick = lab == k
        r, c = rows[pick], cols[pick]
        best = max(best, float(np.hypot(r.max() - r.min() + 1, c.max() - c.min() + 1)))
    return best / PX


def measure_box(maps: InkMaps, rect_mm: tuple[float, float, float, float], s: ScanSettings) -> BoxInk:
    """Ink shares and stroke extents inside the box interior (the printed outline excluded)."""
    light = _interior(maps.light, rect_mm, s.box_inset_mm)
    trace = _interior(maps.trace, rect_mm, s.trace_inset_mm)
    pen = _interior(maps.ink, rect_mm, s.box_inset_mm)
    hidden_mm = 0.0
    if maps.explained is not None and light.size:
        # pen-dark ink lies within the light ink, but for what explain_folds took out of the light ink as a
        # crease's or a streak's band. A crease is not pen-dark (is_crease): a pen's stroke lying along one
        # (a tiny tick on the fold) was taken out with it, and must not be read as empty or as dots. A streak
        # is (a dark one), and its row goes to review for it: its band is read as no mark
        hidden = pen & ~light
        if maps.streak_band is not None:
            hidden &= ~_interior(maps.streak_band, rect_mm, s.box_inset_mm)
        hidden_mm = _longest_span_mm(hidden) if hidden.any() else 0.0
    if light.size == 0 or trace.size == 0 or not (light.any() or trace.any()):
        # nothing in the box (most boxes): what the measures below give
        return BoxInk(0.0, 0.0, 0.0, 0.0, hidden_mm=hidden_mm)
    share = float(light.mean())
    strokes = _without_specks(trace, s.speck_mm)
    speck_light = 0.0
    light_span = 0.0
    if share > 0:
        inner_light = _interior(maps.light, rect_mm, s.trace_inset_mm)
        speck_light = float((inner_light & ~strokes).sum()) / light.size
        light_span = max(_longest_span_mm(light, 5), _stroke_light_span_mm(inner_light, strokes))
    dark = float(pen.mean()) if share > 0 else 0.0
    piece, stroke, thick, pieces = _largest_piece_mm(light, s)
    big_blot = piece >= s.speck_mm > stroke
    dots = (share > 0 and piece < s.speck_mm and hidden_mm < s.speck_mm and dark >= s.dots_dark * share
            and _dots_only(share, pieces, inner_light, strokes, s))
    trace_line = _axis_line_share(strokes) if share < s.mark_ink and strokes.any() else 0.0  # soft strokes' only
    covered = float(strokes.mean())
    return BoxInk(share, light_span, covered, _longest_span_mm(strokes),
                  _axis_line_share(light) if share > 0 else 0.0, speck_light, dark, piece, dots, trace_line, big_blot,
                  thick, big_blot and _round_blot(light, s), open_paper_mm(strokes) if covered >= s.shaded_trace else math.inf,
                  pen_travel_mm(strokes), hidden_mm)


def pen_travel_mm(traces: np.ndarray) -> float:
    """How far the pen went in a box: the length (mm) of the skeleton of its interior's ``traces`` (specks
    left out), each skeleton pixel counted 1.1 px (a diagonal step is 1.41). However thick the pen, an X is
    about two of the interior's diagonals long, a circle or an asterisk under two and a half; strokes
    gone back and forth over a mark, or a hatch, much more."""
    if not traces.any():
        return 0.0
    return float(np.count_nonzero(skeletonize(traces))) * 1.1 / PX


def open_paper_mm(traces: np.ndarray) -> float:
    """The radius (mm) of the largest disc of paper that ``traces`` (a box interior's) leave open, within the
    interior: an X, a tick, a circle, however thick their lines, leave open the paper between their arms;
    a box scribbled over, hatched densely or filled leaves none."""
    edged = cv2.copyMakeBorder((~traces).view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    return float(cv2.distanceTransform(edged, cv2.DIST_L2, 5).max()) / PX


def stroke_core(maps: InkMaps, rect_mm: tuple[float, float, float, float], s: ScanSettings) -> float:
    """How dark the strokes in a box are at their core: the ``core_percentile`` of the smoothed page's
    darkness over the box's traces, specks left out (0 without any). Asked only by :func:`soft_pen_marks`,
    on the few pages where a soft pen may be seen."""
    rows, cols = _interior_slices(rect_mm, s.trace_inset_mm)
    strokes = _without_specks(maps.trace[rows, cols], s.speck_mm)
    if not strokes.any():
        return 0.0
    return float(np.percentile(darkness(maps.smooth[rows, cols], maps.paper[rows, cols])[strokes], s.core_percentile))


@cache
def _halo_kernel(halo_mm: float) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * _px(halo_mm) + 1,) * 2)


def dots_halo(light: np.ndarray, s: ScanSettings) -> np.ndarray:
    """Where the light ink of dots, and the trace the smoothed page draws around and between them
    (``dots_halo_mm``), lie."""
    return np.asarray(cv2.dilate(light.view(np.uint8), _halo_kernel(s.dots_halo_mm))).view(bool)


def _dots_only(share: float, pieces: np.ndarray, inner_light: np.ndarray, strokes: np.ndarray, s: ScanSettings) -> bool:
    """Whether a box's ink (no drawn piece in it, pen-dark in part) is dots and nothing else: little of it, in
    a few pieces each smaller than a speck (a tiny tick, 1.5 mm, is a piece larger than that: a human must
    look), and no trace
    beyond the dots' halo that an empty box would not allow (a faint stroke drawn past a dot is not a dot).
    ``pieces`` are the stats of the light ink's pieces in the box interior (:func:`_largest_piece_mm`),
    ``inner_light`` and ``strokes`` the part of the interior the trace map covers."""
    if share >= s.dots_max_ink:
        return False
    if len(pieces) > s.dots_max_count or np.maximum(pieces[:, cv2.CC_STAT_WIDTH],
                                                  pieces[:, cv2.CC_STAT_HEIGHT]).max(initial=0) >= s.speck_mm * PX:
        return False
    beyond = strokes & ~dots_halo(inner_light, s)
    return float(beyond.mean()) < s.empty_trace and _longest_span_mm(beyond) < s.empty_span_mm


def classify_box(ink: BoxInk, s: ScanSettings, *, pen_light: float | None = None,
                 pen_width_mm: float | None = None) -> str:
    """Two thresholds: definitely marked, definitely empty, marginal between.

    Marked: enough light ink (specks left out) in a stroke at least ``mark_span_mm``
    long; not a box covered almost solid (``heavy_ink``: a mark scribbled over to
    cancel it looks like that), unless the voter's pen is that thick on this page:
    ``pen_light`` is the light-ink share of the page's typical mark (see
    :func:`score_boxes`), and a heavy box no heavier than ``heavy_pen_ratio`` times
    it, and not solid (``solid_ink``), is that pen's mark. Not a faint straight
    line either (a crease: ``line_share`` of the light ink on one axis-aligned
    line, with little pen-dark ink on it).

    A mark is drawn: some piece of its light ink reaches ``speck_mm`` and is not a
    small round blot (:func:`_largest_piece_mm`). A larger blot is drawn only on a page
    whose typical mark has at least 2/3 of its light ink (``blot_pen_ratio``) and whose
    strokes are at least 1/``blot_width_ratio`` as wide as the blot is thick
    (``pen_width_mm``, the median :func:`stroke_width_mm` of its clear strokes): a thick
    marker's X or asterisk is such a blob, no thicker than a few of its strokes crossing,
    but on a page marked in ballpoint, or with no typical mark, it is a drop of ink; and so is a
    blot as round as a disc (``round_blot``) on any page, a felt pen's too. Dots
    close together, which the
    smoothed trace map joins into one stroke, are not a mark (hesitation dots, a
    marker's dots): marginal.

    Empty allows specks (pen touches, dots under ``speck_mm``) up to ``speck_ink``
    of the box, but no trace longer than ``empty_span_mm`` and almost no other ink, and no pen-dark ink of
    ``speck_mm`` or more that a crease's band took out of the light ink (``hidden_mm``: a crease is not
    pen-dark, a stroke along it is).
    """
    stroke_light = max(0.0, ink.light - ink.speck_light)
    heavy = is_heavy(ink.light, ink.trace, s, ink.open_mm)
    if heavy and pen_light is not None and pen_light >= s.heavy_ink * s.thick_pen_share:
        heavy = ink.light >= s.solid_ink or ink.light > pen_light * s.heavy_pen_ratio
    crease = is_crease(ink, s)
    drawn = ink.piece_mm >= s.speck_mm
    if drawn and ink.big_blot and (ink.round_blot or pen_light is None or ink.light > s.blot_pen_ratio * pen_light
                                   or pen_width_mm is None or ink.thick_mm > s.blot_width_ratio * pen_width_mm):
        drawn = False  # a large blot (a drop of ink) on a page whose marks are lighter or thinner, or a disc: not a mark
    if stroke_light >= s.mark_ink and ink.light_span_mm >= s.mark_span_mm and drawn and not heavy and not crease:
        return "marked"
    if (stroke_light < s.empty_ink and ink.light < s.speck_ink and ink.trace < s.empty_trace
            and ink.trace_span_mm < s.empty_span_mm and ink.hidden_mm < s.speck_mm):
        return "empty"
    return "marginal"


def is_crease(ink: BoxInk, s: ScanSettings) -> bool:
    """A box whose light ink lies mostly on one axis-aligned straight line, with little pen-dark ink on it:
    a crease or a fold, not a mark."""
    return ink.line >= s.line_share and ink.dark < s.crease_dark_share * ink.light


def is_heavy(light: float, trace: float, s: ScanSettings, open_mm: float = math.inf) -> bool:
    """A box covered as a scribbled-over (cancelled) mark may be: much light ink, most of it darkened at
    all, or most of it shaded (``shaded_trace``) faintly (a pencil scribble: traces four times the light
    ink) or with no open paper between its strokes (``open_mm``, :func:`open_paper_mm`, at most
    ``scribble_open_mm``)."""
    return (light >= s.heavy_ink or trace >= s.heavy_trace
            or (trace >= s.shaded_trace and (light < 0.25 * trace or open_mm <= s.scribble_open_mm)))


def clear_strokes(inks: list[BoxInk], s: ScanSettings) -> list[int]:
    """The page's clear strokes (indices into ``inks``): enough ink over ``mark_span_mm``, pen-dark, not a
    crease, not solid."""
    return [k for k, i in enumerate(inks) if i.light - i.speck_light >= s.mark_ink and i.light_span_mm >= s.mark_span_mm
            and i.light < s.solid_ink and i.dark >= s.crease_dark_share * i.light]


def typical_mark(inks: list[BoxInk], s: ScanSettings) -> float | None:
    """Light-ink share of the page's typical mark (the median of its :func:`clear_strokes`), or None.

    At least three clear strokes are needed; with fewer nothing is assumed of the pen.
    """
    clear = [inks[k].light for k in clear_strokes(inks, s)]
    return float(np.median(clear)) if len(clear) >= 3 else None


def stroke_width_mm(mask: np.ndarray) -> float:
    """How wide the strokes of ``mask`` (a box's light ink) are: twice their area over their outline's
    length (a stroke L long and w wide has area L w and an outline 2 L long), grain bridged as
    :func:`_piece_shapes` bridges it."""
    closed = _closed(mask, 3)
    outlines, _ = cv2.findContours(closed, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    length = sum(cv2.arcLength(c, True) for c in outlines)
    return 2.0 * float(np.count_nonzero(closed)) / length / PX if length > 0 else 0.0


# fixed by the construction: the faint-line filters' shapes, in pixels at half the canonical resolution, from
# which the cached kernels and flanks are built (what counts as a crease is in ScanSettings)
FAINT_LINE_PX = 7  # at half the canonical resolution: segments of about 2.3 mm (the matched filter's length)


@cache
def _faint_line_kernels(length: int = FAINT_LINE_PX) -> tuple[np.ndarray, ...]:
    """Averaging kernels along straight segments of ``length`` px, every 22.5 degrees."""
    kernels = []
    c = length // 2
    for angle in np.arange(0.0, 180.0, 22.5):
        k = np.zeros((length, length), np.float32)
        dx, dy = np.cos(np.deg2rad(angle)) * c, np.sin(np.deg2rad(angle)) * c
        cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
        kernels.append(k / k.sum())
    return tuple(kernels)


FLANK_PX = 3  # at half resolution: the paper either side of a faint stroke is looked at 1 mm from its middle
#               (the ridge filter's shape: _FLANKS, and the frame of _mover's copies)
_FLANKS = tuple((round(np.cos(np.deg2rad(a)) * FLANK_PX), round(-np.sin(np.deg2rad(a)) * FLANK_PX))
                for a in np.arange(0.0, 180.0, 22.5))  # (rows, columns) across each segment direction


def _ridge(mean: np.ndarray, flank: tuple[int, int]) -> np.ndarray:
    """How much darker each segment mean of ``mean`` is than the darker of the two parallel segments
    ``flank`` (rows, columns) to either side: a stroke is darker than the paper both sides of it; the edge
    of a shadow (a fold's, a hand's) is as dark as the shadow on one side."""
    moved = _mover(mean, FLANK_PX)
    side = np.maximum(moved(*flank), moved(-flank[0], -flank[1]))
    return np.subtract(mean, side, out=side)


def _mover(image: np.ndarray, reach: int) -> Callable[[int, int], np.ndarray]:
    """``moved(dy, dx)``: ``image`` moved by (dy, dx) pixels, zeros coming in, as :func:`bleed.shifted` has it,
    for moves of at most ``reach``: views into one copy of ``image`` framed by ``reach`` zeros."""
    h, w = image.shape
    framed = cv2.copyMakeBorder(np.ascontiguousarray(image), reach, reach, reach, reach, cv2.BORDER_CONSTANT, value=0)

    def moved(dy: int, dx: int) -> np.ndarray:
        return framed[reach - dy : reach - dy + h, reach - dx : reach - dx + w]

    return moved


@dataclass(frozen=True)
class BoxRegions:
    """The darkness of the smoothed page around the boxes, and where each box's interior and side strips are.

    ``dark``: (H, W) float32 crop, 1 - smooth / paper (0 on explained creases);
    ``inner[k]`` and ``beside[k]`` are slices into it for box ``k``.
    """

    dark: np.ndarray
    inner: tuple[tuple[slice, slice], ...]
    beside: tuple[tuple[tuple[slice, slice], tuple[slice, slice]], ...]
    paper: np.ndarray  # (H, W) bool: not a trace (for the side strips)


def box_regions(maps: InkMaps, rects: list[tuple[float, float, float, float]], s: ScanSettings,
                judged: list[bool] | None = None) -> BoxRegions:
    """The regions of ``rects``. In a box whose light ink is judged already (``judged``: dots only, or the
    specks of an empty box, or the tip of a stroke entering it from outside), that ink and its halo count
    as paper, so the faint-mark measures see what else is in it."""
    xs = [r[0] for r in rects] + [r[0] + r[2] for r in rects]
    ys = [r[1] for r in rects] + [r[1] + r[3] for r in rects]
    near, far = s.shade_strip_near_mm, s.shade_strip_far_mm
    r0, r1 = max(0, _px(min(ys) - 1.0)), _px(max(ys) + 1.0)
    c0, c1 = max(0, _px(min(xs) - far - 1.0)), _px(max(xs) + far + 1.0)
    dark = darkness(maps.smooth[r0:r1, c0:c1], maps.paper[r0:r1, c0:c1])
    if maps.explained is not None:
        dark[maps.explained[r0:r1, c0:c1]] = 0.0
    if maps.shown_through is not None:  # what is left of the back's lines once divided out is not a mark
        dark[maps.shown_through[r0:r1, c0:c1]] = 0.0
    inner, beside = [], []
    ins, bi = s.trace_inset_mm, s.box_inset_mm
    for k, (x, y, w, h) in enumerate(rects):
        rows = slice(_px(y + ins) - r0, _px(y + h - ins) - r0)
        inner.append((rows, slice(_px(x + ins) - c0, _px(x + w - ins) - c0)))
        if judged is not None and judged[k]:
            # the halo of the light ink of the whole interior: a stroke's tip in its edge blurs inwards
            light = _interior(maps.light, (x, y, w, h), bi)
            if light.any():
                box = dark[inner[-1]]
                oy, ox = _px(y + ins) - _px(y + bi), _px(x + ins) - _px(x + bi)
                box[dots_halo(light, s)[oy : oy + box.shape[0], ox : ox + box.shape[1]]] = 0.0
        beside.append(((rows, slice(_px(x - far) - c0, _px(x - near) - c0)),
                       (rows, slice(_px(x + w + near) - c0, _px(x + w + far) - c0))))
    return BoxRegions(dark, tuple(inner), tuple(beside), ~maps.trace[r0:r1, c0:c1])


def box_shades(regions: BoxRegions) -> np.ndarray:
    """Mean darkness of each box interior above the paper just left and right of the box.

    A mark too faint to leave a trace still darkens its box a little. Shading
    (a fold's shadow, uneven light) darkens the paper beside the box as much, so
    the comparison is with strips of the same rows on both sides of the box
    (their paper only: a stroke entering a strip does not count).
    """
    out = np.zeros(len(regions.inner))
    for k, (box, (left, right)) in enumerate(zip(regions.inner, regions.beside, strict=True)):
        inner = regions.dark[box]
        paper = np.concatenate([regions.dark[left][regions.paper[left]], regions.dark[right][regions.paper[right]]])
        out[k] = float(inner.mean() - paper.mean()) if inner.size and paper.size else 0.0
    return out


def faint_lines(regions: BoxRegions, s: ScanSettings) -> tuple[np.ndarray, np.ndarray]:
    """Strongest faint straight stroke in each box interior, and on the paper beside each box.

    The darkness of the smoothed page is averaged along short segments in eight
    directions (a matched filter for a thin stroke: the eye sees a faint pencil X
    well below the noise of single pixels this way), at half resolution, over the
    box interiors and the strips beside the boxes only (everything else set to
    paper, so printed lines do not reach in). A segment counts by how much darker it
    is than the darker of the two parallel segments 1 mm either side of it
    (:func:`_ridge`): a stroke is darker than the paper on both sides, while the
    edge of a shadow across a box (a fold's on a phone photo) is as dark as the
    shadow on one side. Returns two arrays, one value per box: the interior maxima
    and the beside maxima. In a box, a segment whose flank would lie beyond the
    interior is not judged: what is beyond is set to paper, and the printed outline's
    halo, darkest at the interior's edge, read there as a line along the edge.

    A horizontal line that crosses a box from side to side, running on at the
    same height through the paper left and right of it (``crease_continues``, within
    ``crease_rows``), is a crease of the sheet or a scanner's line, not a voter's stroke: in such a
    box only directions at least 45 degrees from horizontal are measured, so a
    faint X over the crease is still found. A faint stroke that stays inside the
    box is measured in every direction.
    """
    keep = np.zeros(regions.dark.shape, bool)
    interior = np.zeros(regions.dark.shape, np.uint8)
    for box, (left, right) in zip(regions.inner, regions.beside, strict=True):
        keep[box] = keep[left] = keep[right] = True
        interior[box] = 1
    dark = np.where(keep, regions.dark, np.float32(0.0))
    half = np.ascontiguousarray(cv2.blur(dark, (2, 2))[1::2, 1::2])  # 2 x 2 block means (contiguous: filtered faster)
    inner = interior[1::2, 1::2]
    kernels = _faint_line_kernels()
    moved_inner = _mover(inner, FLANK_PX)

    def ridge(k: int) -> np.ndarray:
        out = _ridge(cv2.filter2D(half, -1, kernels[k], borderType=cv2.BORDER_CONSTANT), _FLANKS[k])
        # in a box, a segment whose flank lies beyond the interior is not judged: the outline's halo
        dy, dx = _FLANKS[k]
        out[(inner & ~(moved_inner(dy, dx) & moved_inner(-dy, -dx))).view(bool)] = 0.0
        return out

    along = ridge(0)  # horizontal segments
    across = ridge(2)  # 45 to 135 degrees
    for k in range(3, 7):
        np.maximum(across, ridge(k), out=across)
    response = np.maximum(across, along)
    for k in (1, 7):  # 22.5 degrees either side of horizontal
        np.maximum(response, ridge(k), out=response)

    def part(image: np.ndarray, region: tuple[slice, slice]) -> np.ndarray:
        rs, cs = region
        return image[max(0, rs.start // 2) : rs.stop // 2, max(0, cs.start // 2) : cs.stop // 2]

    def peak(image: np.ndarray, region: tuple[slice, slice]) -> float:
        values = part(image, region)
        return float(values.max()) if values.size else 0.0

    def inside(box: tuple[slice, slice], left: tuple[slice, slice], right: tuple[slice, slice]) -> float:
        line = part(along, box)
        if line.size:
            row = int(np.argmax(line)) // line.shape[1]
            strength = float(line.max())
            near = slice(max(0, row - s.crease_rows), row + s.crease_rows + 1)  # the same height, give or take 1 mm
            if all(side.size and float(side[near].max(initial=0.0)) >= s.crease_continues * strength
                   for side in (part(along, left), part(along, right))):
                return peak(across, box)  # a crease crosses the box: only strokes across it can be a mark
        return peak(response, box)

    return (np.array([inside(b, a, c) for b, (a, c) in zip(regions.inner, regions.beside, strict=True)]),
            np.array([max(peak(response, a), peak(response, b)) for a, b in regions.beside]))


def score_boxes(maps: InkMaps, page: PageLayout, s: ScanSettings) -> tuple[list[BoxResult], set[int]]:
    """Score every box of ``page``; return the boxes and the persons whose box outline moved too far, or is
    not where the refined box puts it (:func:`outline_cover`)."""
    results: list[BoxResult] = []
    distorted: set[int] = set()
    measured: list[tuple[int, Level, float, float, BoxInk]] = []
    rects: list[tuple[float, float, float, float]] = []
    printed = maps.light if maps.explained is None else maps.light | maps.explained  # a crease hides no outline
    for row in page.rows:
        shifts = [refine_box(maps.ink, row.boxes_mm[level], s.refine_radius_mm) for level in LEVELS]
        # the three boxes of a row move together; a mark inside one must not drag it away
        mdx = sorted(d[0] for d in shifts)[1]  # the median of three
        mdy = sorted(d[1] for d in shifts)[1]
        for level, (dx, dy, _) in zip(LEVELS, shifts, strict=True):
            if abs(dx - mdx) > 0.5 or abs(dy - mdy) > 0.5:
                dx, dy = mdx, mdy
            x, y, w, h = row.boxes_mm[level]
            rects.append((x + dx, y + dy, w, h))
            if (max(abs(dx), abs(dy)) > s.refine_max_shift_mm
                    or outline_cover(printed, rects[-1], s.outline_band_mm) < s.outline_min_cover):
                distorted.add(row.person)
            measured.append((row.person, level, dx, dy, measure_box(maps, rects[-1], s)))
    inks = [m[4] for m in measured]
    pen_light = typical_mark(inks, s)
    pen_width = None  # asked only of a page with a large blot (classify_box), which few pages have
    if pen_light is not None and any(i.big_blot for i in inks):
        pen_width = float(np.median([stroke_width_mm(_interior(maps.light, rects[k], s.box_inset_mm))
                                     for k in clear_strokes(inks, s)]))
    for person, level, dx, dy, ink in measured:
        results.append(BoxResult(person, level, round(ink.light, 4), round(ink.trace, 4),
                                 round(max(ink.light_span_mm, ink.trace_span_mm), 2),
                                 classify_box(ink, s, pen_light=pen_light, pen_width_mm=pen_width), round(dx, 3),
                                 round(dy, 3), open_mm=ink.open_mm))
    # a mark too faint to leave a trace still darkens its box a little (against the paper beside it),
    # and shows as a faint straight stroke above the page's own clutter beside its boxes
    dots = [m[4].dots for m in measured]
    # the light ink of an empty box (specks; the tip of a stroke from outside) is judged: only what lies
    # beyond its halo is looked at for a fainter mark
    judged = [d or r.state == "empty" for d, r in zip(dots, results, strict=True)]
    regions = box_regions(maps, rects, s, judged) if rects else None
    shades = list(box_shades(regions)) if regions else []
    inside, beside = faint_lines(regions, s) if regions else (np.zeros(0), np.zeros(0))
    limit = max(s.faint_line_min, s.faint_line_ratio * float(np.median(beside))) if beside.size else np.inf
    faint = [sh >= s.shade_excess or line >= limit for sh, line in zip(shades, inside, strict=True)]
    results = [replace(b, shade=round(sh, 4), state="marginal" if b.state == "empty" and seen else b.state,
                       dots=b.state == "marginal" and dot and not seen)
               for sh, seen, dot, b in zip(shades, faint, dots, results, strict=True)]
    def blot_of(k: int) -> bool:
        return blotted(maps, rects[k], s)

    results = light_pen_marks(results, inks, s, blot_of)
    results = soft_pen_marks(results, inks, s, lambda k: stroke_core(maps, rects[k], s), blot_of)
    return overdrawn(heavier_than_the_page(results, inks, s), inks, rects, s), distorted


def overdrawn(boxes: list[BoxResult], inks: list[BoxInk], rects: list[Rect], s: ScanSettings) -> list[BoxResult]:
    """A marked box whose strokes run longer than ``pen_travel_diagonals`` times its interior's diagonal
    (:func:`pen_travel_mm`) is not taken as a mark: marginal, ``gone_over``, its row to review as ``scribble``.

    A voter's one mark crosses the box about twice (an X) or goes round it once (a circle): on the
    simulator's decks and the other hand's, none of 52,655 X's, ticks, circles, pluses and asterisks ran over 2.84
    diagonals, a felt pen's neither (its skeleton is its middle line). A mark gone over with a few strokes
    laid across it, in pencil, can stay light and leave paper open between them, short of every heavy
    rule, and no heavier than the voter's own marks (:func:`heavier_than_the_page`): a pencil X under seven
    light upright strokes ran 3.2 diagonals (``bench/hands.py --steady``, adf-rough; seen before this rule
    was written). A hatched box goes the same way, as the filled-box policy has it.
    """
    out = list(boxes)
    for k, (b, ink, (_, _, w, h)) in enumerate(zip(boxes, inks, rects, strict=True)):
        inner = math.hypot(w - 2 * s.trace_inset_mm, h - 2 * s.trace_inset_mm)
        if b.state == "marked" and ink.travel_mm > s.pen_travel_diagonals * inner:
            out[k] = replace(b, state="marginal", gone_over=True)
    return out


def heavier_than_the_page(boxes: list[BoxResult], inks: list[BoxInk], s: ScanSettings) -> list[BoxResult]:
    """A marked box near heavy and heavier than the voter's own marks on the page is not taken as a mark.

    A mark gone over with a cross-hatch or loops in ballpoint can stay short of every heavy rule
    (:func:`is_heavy`): light ink 0.45-0.49 of the box, traces 0.75-0.85, paper left open between the
    hatch's lines (the held-out hand of ``bench/hands.py``: 6 such marks read as votes in 500 pages). The
    voter's other marks, in the same pen, show what a mark of theirs covers: a box whose traces cover
    ``shaded_trace`` of it, which is near heavy (``near_heavy_ink`` in light ink, or ``near_heavy_trace`` in
    traces), and whose traces cover over ``heavy_pen_ratio`` times the median of the page's marked boxes
    (at least ``pen_rows`` of them) is marginal, ``gone_over``: its row goes to review as ``scribble``. On a
    page of a thick pen every mark is that heavy, and the median with them."""
    marked = [k for k, b in enumerate(boxes) if b.state == "marked"]
    if len(marked) < s.pen_rows:
        return boxes
    usual = float(np.median([inks[k].trace for k in marked]))
    out = list(boxes)
    for k in marked:
        ink = inks[k]
        if (ink.trace >= s.shaded_trace and (ink.light >= s.near_heavy_ink or ink.trace >= s.near_heavy_trace)
                and ink.trace > s.heavy_pen_ratio * usual):
            out[k] = replace(boxes[k], state="marginal", gone_over=True)
    return out


def _pen_stroke(ink: BoxInk, s: ScanSettings) -> bool:
    """Whether a box left marginal holds what a light pen's mark would: a stroke as long as a mark in light
    ink (:func:`light_pen_marks` asks the same length of every box's traces), not a box covered as a
    cancelled mark is, not a crease, not dots."""
    return (ink.light_span_mm >= s.mark_span_mm and not is_heavy(ink.light, ink.trace, s, ink.open_mm) and not ink.dots
            and not is_crease(ink, s))


def light_pen_marks(boxes: list[BoxResult], inks: list[BoxInk], s: ScanSettings,
                    blot_of: Callable[[int], bool]) -> list[BoxResult]:
    """The marks of a voter whose pen is light (a pencil held lightly; grainy, or softened by the scan).

    Such a voter's every mark falls short of the marked box's absolute measures: too little light ink
    (``mark_ink``), or grain too fine for any piece of it to reach ``speck_mm``. The page shows the
    voter's pen: its rows with one box inked and the other two empty. When at least ``pen_rows`` of them
    hold a mark-long stroke (marked, or marginal with :func:`_pen_stroke`), the median of their trace
    and light-ink shares is this voter's mark; a marginal one with ``pen_trace_ratio`` of that trace and
    ``pen_light_ratio`` of that light ink (and at least ``empty_ink``: some ink a pencil leaves) is a mark.

    A very faint mark (a pencil barely touching) leaves almost no light ink, and a tiny tick a short
    stroke: both stay marginal. So does a box whose traces cover more than ``heavy_pen_ratio`` times the
    voter's mark (a mark scribbled over, short of heavy on a soft page), as with a thick pen's marks
    (:func:`classify_box`). A blot is not a mark either, however its ink compares (``blot_of(k)`` for box
    ``k``: :func:`blotted`, asked last): a pencil's grain is many small pieces, a smudge or a drop of ink
    one round one. A row with anything in a second box is left as it is.
    """
    pen = [k for k in _lone_strokes(boxes, inks, s)
           if boxes[k].state == "marked" or _pen_stroke(inks[k], s)]
    if len(pen) < s.pen_rows:
        return boxes
    trace = float(np.median([inks[k].trace for k in pen]))
    light = float(np.median([inks[k].light for k in pen]))
    out = list(boxes)
    for k in pen:
        ink = inks[k]
        if (boxes[k].state == "marginal" and s.pen_trace_ratio * trace <= ink.trace <= s.heavy_pen_ratio * trace
                and ink.light >= max(s.empty_ink, s.pen_light_ratio * light) and not blot_of(k)):
            out[k] = replace(boxes[k], state="marked", dots=False)
    return out


def _lone_strokes(boxes: list[BoxResult], inks: list[BoxInk], s: ScanSettings) -> list[int]:
    """The boxes alone inked in their row (the other two empty) whose traces hold a mark-long stroke."""
    rows: dict[int, list[int]] = {}
    for k, b in enumerate(boxes):
        rows.setdefault(b.person, []).append(k)
    lone = []
    for ks in rows.values():
        inked = [k for k in ks if boxes[k].state != "empty"]
        if len(inked) == 1 and inks[inked[0]].trace_span_mm >= s.mark_span_mm:
            lone.append(inked[0])
    return lone


def _soft_stroke(ink: BoxInk, s: ScanSettings) -> bool:
    """Whether a box holds what a soft pencil's mark leaves on a soft scan: a mark-long stroke in traces,
    with too little light ink for a mark; not a box covered as a cancelled mark is, not dots, and not
    one straight horizontal or vertical line (a crease)."""
    return (ink.light < s.mark_ink and not is_heavy(ink.light, ink.trace, s, ink.open_mm) and not ink.dots
            and ink.trace_line < s.line_share)


def soft_pen_marks(boxes: list[BoxResult], inks: list[BoxInk], s: ScanSettings,
                   core_of: Callable[[int], float], blot_of: Callable[[int], bool]) -> list[BoxResult]:
    """The marks of a voter whose pen leaves traces only on this scan (a soft pencil, a blurred or
    low-resolution scan): strokes a human sees plainly, grey lines the width of a pencil, with no pixel dark
    enough for light ink. :func:`light_pen_marks` cannot tell this voter's pen, which it knows by its light ink.

    The page shows the pen: its rows with one box inked (:func:`_lone_strokes`). When at least ``pen_rows``
    of them are marked or hold such a stroke (:func:`_soft_stroke`), and their median light ink falls short
    of a mark's (``mark_ink``), the medians of their trace share and of their strokes' core darkness
    (``core_of(k)`` for box ``k``: :func:`stroke_core`, worked out only then) are this voter's mark. A marginal one of them is a mark when it is as dark (``pen_core_ratio`` of that core) and as
    inked (``pen_trace_ratio`` of that trace) as the others, and as long as a mark (``mark_span_mm``).

    A page whose lone marks include one over ``soft_pen_spread`` times darker than their median was marked
    with a darker pen: its faint strokes are not that pen's marks, and nothing is assumed.

    Stays marginal: a fainter stroke (a pencil barely touching is lighter than the voter's own marks, not
    only thinner), a tiny tick (short), a box scribbled over (traces over ``shaded_trace`` of it: heavy; or
    over ``heavy_pen_ratio`` times the voter's mark), a smudge (its traces a round blot: ``blot_of(k)``,
    :func:`blotted`), a row with anything in a second box, and every box of a page whose voter shows no
    such pen.
    """
    soft = [k for k in _lone_strokes(boxes, inks, s) if boxes[k].state == "marked" or _soft_stroke(inks[k], s)]
    if len(soft) < s.pen_rows or float(np.median([inks[k].light for k in soft])) >= s.mark_ink:
        return boxes
    trace = float(np.median([inks[k].trace for k in soft]))
    cores = {k: core_of(k) for k in soft}
    core = float(np.median(list(cores.values())))
    if max(cores.values()) > s.soft_pen_spread * core:
        return boxes  # some of the page's marks are much darker: its voter's pen is not the soft one
    out = list(boxes)
    for k in soft:
        if (boxes[k].state == "marginal" and s.pen_trace_ratio * trace <= inks[k].trace <= s.heavy_pen_ratio * trace
                and cores[k] >= s.pen_core_ratio * core and not blot_of(k)):
            out[k] = replace(boxes[k], state="marked", dots=False)
    return out


def found_rects(page: PageLayout, boxes: Sequence[BoxResult]) -> list[Rect]:
    """Each box's rectangle (x, y, w, h) in mm where it was found on the page: the layout's box moved by the
    local shift measured for it (:func:`score_boxes`: :func:`refine_box`, or its row's median)."""
    where = {(row.person, level): row.boxes_mm[level] for row in page.rows for level in LEVELS}
    rects = []
    for b in boxes:
        x, y, w, h = where[(b.person, b.level)]  # type: ignore[index]
        rects.append((x + b.dx_mm, y + b.dy_mm, w, h))
    return rects


# --- stage 6: classify rows ---------------------------------------------------------


def traces_only(box: BoxResult, s: ScanSettings) -> bool:
    """A marginal box with traces or faint darkness only (no light ink to speak of): a faint mark, or not."""
    return box.state == "marginal" and box.score < s.empty_ink


def classify_rows(boxes: list[BoxResult], s: ScanSettings) -> dict[int, RowResult]:
    by_person: dict[int, list[BoxResult]] = {}
    for b in boxes:
        by_person.setdefault(b.person, []).append(b)
    rows = {}
    for person, bs in by_person.items():
        marked = [b for b in bs if b.state == "marked"]
        reasons: list[str] = []
        # dots beside the row's one clear mark (hesitation dots) do not make it doubtful; dots alone do
        doubtful = [b for b in bs if b.state == "marginal" and not (b.dots and len(marked) == 1)]
        if doubtful:
            heavy = any(b.gone_over or is_heavy(b.score, b.faint, s, b.open_mm) for b in bs)
            faint_only = any(traces_only(b, s) for b in doubtful)
            reasons.append(R.R_SCRIBBLE if heavy else R.R_FAINT if faint_only else R.R_MARGINAL)
        if len(marked) >= 2:
            reasons.append(R.R_MULTIPLE)
        marks = "none" if not marked else "one" if len(marked) == 1 else "multiple"
        choice = marked[0].level if len(marked) == 1 else None
        rows[person] = RowResult(person, marks, choice, tuple(reasons))
    return rows
