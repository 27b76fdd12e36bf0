"""Small helpers the stage modules share: page millimetres to pixels of the straightened page
(:data:`PX`), a rectangle's pixels, ink areas, line filters, fast uint8 statistics, where page
rectangles fall in the source image. A leading underscore marks a helper as the scanner's own, not
an interface, though its stage modules share it."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from kiemphieu.layout import CANONICAL_PX_PER_MM, Rect

PX = CANONICAL_PX_PER_MM


def scale_of(hom: np.ndarray) -> float:
    """Image pixels per page millimetre of the page map ``hom`` (page mm -> image), a geometric mean."""
    return float(np.sqrt(abs(np.linalg.det(hom[:2, :2]))))


def _px(v_mm: float) -> int:
    return int(round(v_mm * PX))


def _closed(mask: np.ndarray, close_px: int) -> np.ndarray:
    """``mask`` (uint8) after a ``close_px`` square closing, which bridges pencil grain."""
    return np.asarray(cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_CLOSE, np.ones((close_px, close_px), np.uint8)))


def _region(mask: np.ndarray, rect_mm: tuple[float, float, float, float]) -> np.ndarray:
    x, y, w, h = rect_mm
    return mask[max(0, _px(y)) : _px(y + h), max(0, _px(x)) : _px(x + w)]


def _blob_area_mm2(mask: np.ndarray, min_span_mm: float, *, allowed: np.ndarray | None = None) -> float:
    """Area (mm²) of the ink components that are more than specks (spanning ``min_span_mm`` or more: the
    caller's setting, ``speck_mm`` for writing), long thin lines left out.

    A thin component that runs across most of the region (85 % of its width or
    height) is a fold or a scanner streak, not writing. With ``allowed`` (a bool
    mask of the same shape), components that reach into it (a signature running
    over the edge of its place) are left out too.
    """
    if not mask.any():
        return 0.0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    skip = np.zeros(n, bool)
    if allowed is not None and allowed.any():
        skip[np.unique(labels[allowed & mask])] = True
    rh, rw = mask.shape
    total = 0.0
    for i in range(1, n):
        w, h, area = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT], stats[i, cv2.CC_STAT_AREA]
        span = max(w, h) / PX
        if span < min_span_mm or skip[i]:
            continue
        across = w >= 0.85 * rw or h >= 0.85 * rh or span > 80
        if across and area / max(w, h) < 1.2 * PX:  # a fold or a streak across the area, not writing
            continue
        total += area / PX**2
    return total


FLAT_ANGLES = (-30, -20, -10, 0, 10, 20, 30)  # degrees from the horizontal: a strike along a name (the line
#                                              filters' angles, fixed by the construction)


@cache
def _line_kernels(length_px: int, angles: tuple[int, ...] = FLAT_ANGLES) -> tuple[np.ndarray, ...]:
    """Thin straight-line structuring elements at ``angles`` (degrees from the horizontal)."""
    kernels = []
    for angle in angles:
        a = np.deg2rad(angle)
        dx, dy = np.cos(a) * (length_px - 1) / 2, np.sin(a) * (length_px - 1) / 2
        size = length_px | 1
        k = np.zeros((size, size), np.uint8)
        c = size // 2
        cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1, 1)
        kernels.append(k)
    return tuple(kernels)


def on_lines(ink: np.ndarray, length_mm: float, angles: tuple[int, ...]) -> np.ndarray:
    """The pixels of ``ink`` (bool) on straight lines ``length_mm`` long at one of ``angles`` (degrees from the
    horizontal): an opening by each thin line kernel (:func:`_line_kernels`)."""
    return on_kernels(ink, _line_kernels(_px(length_mm), angles))


def on_kernels(ink: np.ndarray, kernels: tuple[np.ndarray, ...]) -> np.ndarray:
    """The pixels of ``ink`` (bool) that an opening by one of ``kernels`` keeps: those on its shapes."""
    crop = ink.view(np.uint8)
    found = np.zeros_like(crop)
    if crop.size and crop.any():
        for kernel in kernels:
            found |= np.asarray(cv2.morphologyEx(crop, cv2.MORPH_OPEN, kernel), np.uint8)
    return found.view(bool)


def _image_boxes(rects_mm: list[Rect], hom: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Each page-mm rect's bounding box in the image ``hom`` maps the page to, (N, 4) ints ``c0, r0, c1, r1``:
    its four corners in one transform, rounded outwards, clipped to an image of ``shape``."""
    at = np.array(rects_mm, np.float64).reshape(-1, 4)
    corners = np.stack([at[:, :2], at[:, :2] + at[:, 2:] * (1, 0), at[:, :2] + at[:, 2:], at[:, :2] + at[:, 2:] * (0, 1)],
                       axis=1)
    found = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), hom).reshape(-1, 4, 2)
    limit = np.array(shape[1::-1])
    lows = np.clip(np.floor(found.min(axis=1)).astype(int), 0, limit)
    highs = np.clip(np.ceil(found.max(axis=1)).astype(int), 0, limit)
    return np.hstack([lows, highs])


def percentile_u8(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` of a uint8 array, the same number, from its 256-bin histogram: a count
    and two lookups instead of numpy's copy and partition of every value (a page's sample holds 80,000).
    The same linear interpolation between the two neighbouring sorted values, in the same float steps."""
    if values.size == 0:
        return float(np.percentile(values, q))
    cum = np.cumsum(np.bincount(values.ravel(), minlength=256))
    n = int(cum[-1])
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:
        return float(np.searchsorted(cum, n - 1, side="right"))
    lo = int(np.floor(virtual))
    a, b = np.searchsorted(cum, [lo, lo + 1], side="right")
    gamma, diff = virtual - lo, float(b - a)
    return float(b) - diff * (1 - gamma) if gamma >= 0.5 else float(a) + diff * gamma


def median_u8(values: np.ndarray) -> float:
    """``np.median(values)`` of a non-empty uint8 array, the same number, from its histogram."""
    cum = np.cumsum(np.bincount(values.ravel(), minlength=256))
    n = int(cum[-1])
    a, b = np.searchsorted(cum, [(n - 1) // 2, n // 2], side="right")
    return (float(a) + float(b)) / 2
