"""How the page was captured and printed: a black-and-white scan (:func:`is_bitonal`,
:func:`looks_thresholded`), a glare (:func:`glare_rows`), paper clipped white (:func:`overexposed_rows`,
:func:`faint_in_colour`), a faded print (:func:`printed_darkness`)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from kiemphieu.layout import LEVELS, PageLayout
from scanner.boxes import box_regions, faint_lines, found_rects
from scanner.folds import level_area
from scanner.grid import GridFit
from scanner.imaging import _px, _region
from scanner.ink import InkMaps, paper_level
from scanner.register import LUMA, straighten_part
from scanner.results import BoxResult
from scanner.settings import ScanSettings


def is_bitonal(grey: np.ndarray, s: ScanSettings) -> bool:
    """True for a black-and-white (1-bit) scan: almost every pixel pure black or pure white (``bitonal_share``
    of them at 0 or 255).

    Such a scan keeps no grey: a pencil mark or light ink under the scanner's
    threshold is gone, and nothing on the page can show that it was there.
    """
    sample = grey[::7, ::7]  # every 7th pixel both ways: how the page is sampled, fixed by the construction
    extreme = np.count_nonzero((sample == 0) | (sample == 255))  # the ends of 8 bits: pure black and white
    return bool(sample.size > 0 and extreme >= s.bitonal_share * sample.size)


def looks_thresholded(straight: np.ndarray, page: PageLayout, s: ScanSettings) -> bool:
    """True for a black-and-white scan saved in a grey format (JPEG, a JPEG in a PDF or TIFF) or resampled, and
    for a grey scan whose contrast was stretched until both ends clip (a scanner's auto-enhancement).

    Such a page is no longer pure black and white (the compression rings at every edge, resampling blends
    them), so :func:`is_bitonal` does not see it, but what the scanner's threshold dropped is gone all the
    same: a faint pencil mark beside a clear one was read as the clear one alone, with no reason. Over the
    boxes' columns of the straightened page (``straight``, (H, W) grey), the paper is pure white (at least
    ``thresholded_white`` of the pixels at ``clipped_white`` (254) or more, where a scan's paper keeps its grain) and the ink
    pure black (at least ``thresholded_black`` of the pixels under ``thresholded_dark`` (128) at ``pure_black`` (16)
    or less). On the simulated decks
    (adf, phone, field: 925 pages) the less of the two shares reaches 0.045 at most on a grey or colour
    page; on a 1-bit page re-encoded or resampled (``bench/robustness.py`` on the field deck) 0.13 at least
    (0.27 but for one blurred after thresholding), on a 1-bit page itself 0.68.

    A grey scan stretched until its paper clips to white and its print to black (levels 60-215) looks the
    same, and is sent to review the same way: nothing on the page tells how light a mark the stretch
    wiped out, and a dark-pen page stretched so is a 1-bit page in every pixel.
    """
    area = level_area(page)
    region = straight[area.r0 : area.r1, area.c0 : area.c1]
    if region.size == 0:
        return False
    dark = region[region < s.thresholded_dark]
    return bool(np.count_nonzero(region >= s.clipped_white) >= s.thresholded_white * region.size
                and dark.size > 0 and np.count_nonzero(dark <= s.pure_black) >= s.thresholded_black * dark.size)


def glare_rows(straight: np.ndarray, page: PageLayout, s: ScanSettings) -> set[int]:
    """Persons with a box under a glare: ``glare_box`` of its pixels clipped white (``clipped_white``), its printed outline
    washed out too (under ``glare_outline`` of the page's usual box's dark outline pixels), on a page whose
    usual box has under ``glare_usual`` clipped. A lamp's glare drives the paper and any pen stroke under its
    core to pure white: bench/robustness.py's glare variant on the 2,226-page deck read a slash there as an
    empty row, with no reason. An overexposed photo clips the paper but keeps the print dark, and dark
    strokes with it; a scan whose paper the scanner turned white everywhere (background removal) has every
    box clipped: neither is a glare (a light mark they clip away is :func:`overexposed_rows`'s)."""
    clipped, outline = {}, {}
    for row in page.rows:
        for level in LEVELS:
            x, y, w, h = row.boxes_mm[level]
            ring = _region(straight, (x - 0.4, y - 0.4, w + 0.8, h + 0.8)).copy()
            inner = _region(ring, (0.8, 0.8, w - 0.8, h - 0.8))
            box = inner.copy()
            inner[...] = 255  # the ring alone: the printed outline
            clipped[(row.person, level)] = float(np.count_nonzero(box >= s.clipped_white)) / max(1, box.size)
            outline[(row.person, level)] = float(np.count_nonzero(ring < 128))
    if not clipped or float(np.median(list(clipped.values()))) >= s.glare_usual:
        return set()
    usual = float(np.median(list(outline.values())))
    return {person for (person, level), share in clipped.items()
            if share >= s.glare_box and outline[(person, level)] < s.glare_outline * usual}


# how a box's clipping is sampled, fixed by the construction (the thresholds, clipped_paper and clipped_box_share,
# are in ScanSettings):
CLIPPED_SAMPLES = 7  # a box's clipping is sampled on CLIPPED_SAMPLES x CLIPPED_SAMPLES source pixels ...
CLIPPED_INSET = 0.2  # ... over its interior, this share of its width and height in from each side


def overexposed_rows(image: np.ndarray, hom: np.ndarray, grid: GridFit | None, page: PageLayout,
                     boxes: list[BoxResult], s: ScanSettings) -> set[int]:
    """Persons with a box read as empty whose paper the source image has clipped white in every channel:
    ``clipped_box_share`` (0.3) of the source pixels sampled over the box's middle at ``clipped_paper`` (255)
    in the darkest channel (a grey image's one).

    Overexposure drives the paper to pure white and, with it, every mark lighter than the overexposure: a
    faint pencil mark is then not in the picture at all, and its row would be read as its other boxes are.
    Where a channel keeps headroom, :func:`faint_in_colour` looks there; where none does, nothing can be
    looked for, and a human looks at the paper ballot. On the simulator's phone deck (300 photos) such a
    mark beside a clear X was counted with no doubt, on a photo with the paper at 253 by the boxes in red,
    green and blue. A box's share is measured on source pixels, before any resampling averages the
    clipped pixels with their neighbours. A camera, or a scanner, clips after its sensor's noise: clipped
    paper is flat 255, while bright paper that is not clipped keeps its grain: with a noise of 2 levels a
    tenth of its pixels reach 255 at 252, a quarter at 253, near the bar (a first version, counting pixels at 254 or more over 0.3 of
    the box, sent such scanned pages' rows to review: 47 clear rows of the held-out hands' adf-rough pages).
    On the phone deck (6,799 empty boxes) 6,713 have no pixel at 255, 67 have 0.3 or more, 19 between.
    Half the box, the paper's median at the ceiling, was asked first: on the 2,000-page phone deck a box
    the edge of the clipped light ran through, 0.35 of it at 255, hid a faint mark that way. A marked box
    is left alone (its own mark is seen), as is a glare (:func:`glare_rows`)."""
    empty = [b for b in boxes if b.state == "empty"]
    if not empty:
        return set()
    steps = CLIPPED_INSET + (1 - 2 * CLIPPED_INSET) * np.linspace(0.0, 1.0, CLIPPED_SAMPLES)
    fx, fy = (a.ravel() for a in np.meshgrid(steps, steps))
    points = [np.stack([x + w * fx, y + h * fy], axis=-1) for x, y, w, h in found_rects(page, empty)]
    mm = np.concatenate(points)
    if grid:  # a point of the straightened page shows the source at its place plus the table's shift
        dx, dy = grid.shift(mm[:, 0], mm[:, 1])
        mm = mm + np.stack([dx, dy], axis=-1)
    at = np.rint(cv2.perspectiveTransform(mm.reshape(-1, 1, 2), hom).reshape(-1, 2))
    height, width = image.shape[:2]
    inside = (at[:, 0] >= 0) & (at[:, 0] < width) & (at[:, 1] >= 0) & (at[:, 1] < height)
    values = image[np.where(inside, at[:, 1], 0).astype(np.intp), np.where(inside, at[:, 0], 0).astype(np.intp)]
    if values.ndim == 2:
        values = values.min(axis=1)
    share = ((values >= s.clipped_paper) & inside).reshape(len(empty), -1).mean(axis=1)  # off the picture: not clipped
    return {b.person for b, clipped in zip(empty, share, strict=True) if clipped >= s.clipped_box_share}


def printed_darkness(maps: InkMaps, page: PageLayout, missing: tuple[str, ...] = ()) -> float:
    """How dark the print is: the palest of the page's alignment markers, by the darkness (against the local
    paper) that a fifth of its pixels reach; a marker is solid print over more than half of its square.
    The ``missing`` markers, which registration did not find (a torn corner, a sticker or a staple over
    one), are not measured: their place shows paper, not print.

    A sheet printed with a printer low on toner, or scanned with the scanner set too light, prints its
    outlines and names no darker than a pencil: the ink levels, which are fixed shares of the paper's
    level, then read the print as light ink everywhere, and the readings of such a page cannot be
    trusted. On the simulated decks (adf-rough, phone, field: 360 pages) the palest marker reaches 0.81
    at least; a sheet printed at 55 % of the toner, which still reads well, 0.45; at 42 %, where the
    outlines are lost, 0.37.
    """
    darkness = []
    for name, (x, y, w, h) in page.markers_mm.items():
        if name in missing:
            continue
        rect = (slice(_px(y), _px(y + h)), slice(_px(x), _px(x + w)))
        square, paper = maps.grey[rect], maps.paper[rect]
        if square.size:
            darkness.append(1.0 - float(np.percentile(square, 20)) / max(1.0, float(np.median(paper))))
    return min(darkness, default=1.0)


# where the paper's level in each channel is measured, fixed by the construction (when a channel has headroom,
# headroom_ceiling and headroom_levels, is in ScanSettings):
HEADROOM_PATCH_PX = 2  # the paper's level is taken from source patches of 2 x HEADROOM_PATCH_PX + 1 pixels a side
HEADROOM_SIDE_MM = 2.5  # at each box's centre and this far left and right of the box
HEADROOM_MARGIN_MM = 6.0  # the other channel is straightened this far around the boxes' strips (the paper's level)


def paper_channels(image: np.ndarray, hom: np.ndarray, page: PageLayout) -> np.ndarray | None:
    """The paper's level in each channel (B, G, R) of the colour source ``image`` by the boxes: the 75th
    percentile of small patch means at every box's centre and beside it (a mark, a printed line or a shadow
    darkens a patch; most are paper). None for a grey image or a page without boxes in the picture."""
    if image.ndim != 3:
        return None
    points = [(x + dx, y + h / 2) for row in page.rows for x, y, w, h in row.boxes_mm.values()
              for dx in (w / 2, -HEADROOM_SIDE_MM, w + HEADROOM_SIDE_MM)]
    if not points:
        return None
    at = np.rint(cv2.perspectiveTransform(np.array(points, np.float64).reshape(-1, 1, 2), hom).reshape(-1, 2))
    r = HEADROOM_PATCH_PX
    height, width = image.shape[:2]
    inside = (at[:, 0] >= r) & (at[:, 0] < width - r) & (at[:, 1] >= r) & (at[:, 1] < height - r)
    if not inside.any():
        return None
    xs, ys = at[inside].astype(np.intp).T
    steps = np.arange(-r, r + 1)
    patches = image[ys[:, None, None] + steps[None, :, None], xs[:, None, None] + steps[None, None, :]]
    return np.percentile(patches.reshape(len(xs), -1, 3).mean(axis=1), 75, axis=0)


def faint_in_colour(image: np.ndarray, hom: np.ndarray, grid: GridFit | None, maps: InkMaps, page: PageLayout,
                    boxes: list[BoxResult], size_mm: tuple[float, float], s: ScanSettings) -> list[BoxResult]:
    """``boxes``, with an empty box that shows a faint mark in the colour picture's luma, or in its colour
    channel with the most headroom, made marginal.

    Everything else is read in the red channel (:func:`scanner.register.dropout`), which drops the seal. For a
    faint neutral mark (pencil) that channel is not the best look at a colour picture:

    - **The luma.** A JPEG keeps the luma at full resolution and finely quantised, and the colour differences
      at half resolution and coarsely; the red channel is the luma plus a colour difference, so it carries that
      coarser noise, and a camera's colour noise (its demosaicing) besides, which the luma does not. On the
      simulator's 2,000-page phone deck, faint pencil X's that the red channel put at 0.0036-0.0073 showed
      0.0087-0.0154 in the luma. The luma is held to the red channel's floor (``luma_line_min``, as
      ``faint_line_min``): a crease across a box reads a little higher in the luma than in red (its flanks
      are less noisy), and at a floor of 0.0085 113 clear rows of that deck went to review, 77 of them for a
      crease; at 0.010, 32. Two of the deck's faint X's beside a clear X (0.0087) are still not seen.
    - **The channel with headroom.** A photo taken in warm light, or overexposed, pins the red channel's white
      paper at 255: a faint pencil mark lighter than the overexposure is clipped away with the paper, while the
      blue channel, which warm light dims, keeps it. On the field deck's phone photos such a mark showed
      0.6-1.7 levels in red and 5-6.5 in blue. So where the red paper by the boxes is at
      ``headroom_ceiling`` or brighter and another channel's paper lies ``headroom_levels`` below it,
      that channel is looked at too, with a floor of ``headroom_line_min``.

    Each look measures :func:`scanner.boxes.faint_lines` on that channel, straightened the same way, against
    the page's own clutter there and its floor; the mean darkness of a box (:func:`scanner.boxes.box_shades`)
    is not asked of it, as the print's colour bleeds into the box there. Pencil is neutral, so a mark shows in
    every channel its clipping leaves it; what the red channel has judged (dots, specks, a stroke's tip from
    outside, creases, the back's print) is left out as before, unless it is ink of a colour the red channel
    barely sees (a red pen's dots). This only sends boxes to review: it never makes a mark count.
    """
    if image.ndim != 3 or not any(b.state == "empty" for b in boxes):
        return boxes
    looks = [(LUMA, s.luma_line_min)]
    levels = paper_channels(image, hom, page)
    if levels is not None:
        channel = int(np.argmin(levels))
        if levels[2] >= s.headroom_ceiling and levels[channel] <= levels[2] - s.headroom_levels:
            looks.append((channel, s.headroom_line_min))
    rects = found_rects(page, boxes)
    # only the part of the page box_regions looks at, and around it what the paper's level is taken from; read
    # from the source pixels it shows, and more, for a bent sheet's shifts
    far, margin = s.shade_strip_far_mm + 1.0 + HEADROOM_MARGIN_MM, HEADROOM_MARGIN_MM
    x0, y0 = min(r[0] for r in rects) - far, min(r[1] for r in rects) - 1.0 - margin
    x1, y1 = max(r[0] + r[2] for r in rects) + far, max(r[1] + r[3] for r in rects) + 1.0 + margin
    shape = maps.grey.shape
    r0, r1 = max(0, _px(y0)), min(shape[0], _px(y1))
    c0, c1 = max(0, _px(x0)), min(shape[1], _px(x1))
    smooth, paper = np.full(shape, 255, np.uint8), np.full(shape, 255, np.uint8)
    judged = [b.dots or b.state == "empty" for b in boxes]
    seen = np.zeros(len(boxes), bool)
    for channel, floor in looks:
        grey = straighten_part(image, hom, size_mm, (r0, r1, c0, c1), channel=channel, grid=grid, reach_mm=margin)
        smooth[r0:r1, c0:c1] = cv2.GaussianBlur(grey, (9, 9), 1.5)
        paper[r0:r1, c0:c1] = paper_level(grey)
        inside, beside = faint_lines(box_regions(replace(maps, smooth=smooth, paper=paper), rects, s, judged), s)
        seen |= inside >= max(floor, s.faint_line_ratio * float(np.median(beside)))
    return [replace(b, state="marginal") if b.state == "empty" and hit else b
            for b, hit in zip(boxes, seen, strict=True)]
