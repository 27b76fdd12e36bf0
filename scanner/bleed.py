"""Bleed-through: the other side of the sheet, seen mirrored through thin paper.

On thin paper a scanner's light shows what is printed on the back: the table
rules, the names, the box outlines, mirrored left to right, as faint grey
lines. Inside the boxes they look like the faint traces of a light pencil
mark, and every box they reach would go to review. What shows through is
known, though: it is a printed page of this ballot (the other page of a
two-page ballot printed on both sides, or the same page). So, for a page whose
boxes hold faint traces only, each printed page is mirrored and matched
against the faint darkness of this page's paper (where nothing is printed on
the front and nothing is written); when one explains it, its predicted
darkness is divided out of the straightened page and the page is read again.

The model: the back's print darkens the front multiplicatively,
``seen = paper * (1 - strength * blur(mirrored print))``. Its shift (the two
sides are not printed exactly back to back), blur (light spreads in the
paper) and strength are fitted per page, on the paper only. Ink that the
model does not predict, a faint mark included, is left as it was: only as much
darkness as the back's print explains is taken away, where it is printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from kiemphieu.layout import CANONICAL_PX_PER_MM
from scanner.folds import darkness
from scanner.settings import ScanSettings

PX = CANONICAL_PX_PER_MM
# fixed by the construction (what the fit leaves out of the paper, and what it must explain, is in ScanSettings):
FIT_SCALE = 2  # fitted at half the canonical resolution
BLUR_MM = (0.15, 0.3, 0.6)  # how far light spreads in the paper: tried in turn, the fit keeps the best (a search grid)


@dataclass(frozen=True)
class BleedFit:
    back_page: int  # layout page number whose mirrored print shows through
    shift_px: tuple[int, int]  # (dy, dx) at the canonical resolution
    blur_mm: float
    strength: float
    explained: float  # share of the paper's darkness the fit explains


PRINTED_KEPT = 4  # sessions' printed pages kept per process (about 9 MB a page): a worker that reads pages of many
#                   sessions, or of one session reprinted, renders the oldest again rather than keep them all


@lru_cache(maxsize=PRINTED_KEPT)
def _printed(reference_pdf: str, stamp: float, size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Darkness (0..1, float32) of every printed page at the canonical size ``(width, height)``.

    ``stamp`` is the file's modification time: a reprinted session is rendered again.
    """
    from pdf2image import convert_from_path

    pages = convert_from_path(reference_pdf, size=size, grayscale=True)
    out = []
    for image in pages:
        grey = np.asarray(image, np.uint8)
        if grey.shape[::-1] != size:
            grey = np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), np.uint8)
        out.append(np.asarray(1.0 - grey.astype(np.float32) / 255.0, np.float32))
    return tuple(out)


def printed_pages(reference_pdf: Path, size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """The printed pages of a session (cached per process), or none when its reference PDF is missing."""
    try:
        stamp = reference_pdf.stat().st_mtime
    except OSError:
        return ()
    return _printed(str(reference_pdf), stamp, size)


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``image`` moved by (dy, dx) pixels (rows, columns), zeros (no print, no darkness) coming in."""
    out = np.zeros_like(image)
    h, w = image.shape
    src = image[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


def _as_seen(page: np.ndarray, bleed: BleedFit) -> np.ndarray:
    """A printed page (or a part of it) as the fit sees it from the front: mirrored and shifted."""
    return shifted(cv2.flip(page, 1), *bleed.shift_px)


def _blurred(image: np.ndarray, blur_mm: float, px_per_mm: float) -> np.ndarray:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), blur_mm * px_per_mm), np.float32)


def fit(smooth: np.ndarray, paper: np.ndarray, ink: np.ndarray, front: int, pages: tuple[np.ndarray, ...],
        s: ScanSettings) -> BleedFit | None:
    """The mirrored printed page that explains the faint darkness of this page's paper, or None.

    Parameters
    ----------
    smooth, paper : (H, W) uint8, the straightened page smoothed, and its local paper level.
    ink : (H, W) bool, any ink on it (the light-ink map).
    front : the layout page number (1-based) this page was identified as.
    pages : :func:`printed_pages`.
    s : the settings: ``bleed_max_shift_mm``, ``bleed_min_strength``, ``bleed_min_explained``; the paper
        ``bleed_edge_mm`` from the page's edge and ``bleed_ink_keep_mm`` from print or ink is left out.
    """
    if not pages or not 1 <= front <= len(pages):
        return None
    h, w = smooth.shape
    small = (w // FIT_SCALE, h // FIT_SCALE)
    px = PX / FIT_SCALE
    dark = cv2.resize(darkness(smooth, paper), small, interpolation=cv2.INTER_AREA)
    keep = int(round(s.bleed_ink_keep_mm * px)) * 2 + 1
    front_ink = (pages[front - 1] > 0.05).view(np.uint8) | ink.view(np.uint8)
    covered = cv2.dilate(cv2.resize(front_ink, small, interpolation=cv2.INTER_NEAREST), np.ones((keep, keep), np.uint8))
    edge = int(round(s.bleed_edge_mm * px))
    free = np.zeros(dark.shape, bool)
    free[edge:-edge, edge:-edge] = True
    free &= covered == 0
    if free.sum() < 0.1 * free.size:
        return None
    d = np.where(free, dark, np.float32(0.0))
    total = float((d * d).sum())
    if total <= 0:
        return None
    reach = int(round(s.bleed_max_shift_mm * px))
    best: BleedFit | None = None
    for number, printed in enumerate(pages, start=1):
        back = cv2.resize(cv2.flip(printed, 1), small, interpolation=cv2.INTER_AREA)
        # the shift: correlation of the paper's darkness with the (blurred) mirrored print
        padded = cv2.copyMakeBorder(_blurred(back, BLUR_MM[1], px), reach, reach, reach, reach, cv2.BORDER_CONSTANT, value=0)
        corr = cv2.matchTemplate(padded, d, cv2.TM_CCORR)
        _, _, _, (cx, cy) = cv2.minMaxLoc(corr)
        dy, dx = reach - cy, reach - cx
        moved = shifted(back, dy, dx)
        for blur_mm in BLUR_MM:
            model = np.where(free, _blurred(moved, blur_mm, px), np.float32(0.0))
            energy = float((model * model).sum())
            if energy <= 0:
                continue
            strength = float((d * model).sum()) / energy
            explained = 1.0 - float(((d - strength * model) ** 2).sum()) / total
            if (strength >= s.bleed_min_strength and explained >= s.bleed_min_explained
                    and (best is None or explained > best.explained)):
                best = BleedFit(number, (dy * FIT_SCALE, dx * FIT_SCALE), blur_mm, strength, explained)
    return best


def remove(grey: np.ndarray, bleed: BleedFit, pages: tuple[np.ndarray, ...]) -> np.ndarray:
    """The straightened page with the fitted show-through divided out (uint8, same shape)."""
    shade = 1.0 - bleed.strength * _blurred(_as_seen(pages[bleed.back_page - 1], bleed), bleed.blur_mm, PX)
    return np.asarray(np.clip(grey.astype(np.float32) / np.maximum(shade, 0.5), 0, 255), np.uint8)


def shown_through(bleed: BleedFit, pages: tuple[np.ndarray, ...], floor: float) -> np.ndarray:
    """Where the back's printed rules showed through (bool, canonical size): where the fit says they
    darkened the page by ``floor`` or more, widened by a pixel each way (the shift is fitted at half
    resolution, so they may lie one pixel off).

    Dividing the show-through out leaves a little of it where the fit is not exact. Along the back's
    rules, long and straight, that is a faint straight line, which is what the faint-mark measures look
    for: they do not look there (see :func:`scanner.boxes.box_regions`). The back's letters leave no
    such line and are not masked, and ink found by the other measures is kept.
    """
    back = _as_seen(_rules(pages[bleed.back_page - 1]), bleed)
    shown = (bleed.strength * _blurred(back, bleed.blur_mm, PX) >= floor).view(np.uint8)
    return np.asarray(cv2.dilate(shown, np.ones((3, 3), np.uint8))).view(bool)


RULE_MM = 9.0  # a printed straight line at least this long is a rule: longer than a box's side (8 mm) or a letter
#               (fixed by the printed layout, and looked for on the rendered blank page, not on a scan)


_RULES: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id of a printed page -> (that page, its rules)


def _rules(printed: np.ndarray) -> np.ndarray:
    """The printed page's darkness on its long horizontal and vertical lines only (the table's rules).

    Worked out once per printed page (11 ms): the pages are kept per process (:func:`printed_pages`), so
    every bleed page of a session asks for the same ones.
    """
    known = _RULES.get(id(printed))
    if known is not None and known[0] is printed:
        return known[1]
    dark = (printed >= 0.3).view(np.uint8)
    length = int(round(RULE_MM * PX))
    on_rule = (np.asarray(cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((1, length), np.uint8)))
               | np.asarray(cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((length, 1), np.uint8))))
    rules = np.where(on_rule.view(bool), printed, np.float32(0.0))
    if len(_RULES) >= 8:  # a few sessions' pages at most
        _RULES.clear()
    _RULES[id(printed)] = (printed, rules)  # the page is held, so its id is not reused while it is here
    return rules
