"""Writing on the ballot: in the free areas (:func:`writing_found`, creases across them explained by
:func:`writing_beside_creases`) and anywhere else the print does not explain (:func:`writing_elsewhere`)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiemphieu.layout import PageLayout, Rect
from scanner.folds import Line, below_table, explained_mask
from scanner.imaging import PX, _blob_area_mm2, _closed, _px, _region, on_lines
from scanner.ink import InkMaps, explain_folds
from scanner.names import PRINTED_DARKNESS, _off_print
from scanner.settings import ScanSettings


def writing_found(light: np.ndarray, trace: np.ndarray | None, page: PageLayout, s: ScanSettings) -> bool:
    """Ink in the free areas enough to be writing (in light ink, or as traces of light pencil).

    The writing found in the free areas is some of the ink in them: where there is less ink than that
    in all, there is no writing to look for (most pages; the components are not worked out).
    """

    def enough(mask: np.ndarray, limit_mm2: float) -> bool:
        # each area with half a millimetre around it: the areas are cut out as whole pixels two ways
        ink = int(sum(np.count_nonzero(_region(mask, (x - 0.5, y - 0.5, w + 1.0, h + 1.0))) for x, y, w, h in page.free_mm))
        return ink >= limit_mm2 * PX**2 and writing_area_mm2(mask, page, s) >= limit_mm2

    return enough(light, s.writing_min_mm2) or (trace is not None and enough(trace, s.writing_trace_mm2))


def writing_area_mm2(mask: np.ndarray, page: PageLayout, s: ScanSettings) -> float:
    """Ink (mm²) in the page's free areas, in pieces of ``speck_mm`` or more: writing. A signature spilling out of
    its place is not counted."""
    total = 0.0
    sig = page.signature_mm
    for rect in page.free_mm:
        if sig is None or not _touching(rect, sig, gap_mm=3.0):
            total += _blob_area_mm2(_region(mask, rect), s.speck_mm)
            continue
        # measure the free area together with the signature place: what reaches into it is the signature
        x0, y0 = min(rect[0], sig[0]), min(rect[1], sig[1])
        x1, y1 = max(rect[0] + rect[2], sig[0] + sig[2]), max(rect[1] + rect[3], sig[1] + sig[3])
        both = _region(mask, (x0, y0, x1 - x0, y1 - y0))
        free, signature = np.zeros(both.shape, bool), np.zeros(both.shape, bool)
        _region(free, (rect[0] - x0, rect[1] - y0, rect[2], rect[3]))[...] = True
        _region(signature, (sig[0] - x0, sig[1] - y0, sig[2], sig[3]))[...] = True
        total += _blob_area_mm2(both & (free | signature), s.speck_mm, allowed=signature & ~free)
    return total


def _touching(a: tuple[float, float, float, float], b: tuple[float, float, float, float], *, gap_mm: float) -> bool:
    return (a[0] - gap_mm <= b[0] + b[2] and b[0] - gap_mm <= a[0] + a[2]
            and a[1] - gap_mm <= b[1] + b[3] and b[1] - gap_mm <= a[1] + a[3])


def writing_beside_creases(maps: InkMaps, lines: list[Line], page: PageLayout, size_mm: tuple[float, float],
                           s: ScanSettings) -> bool:
    """Whether writing found in the free areas is still there once creases across them are explained.

    A sheet folded in quarters or thirds has a crease across the free areas that
    the writing test sees as ink; looked for only when that test found something.
    A flattened sheet does not lie quite flat: one side of the crease is a few per
    cent darker, and the paper level, lagging behind so sharp a step, leaves faint
    traces up to 3 mm off the crease's line along its whole length. A band of
    ``free_crease_band_mm`` either side of these creases is explained: writing
    in the free areas is found anywhere else in them (a word is wider than that).
    """
    creases = below_table(maps.smooth, maps.paper, maps.ink, page, size_mm, s)
    if not creases:
        return True
    band = explained_mask(lines, maps.grey.shape, s) | explained_mask(creases, maps.grey.shape, s,
                                                                        band_mm=s.free_crease_band_mm)
    unfolded = explain_folds(maps, band)
    return writing_found(unfolded.light, unfolded.trace, page, s)


def _writing_places(page: PageLayout, size_mm: tuple[float, float], s: ScanSettings) -> list[tuple[Rect, list[Rect]]]:
    """The places outside the free areas, the names and the boxes' cells where a voter could write: the top of
    the page (title, heading), its foot, the side margins, the table's heading and each row's number and
    position; each with what in it is not looked at (markers, QR code, seal, signature), in page mm. The sheet's
    edge (``writing_edge_mm``) and corners (``writing_corner_mm``) are not places."""
    width, height = size_mm
    edge, corner = s.writing_edge_mm, s.writing_corner_mm
    tx, ty, tw, th = page.table_mm
    bottom = max([ty + th] + [y + h for _, y, _, h in page.free_mm]
                 + ([page.signature_mm[1] + page.signature_mm[3]] if page.signature_mm else []))
    top_row = min(row.row_mm[1] for row in page.rows) if page.rows else ty + th
    corners = [(x, y, corner, corner) for x in (0.0, width - corner) for y in (0.0, height - corner)]
    keep_clear = [*page.markers_mm.values(), page.qr_mm, page.seal_mm, *corners]
    if page.signature_mm is not None:
        keep_clear.append(page.signature_mm)
    c = s.rule_clear_mm
    places: list[Rect] = [
        (edge, edge, width - 2 * edge, ty - 1.0 - edge),  # title, heading
        (edge, bottom + 1.0, width - 2 * edge, height - edge - bottom - 1.0),  # the page's foot
        (edge, ty, tx - 0.5 - edge, bottom - ty),  # left margin
        (tx + tw + 0.5, ty, width - edge - tx - tw - 0.5, bottom - ty),  # right margin
        (tx + c, ty + c, tw - 2 * c, top_row - ty - 2 * c),  # the table's heading
    ]
    for row in page.rows:
        rx, ry, _, rh = row.row_mm
        places.append((rx + c, ry + c, row.name_mm[0] - 1.0 - rx - 2 * c, rh - 2 * c))  # number
        px = row.position_mm[0] - 1.0
        places.append((px + c, ry + c, min(cell[0] for cell in row.cells_mm.values()) - px - 2 * c, rh - 2 * c))
    return [(rect, [k for k in keep_clear if _touching(rect, k, gap_mm=s.margin_halo_mm)])
            for rect in places if rect[2] > 1.0 and rect[3] > 1.0]


@dataclass(frozen=True)
class OpenPlaces:
    """Where on a page ink would be unexplained writing (see :func:`_open_places`)."""

    printed: np.ndarray  # the blank page they were worked out on (kept: its id keys the cache)
    places: list[tuple[Rect, np.ndarray]]  # each place (page mm) and its open pixels (bool)
    whole: np.ndarray  # (H, W) uint8, 1 where any place is open: one count tells most pages apart


_OPEN: dict[tuple[int, int, float, float, float, float, float], OpenPlaces] = {}
OPEN_KEPT = 8  # entries kept at most (a few sessions' pages): a worker reading many sessions' pages drops the oldest


def _open_places(page: PageLayout, printed: np.ndarray, size_mm: tuple[float, float], s: ScanSettings,
                 halo_mm: float) -> OpenPlaces:
    """:func:`_writing_places` with, for each, where ink would be unexplained (the place's pixels): ``halo_mm``
    away from the blank page's print and ``margin_halo_mm`` away from what is kept clear. Cached per process,
    as the blank pages are (:func:`scanner.bleed.printed_pages`), and per the settings they are worked out with;
    :data:`OPEN_KEPT` entries at most, the oldest dropped first."""
    key = (id(printed), page.page, halo_mm, s.rule_clear_mm, s.writing_edge_mm, s.writing_corner_mm, s.margin_halo_mm)
    cached = _OPEN.get(key)
    if cached is None or cached.printed is not printed:
        places = []
        whole = np.zeros(printed.shape, np.uint8)
        for rect, clear in _writing_places(page, size_mm, s):
            open_ = _off_print(_region(printed, rect) > PRINTED_DARKNESS, halo_mm)
            for cx, cy, cw, ch in clear:
                m = s.margin_halo_mm
                _region(open_, (cx - m - rect[0], cy - m - rect[1], cw + 2 * m, ch + 2 * m))[...] = False
            places.append((rect, open_))
            view = _region(whole, rect)
            view |= open_[: view.shape[0], : view.shape[1]].view(np.uint8)
        if key not in _OPEN and len(_OPEN) >= OPEN_KEPT:
            del _OPEN[next(iter(_OPEN))]  # the oldest (a dict keeps its keys in the order they came)
        cached = _OPEN[key] = OpenPlaces(printed, places, whole)
    return cached


CREASE_STEP_DEG = 0.5  # the line filter is tried every half degree (at most) off level or upright: a search grid,
#                        fixed by the construction (how far off is fold_max_tilt_deg's)


def crease_tilts(max_tilt_deg: float) -> tuple[float, ...]:
    """The angles (degrees off level or upright) a crease is looked for at: level and steps of at most
    :data:`CREASE_STEP_DEG` out to ``max_tilt_deg`` (``fold_max_tilt_deg``) either way, both ends included:
    -2.0, -1.5, ..., 2.0 at the default 2 degrees."""
    n = int(np.ceil(max_tilt_deg / CREASE_STEP_DEG))
    return tuple(np.linspace(-max_tilt_deg, max_tilt_deg, 2 * n + 1))


def crease_pieces(found: np.ndarray, s: ScanSettings) -> np.ndarray:
    """(H, W) bool: the ink of ``found`` (bool, one place) that lies on a thin straight level or upright line
    (within ``fold_max_tilt_deg``, as folds are: :func:`crease_tilts`) holding ``crease_pieces_mm`` of ink in all:
    a fold's crease, which the text on the page and the paper's grain break into pieces shorter than a straight
    line's ``straight_line_mm``. A word has no line that long in it; a long straight line of its own is left out
    anyway."""
    out = np.zeros(found.shape, bool)
    if not found.any():
        return out
    for upright in (True, False):
        mask = found if upright else found.T
        h, w = mask.shape
        thick = cv2.dilate(mask.view(np.uint8), np.ones((1, 3), np.uint8))  # a line one pixel either side
        for tilt in crease_tilts(s.fold_max_tilt_deg):
            k = float(np.tan(np.radians(tilt)))
            shear = np.array([[1.0, -k, k * h / 2], [0.0, 1.0, 0.0]], np.float32)
            sheared = cv2.warpAffine(thick, shear, (w, h), flags=cv2.INTER_NEAREST)
            columns = np.flatnonzero(sheared.sum(axis=0) >= _px(s.crease_pieces_mm))
            if not columns.size:
                continue
            line = np.zeros((h, w), np.uint8)
            line[:, columns] = 1
            back = cv2.warpAffine(cv2.dilate(line, np.ones((1, 3), np.uint8)), shear, (w, h),
                                  flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP).view(bool)
            out |= (mask & back) if upright else (mask & back).T
    return out


def signature_overflow(light: np.ndarray, page: PageLayout, s: ScanSettings) -> np.ndarray:
    """(H, W) bool: the ink outside the signature's place that is one piece with ink inside it (pen gaps
    under 0.5 mm bridged), up to ``signature_reach_mm`` away: a signature running out of its place, a
    flourish under it or a long descender. A voter may sign, and a signature is not writing, wherever its
    strokes end. Ink out there that does not touch the signature is left as it is."""
    out = np.zeros(light.shape, bool)
    if page.signature_mm is None:
        return out
    sx, sy, sw, sh = page.signature_mm
    reach = s.signature_reach_mm
    r0, c0 = max(0, _px(sy - reach)), max(0, _px(sx - reach))
    r1, c1 = min(light.shape[0], _px(sy + sh + reach)), min(light.shape[1], _px(sx + sw + reach))
    if r1 <= r0 or c1 <= c0:
        return out
    crop = light[r0:r1, c0:c1]
    if not crop.any():
        return out
    _, labels = cv2.connectedComponents(_closed(crop, 3), connectivity=8)
    inside = labels[_px(sy) - r0 : _px(sy + sh) - r0, _px(sx) - c0 : _px(sx + sw) - c0]
    signed = np.unique(inside[inside > 0])
    if signed.size:
        out[r0:r1, c0:c1] = np.isin(labels, signed) & crop
    return out


def writing_elsewhere(light: np.ndarray, page: PageLayout, printed: np.ndarray | None, size_mm: tuple[float, float],
                      s: ScanSettings, image: tuple[np.ndarray, tuple[int, ...]] | None = None, *,
                      photo: bool = False) -> bool:
    """Writing outside the free areas: in the title's or the foot's space, a side margin, the table's heading,
    a row's number or position (:func:`_writing_places`), ink the blank page's print does not explain,
    ``writing_min_mm2`` of it in one place, straight level or upright lines of ``straight_line_mm`` left out (a
    table rule off its place, a crease, a streak), a crease broken into pieces (:func:`crease_pieces`) and a
    signature running out of its place (:func:`signature_overflow`) left out. Under QD 262 any extra writing on a ballot spoils it whole;
    only the free areas were looked at, so a word written in a margin or beside a position was counted.
    Without the blank page nothing is looked at here. On a photo (``photo``) only what lies
    ``photo_print_halo_mm`` from the print is looked at: off the table, where only the markers place the
    print, a phone photo's curl and lens move it by more than ``print_halo_mm`` (at that reach, 7 of the field
    deck's 294 photos of ballots were flagged for the print itself; at 3 mm, 1). ``image``, the page map (page mm
    -> image) and the image's shape: what lies within ``writing_edge_mm`` of the image's edge on the page, or beyond
    it, is not looked at (a sheet skewed by 5 degrees runs out of the image, and the page there is made of
    the image's edge drawn out)."""
    if printed is None:
        return False
    open_places = _open_places(page, printed, size_mm, s, s.photo_print_halo_mm if photo else s.print_halo_mm)
    h, w = min(light.shape[0], printed.shape[0]), min(light.shape[1], printed.shape[1])
    if cv2.countNonZero(cv2.bitwise_and(light[:h, :w].view(np.uint8), open_places.whole[:h, :w])) < \
            s.writing_min_mm2 * PX**2:
        return False
    light = light & ~signature_overflow(light, page, s)  # only on the few pages that get this far
    seen = None
    if image is not None:  # the image's outline on the page (mm), only on the few pages that get this far
        hom, (h_img, w_img) = image[0], image[1][:2]
        image_mm = cv2.perspectiveTransform(np.array([[[0.0, 0.0]], [[w_img, 0.0]], [[w_img, h_img]], [[0.0, h_img]]]),
                                            np.linalg.inv(hom)).reshape(-1, 2)
        seen = np.zeros(light.shape, np.uint8)
        cv2.fillConvexPoly(seen, np.round(image_mm * PX).astype(np.int32).reshape(-1, 1, 2), 1)
        seen = cv2.erode(seen, np.ones((2 * _px(s.writing_edge_mm) + 1,) * 2, np.uint8)).view(bool)
    for rect, open_ in open_places.places:
        found = _region(light, rect)
        h, w = min(found.shape[0], open_.shape[0]), min(found.shape[1], open_.shape[1])
        found = found[:h, :w] & open_[:h, :w]
        if seen is not None:
            found &= _region(seen, rect)[:h, :w]
        if np.count_nonzero(found) < s.writing_min_mm2 * PX**2:
            continue
        rest = found & ~on_lines(found, s.straight_line_mm, (0, 90)) & ~crease_pieces(found, s)
        if _blob_area_mm2(rest, s.speck_mm) >= s.writing_min_mm2:
            return True
    return False
