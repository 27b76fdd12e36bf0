"""Local registration against the printed table: paper that is not flat, lenses that bend.

The four markers fit a plane-to-image transform (a homography). A sheet that
was folded and does not lie flat, a curled edge, or a phone lens with barrel
distortion moves the middle of the page by millimetres against that plane,
while the corners stay put. The printed table is a dense grid of known
straight rules, so after straightening, each rule's observed place is measured
piece by piece (between crossing rules, about every 20 mm along a horizontal
rule and once per table row along a vertical one). Offsets that disagree with
their neighbours are dropped (a pen stroke along a rule), gaps are filled along
and across the rules, and the field between the rules is interpolated
bilinearly: it follows a sharp fold bulge as well as a lens's smooth bend. The
straightened page is then resampled through that field, so that every later
stage finds each box, name and free area where the layout says; the rules are
measured once more on the result, and a page whose rules are still off goes to
review.

A flat scan shows offsets of a tenth of a millimetre: a few rules are measured
first, and when none has moved by ``grid_min_shift_mm`` nothing more is done.

Arrays are indexed (row, column); offsets and positions are in millimetres,
``dx`` along the page width and ``dy`` down the page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from kiemphieu.layout import CANONICAL_PX_PER_MM, COLUMN_X, PageLayout
from scanner.settings import ScanSettings

PX = CANONICAL_PX_PER_MM
# fixed by the construction (the thresholds, grid_min_cover and grid_tilt_max, are in ScanSettings):
SEGMENT_MM = 18.0  # horizontal rules are measured in pieces of about this length: how the table is sampled
TILT_PX = 2  # a piece of rule not found is looked for as a line tilted across this many pixels more (_tilted_peak):
#              the filter's shape at the canonical 6 px/mm


def _px(v_mm: float) -> int:
    return int(round(v_mm * PX))


@dataclass(frozen=True)
class Samples:
    """Measured rule offsets: where each piece of rule was found, against where the layout has it."""

    at_mm: np.ndarray  # (N, 2) layout positions (x, y) of the measured pieces
    shift_mm: np.ndarray  # (N,) offset across the rule: dy for a horizontal rule, dx for a vertical one
    vertical: np.ndarray  # (N,) bool


@dataclass(frozen=True)
class GridFit:
    """A displacement field over the table, or why there is none (falsy).

    ``dy[i, j]`` is the offset of horizontal rule ``rule_y[i]`` at ``piece_x[j]``;
    ``dx[i, j]`` that of vertical rule ``rule_x[i]`` at ``span_y[j]`` (mm).
    """

    rule_y: np.ndarray
    piece_x: np.ndarray
    dy: np.ndarray | None
    rule_x: np.ndarray
    span_y: np.ndarray
    dx: np.ndarray | None
    samples: int
    max_shift_mm: float  # largest offset over the table
    outliers: int  # pieces dropped as disagreeing with their neighbours
    failure: str = ""
    residual_mm: float = 0.0  # largest rule offset left after resampling (see :func:`verify`)

    def __bool__(self) -> bool:
        return self.dx is not None and self.dy is not None

    def shift(self, x_mm: np.ndarray, y_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Displacement ``(dx, dy)`` mm at layout points (constant beyond the table)."""
        if self.dx is None or self.dy is None:
            raise ValueError(f"no grid fit: {self.failure}")
        x, y = np.asarray(x_mm, np.float64), np.asarray(y_mm, np.float64)
        return (_bilinear(self.rule_x, self.span_y, self.dx, x, y),  # dx varies across vertical rules (x)
                _bilinear(self.rule_y, self.piece_x, self.dy, y, x))


def _bilinear(along0: np.ndarray, along1: np.ndarray, values: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``values[i, j]`` given at (``along0[i]``, ``along1[j]``), clamped at the ends."""
    f0 = np.interp(p0, along0, np.arange(along0.size, dtype=np.float64))
    f1 = np.interp(p1, along1, np.arange(along1.size, dtype=np.float64))
    i0 = np.clip(np.floor(f0).astype(int), 0, max(0, along0.size - 2))
    j0 = np.clip(np.floor(f1).astype(int), 0, max(0, along1.size - 2))
    i1, j1 = np.minimum(i0 + 1, along0.size - 1), np.minimum(j0 + 1, along1.size - 1)
    t0, t1 = np.clip(f0 - i0, 0, 1), np.clip(f1 - j0, 0, 1)
    top = values[i0, j0] * (1 - t1) + values[i0, j1] * t1
    bottom = values[i1, j0] * (1 - t1) + values[i1, j1] * t1
    return np.asarray(top * (1 - t0) + bottom * t0)


def _peak(profile: np.ndarray, s: ScanSettings) -> float | None:
    """Sub-pixel centre of the strongest run of ``profile`` over ``grid_min_cover``, or None."""
    k = int(np.argmax(profile))
    if profile[k] < s.grid_min_cover:
        return None
    lo, hi = k, k + 1
    while lo > 0 and profile[lo - 1] >= s.grid_min_cover * 0.5:
        lo -= 1
    while hi < profile.size and profile[hi] >= s.grid_min_cover * 0.5:
        hi += 1
    weights = profile[lo:hi]
    return float(np.sum(np.arange(lo, hi) * weights) / np.sum(weights))


def rule_rows(page: PageLayout) -> list[float]:
    """Page y (mm) of the table's printed horizontal rules."""
    tx, ty, tw, th = page.table_mm
    ys = {ty, ty + th}
    for row in page.rows:
        ys.add(row.row_mm[1])
        ys.add(row.row_mm[1] + row.row_mm[3])
    return sorted(ys)


def rule_columns(page: PageLayout) -> list[float]:
    """Page x (mm) of the table's printed vertical rules."""
    tx, _, tw, _ = page.table_mm
    return sorted({x for x in COLUMN_X.values() if tx - 0.01 <= x <= tx + tw + 0.01})


def measure(ink: np.ndarray, page: PageLayout, s: ScanSettings, *, sparse: bool = False) -> Samples:
    """Offsets of the table's rules on the straightened page ``ink`` ((H, W) bool).

    Each horizontal rule is cut into pieces between the vertical rules (long
    pieces into about :data:`SEGMENT_MM`); each vertical rule into one piece per
    table row. A piece is looked for within ``grid_search_mm`` of its layout
    place, as the pixel row (column) with most ink. With ``sparse``, only the
    first, middle and last rules are measured, at their ends and middle.
    """
    reach = _px(s.grid_search_mm)
    h, w = ink.shape
    ys, xs = rule_rows(page), rule_columns(page)
    if sparse:
        ys = [ys[0], ys[len(ys) // 2], ys[-1]]
    at: list[tuple[float, float]] = []
    shift: list[float] = []
    vertical: list[bool] = []
    inset = 1.5  # keep clear of the crossing rules
    for y in ys:
        r0, r1 = _px(y) - reach, _px(y) + reach + 1
        if r0 < 0 or r1 > h:
            continue
        pieces = _pieces(xs, inset)
        if sparse:
            pieces = [pieces[0], pieces[len(pieces) // 2], pieces[-1]]
        bounds = [(_px(a), _px(b)) for a, b in pieces]
        for (a, b), peak in zip(pieces, _peaks(ink[r0:r1], bounds, s, vertical=False), strict=True):
            if peak is not None:
                at.append(((a + b) / 2, y))
                shift.append((r0 + peak) / PX - y)
                vertical.append(False)
    all_ys = rule_rows(page)
    spans = [(a, b) for a, b in zip(all_ys[:-1], all_ys[1:], strict=True) if b - a >= 2 * inset + 2]
    if sparse and spans:
        spans = [spans[0], spans[len(spans) // 2], spans[-1]]
    bounds = [(_px(a + inset), _px(b - inset)) for a, b in spans]
    for x in (xs if not sparse else [xs[0], xs[len(xs) // 2], xs[-1]]):
        c0, c1 = _px(x) - reach, _px(x) + reach + 1
        if c0 < 0 or c1 > w:
            continue
        for (a, b), peak in zip(spans, _peaks(ink[:, c0:c1], bounds, s, vertical=True), strict=True):
            if peak is not None:
                at.append((x, (a + b) / 2))
                shift.append((c0 + peak) / PX - x)
                vertical.append(True)
    return Samples(np.asarray(at, np.float64).reshape(-1, 2), np.asarray(shift, np.float64), np.asarray(vertical, bool))


def _peaks(band: np.ndarray, bounds: list[tuple[int, int]], s: ScanSettings, *,
           vertical: bool) -> list[float | None]:
    """Where the rule is across ``band`` (pixels from its start) in each piece ``bounds`` along it, or None.

    A piece no pixel line of which holds ``grid_min_cover`` of it may be a rule that tilts: on a sheet that
    does not lie flat a rule turns with the paper, and over an 18 mm piece a thin rule tilted by 1.2 degrees
    crosses 2-3 pixel lines. Such pieces went unmeasured: the field was filled in from the rule's flat part
    and the page left uncorrected there (the check after the correction, which measures the same way, did
    not see it either). Such a piece is looked for as a tilted line (:func:`_tilted_peak`).
    """
    axis = 0 if vertical else 1
    peaks = [_peak(profile, s) for profile in _range_means(band, bounds, axis=axis)]
    for k, peak in enumerate(peaks):
        if peak is None:
            a, b = bounds[k]
            peaks[k] = _tilted_peak(band[a:b].T if vertical else band[:, a:b], s)
    return peaks


def _tilted_peak(piece: np.ndarray, s: ScanSettings) -> float | None:
    """The place (rows of ``piece``, (across, along) bool) of a thin rule tilted across it at its middle, or None.

    Each ink pixel is spread :data:`TILT_PX` pixels across, and the strongest run over ``grid_min_cover`` is
    taken, as for a level rule; what lies in that run must then be a thin straight line: ink in
    ``grid_tilt_cover`` (80 %) of the columns along, ``grid_tilt_width_px`` (2.5) pixels of it a column at most on
    average, on one straight line (``grid_tilt_rms_px``, 1 pixel, from it, root mean square) tilted by less than
    ``grid_tilt_max``. A line of print, a box outline beside the rule or the shade beside a crease, which the
    spreading can bring over the cover, is not such a line.
    """
    spread = cv2.dilate(piece.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (1, 2 * TILT_PX + 1)))
    peak = _peak(spread.mean(axis=1), s)
    if peak is None:
        return None
    # the run and the spread either side of it, a pixel more for the rounding: the window the line is fitted in
    lo, hi = max(0, int(np.floor(peak)) - TILT_PX - 1), min(piece.shape[0], int(np.ceil(peak)) + TILT_PX + 2)
    window = piece[lo:hi]
    inked = window.any(axis=0)
    if inked.mean() < s.grid_tilt_cover:
        return None
    counts = window.sum(axis=0)[inked]
    if counts.mean() > s.grid_tilt_width_px:
        return None
    rows = (np.arange(lo, hi, dtype=np.float64)[:, None] * window).sum(axis=0)[inked] / counts
    along = np.flatnonzero(inked) - (piece.shape[1] - 1) / 2
    slope, middle = np.polyfit(along, rows, 1)
    if abs(slope) > s.grid_tilt_max or float(np.sqrt(np.mean((rows - middle - slope * along) ** 2))) > s.grid_tilt_rms_px:
        return None
    return float(middle)


def _range_means(band: np.ndarray, bounds: list[tuple[int, int]], *, axis: int) -> list[np.ndarray]:
    """Mean of the bool array ``band`` over each index range of ``bounds`` along ``axis`` (1: columns)."""
    if not bounds:
        return []
    starts = np.array([a for a, _ in bounds] + [bounds[-1][1]])
    order = np.unique(np.concatenate([starts, [b for _, b in bounds]]))
    sums = np.add.reduceat(band.view(np.uint8), order, axis=axis, dtype=np.int32)
    where = {int(v): k for k, v in enumerate(order)}
    out = []
    for a, b in bounds:
        part = sums[:, where[a]] if axis == 1 else sums[where[a]]
        out.append(part / max(1, b - a))
    return out


def _pieces(xs: list[float], inset: float) -> list[tuple[float, float]]:
    out = []
    for a, b in zip(xs[:-1], xs[1:], strict=True):
        n = max(1, int(round((b - a) / SEGMENT_MM)))
        edges = np.linspace(a, b, n + 1)
        out += [(float(p) + inset, float(q) - inset) for p, q in zip(edges[:-1], edges[1:], strict=True)
                if q - p > 2 * inset + 2]
    return out


def _matrix(rules: np.ndarray, along: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets arranged by rule (rows) and position along it (columns); NaN where not found."""
    rule_at = np.unique(np.round(rules, 3))
    along_at = np.unique(np.round(along, 3))
    values = np.full((rule_at.size, along_at.size), np.nan)
    values[np.searchsorted(rule_at, np.round(rules, 3)), np.searchsorted(along_at, np.round(along, 3))] = shift
    return rule_at, along_at, values


def _drop_outliers(values: np.ndarray, limit_mm: float) -> int:
    """Set to NaN (in place) the offsets more than ``limit_mm`` from the median of their eight neighbours,
    unless they go on with a steady change of the sheet.

    A lone piece off its neighbours is a pen stroke along a rule. Where the sheet turns, the offsets change
    steadily along the rules; at the table's edge the eight neighbours of a piece all lie on one side of it,
    and their median fell a whole step short: the last column of pieces, the boxes' column, was dropped
    and filled in from the one before it. A piece on the straight line through the next two of its own
    rule (within ``limit_mm``), and within ``limit_mm`` of the same piece of the rule above or below, goes
    on with the sheet and is kept. A line found along one rule only (a crease or a stroke beside it, over
    several pieces) is on a straight line too, but the rules either side do not follow it: it is still
    dropped (3.7 mm off over a whole rule, it moved a page of the 2,226-page deck when only the straight
    line was asked for). Judging every piece against its neighbours carried on in a line was tried and
    was noisier on curled phone photos.
    """
    h, w = values.shape
    padded = np.pad(values, 1, constant_values=np.nan)
    stack = np.stack([padded[1 + di : 1 + di + h, 1 + dj : 1 + dj + w]
                      for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj])
    known = np.isfinite(stack).any(axis=0)
    around = np.full(values.shape, np.nan)
    around[known] = np.nanmedian(stack[:, known], axis=0)
    bad = np.isfinite(values) & known & (np.abs(values - around) > limit_mm)
    along = np.pad(values, ((0, 0), (2, 2)), constant_values=np.nan)
    on_line = np.zeros(values.shape, bool)
    for near, beyond in ((along[:, 1:-3], along[:, :-4]), (along[:, 3:-1], along[:, 4:])):
        on_line |= np.abs(values - (2 * near - beyond)) <= limit_mm  # NaN compares False: no line
    across = np.pad(values, ((1, 1), (0, 0)), constant_values=np.nan)
    with_rules = (np.abs(values - across[:-2]) <= limit_mm) | (np.abs(values - across[2:]) <= limit_mm)
    bad &= ~(on_line & with_rules)
    values[bad] = np.nan
    return int(bad.sum())


def _fill(values: np.ndarray) -> bool:
    """Fill NaN gaps (in place) along each rule, then across rules; False when a position has nothing to go by."""
    for row in values:
        ok = np.isfinite(row)
        if ok.any() and not ok.all():
            row[~ok] = np.interp(np.flatnonzero(~ok), np.flatnonzero(ok), row[ok])
    for col in values.T:
        ok = np.isfinite(col)
        if not ok.any():
            return False
        if not ok.all():
            col[~ok] = np.interp(np.flatnonzero(~ok), np.flatnonzero(ok), col[ok])
    return True


def fit(samples: Samples, page: PageLayout, s: ScanSettings) -> GridFit:
    """The displacement field from the rule offsets: outliers dropped, gaps filled, bilinear between."""
    n = samples.shift_mm.size
    empty = np.zeros(0)
    horizontal, vertical = ~samples.vertical, samples.vertical

    def failed(why: str, outliers: int = 0) -> GridFit:
        return GridFit(empty, empty, None, empty, empty, None, n, 0.0, outliers, failure=why)

    if n < 20 or vertical.sum() < 6 or horizontal.sum() < 6:
        return failed(f"too few rule pieces found ({n})")
    rule_y, piece_x, dy = _matrix(samples.at_mm[horizontal, 1], samples.at_mm[horizontal, 0],
                                  samples.shift_mm[horizontal])
    rule_x, span_y, dx = _matrix(samples.at_mm[vertical, 0], samples.at_mm[vertical, 1], samples.shift_mm[vertical])
    if rule_y.size < 3 or rule_x.size < 3 or piece_x.size < 2 or span_y.size < 2:
        return failed(f"too few rules found ({rule_y.size} across, {rule_x.size} down)")
    outliers = _drop_outliers(dy, s.grid_outlier_mm) + _drop_outliers(dx, s.grid_outlier_mm)
    if np.isfinite(dy).mean() < 0.5 or np.isfinite(dx).mean() < 0.5:
        return failed("fewer than half of the table's rules found where expected", outliers)
    if not _fill(dy) or not _fill(dx):
        return failed("a whole stretch of the table's rules is missing", outliers)
    biggest = float(max(np.abs(dy).max(), np.abs(dx).max()))
    return GridFit(rule_y, piece_x, dy, rule_x, span_y, dx, n, biggest, outliers)


def verify(ink: np.ndarray, page: PageLayout, grid: GridFit, s: ScanSettings) -> GridFit:
    """``grid`` with ``residual_mm``: the largest rule offset measured on the resampled page ``ink``."""
    after = measure(ink, page, s)
    if after.shift_mm.size == 0:
        return replace(grid, residual_mm=float("inf"))
    left = 0.0
    for vertical in (False, True):  # a lone piece off its neighbours is a stroke along a rule, not the sheet
        pick = after.vertical == vertical
        if not pick.any():
            continue
        rules, along = (after.at_mm[pick, 1], after.at_mm[pick, 0]) if not vertical else (after.at_mm[pick, 0],
                                                                                           after.at_mm[pick, 1])
        _, _, offsets = _matrix(rules, along, after.shift_mm[pick])
        _drop_outliers(offsets, s.grid_outlier_mm)
        if np.isfinite(offsets).any():
            left = max(left, float(np.nanmax(np.abs(offsets))))
    return replace(grid, residual_mm=left)


def register_grid(ink: np.ndarray, page: PageLayout, s: ScanSettings) -> GridFit | None:
    """The displacement field of a page whose table has moved against the markers' plane, else None.

    None means the page lies flat (the sparse rules are all within
    ``grid_min_shift_mm``): nothing to correct. A falsy :class:`GridFit`
    means the table could not be measured (too few rules found).
    """
    if not page.rows:
        return None
    sparse = measure(ink, page, s, sparse=True)
    if sparse.shift_mm.size >= 8 and float(np.max(np.abs(sparse.shift_mm))) < s.grid_min_shift_mm:
        return None
    return fit(measure(ink, page, s), page, s)


def source_maps(grid: GridFit, canon_to_img: np.ndarray, size_px: tuple[int, int], *,
                step: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Maps for ``cv2.remap``: canonical pixel p reads the source at ``canon_to_img(p + shift(p))``.

    One resampling from the scanned image, through the page plane and the
    table's displacement field at once (resampling an already straightened page
    again would soften faint strokes). ``size_px``: (H, W) of the canonical page.
    """
    h, w = size_px
    ny, nx = -(-h // step), -(-w // step)
    # coarse sample k at pixel (k + 0.5) * step - 0.5: with resize's pixel-centre convention the linear
    # interpolation of the coarse maps is exact for any affine part of the mapping
    gy, gx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    gx, gy = (gx + 0.5) * step - 0.5, (gy + 0.5) * step - 0.5
    dx, dy = grid.shift(gx.ravel() / PX, gy.ravel() / PX)
    canon = np.stack([gx.ravel() + dx * PX, gy.ravel() + dy * PX], axis=-1).reshape(-1, 1, 2)
    src = cv2.perspectiveTransform(canon, canon_to_img).reshape(ny, nx, 2).astype(np.float32)
    size = (nx * step, ny * step)  # OpenCV sizes are (width, height)
    map_x = cv2.resize(src[:, :, 0], size, interpolation=cv2.INTER_LINEAR)[:h, :w]
    map_y = cv2.resize(src[:, :, 1], size, interpolation=cv2.INTER_LINEAR)[:h, :w]
    return map_x, map_y


def unwarp(image: np.ndarray, grid: GridFit, *, step: int = 16) -> np.ndarray:
    """Resample a straightened page so that layout point p shows what was seen at p + shift(p).

    ``image``: (H, W) or (H, W, 3), straightened at :data:`PX`: :func:`source_maps`
    with the identity for the page plane.
    """
    map_x, map_y = source_maps(grid, np.eye(3), image.shape[:2], step=step)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
