"""What the colour source shows that the grey dropout does not: ink the dropout hid (a red pen, a
highlighter: :func:`hidden_ink`) and a blue pen's colour on the names (:func:`pen_colour_on_names`)."""

from __future__ import annotations

import cv2
import numpy as np

from kiemphieu.layout import PageLayout
from scanner.imaging import PX, _image_boxes, _region, median_u8, scale_of
from scanner.ink import paper_level
from scanner.names import PRINTED_DARKNESS, _name_cells
from scanner.register import hidden_by_dropout
from scanner.settings import ScanSettings


def _sampled(image: np.ndarray, box: np.ndarray, step: int) -> np.ndarray:
    """The image's pixels in ``box`` (c0, r0, c1, r1), every ``step``-th: nearest neighbour at a whole factor,
    which OpenCV picks much faster than a numpy copy."""
    c0, r0, c1, r1 = (int(v) for v in box)
    crop = image[r0:r1, c0:c1]
    if step > 1:
        crop = cv2.resize(crop, ((c1 - c0) // step, (r1 - r0) // step), interpolation=cv2.INTER_NEAREST)
    return crop


NAME_COLOUR_STEP_MM = 0.15  # looked at on pixels about this far apart (a pen's stroke is twice as wide): how the
#                             colour is sampled, fixed by the construction (the thresholds are in ScanSettings)


def pen_colour_on_names(image: np.ndarray, hom: np.ndarray, page: PageLayout, printed: np.ndarray,
                        s: ScanSettings) -> set[int]:
    """Persons whose number, name or position text has ``name_colour_mm2`` of a blue or violet pen's ink on
    it or within ``name_colour_near_mm`` of it: a small X over a name's first letters, a fine wave
    through its first words, loops written over a position. In grey such ink lies on the letters or within
    their reach (:func:`scanner.names.name_cell_ink` looks ``name_halo_mm`` off them), and the name was counted as
    left alone; the print is black, so on a colour scan a blue pen's ink shows where it leaves the letters.

    Judged on the colour source image, against the paper's tint over the texts. A contact-image
    scanner's red, green and blue lines do not fall on one place: every dark edge across the feed gets a
    coloured rim. Colour within ``name_colour_edge_px`` source pixels of neutral dark (print) is left
    out, and a row must hold ``name_colour_mm2`` more than the page's usual row (``name_colour_usual``).
    Wider fringes (a quarter of a pixel's misregistration on a sharp 150 dpi scan) leave colour beside every
    letter, more in some rows than in others: they are looked for on the table's heading, printed like the
    names and written on by no one, and where its print shows ``name_colour_fringe`` of colour the page
    is not judged by colour at all (as a grey scan is not). A black pen or a pencil shows no colour: nothing
    is found for it here."""
    if image.ndim != 3 or not page.rows:
        return set()
    named = _name_cells(page, printed, s)
    tx, ty, tw, _ = page.table_mm
    texts = [text for cells in named for text in cells.texts]
    if not texts:
        return set()
    # the table's heading above the same columns as the texts
    clear = s.rule_clear_mm
    left, right = max(tx + clear, min(t[0] for t in texts)), max(t[0] + t[2] for t in texts)
    heading = (left, ty + clear, right - left, page.rows[0].row_mm[1] - ty - 2 * clear)
    rects = [heading, *texts]
    px_per_mm = scale_of(hom)
    step = max(1, int(px_per_mm * NAME_COLOUR_STEP_MM))

    boxes = _image_boxes(rects, hom, image.shape)
    strip = np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)])  # all of them: c0, r0, c1, r1
    c0, r0, c1, r1 = (int(v) for v in strip)
    coarse = max(step, int(px_per_mm * HIDDEN_STEP_MM))
    if (r1 - r0) // coarse < 3 or (c1 - c0) // coarse < 3:
        return set()

    def blue_over_tint(every: int) -> tuple[np.ndarray, ...]:
        """The strip's pixels ``every`` apart (:func:`_sampled`, as hidden_ink samples): where it is bluer than
        the paper's tint (255), and its blue, green and red, the lesser of green and red."""
        b, g, r = cv2.split(_sampled(image, strip, every))
        least = cv2.min(g, r)
        blue = cv2.subtract(b, least)
        _, mask = cv2.threshold(blue, min(254.0, median_u8(blue[::2, ::2]) + s.name_colour_contrast), 255,
                                cv2.THRESH_BINARY)
        return mask, b, g, r, least

    # a first look at the pixels hidden_ink samples: most pages hold no such colour by their texts at all
    if not cv2.countNonZero(blue_over_tint(coarse)[0]):
        return set()
    mask, b, g, r, least = blue_over_tint(step)
    most = cv2.max(b, cv2.max(g, r))
    neutral = (most < 0.6 * median_u8(most[::2, ::2])) & (cv2.subtract(most, cv2.min(b, least)) < s.name_colour_contrast)
    edge = max(1, -(-s.name_colour_edge_px // step))
    mask[cv2.dilate(neutral.view(np.uint8), np.ones((2 * edge + 1, 2 * edge + 1), np.uint8)) > 0] = 0

    def coloured_mm2(k: int) -> float:
        bc0, br0, bc1, br1 = boxes[k]
        part = mask[(br0 - r0) // step : (br1 - r0) // step, (bc0 - c0) // step : (bc1 - c0) // step]
        return cv2.countNonZero(part) * (step / px_per_mm) ** 2 if part.size else 0.0

    heading_print = np.count_nonzero(_region(printed, heading) > PRINTED_DARKNESS) / PX**2
    if heading_print > 1.0 and coloured_mm2(0) >= s.name_colour_fringe * heading_print:
        return set()  # the scanner colours the print itself: colour cannot tell a pen here
    areas, k = {}, 1
    for row, cells in zip(page.rows, named, strict=False):
        areas[row.person] = sum(coloured_mm2(k + i) for i in range(len(cells.texts)))
        k += len(cells.texts)
    usual = float(np.percentile(list(areas.values()), s.name_colour_usual * 100)) if areas else 0.0
    return {person for person, area in areas.items() if area >= max(0.0, usual) + s.name_colour_mm2}


# fixed by the construction (the thresholds, hidden_contrast and hidden_seen_near_mm, are in ScanSettings):
HIDDEN_PX = 3.0  # px per mm of the map of ink the dropout hid: the map's resolution
HIDDEN_STEP_MM = 0.35  # the colour is looked at on pixels about this far apart: how it is sampled


def hidden_ink(image: np.ndarray, hom: np.ndarray, page: PageLayout, s: ScanSettings) -> tuple[set[int], bool]:
    """Ink the dropout hid (:func:`scanner.register.hidden_by_dropout`): the persons with such ink in a box, over the
    name or the position, and whether the free areas hold some. Red pen, a pink gel pen, a yellow
    highlighter vanish with the seal: a mark in them must not read as an empty box that counts, nor a
    name struck through in them as a name left alone, so a human must look.

    Measured on the colour source image over the table and the free areas, against the paper's own tint
    there (the median of the measure: a warm light or a cream paper raises it everywhere), then mapped to
    the page at :data:`HIDDEN_PX`. Colour within ``hidden_seen_near_mm`` of ink the dropout still sees (light
    ink in the red channel against its own paper level: a violet pen, a red pen pressed hard, and the
    coloured edges of a blue stroke) is that ink, read with the rest, and not hidden. This is judged on the
    source image itself, so a phone photo's lens and a curled sheet move both alike.
    Colour ``hidden_contrast`` grey levels above the paper's tint is such ink.
    A box, a name or a position holds hidden ink from ``red_share`` of a box interior's area; a free area
    from ``writing_min_mm2``.
    """
    if image.ndim != 3 or not page.rows:
        return set(), False
    areas = [page.table_mm, *page.free_mm]
    x0, y0 = min(a[0] for a in areas), min(a[1] for a in areas)
    x1, y1 = max(a[0] + a[2] for a in areas), max(a[1] + a[3] for a in areas)
    box = _image_boxes([(x0, y0, x1 - x0, y1 - y0)], hom, image.shape)[0]
    c0, r0, c1, r1 = (int(v) for v in box)
    if c1 - c0 < 2 or r1 - r0 < 2:
        return set(), False
    # every step-th pixel, about HIDDEN_STEP_MM apart: a pen's stroke is wider, and a scan's colour is coarser
    px_per_mm = scale_of(hom)
    step = max(1, int(px_per_mm * HIDDEN_STEP_MM))
    crop = _sampled(image, box, step)
    measure = hidden_by_dropout(crop)
    tint = median_u8(measure[::2, ::2])
    _, mask = cv2.threshold(measure, min(254.0, tint + s.hidden_contrast), 255, cv2.THRESH_BINARY)
    if not cv2.countNonZero(mask):  # the usual page: no such colour at all
        return set(), False
    red = cv2.extractChannel(crop, 2)  # what the dropout sees
    seen = red <= paper_level(red) * (1.0 - s.light_darkness)
    reach = int(np.ceil(s.hidden_seen_near_mm * px_per_mm / step))
    near = cv2.dilate(seen.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    mask[near > 0] = 0
    if not cv2.countNonZero(mask):
        return set(), False
    # page mm (from x0, y0) at HIDDEN_PX -> sampled crop pixels
    to_crop = (np.array([[1.0 / step, 0.0, -c0 / step], [0.0, 1.0 / step, -r0 / step], [0.0, 0.0, 1.0]]) @ hom
               @ np.array([[1.0 / HIDDEN_PX, 0.0, x0], [0.0, 1.0 / HIDDEN_PX, y0], [0.0, 0.0, 1.0]]))
    size = (round((x1 - x0) * HIDDEN_PX), round((y1 - y0) * HIDDEN_PX))
    hidden = cv2.warpPerspective(mask, to_crop, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_CONSTANT)

    def area_mm2(rect: tuple[float, float, float, float]) -> float:
        x, y, w, h = rect
        part = hidden[max(0, round((y - y0) * HIDDEN_PX)) : round((y + h - y0) * HIDDEN_PX),
                      max(0, round((x - x0) * HIDDEN_PX)) : round((x + w - x0) * HIDDEN_PX)]
        return float(part.sum()) / 255.0 / HIDDEN_PX**2

    inset = s.box_inset_mm
    rows = set()
    for row in page.rows:
        interiors = [(x + inset, y + inset, w - 2 * inset, h - 2 * inset) for x, y, w, h in row.boxes_mm.values()]
        least = s.red_share * min(w * h for _, _, w, h in interiors)
        if any(area_mm2(rect) >= least for rect in (*interiors, row.name_mm, row.position_mm)):
            rows.add(row.person)
    return rows, any(area_mm2(rect) >= s.writing_min_mm2 for rect in page.free_mm)
