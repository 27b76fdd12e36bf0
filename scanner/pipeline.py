"""Reading one scanned page: the stages, in order.

``read_page`` is the short driver; each stage is a function of its own, in the module named beside it:

1. :func:`~scanner.register.dropout`      colour scan → grey in which the red seal ink turns white
                                        (``scanner/register.py``)
2. :func:`~scanner.register.register`     find the alignment markers, fit the page transform (any orientation,
                                        perspective for photos); a page without markers is blank or
                                        unreadable (``scanner/register.py``)
3. :func:`~scanner.identify.identify`     read the QR code, check session, layout and issued token
                                        (``scanner/identify.py``)
4. :func:`~scanner.register.straighten`   warp the page to the canonical grid (``CANONICAL_PX_PER_MM``), following
                                        the printed table where the sheet is not flat (``scanner/grid.py``);
                                        its ink maps (``scanner/ink.py``)
5. folds                                creases from edge to edge taken out of the ink maps, other long straight
                                        lines flagged (``scanner/folds.py``); scanner streaks likewise
                                        (``scanner/streaks.py``)
6. :func:`~scanner.boxes.score_boxes`     refine each box against its printed outline and measure the ink inside;
                                        marked / marginal / empty per box (``scanner/boxes.py``); scored again
                                        where the back's print shows through, divided out (``scanner/bleed.py``)
7. :func:`~scanner.boxes.classify_rows`   none / one / multiple per row, with the reasons for review
                                        (``scanner/boxes.py``)
8. :func:`~scanner.outside.inspect`       ink the printed ballot does not explain (``scanner/outside.py``): crossed
                                        names and ink on the names (``scanner/names.py``), writing
                                        (``scanner/writing.py``), marks outside boxes; then ink the dropout
                                        hides (``scanner/colour.py``), scanner streaks (``scanner/streaks.py``)
                                        and how the page was scanned or printed: black-and-white, glare,
                                        overexposed, faded (``scanner/exposure.py``)

Beneath them: ``scanner/imaging.py`` (small helpers they share: millimetres to pixels, a rectangle's
pixels, ink areas, line filters) and ``scanner/results.py`` (the run's context, the typed box, row and
page results). Above them: ``scanner/run.py`` (a folder of scans read by worker processes, recorded in
the database).

Arrays are indexed (row, column); OpenCV's (x, y) points are converted where they are
made or used, and said so there. Every decision the machine is unsure of becomes a
reason code (see :mod:`kiemphieu.readings`) that sends the row or page to review.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from kiemphieu import readings as R
from kiemphieu.layout import PageLayout
from kiemphieu.session import REFERENCE_PDF
from scanner import bleed
from scanner.boxes import classify_rows, found_rects, score_boxes, traces_only
from scanner.colour import hidden_ink, pen_colour_on_names
from scanner.exposure import (
    faint_in_colour,
    glare_rows,
    is_bitonal,
    looks_thresholded,
    overexposed_rows,
    printed_darkness,
)
from scanner.folds import explained_mask, find_lines, local_creases, rows_crossed
from scanner.grid import GridFit, register_grid, verify
from scanner.identify import identify, read_qr
from scanner.imaging import PX, _blob_area_mm2, _px, percentile_u8
from scanner.ink import InkMaps, explain_folds, ink_maps
from scanner.names import crease_test
from scanner.outside import inspect
from scanner.register import dropout, register, straighten
from scanner.results import BoxResult, PageResult, RowResult, RunContext
from scanner.settings import ScanSettings
from scanner.sources import DecodeError, PageTask, decode_page
from scanner.streaks import (
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

MIN_SHORT_SIDE = round(210 * PX * 0.98)  # JPEGs are decoded at 1/2, 1/4 size while the short side stays above this:
#                                          an A4 sheet's width at the canonical resolution (fixed by it)


def back_writing_mm2(grey: np.ndarray, s: ScanSettings) -> float:
    """Handwriting (mm²) on a page without markers that is otherwise blank: the back of a ballot with a name,
    a note or a signature on it, too little ink for :func:`_ink_share` to call the page more than blank.

    The page is taken to fill the image as an A4 sheet and brought to the canonical scale. Ink is
    pen-dark, as on a ballot (:func:`scanner.ink.ink_maps`: ``ink_darkness`` below the local paper level): a front's
    print showing through the paper, and most pencil, is lighter. Counted as in the free areas (:func:`scanner.imaging._blob_area_mm2`: pieces of
    ``speck_mm`` or more, a fold or streak across the page left out), ``back_margin_mm`` clear of the image's
    edge, and nothing that reaches that margin (the dark lid beside a skewed sheet, a punched hole)."""
    h, w = grey.shape
    scale = PX * 297.0 / max(h, w)
    small = np.asarray(cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                                  interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR))
    ink = ink_maps(small, s).ink
    m = _px(s.back_margin_mm)
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
        if reg and reg.px_per_mm < s.full_decode_px_per_mm:
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
    scan = parallelogram_gap_mm(hom, ctx.layout.page_size_mm) <= s.streak_flat_mm  # a flat scan, not a photo
    streaks = find_streak_lines(grey, s, rows=scan)
    streaks_mm = streak_lines_mm(streaks, hom, page, s)
    band = streak_band(streaks_mm, maps.grey.shape, s) if streaks_mm else None
    if band is not None:  # the scanner's line, not the voter's: read the boxes without it, as a crease
        maps = replace(explain_folds(maps, band), streak_band=band)
    boxes, distorted = score_boxes(maps, page, s)
    # the session's blank pages (kept per process): for the show-through and for strikes where nothing is printed
    printed = bleed.printed_pages(Path(ctx.workspace) / REFERENCE_PDF, maps.grey.shape[::-1])
    if any(traces_only(b, s) for b in boxes):  # faint traces only: the back's print showing through?
        unbled = without_bleed(maps, page, printed, s)
        if unbled:
            maps = unbled
            boxes, distorted = score_boxes(maps, page, s)
    boxes, distorted, maps = _explain_local_creases(maps, page, boxes, distorted, s)
    boxes = faint_in_colour(image, hom, grid, maps, page, boxes, ctx.layout.page_size_mm, s)
    rows = classify_rows(boxes, s)
    t["score"] = time.perf_counter() - t3
    t4 = time.perf_counter()
    unstreaked = without_streaks(maps, band)
    row_extra, page_reasons = inspect(unstreaked.light, page, boxes, s, unstreaked.trace, unstreaked.ink,
                                      printed[page.page - 1] if len(printed) >= page.page else None,
                                      crease_test(maps, page, ctx.layout.page_size_mm, s))
    if R.R_WRITING in page_reasons and not writing_beside_creases(unstreaked, lines, page, ctx.layout.page_size_mm, s):
        page_reasons = [r for r in page_reasons if r != R.R_WRITING]
    if R.R_WRITING not in page_reasons and writing_elsewhere(
            unstreaked.light, page, printed[page.page - 1] if len(printed) >= page.page else None,
            ctx.layout.page_size_mm, s, (hom, grey.shape), photo=not scan):
        page_reasons.append(R.R_WRITING)
    # a streak through a box sends its row to review, never to a count (issue 3): what its band took out of
    # the box is not seen
    streaked = streak_boxes(streaks, hom, page) | streak_names(streaks_mm, page, s)
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
    glared = glare_rows(maps.grey, page, s)
    for person in glared:
        row_extra.setdefault(person, []).append(R.R_GLARE)
    bitonal = is_bitonal(grey, s) or looks_thresholded(maps.grey, page, s)
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
    return replace(unbled, shown_through=bleed.shown_through(fitted, printed, s.bleed_left_darkness),
                   streak_band=maps.streak_band)


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


FADED_DETAIL = ("The print is too faint (a printer low on toner, or the scanner set too light): the machine cannot "
                "tell the print from pen strokes. Look at the whole page; print or scan darker.")
LOW_RES_DETAIL = ("The page is read at under 90 pixels per inch of the sheet (a small photo, a scanner set to 75 "
                  "dpi): a fine pen's stroke is under a pixel wide and a light pencil's mark is lost in it. Every line "
                  "of this page goes to review; scan at 150 dpi or more, or photograph the sheet closer.")
BITONAL_DETAIL = ("Black-and-white scan (1-bit, or its contrast stretched until the paper is pure white and the ink "
                  "pure black, as a scanner's auto-enhancement or background removal does): a pencil mark or light "
                  "ink below the scanner's threshold is lost. Every line of this page goes to review; scan the "
                  "ballots in greyscale or colour, without auto-enhancement.")
