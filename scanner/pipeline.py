"""Reading one scanned page: the stages, in order.

``read_page`` is the short driver; each stage is a function of its own:

1. :func:`scanner.register.dropout`      colour scan → grey in which the red seal ink turns white
2. :func:`scanner.register.register`     find the alignment markers, fit the page transform (any orientation,
                        perspective for photos); a page without markers is blank or unreadable
3. :func:`scanner.identify.identify`     read the QR code, check session, layout and issued token
4. :func:`scanner.register.straighten`   warp the page to the canonical grid (``CANONICAL_PX_PER_MM``), following
                        the printed table where the sheet is not flat (:mod:`scanner.grid`)
5. folds                creases from edge to edge taken out of the ink maps, other long straight
                        lines flagged (:mod:`scanner.folds`)
6. :func:`scanner.boxes.score_boxes`  refine each box against its printed outline and measure the ink inside;
                        marked / marginal / empty per box (:func:`scanner.boxes.classify_box`)
7. :func:`scanner.boxes.classify_rows` none / one / multiple per row, with the reasons for review
8. :func:`scanner.outside.inspect`      ink the printed ballot does not explain: crossed names, writing,
                        marks outside boxes, ink the dropout hides, scanner streaks

Arrays are indexed (row, column); OpenCV's (x, y) points are converted in
:func:`_to_xy` / where noted. Every decision the machine is unsure of becomes a
reason code (see :mod:`kiemphieu.readings`) that sends the row or page to review.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from kiemphieu import readings as R
from kiemphieu.layout import LEVELS, PageLayout
from kiemphieu.session import REFERENCE_PDF
from scanner import bleed
from scanner.boxes import (
    SHADE_STRIP_MM,
    box_regions,
    classify_rows,
    faint_lines,
    found_rects,
    score_boxes,
    traces_only,
)
from scanner.colour import hidden_ink, pen_colour_on_names
from scanner.folds import explained_mask, find_lines, level_area, local_creases, rows_crossed
from scanner.grid import GridFit, register_grid, verify
from scanner.identify import identify, read_qr
from scanner.imaging import PX, _blob_area_mm2, _px, _region, percentile_u8
from scanner.ink import InkMaps, explain_folds, ink_maps, paper_level
from scanner.names import crease_test
from scanner.outside import inspect
from scanner.register import dropout, register, straighten, straighten_part
from scanner.results import BoxResult, PageResult, RowResult, RunContext
from scanner.settings import ScanSettings
from scanner.sources import DecodeError, PageTask, decode_page
from scanner.streaks import (
    STREAK_FLAT_MM,
    band_in_boxes,
    find_streak_lines,
    parallelogram_gap_mm,
    streak_band,
    streak_boxes,
    streak_lines_mm,
    streak_names,
    without_streaks,
)
from scanner.writing import writing_beside_creases, writing_elsewhere

MIN_SHORT_SIDE = round(210 * PX * 0.98)  # JPEGs are decoded at 1/2, 1/4 size while the short side stays above this
MIN_PX_PER_MM = 5.5  # below this after a reduced decode, decode the page in full


def without_bleed(maps: InkMaps, page: PageLayout, printed: tuple[np.ndarray, ...],
                  s: ScanSettings) -> InkMaps | None:
    """``maps`` of the page with the back's print, where it shows through, divided out (:mod:`scanner.bleed`),
    the creases explained on ``maps`` explained again; None when no show-through is found. The creases are
    left out of the fit with the ink: the back's print does not explain their darkness."""
    covered = maps.light if maps.explained is None else maps.light | maps.explained
    fitted = bleed.fit(maps.smooth, maps.paper, covered, page.page, printed, s)
    if not fitted:
        return None
    unbled = ink_maps(bleed.remove(maps.grey, fitted, printed), s)
    unbled = explain_folds(unbled, maps.explained) if maps.explained is not None else unbled
    return replace(unbled, shown_through=bleed.shown_through(fitted, printed, s.bleed_left_darkness))


# --- driver ---------------------------------------------------------------------


def is_bitonal(grey: np.ndarray) -> bool:
    """True for a black-and-white (1-bit) scan: almost every pixel pure black or pure white.

    Such a scan keeps no grey: a pencil mark or light ink under the scanner's
    threshold is gone, and nothing on the page can show that it was there.
    """
    sample = grey[::7, ::7]
    extreme = np.count_nonzero((sample == 0) | (sample == 255))
    return bool(sample.size > 0 and extreme >= 0.995 * sample.size)


CLIPPED_WHITE = 254  # a pixel this bright is clipped white: the paper keeps its grain below it, and ink is gone


def looks_thresholded(straight: np.ndarray, page: PageLayout, s: ScanSettings) -> bool:
    """True for a black-and-white scan saved in a grey format (JPEG, a JPEG in a PDF or TIFF) or resampled, and
    for a grey scan whose contrast was stretched until both ends clip (a scanner's auto-enhancement).

    Such a page is no longer pure black and white (the compression rings at every edge, resampling blends
    them), so :func:`is_bitonal` does not see it, but what the scanner's threshold dropped is gone all the
    same: a faint pencil mark beside a clear one was read as the clear one alone, with no reason. Over the
    boxes' columns of the straightened page (``straight``, (H, W) grey), the paper is pure white (at least
    ``thresholded_white`` of the pixels at 254 or more, where a scan's paper keeps its grain) and the ink
    pure black (at least ``thresholded_black`` of the pixels under 128 at 16 or less). On the simulated decks
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
    dark = region[region < 128]
    return bool(np.count_nonzero(region >= CLIPPED_WHITE) >= s.thresholded_white * region.size
                and dark.size > 0 and np.count_nonzero(dark <= 16) >= s.thresholded_black * dark.size)


BACK_MARGIN_MM = 15.0  # a blank page's edge: the scanner lid's shadow, punched holes, a staple, a skewed sheet's corner


def back_writing_mm2(grey: np.ndarray, s: ScanSettings) -> float:
    """Handwriting (mm²) on a page without markers that is otherwise blank: the back of a ballot with a name,
    a note or a signature on it, too little ink for :func:`_ink_share` to call the page more than blank.

    The page is taken to fill the image as an A4 sheet and brought to the canonical scale. Ink is
    pen-dark, as on a ballot (:func:`scanner.ink.ink_maps`: ``ink_darkness`` below the local paper level): a front's
    print showing through the paper, and most pencil, is lighter. Counted as in the free areas (:func:`scanner.imaging._blob_area_mm2`: pieces of
    ``speck_mm`` or more, a fold or streak across the page left out), ``BACK_MARGIN_MM`` clear of the image's
    edge, and nothing that reaches that margin (the dark lid beside a skewed sheet, a punched hole)."""
    h, w = grey.shape
    scale = PX * 297.0 / max(h, w)
    small = np.asarray(cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                                  interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR))
    ink = ink_maps(small, s).ink
    m = _px(BACK_MARGIN_MM)
    inner = ink[m:-m, m:-m]
    if inner.size == 0 or not inner.any():
        return 0.0
    frame = np.ones(inner.shape, bool)
    frame[1:-1, 1:-1] = False
    return _blob_area_mm2(inner, s.speck_mm, allowed=frame)


def _ink_share(grey: np.ndarray) -> float:
    h, w = grey.shape
    small = cv2.resize(grey, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    border_r, border_c = small.shape[0] // 25, small.shape[1] // 25
    inner = small[border_r : small.shape[0] - border_r, border_c : small.shape[1] - border_c]
    paper = max(percentile_u8(inner, 90), 40.0)
    return float((inner < 0.6 * paper).mean())


def _save_jpeg(image: np.ndarray, root: Path, name: str, quality: int) -> str:
    rel = Path("images") / name
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if ok:
        tmp = dest.with_suffix(".tmp")
        tmp.write_bytes(buf.tobytes())
        tmp.replace(dest)
    return rel.as_posix()


def image_name(task: PageTask) -> str:
    return f"{task.sha256[:20]}-{task.page_index + 1}.jpg"


def save_raw_preview(image: np.ndarray, task: PageTask, ctx: RunContext) -> str:
    """A downscaled copy of an unregistered page, so a human can see it."""
    h, w = image.shape[:2]
    scale = min(1.0, 1600 / max(h, w))
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else image
    return _save_jpeg(small, Path(ctx.workspace), image_name(task), ctx.settings.review_jpeg_quality)


def _straight_colour(image: np.ndarray, hom: np.ndarray, ctx: RunContext, grid: GridFit | None = None) -> np.ndarray:
    return straighten(image, hom, ctx.layout.page_size_mm, grid=grid)


def read_page(task: PageTask, ctx: RunContext) -> PageResult:
    """Read one page: decode, register, identify, score, classify, inspect."""
    s = ctx.settings
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        image = decode_page(task, max_pixels=s.max_pixels, min_short_side=MIN_SHORT_SIDE)
        t["decode"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        grey = dropout(image)
        reg = register(grey, ctx.layout, s)
        if reg and reg.px_per_mm < MIN_PX_PER_MM:
            # decoded at reduced size but the page is small in the frame (a photo): decode in full
            full = decode_page(task, max_pixels=s.max_pixels, min_short_side=None)
            if full.shape[:2] != image.shape[:2]:
                image, grey = full, dropout(full)
                reg = register(grey, ctx.layout, s)
    except DecodeError as exc:
        return PageResult(task, "rejected", "rejected", reasons=(R.R_FILE, exc.problem.code), detail=exc.problem.en,
                          timings={"decode": time.perf_counter() - t0})
    t["register"] = time.perf_counter() - t1
    if not reg:
        if _ink_share(grey) < s.blank_ink_share:
            if back_writing_mm2(grey, s) < s.writing_min_mm2:
                return PageResult(task, "blank", "auto", reasons=(R.R_BLANK,), timings=t)
            return PageResult(task, "unreadable", "rejected", reasons=(R.R_BACK_WRITING,),
                              image=save_raw_preview(image, task, ctx), timings=t, detail=(
                                  "No alignment markers, but handwriting on it: the back of a ballot written on "
                                  "(under QĐ 262 any extra writing spoils the ballot), or another sheet. The ballot "
                                  "scanned right before it goes to review too (writing_on_back): look at both."))
        preview = save_raw_preview(image, task, ctx)
        detail = ("Several ballots in one image (two sheets on the scanner glass, or in one photo): scan or "
                  "photograph each ballot on its own. Nothing on this image is counted." if reg.failure == R.R_SEVERAL
                  else "No alignment markers found: not a ballot, or a damaged one. Check the sheet and scan it again."
                  if not reg.missing else
                  f"Only {reg.markers} of the 4 alignment markers found (not found: "
                  f"{', '.join(m.replace('_', ' ') for m in reg.missing)}): the scan cuts off part of the sheet "
                  "(a Letter-size scan area cuts the bottom of an A4 sheet) or those markers are damaged. "
                  "Scan the whole A4 sheet again.")
        return PageResult(task, "unreadable", "rejected", reasons=(reg.failure,), image=preview, timings=t,
                          detail=detail)
    hom = reg.homography
    assert hom is not None
    transform = tuple(float(v) for v in np.linalg.inv(hom).ravel())
    t2 = time.perf_counter()
    ident = identify(read_qr(grey, hom, ctx.layout.pages[0].qr_mm), ctx)
    t["identify"] = time.perf_counter() - t2
    if ident.layout_page is None:
        path = _save_jpeg(_straight_colour(image, hom, ctx), Path(ctx.workspace), image_name(task), s.review_jpeg_quality)
        return PageResult(task, ident.kind, "review", token=ident.token, reasons=ident.reasons, transform=transform,
                          image=path, timings=t)
    page = ctx.layout.page(ident.layout_page)
    t3 = time.perf_counter()
    straight_grey = straighten(grey, hom, ctx.layout.page_size_mm)
    maps = ink_maps(straight_grey, s)
    grid = register_grid(maps.ink, page, s)
    if grid:  # the sheet does not lie flat, or the lens bends: follow the printed table
        straight_grey = straighten(grey, hom, ctx.layout.page_size_mm, grid=grid)
        maps = ink_maps(straight_grey, s)
        grid = verify(maps.ink, page, grid, s)
    lines = find_lines(maps.smooth, maps.paper, maps.ink, page, ctx.layout.page_size_mm, s)
    maps = explain_folds(maps, explained_mask(lines, maps.grey.shape, s))
    scan = parallelogram_gap_mm(hom, ctx.layout.page_size_mm) <= STREAK_FLAT_MM  # a flat scan, not a photo
    streaks = find_streak_lines(grey, s, rows=scan)
    streaks_mm = streak_lines_mm(streaks, hom, page)
    band = streak_band(streaks_mm, maps.grey.shape) if streaks_mm else None
    if band is not None:  # the scanner's line, not the voter's: read the boxes without it, as a crease
        maps = explain_folds(maps, band)
    boxes, distorted = score_boxes(maps, page, s)
    # the session's blank pages (kept per process): for the show-through and for strikes where nothing is printed
    printed = bleed.printed_pages(Path(ctx.workspace) / REFERENCE_PDF, maps.grey.shape[::-1])
    if any(traces_only(b, s) for b in boxes):  # faint traces only: the back's print showing through?
        unbled = without_bleed(maps, page, printed, s)
        if unbled:
            maps = unbled
            boxes, distorted = score_boxes(maps, page, s)
    boxes, distorted, maps = _explain_local_creases(maps, page, boxes, distorted, s)
    boxes = faint_in_headroom(image, hom, grid, maps, page, boxes, ctx.layout.page_size_mm, s)
    rows = classify_rows(boxes, s)
    t["score"] = time.perf_counter() - t3
    t4 = time.perf_counter()
    unstreaked = without_streaks(maps, streaks_mm)
    row_extra, page_reasons = inspect(unstreaked.light, page, boxes, s, unstreaked.trace, unstreaked.ink,
                                      printed[page.page - 1] if len(printed) >= page.page else None,
                                      crease_test(maps, page, ctx.layout.page_size_mm))
    if R.R_WRITING in page_reasons and not writing_beside_creases(unstreaked, lines, page, ctx.layout.page_size_mm, s):
        page_reasons = [r for r in page_reasons if r != R.R_WRITING]
    if R.R_WRITING not in page_reasons and writing_elsewhere(
            unstreaked.light, page, printed[page.page - 1] if len(printed) >= page.page else None,
            ctx.layout.page_size_mm, s, (hom, grey.shape), photo=not scan):
        page_reasons.append(R.R_WRITING)
    # a streak through a box sends its row to review, never to a count (issue 3): what its band took out of
    # the box is not seen
    streaked = streak_boxes(streaks, hom, page) | streak_names(streaks_mm, page)
    for person in sorted(streaked | (band_in_boxes(band, page, boxes, s) if band is not None else set())):
        row_extra.setdefault(person, []).append(R.R_STREAK)
    hidden_rows, hidden_writing = hidden_ink(image, hom, page, s)
    for person in hidden_rows:
        row_extra.setdefault(person, []).append(R.R_RED)
    if hidden_writing and R.R_WRITING not in page_reasons:
        page_reasons.append(R.R_WRITING)
    if len(printed) >= page.page:
        for person in pen_colour_on_names(image, hom, page, printed[page.page - 1], s):
            if R.R_CROSSED not in row_extra.get(person, ()):
                row_extra.setdefault(person, []).append(R.R_NAME_INK)
    for person in rows_crossed(lines, page, explained=False):
        row_extra.setdefault(person, []).append(R.R_FOLD)
    for person in distorted:
        row_extra.setdefault(person, []).append(R.R_MARGINAL)
    glared = glare_rows(maps.grey, page)
    for person in glared:
        row_extra.setdefault(person, []).append(R.R_GLARE)
    bitonal = is_bitonal(grey) or looks_thresholded(maps.grey, page, s)
    faded = printed_darkness(maps, page, reg.missing) < s.faded_print_darkness
    # every reading of such a page needs a human: what the scanner's threshold dropped is not there; a
    # print no darker than a pencil is not told from one; at under 90 dpi a light stroke is under a pixel
    low_res = reg.px_per_mm < s.min_px_per_mm
    for whole_page, reason in ((bitonal, R.R_BITONAL), (faded, R.R_FADED), (low_res, R.R_LOW_RES)):
        if whole_page:
            for line in page.rows:
                row_extra.setdefault(line.person, []).append(reason)
    if not (bitonal or faded or low_res):
        for person in overexposed_rows(image, hom, grid, page, boxes, s) - glared:
            row_extra.setdefault(person, []).append(R.R_OVEREXPOSED)
    t["inspect"] = time.perf_counter() - t4
    final_rows = []
    for person, row in sorted(rows.items()):
        reasons = tuple(dict.fromkeys(row.reasons + tuple(row_extra.get(person, ()))))
        final_rows.append(RowResult(person, row.marks, row.choice, reasons))
    reasons = ident.reasons + tuple(page_reasons)
    if reg.residual_mm > s.max_residual_mm or (grid is not None and grid.residual_mm > s.grid_max_residual_mm):
        reasons += (R.R_MARGINAL,)
    needs_review = bool(reasons) or any(r.reasons for r in final_rows)
    image_path = None
    if needs_review or ctx.debug_dir:
        straight = _straight_colour(image, hom, ctx, grid)
        if needs_review:
            image_path = _save_jpeg(straight, Path(ctx.workspace), image_name(task), s.review_jpeg_quality)
        if ctx.debug_dir:
            from scanner.debug import write_overlay

            write_overlay(Path(ctx.debug_dir), task, straight, page, boxes, final_rows, reasons)
    t["total"] = time.perf_counter() - t0
    return PageResult(
        task, ident.kind, "review" if needs_review else "auto", token=ident.token, layout_page=ident.layout_page,
        reasons=reasons, transform=transform, image=image_path, timings=t, boxes=tuple(boxes), rows=tuple(final_rows),
        detail=" ".join(d for d, on in ((FADED_DETAIL, faded), (BITONAL_DETAIL, bitonal), (LOW_RES_DETAIL, low_res))
                        if on),
    )


GLARE_BOX = 0.5  # a box this much clipped ...
GLARE_USUAL = 0.2  # ... on a page whose usual box is clipped less than this ...
GLARE_OUTLINE = 0.5  # ... and whose printed outline keeps under this share of the usual box's print: a glare


def glare_rows(straight: np.ndarray, page: PageLayout) -> set[int]:
    """Persons with a box under a glare: ``GLARE_BOX`` of its pixels clipped white (``CLIPPED_WHITE``), its printed outline
    washed out too (under ``GLARE_OUTLINE`` of the page's usual box's dark outline pixels), on a page whose
    usual box has under ``GLARE_USUAL`` clipped. A lamp's glare drives the paper and any pen stroke under its
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
            clipped[(row.person, level)] = float(np.count_nonzero(box >= CLIPPED_WHITE)) / max(1, box.size)
            outline[(row.person, level)] = float(np.count_nonzero(ring < 128))
    if not clipped or float(np.median(list(clipped.values()))) >= GLARE_USUAL:
        return set()
    usual = float(np.median(list(outline.values())))
    return {person for (person, level), share in clipped.items()
            if share >= GLARE_BOX and outline[(person, level)] < GLARE_OUTLINE * usual}


CLIPPED_PAPER = 255  # paper this bright is at the ceiling: a camera's or scanner's clip
CLIPPED_SAMPLES = 7  # a box's clipping is sampled on CLIPPED_SAMPLES x CLIPPED_SAMPLES source pixels ...
CLIPPED_INSET = 0.2  # ... over its interior, this share of its width and height in from each side


def overexposed_rows(image: np.ndarray, hom: np.ndarray, grid: GridFit | None, page: PageLayout,
                     boxes: list[BoxResult], s: ScanSettings) -> set[int]:
    """Persons with a box read as empty whose paper the source image has clipped white in every channel:
    ``clipped_box_share`` (0.3) of the source pixels sampled over the box's middle at :data:`CLIPPED_PAPER`
    in the darkest channel (a grey image's one).

    Overexposure drives the paper to pure white and, with it, every mark lighter than the overexposure: a
    faint pencil mark is then not in the picture at all, and its row would be read as its other boxes are.
    Where a channel keeps headroom, :func:`faint_in_headroom` looks there; where none does, nothing can be
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
    share = ((values >= CLIPPED_PAPER) & inside).reshape(len(empty), -1).mean(axis=1)  # off the picture: not clipped
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


def _explain_local_creases(maps: InkMaps, page: PageLayout, boxes: list[BoxResult], distorted: set[int],
                           s: ScanSettings) -> tuple[list[BoxResult], set[int], InkMaps]:
    """Boxes with faint traces only, through which a crease runs on past both sides (:func:`local_creases`):
    the crease is taken out of the ink maps and the page scored again."""
    faint = [b for b in boxes if traces_only(b, s)]
    if not faint:
        return boxes, distorted, maps
    creases = local_creases(maps.smooth, maps.paper, found_rects(page, faint), s)
    if creases is None:
        return boxes, distorted, maps
    maps = explain_folds(maps, creases)
    boxes, distorted = score_boxes(maps, page, s)
    return boxes, distorted, maps


HEADROOM_CEILING = 249.0  # the dropout's (red) channel has the paper by the boxes this bright, near its ceiling, ...
HEADROOM_LEVELS = 3.0  # ... and another channel has it this many levels darker: faint marks are looked for there too
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


def faint_in_headroom(image: np.ndarray, hom: np.ndarray, grid: GridFit | None, maps: InkMaps, page: PageLayout,
                      boxes: list[BoxResult], size_mm: tuple[float, float], s: ScanSettings) -> list[BoxResult]:
    """``boxes``, with an empty box that shows a faint mark in the colour channel with the most headroom made
    marginal.

    Everything else is read in the red channel (:func:`scanner.register.dropout`), which drops the seal. A photo taken in warm
    light, or overexposed, pins that channel's white paper at 255: a faint pencil mark lighter than the
    overexposure is clipped away with the paper, while the blue channel, which warm light dims, keeps it.
    On the field deck's phone photos such a mark showed 0.6-1.7 levels in red and 5-6.5 in blue. So where the
    red paper by the boxes is at :data:`HEADROOM_CEILING` or brighter and another channel's paper lies
    :data:`HEADROOM_LEVELS` below it, :func:`scanner.boxes.faint_lines` is measured again on that channel, straightened the
    same way, against the page's own clutter there (that channel is noisier than the red one: a JPEG keeps
    colour at half resolution) and a floor of ``headroom_line_min``, and the mean darkness of a box
    (:func:`scanner.boxes.box_shades`) is not asked of it, as the print's colour bleeds into the box there. Pencil is
    neutral, so a mark shows in every channel its clipping leaves it; what the red channel has judged (dots,
    specks, a stroke's tip from outside, creases, the back's print) is left out as before, unless it is ink
    of a colour the red channel barely sees (a red pen's dots). This only sends boxes to review: it never
    makes a mark count.
    """
    levels = paper_channels(image, hom, page)
    if levels is None:
        return boxes
    channel = int(np.argmin(levels))
    if levels[2] < HEADROOM_CEILING or levels[channel] > levels[2] - HEADROOM_LEVELS:
        return boxes
    rects = found_rects(page, boxes)
    # only the part of the page box_regions looks at, and around it what the paper's level is taken from; read
    # from the source pixels it shows, and more, for a bent sheet's shifts
    far, margin = SHADE_STRIP_MM[1] + 1.0 + HEADROOM_MARGIN_MM, HEADROOM_MARGIN_MM
    x0, y0 = min(r[0] for r in rects) - far, min(r[1] for r in rects) - 1.0 - margin
    x1, y1 = max(r[0] + r[2] for r in rects) + far, max(r[1] + r[3] for r in rects) + 1.0 + margin
    shape = maps.grey.shape
    r0, r1 = max(0, _px(y0)), min(shape[0], _px(y1))
    c0, c1 = max(0, _px(x0)), min(shape[1], _px(x1))
    grey = straighten_part(image, hom, size_mm, (r0, r1, c0, c1), channel=channel, grid=grid, reach_mm=margin)
    smooth, paper = np.full(shape, 255, np.uint8), np.full(shape, 255, np.uint8)
    smooth[r0:r1, c0:c1] = cv2.GaussianBlur(grey, (9, 9), 1.5)
    paper[r0:r1, c0:c1] = paper_level(grey)
    alt = replace(maps, smooth=smooth, paper=paper)
    inside, beside = faint_lines(box_regions(alt, rects, s, [b.dots or b.state == "empty" for b in boxes]))
    limit = max(s.headroom_line_min, s.faint_line_ratio * float(np.median(beside)))
    return [replace(b, state="marginal") if b.state == "empty" and line >= limit else b
            for b, line in zip(boxes, inside, strict=True)]


FADED_DETAIL = ("The print is too faint (a printer low on toner, or the scanner set too light): the machine cannot "
                "tell the print from pen strokes. Look at the whole page; print or scan darker.")
LOW_RES_DETAIL = ("The page is read at under 90 pixels per inch of the sheet (a small photo, a scanner set to 75 "
                  "dpi): a fine pen's stroke is under a pixel wide and a light pencil's mark is lost in it. Every line "
                  "of this page goes to review; scan at 150 dpi or more, or photograph the sheet closer.")
BITONAL_DETAIL = ("Black-and-white scan (1-bit, or its contrast stretched until the paper is pure white and the ink "
                  "pure black, as a scanner's auto-enhancement or background removal does): a pencil mark or light "
                  "ink below the scanner's threshold is lost. Every line of this page goes to review; scan the "
                  "ballots in greyscale or colour, without auto-enhancement.")
