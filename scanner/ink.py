"""The ink maps of a straightened page: ink at three darkness levels against the local paper level
(:func:`ink_maps`), and pixels explained (a crease's band, a streak's) taken out of them
(:func:`explain_folds`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from scanner.settings import ScanSettings


def paper_level(grey: np.ndarray) -> np.ndarray:
    """Local paper brightness, same shape as ``grey`` (handles uneven light in photos).

    A grey-level closing (dilate, then erode with the same 9 mm square) on a 1/8
    copy: dark features narrower than the square — strokes, printed rules, a
    filled box — are removed, while a linear light gradient (a shadow edge, a
    phone's uneven light) is kept exactly, unlike a plain dilation, which lifts
    the paper level on the dark side of every gradient.
    """
    h, w = grey.shape
    # 8 x 8 block means: INTER_AREA at a whole factor is its fast path (twice as fast as a box filter
    # sampled at the block centres)
    if h >= 8 and w >= 8:
        small = cv2.resize(grey[: h // 8 * 8, : w // 8 * 8], (w // 8, h // 8), interpolation=cv2.INTER_AREA)
    else:
        small = np.full((1, 1), int(grey.mean()), np.uint8)
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7))
    bright = cv2.morphologyEx(small, cv2.MORPH_CLOSE, square, borderType=cv2.BORDER_REPLICATE)
    bright = np.maximum(cv2.blur(bright, (3, 3)), 40)
    return np.asarray(cv2.resize(bright, (w, h), interpolation=cv2.INTER_LINEAR))


@dataclass(frozen=True)
class InkMaps:
    """Boolean maps of the straightened page: ink, light ink (pencil), trace (on a smoothed copy)."""

    ink: np.ndarray
    light: np.ndarray
    trace: np.ndarray
    smooth: np.ndarray  # the straightened page smoothed (sigma 1.5 px): for traces and folds
    grey: np.ndarray  # the straightened page
    paper: np.ndarray  # its local paper level
    explained: np.ndarray | None = None  # pixels explained as a crease (see :func:`explain_folds`)
    shown_through: np.ndarray | None = None  # where the back's print showed through (:func:`bleed.shown_through`)
    streak_band: np.ndarray | None = None  # the part of ``explained`` that is a scanner streak's band: pen-dark, not a crease


def ink_maps(grey: np.ndarray, settings: ScanSettings) -> InkMaps:
    """Ink at three darkness levels relative to the local paper level."""
    paper = paper_level(grey)

    def limit(darkness: float) -> np.ndarray:
        return np.asarray(cv2.convertScaleAbs(paper, alpha=1.0 - darkness))

    # noise must not look like a trace. 9 taps: on 8-bit images OpenCV's 11 (for sigma 1.5) add two outer
    # taps that round to zero in its fixed-point kernel, so the result is the same, a sixth faster
    smooth = cv2.GaussianBlur(grey, (9, 9), 1.5)
    return InkMaps(grey <= limit(settings.ink_darkness), grey <= limit(settings.light_darkness),
                   smooth <= limit(settings.trace_darkness), smooth, grey, paper)


def explain_folds(maps: InkMaps, explained: np.ndarray) -> InkMaps:
    """``maps`` with the ``explained`` pixels (a crease's band, a streak's) removed from the light and trace
    maps, and added to the pixels ``maps`` has explained already."""
    if not explained.any():
        return maps
    keep = ~explained
    return replace(maps, light=maps.light & keep, trace=maps.trace & keep,
                   explained=explained if maps.explained is None else maps.explained | explained)
