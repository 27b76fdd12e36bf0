"""Stages 1 to 3: the colour scan to grey (:func:`dropout`), the alignment markers found and the
page transform fitted (:func:`register`), the page warped to the canonical grid (:func:`straighten`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from ballot_templates.markers import dictionary
from kiemphieu import readings as R
from kiemphieu.layout import Layout
from scanner.grid import GridFit, source_maps
from scanner.imaging import PX, _image_boxes, scale_of
from scanner.settings import ScanSettings

# --- stage 1: dropout ----------------------------------------------------------


def dropout(image: np.ndarray) -> np.ndarray:
    """Grey image in which red stamp ink turns white while blue and black pen stays dark.

    For a colour scan this is the red channel: red ink reflects red light like
    paper does, blue and black ink absorb it.
    """
    if image.ndim == 2:
        return image
    return cv2.extractChannel(image, 2)


def hidden_by_dropout(bgr: np.ndarray) -> np.ndarray:
    """How much darker each pixel's darkest channel is than its red channel (0..255): ink that
    :func:`dropout` turns white with the seal. Red, orange, pink, magenta and yellow ink score high;
    blue, black, green and pencil score about 0 (their red channel is as dark as the rest, or darker)."""
    b, g, r = cv2.split(bgr)
    return cv2.subtract(r, cv2.min(g, b))


# --- stage 2: register ---------------------------------------------------------


@cache
def _detector(thorough: bool) -> cv2.aruco.ArucoDetector:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    if not thorough:  # a printed marker is 12 mm of a 297 mm page: skip smaller shapes, one threshold window
        params.minMarkerPerimeterRate = 0.08
        params.adaptiveThreshWinSizeMin = 23
        params.adaptiveThreshWinSizeMax = 23
    if thorough:  # uneven light and small markers (phone photos): more threshold windows
        params.adaptiveThreshWinSizeMax = 53
        params.adaptiveThreshWinSizeStep = 8
        params.minMarkerPerimeterRate = 0.015
    return cv2.aruco.ArucoDetector(dictionary(), params)


def _shrink(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-averaged downscale to ``size`` (width, height): halvings by pyrDown, then a last linear step.

    OpenCV's INTER_AREA at a non-integer factor costs as much as decoding a
    quarter of the page; Gaussian halvings and a final bilinear step of less
    than 2x average the same and cost a tenth.
    """
    while grey.shape[1] >= 2 * size[0] and grey.shape[0] >= 2 * size[1]:
        grey = cv2.pyrDown(grey)
    return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR))


# fixed by the construction and the printed layout (the registration's thresholds are in ScanSettings):
QUIET_PX = 8  # white added around the reduced image for the whole image's marker search (2.4 mm at 1000 px):
#               the marker detector's quiet zone
EDGE_BAND = 0.16  # the markers lie within 20 mm of a short edge: 7 % of the long side, plus skew and margin


def _edge_bands(small: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """The two bands along the short edges of the image (its ends): ``(x0, y0, view)`` each."""
    h, w = small.shape[:2]
    if h >= w:  # portrait: the page's top and bottom, whichever way up it was fed
        band = int(h * EDGE_BAND)
        return [(0, 0, small[:band]), (0, h - band, small[h - band :])]
    band = int(w * EDGE_BAND)  # landscape: a page fed sideways
    return [(0, 0, small[:, :band]), (w - band, 0, small[:, w - band :])]


def find_markers(grey: np.ndarray, *, max_side: int, thorough: bool = False,
                 ends_only: bool = False) -> dict[int, np.ndarray]:
    """Marker id → its four corners ``(4, 2)`` as image (x, y), found on a reduced copy; an id found twice
    (two ballots in one image) maps to NaN corners.

    With ``ends_only``, only the two bands along the image's short edges are
    searched (:data:`EDGE_BAND` of the long side each). On a scan, where the page
    fills the image, the four markers lie there whichever way up it was fed, and
    the search costs a third. The caller searches the whole image when this
    finds fewer than four (a photo, a damaged marker).
    """
    h, w = grey.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = _shrink(grey, (round(w * scale), round(h * scale))) if scale < 1 else grey
    regions = _edge_bands(small) if ends_only else [(0, 0, small)]
    found: dict[int, np.ndarray] = {}
    pad = 0 if ends_only else QUIET_PX
    for x0, y0, region in regions:
        # white paper around the whole image: a marker that touches the image's edge (a sheet skewed by 5
        # degrees on the glass brings two corners to it) has no quiet zone there, and the detector passes it
        # over; the ends' search (most pages, all four markers found) goes without
        region = cv2.copyMakeBorder(region, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255) if pad else region
        corners, ids, _ = _detector(thorough).detectMarkers(region)
        if ids is None:
            continue
        for c, i in zip(corners, ids.ravel(), strict=True):
            if int(i) in found:  # the same id twice: two ballots in one image, or not one of our pages
                found[int(i)] = np.full((4, 2), np.nan)
                continue
            at = c.reshape(4, 2) + (x0 - pad + 0.5, y0 - pad + 0.5)
            found[int(i)] = at / scale - 0.5  # pixel centres, not corners
    return {k: (v if np.isnan(v).any() else _refined(grey, v, scale)) for k, v in found.items()}


def _refined(grey: np.ndarray, corners: np.ndarray, scale: float) -> np.ndarray:
    """A marker's corners refined on the full image (to about 0.01 px), from their place on the reduced copy.

    Found on a copy reduced to ``scale``, a corner is good to a pixel of that copy
    (0.3 mm at 1000 px), and where it lands depends on the detector's threshold
    window; refined on the image itself, the corners of the same marker agree to
    0.01 px whichever window found them, and the four markers' fit is two to four
    times closer. A corner that would move by more than one reduced pixel keeps
    its place, and so does one on the image's edge or beyond it (a marker the
    image's edge touches).
    """
    half = max(2, int(round(1.5 / scale)))
    h, w = grey.shape[:2]
    inside = np.all((corners >= 0) & (corners <= (w - 1, h - 1)), axis=1)
    out = corners.astype(np.float64).copy()
    if not inside.any():
        return out
    points = corners[inside].astype(np.float32).reshape(-1, 1, 2).copy()
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.01)
    cv2.cornerSubPix(grey, points, (half, half), (-1, -1), criteria)
    refined = points.reshape(-1, 2).astype(np.float64)
    kept = np.hypot(*(refined - corners[inside]).T) <= 1.0 / scale
    out[np.flatnonzero(inside)[kept]] = refined[kept]
    return out


@dataclass(frozen=True)
class Registration:
    """A fitted page transform, or the reason there is none (falsy)."""

    homography: np.ndarray | None  # 3x3, page mm -> image (x, y) pixels
    markers: int
    residual_mm: float
    failure: str = ""
    missing: tuple[str, ...] = ()  # the layout's markers not found (torn off, covered, cut off by the scan)

    def __bool__(self) -> bool:
        return self.homography is not None

    @property
    def px_per_mm(self) -> float:
        """Image pixels per page millimetre (geometric mean over the page)."""
        if self.homography is None:
            raise ValueError(f"no registration: {self.failure}")
        return scale_of(self.homography)


def register(grey: np.ndarray, layout: Layout, settings: ScanSettings) -> Registration:
    """Fit page mm → image pixels from the markers (at least three of four).

    The ends of the image are searched first; the whole image when they do not
    give all four markers in a consistent fit (a photo, a damaged marker, two
    ballots in one image), then the whole image more thoroughly.
    """
    ends = _fit_markers(find_markers(grey, max_side=settings.detect_max_side, ends_only=True), layout)
    if ends and ends.markers == 4:
        return ends
    found = find_markers(grey, max_side=settings.detect_max_side)
    if _placed(found) < 4:
        more = find_markers(grey, max_side=int(settings.detect_max_side * 1.8), thorough=True)
        if (_placed(more), len(more)) > (_placed(found), len(found)):  # more placed; or as many, more seen twice
            found = more
    return _fit_markers(found, layout)


def _placed(found: dict[int, np.ndarray]) -> int:
    """Markers found once (see :func:`find_markers`)."""
    return sum(not np.isnan(corners).any() for corners in found.values())


def _fit_markers(found: dict[int, np.ndarray], layout: Layout) -> Registration:
    """The page transform from the markers found; falsy with fewer than three or an inconsistent fit."""
    by_id = {v: k for k, v in layout.marker_ids.items()}
    twice = [i for i, corners in found.items() if i in by_id and np.isnan(corners).any()]
    if len(twice) >= 2:  # two of the markers each found twice: two ballots side by side (an A3 glass, a photo)
        return Registration(None, 0, float("nan"), R.R_SEVERAL)
    found = {i: corners for i, corners in found.items() if i not in twice}
    mm_pts, img_pts = [], []
    page = layout.pages[0]
    for marker_id, corners in found.items():
        name = by_id.get(marker_id)
        if name is None:
            continue
        x, y, w, h = page.markers_mm[name]
        mm_pts += [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        img_pts += [tuple(c) for c in corners]
    count = len(mm_pts) // 4
    missing = tuple(name for name, i in layout.marker_ids.items() if i not in found) if count else ()
    if count < 3:  # one or two: part of a ballot (cut off by the scan area, or damaged markers)
        return Registration(None, count, float("nan"), R.R_SOME_MARKERS if count else R.R_NO_MARKERS, missing)
    src = np.asarray(mm_pts, np.float64)
    dst = np.asarray(img_pts, np.float64)
    hom, _ = cv2.findHomography(src, dst, 0)
    if hom is None:
        return Registration(None, count, float("nan"), R.R_NO_MARKERS)
    residual = _residual_mm(hom, src, dst)
    if residual > 2.0 and count == 4:  # one marker misread: fit again without the worst
        hom, _ = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
        residual = _residual_mm(hom, src, dst) if hom is not None else float("inf")
    if hom is None or residual > 2.0:
        return Registration(None, count, residual, R.R_NO_MARKERS)
    return Registration(hom, count, residual, missing=missing)


def _residual_mm(hom: np.ndarray, src_mm: np.ndarray, dst_px: np.ndarray) -> float:
    inv = np.linalg.inv(hom)
    back = cv2.perspectiveTransform(dst_px.reshape(-1, 1, 2), inv).reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum((back - src_mm) ** 2, axis=1))))


# --- stage 3: straighten ---------------------------------------------------------


def straighten(image: np.ndarray, hom_mm_to_img: np.ndarray, size_mm: tuple[float, float], px_per_mm: float = PX,
               *, grid: GridFit | None = None, part: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Warp ``image`` to the canonical page grid (rows = y mm * px_per_mm).

    With a truthy ``grid`` (at :data:`scanner.imaging.PX` only), the table's displacement field is
    followed in the same resampling (see :func:`scanner.grid.source_maps`). With
    ``part`` (rows ``r0, r1``, columns ``c0, c1`` of the canonical page), only that
    part of the straightened page is made.
    """
    # first shrink by an integer factor with area averaging, so thin strokes are not aliased away
    scale = scale_of(hom_mm_to_img)
    factor = int(round(scale / px_per_mm))
    if factor >= 2:
        h, w = image.shape[:2]
        image = cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
        hom_mm_to_img = np.diag([1.0 / factor, 1.0 / factor, 1.0]) @ hom_mm_to_img
    canon_to_img = hom_mm_to_img @ np.diag([1.0 / px_per_mm, 1.0 / px_per_mm, 1.0])
    canon_to_img = canon_to_img / canon_to_img[2, 2]
    width, height = round(size_mm[0] * px_per_mm), round(size_mm[1] * px_per_mm)
    r0, r1, c0, c1 = part if part else (0, height, 0, width)
    if grid:
        map_x, map_y = source_maps(grid, canon_to_img, (height, width))
        return cv2.remap(image, map_x[r0:r1, c0:c1], map_y[r0:r1, c0:c1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    if part:
        canon_to_img = canon_to_img @ np.array([[1.0, 0.0, c0], [0.0, 1.0, r0], [0.0, 0.0, 1.0]])
        width, height = c1 - c0, r1 - r0
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    tiles = _affine_tiles(canon_to_img, width, height)
    if tiles is None:  # strong perspective (a phone photo): one exact warp
        return cv2.warpPerspective(image, canon_to_img, (width, height), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    out = np.empty((height, width) + image.shape[2:], image.dtype)
    for r0, r1, c0, c1, affine in tiles:
        # each tile through its own affine map: a warpAffine costs half a warpPerspective
        offset = np.array([[1.0, 0.0, c0], [0.0, 1.0, r0], [0.0, 0.0, 1.0]])
        out[r0:r1, c0:c1] = cv2.warpAffine(image, (affine @ offset)[:2], (c1 - c0, r1 - r0), flags=flags,
                                           borderMode=cv2.BORDER_REPLICATE)
    return out


# how the warp is computed, fixed by the construction (the result is the homography's to 0.05 px):
TILE_TOLERANCE_PX = 0.05  # a tile's affine map is this close to the homography everywhere in the tile
MAX_TILES = 16  # more tiles than this (a phone photo's perspective): one exact warp instead


def _affine_tiles(hom: np.ndarray, width: int, height: int) -> list[tuple[int, int, int, int, np.ndarray]] | None:
    """Tiles ``(r0, r1, c0, c1, affine 3 x 3)`` of the output over which an affine map follows ``hom`` to
    within :data:`TILE_TOLERANCE_PX` source pixels; one tile for a scan (an affine ``hom``), None when
    more than :data:`MAX_TILES` would be needed (a phone photo's perspective).

    Each tile's map is the least-squares fit on a 5 x 5 grid of its points; a tile
    off by more is split in two across its longer side.
    """

    def fitted(r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, float]:
        ys, xs = np.linspace(r0, r1 - 1.0, 5), np.linspace(c0, c1 - 1.0, 5)
        grid = np.array([(x, y) for y in ys for x in xs], np.float64)
        exact = cv2.perspectiveTransform(grid.reshape(-1, 1, 2), hom).reshape(-1, 2)
        design = np.hstack([grid, np.ones((len(grid), 1))])
        coef, *_ = np.linalg.lstsq(design, exact, rcond=None)
        return np.vstack([coef.T, [0.0, 0.0, 1.0]]), float(np.max(np.abs(design @ coef - exact)))

    tiles: list[tuple[int, int, int, int, np.ndarray]] = []
    todo = [(0, height, 0, width)]
    while todo:
        if len(tiles) + len(todo) > MAX_TILES:
            return None
        r0, r1, c0, c1 = todo.pop()
        affine, error = fitted(r0, r1, c0, c1)
        if error <= TILE_TOLERANCE_PX:
            tiles.append((r0, r1, c0, c1, affine))
        elif r1 - r0 >= c1 - c0:
            mid = (r0 + r1) // 2
            todo += [(r0, mid, c0, c1), (mid, r1, c0, c1)]
        else:
            mid = (c0 + c1) // 2
            todo += [(r0, r1, c0, mid), (r0, r1, mid, c1)]
    return tiles


LUMA = -1  # ``channel`` of :func:`straighten_part`: a colour image's luma (its grey: 0.299 R + 0.587 G + 0.114 B)


def straighten_part(image: np.ndarray, hom: np.ndarray, size_mm: tuple[float, float], part: tuple[int, int, int, int],
                    *, channel: int | None = None, grid: GridFit | None = None, reach_mm: float = 6.0) -> np.ndarray:
    """``straighten(image, hom, size_mm, grid=grid, part=part)`` (of colour channel ``channel``, if given, or of
    the luma for :data:`LUMA`), read from the source pixels the part shows and ``reach_mm`` around it only (a
    bent sheet's shifts, the interpolation): a part of a large photo costs what that part of it does."""
    r0, r1, c0, c1 = part
    x, y, w, h = c0 / PX - reach_mm, r0 / PX - reach_mm, (c1 - c0) / PX + 2 * reach_mm, (r1 - r0) / PX + 2 * reach_mm
    sc0, sr0, sc1, sr1 = (int(v) for v in _image_boxes([(x, y, w, h)], hom, image.shape)[0])
    crop = image[sr0:sr1, sc0:sc1]
    if channel == LUMA:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    elif channel is not None:
        crop = cv2.extractChannel(crop, channel)
    moved = np.array([[1.0, 0.0, -sc0], [0.0, 1.0, -sr0], [0.0, 0.0, 1.0]]) @ hom
    return straighten(crop, moved, size_mm, grid=grid, part=part)
