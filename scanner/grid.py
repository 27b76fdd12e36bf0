"""Local registration against the printed table: paper that is not flat, lenses that bend.

The four markers fit a plane-to-image transform (a homography). A sheet that
was folded and does not lie flat, a curled edge, or a phone lens with barrel
distortion moves the middle of the page by millimetres against that plane,
while the corners stay put. The printed table is a dense grid of known
straight rules, so after straightening, each rule's observed place is measured
where it crosses its neighbours, and a smooth displacement field (a
two-dimensional polynomial over the table, fitted robustly) is built from the
offsets. The straightened page is then resampled through that field, so that
every later stage finds each box, name and free area where the layout says.

A flat scan shows offsets of a tenth of a millimetre: a few rules are measured
first, and when none has moved by ``grid_min_shift_mm`` nothing more is done.

Arrays are indexed (row, column); offsets and positions are in millimetres,
``dx`` along the page width and ``dy`` down the page.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiemphieu.layout import CANONICAL_PX_PER_MM, COLUMN_X, PageLayout
from scanner.settings import ScanSettings

PX = CANONICAL_PX_PER_MM
SEGMENT_MM = 18.0  # horizontal rules are measured in pieces of about this length
MIN_COVER = 0.55  # a rule is found where at least this share of its piece is ink, in one pixel row (column)


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
    """A smooth displacement field over the table, or why there is none (falsy)."""

    coef_x: np.ndarray | None  # polynomial coefficients of dx(x, y)
    coef_y: np.ndarray | None  # ... and of dy(x, y)
    box: tuple[float, float, float, float]  # the table (x, y, w, h) mm, where the field is defined
    samples: int
    max_shift_mm: float  # largest fitted displacement over the table
    residual_mm: float  # largest misfit of a kept sample
    outliers: int  # samples rejected by the robust fit
    failure: str = ""

    def __bool__(self) -> bool:
        return self.coef_x is not None

    def shift(self, x_mm: np.ndarray, y_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Displacement ``(dx, dy)`` mm at layout points (clamped to the table)."""
        if self.coef_x is None or self.coef_y is None:
            raise ValueError(f"no grid fit: {self.failure}")
        terms = _terms(x_mm, y_mm, self.box)
        return terms @ self.coef_x, terms @ self.coef_y


def _terms(x_mm: np.ndarray, y_mm: np.ndarray, box: tuple[float, float, float, float], degree: int = 3) -> np.ndarray:
    """Polynomial terms ``u**i * v**j`` (i + j <= degree) of points normalised to the table, clamped to it."""
    bx, by, bw, bh = box
    u = np.clip((np.asarray(x_mm, np.float64) - bx) / bw, 0.0, 1.0) * 2 - 1
    v = np.clip((np.asarray(y_mm, np.float64) - by) / bh, 0.0, 1.0) * 2 - 1
    cols = [u**i * v**j for i in range(degree + 1) for j in range(degree + 1 - i)]
    return np.stack(cols, axis=-1)


def _peak(profile: np.ndarray) -> float | None:
    """Sub-pixel centre of the strongest run of ``profile`` over :data:`MIN_COVER`, or None."""
    k = int(np.argmax(profile))
    if profile[k] < MIN_COVER:
        return None
    lo, hi = k, k + 1
    while lo > 0 and profile[lo - 1] >= MIN_COVER * 0.5:
        lo -= 1
    while hi < profile.size and profile[hi] >= MIN_COVER * 0.5:
        hi += 1
    weights = profile[lo:hi]
    return float(np.sum(np.arange(lo, hi) * weights) / np.sum(weights))


def _rule_rows(page: PageLayout) -> list[float]:
    tx, ty, tw, th = page.table_mm
    ys = {ty, ty + th}
    for row in page.rows:
        ys.add(row.row_mm[1])
        ys.add(row.row_mm[1] + row.row_mm[3])
    return sorted(ys)


def _rule_columns(page: PageLayout) -> list[float]:
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
    ys, xs = _rule_rows(page), _rule_columns(page)
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
        for (a, b), profile in zip(pieces, _range_means(ink[r0:r1], bounds, axis=1), strict=True):
            peak = _peak(profile)
            if peak is not None:
                at.append(((a + b) / 2, y))
                shift.append((r0 + peak) / PX - y)
                vertical.append(False)
    spans = [(a, b) for a, b in zip(ys[:-1], ys[1:], strict=True) if b - a >= 2 * inset + 2]
    if sparse and spans:
        spans = [spans[0], spans[len(spans) // 2], spans[-1]]
    bounds = [(_px(a + inset), _px(b - inset)) for a, b in spans]
    for x in (xs if not sparse else [xs[0], xs[len(xs) // 2], xs[-1]]):
        c0, c1 = _px(x) - reach, _px(x) + reach + 1
        if c0 < 0 or c1 > w:
            continue
        for (a, b), profile in zip(spans, _range_means(ink[:, c0:c1], bounds, axis=0), strict=True):
            peak = _peak(profile)
            if peak is not None:
                at.append((x, (a + b) / 2))
                shift.append((c0 + peak) / PX - x)
                vertical.append(True)
    return Samples(np.asarray(at, np.float64).reshape(-1, 2), np.asarray(shift, np.float64), np.asarray(vertical, bool))


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


def fit(samples: Samples, page: PageLayout, s: ScanSettings) -> GridFit:
    """Robust least squares of a cubic displacement field to the rule offsets."""
    box = page.table_mm
    n = samples.shift_mm.size
    if n < 20 or samples.vertical.sum() < 6 or (~samples.vertical).sum() < 6:
        return GridFit(None, None, box, n, 0.0, 0.0, 0, failure=f"too few rule pieces found ({n})")
    terms = _terms(samples.at_mm[:, 0], samples.at_mm[:, 1], box)
    keep = np.ones(n, bool)
    coef: dict[bool, np.ndarray] = {}
    for _ in range(4):
        coef = {}
        for vert in (True, False):
            use = keep & (samples.vertical == vert)
            if use.sum() < terms.shape[1]:
                return GridFit(None, None, box, n, 0.0, 0.0, int((~keep).sum()), failure="too few consistent rule pieces")
            coef[vert], *_ = np.linalg.lstsq(terms[use], samples.shift_mm[use], rcond=None)
        pred = np.where(samples.vertical, terms @ coef[True], terms @ coef[False])
        res = np.abs(pred - samples.shift_mm)
        limit = max(s.grid_outlier_mm, 3.0 * 1.4826 * float(np.median(res[keep])))
        new_keep = res <= limit
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    grid_x, grid_y = np.meshgrid(np.linspace(box[0], box[0] + box[2], 9), np.linspace(box[1], box[1] + box[3], 9))
    t = _terms(grid_x.ravel(), grid_y.ravel(), box)
    biggest = float(np.max(np.hypot(t @ coef[True], t @ coef[False])))
    return GridFit(coef[True], coef[False], box, n, biggest, float(res[keep].max()), int((~keep).sum()))


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


def unwarp(image: np.ndarray, grid: GridFit, *, step: int = 16) -> np.ndarray:
    """Resample a straightened page so that layout point p shows what was seen at p + shift(p).

    ``image``: (H, W) or (H, W, 3), straightened at :data:`PX`. The field is
    evaluated every ``step`` pixels and interpolated (it is smooth).
    """
    h, w = image.shape[:2]
    ny, nx = -(-h // step), -(-w // step)
    # coarse sample k at pixel (k + 0.5) * step - 0.5: with resize's pixel-centre convention the linear
    # interpolation of these absolute coordinates is exact for the identity part
    gy, gx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    gx, gy = (gx + 0.5) * step - 0.5, (gy + 0.5) * step - 0.5
    dx, dy = grid.shift(gx.ravel() / PX, gy.ravel() / PX)
    size = (nx * step, ny * step)  # OpenCV sizes are (width, height)
    map_x = cv2.resize((gx + dx.reshape(gx.shape) * PX).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    map_y = cv2.resize((gy + dy.reshape(gy.shape) * PX).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    return cv2.remap(image, map_x[:h, :w], map_y[:h, :w], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
