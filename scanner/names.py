"""Ink on the names: a printed name struck through (:func:`crossed_names`), and ink in a row's
number, name or position cell that the blank page's print does not explain (:func:`name_cell_ink`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from kiemphieu.layout import LEVELS, PageLayout, Rect, RowLayout
from scanner.folds import runs_on_as_crease
from scanner.imaging import FLAT_ANGLES, PX, _blob_area_mm2, _px, _region, on_lines
from scanner.ink import InkMaps
from scanner.results import BoxResult
from scanner.settings import ScanSettings

STEEP_ANGLES = tuple(range(40, 141, 5))  # strokes across a name (a zigzag, a hatch): 5 degrees apart, for thin ones
#                                         (the line filters' angles, fixed by the construction)


def strikes(ink: np.ndarray, s: ScanSettings, *, steep: bool = False) -> np.ndarray:
    """The pixels of ``ink`` (bool) on long straight strokes: within 30 degrees of the horizontal and
    ``strike_min_mm`` long; with ``steep``, 40 to 140 degrees and ``steep_strike_min_mm`` long."""
    return on_lines(ink, s.steep_strike_min_mm, STEEP_ANGLES) if steep else on_lines(ink, s.strike_min_mm, FLAT_ANGLES)


def width_covered(found: np.ndarray) -> float:
    """Share of the columns of ``found`` (bool) holding any of its pixels (0 for an empty crop)."""
    return float(found.any(axis=0).mean()) if found.size else 0.0


def strike_coverage(ink: np.ndarray, s: ScanSettings) -> float:
    """Share of the width of ``ink`` crossed by long straight strokes (printed letters have none)."""
    return width_covered(strikes(ink, s))


PRINTED_DARKNESS = 0.05  # the blank page is printed where it is this much darker than white (anti-aliased edges): a
#                          level on the reference PDF as rendered, never on a scan, fixed by the construction


CreaseTest = Callable[[np.ndarray, np.ndarray, float], bool]
"""Given the pixels (page rows, columns) of a faint straight line, whether they lie within so many mm of a crease."""


def crease_test(maps: InkMaps, page: PageLayout, size_mm: tuple[float, float], s: ScanSettings) -> CreaseTest:
    """:func:`scanner.folds.runs_on_as_crease` on this page."""

    def test(rows: np.ndarray, cols: np.ndarray, reach_mm: float) -> bool:
        return runs_on_as_crease(maps.smooth, maps.paper, page, size_mm, rows, cols, s, reach_mm=reach_mm)

    return test


def crossed_names(light: np.ndarray, dark: np.ndarray | None, page: PageLayout, boxes: list[BoxResult],
                  s: ScanSettings, trace: np.ndarray | None = None, printed: np.ndarray | None = None,
                  crease: CreaseTest | None = None) -> set[int]:
    """Persons whose printed name is struck through: long straight strokes over it.

    Measured on the pen-dark ink, where printed letters never hold a straight
    stroke that long, so a stroke over ``name_cross_dark`` of the width counts
    (a pencil strike on a blurred page is pen-dark only in parts); and on the
    light ink, where a pencil strike shows but where the letters of a blurred,
    low-resolution scan also run together into straight runs: a name counts as
    struck when it reaches ``name_cross_coverage`` there and stands out from the
    page's usual name by ``name_cross_margin``, and on a very soft page, where
    the names' runs vary more, by ``name_cross_ratio`` times the usual name's.

    A faint pencil strike can stand less above the usual name than that, or not
    at all: too faint for the light-ink map, or lost among a soft page's runs.
    Where nothing is printed (``printed``, the blank page's print darkness,
    letters widened by ``letter_halo_mm``), letters make no straight runs, and the strike
    shows there in the faint ``trace`` map, between the words and beyond the
    name's end: a name whose unprinted part holds long straight traces over
    ``name_cross_trace`` of its width counts as struck too.

    A name can be crossed out by a zigzag or a hatch as well: strokes across it, not along it. Straight
    strokes of ``steep_strike_min_mm`` at 40 to 140 degrees strike it too, in pen-dark ink over
    ``name_cross_steep`` of the name's width (printed letters are shorter than that, their stacked accents
    included: on the simulated decks a name reaches 0.044, a zigzag over one 0.66), or in light ink over
    ``name_cross_steep_light`` (a soft page's letters run together across the name there: up to 0.23; a
    pencil zigzag 0.5-0.6). They are looked for only on a name holding more ink for its print than the
    page's usual name; one holding twice as much is crossed out whatever the strokes' shape
    (:func:`_struck_across`).

    A sheet folded in half is creased across a row, and where the crease runs
    along a name it is as long and straight a line as a strike: in light ink where
    no crease was found across the level columns (one hugging a table rule), in
    traces where one was and was taken out (the shade beside it leaves traces up to
    3 mm off its line). A strike found on light ink or traces (never one on pen-dark
    ink) is not counted when ``crease``, given its pixels (page rows, columns) and a
    reach, finds a crease running on from it across both of the page's margins
    (:func:`scanner.folds.runs_on_as_crease`): within ``crease_line_mm`` of its line
    for light ink, ``crease_reach_mm`` for traces.
    """
    dy = {b.person: b.dy_mm for b in boxes if b.level == LEVELS[0]}
    on_light, on_dark, light_strikes = {}, {}, {}
    # the name's printed line, less its cell's rules: where the layout puts it (the blank page) and where
    # this scan's row was found (its boxes' ``dy``)
    printed_at, seen_at = {}, {}
    for row in page.rows:
        nx, ny, nw, nh = row.name_mm
        printed_at[row.person] = (nx, ny + 0.3, nw, nh - 0.6)
        seen_at[row.person] = (nx, ny + dy.get(row.person, 0.0) + 0.3, nw, nh - 0.6)
    for row in page.rows:
        rect = seen_at[row.person]
        name_light = _region(light, rect)
        light_strikes[row.person] = strikes(name_light, s)
        on_light[row.person] = width_covered(light_strikes[row.person])
        on_dark[row.person] = 0.0
        if dark is not None:
            # pen-dark ink lies within the light ink (but for explained creases, taken out of the light map
            # only), so its strikes cover no more: measured only where they could count
            name_dark = _region(dark, rect)
            if on_light[row.person] >= s.name_cross_dark or (name_dark & ~name_light).any():
                on_dark[row.person] = strike_coverage(name_dark, s)
    if not on_light:
        return set()
    # a page of one or two names (the last page of a long ballot) has no usual name: the fixed bar alone
    usual = float(np.median(list(on_light.values()))) if len(on_light) >= 3 else 0.0
    bar = max(s.name_cross_coverage, usual + s.name_cross_margin, usual * s.name_cross_ratio)

    def along_crease(found: np.ndarray, rect: tuple[float, float, float, float], reach_mm: float) -> bool:
        if crease is None:
            return False
        rows, cols = np.nonzero(found)
        return crease(rows + max(0, _px(rect[1])), cols + max(0, _px(rect[0])), reach_mm)

    struck = {p for p in on_light if on_dark[p] >= s.name_cross_dark}
    if dark is not None:
        struck |= _struck_across(light, dark, seen_at, printed_at, printed, s) - struck
    struck |= {p for p, rect in seen_at.items() if p not in struck and on_light[p] >= bar
               and not along_crease(light_strikes[p], rect, s.crease_line_mm)}
    if trace is None or printed is None:
        return struck
    widen = np.ones((2 * _px(s.letter_halo_mm) + 1,) * 2, np.uint8)
    for person, rect in seen_at.items():
        seen = _region(trace, rect)
        # the strokes must cover that share of the columns: a name with fewer trace pixels has none to look at
        if person in struck or np.count_nonzero(seen) < s.name_cross_trace * seen.shape[1]:
            continue
        letters = cv2.dilate((_region(printed, printed_at[person]) > PRINTED_DARKNESS).view(np.uint8), widen)
        h, w = min(seen.shape[0], letters.shape[0]), min(seen.shape[1], letters.shape[1])
        found = strikes(seen[:h, :w] & (letters[:h, :w] == 0), s)
        if width_covered(found) >= s.name_cross_trace and not along_crease(found, rect, s.crease_reach_mm):
            struck.add(person)
    return struck


def _struck_across(light: np.ndarray, dark: np.ndarray, seen_at: dict[int, Rect], printed_at: dict[int, Rect],
                   printed: np.ndarray | None, s: ScanSettings) -> set[int]:
    """Persons whose name is crossed by strokes across it or scribbled over (see :func:`crossed_names`).

    Each name's ink, light and dark, is weighed against its print on the blank page, and against the
    page's usual name. A name with ``name_cross_ink_ratio`` times the usual share of either is crossed
    out whatever the strokes' shape (loops, a scribble: ink the print does not explain). One with
    ``name_cross_steep_gate`` times it is searched (0.3 ms a name and map) for straight strokes across it: in pen-dark
    ink over ``name_cross_steep`` of its width, or in light ink (a pencil, or a pen broken up by a soft,
    noisy scan) over ``name_cross_steep_light``. Such strokes add ink, and a soft page whose letters run
    together across every name adds it to none. Without the blank page, or on a page of fewer than three
    names (the last page of a long ballot), where no usual name can be told, every name is searched, on
    the pen-dark ink only without the blank page: a very soft page's letters reach
    ``name_cross_steep_light`` on the light ink."""
    maps = ((dark, s.name_cross_steep), (light, s.name_cross_steep_light))[: 1 if printed is None else 2]
    crops = [{p: _region(ink, rect) for p, rect in seen_at.items()} for ink, _ in maps]
    looked, scribbled = set(seen_at), set()
    if printed is not None and len(seen_at) >= 3:
        print_px = {p: max(1.0, float(np.count_nonzero(_region(printed, rect) > PRINTED_DARKNESS)))
                    for p, rect in printed_at.items()}
        looked = set()
        for names in crops:
            weight = {p: np.count_nonzero(crop) / print_px[p] for p, crop in names.items()}
            usual = float(np.median(list(weight.values())))
            looked |= {p for p, w in weight.items() if w > s.name_cross_steep_gate * usual}
            scribbled |= {p for p, w in weight.items() if w >= s.name_cross_ink_ratio * usual}
    return scribbled | {p for p in looked - scribbled
                        if any(width_covered(strikes(names[p], s, steep=True)) >= limit
                               for names, (_, limit) in zip(crops, maps, strict=True))}


def _row_cells(row: RowLayout, s: ScanSettings) -> list[Rect]:
    """A row's number, name and position cells (page mm), ``rule_clear_mm`` inside their rules."""
    rx, ry, _, rh = row.row_mm
    c = s.rule_clear_mm
    edges = [rx, row.name_mm[0] - 1.0, row.position_mm[0] - 1.0, min(cell[0] for cell in row.cells_mm.values())]
    return [(x0 + c, ry + c, x1 - x0 - 2 * c, rh - 2 * c)
            for x0, x1 in zip(edges, edges[1:], strict=False) if x1 - x0 > 2 * c + 1.0]


def _loose_ink_mm2(found: np.ndarray, open_: np.ndarray, s: ScanSettings) -> float:
    """Ink of ``found`` where ``open_`` (both bool, one cell): off the print widened by ``name_halo_mm``
    (:func:`_off_print`), in pieces more than specks (``speck_mm``); straight level and upright lines of
    ``straight_line_mm`` and slivers (:func:`_without_slivers`) left out: a crease, a rule off its place, a strike
    the name check weighs."""
    h, w = min(found.shape[0], open_.shape[0]), min(found.shape[1], open_.shape[1])
    loose = found[:h, :w] & open_[:h, :w]
    if np.count_nonzero(loose) < PX**2:
        return 0.0
    loose = _without_slivers(loose & ~on_lines(loose, s.straight_line_mm, (0, 90)), s.sliver_px)
    return _blob_area_mm2(loose, s.speck_mm)


def _off_print(print_: np.ndarray, halo_mm: float) -> np.ndarray:
    """(H, W) bool: where a print (bool) does not reach, widened by ``halo_mm``."""
    halo = np.ones((2 * _px(halo_mm) + 1,) * 2, np.uint8)
    return ~cv2.dilate(print_.view(np.uint8), halo).view(bool)


@dataclass(frozen=True)
class NameCells:
    """A row's number, name and position cells on the blank page (see :func:`_name_cells`)."""

    strip: Rect  # from the number cell's left to the position cell's right (page mm)
    open_strip: np.ndarray  # (H, W) uint8 over ``strip``: 1 in a cell, off its print
    cells: tuple[tuple[Rect, np.ndarray, np.ndarray], ...]  # each cell's rect, its print (bool), off it (bool)
    texts: tuple[Rect, ...] = ()  # each printed cell's text, widened by name_colour_near_mm within its cell (page mm)


_NAME_CELLS: dict[tuple[int, int, float, float, float], tuple[np.ndarray, list[NameCells]]] = {}
NAME_CELLS_KEPT = 8  # entries kept at most (a few sessions' pages): a worker reading many sessions' pages drops the oldest


def _name_cells(page: PageLayout, printed: np.ndarray, s: ScanSettings) -> list[NameCells]:
    """:func:`_row_cells` of every row with its print and where the print does not reach (``name_halo_mm`` off
    it), cached per process (the blank pages are: :func:`scanner.bleed.printed_pages`) and per the settings
    they are worked out with; :data:`NAME_CELLS_KEPT` entries at most, the oldest dropped first."""
    key = (id(printed), page.page, s.rule_clear_mm, s.name_halo_mm, s.name_colour_near_mm)
    cached = _NAME_CELLS.get(key)
    if cached is not None and cached[0] is printed:
        return cached[1]
    rows = []
    for row in page.rows:
        rects = _row_cells(row, s)
        if not rects:
            continue
        x0, y0 = rects[0][0], rects[0][1]
        strip = (x0, y0, rects[-1][0] + rects[-1][2] - x0, rects[-1][3])
        open_strip = np.zeros(_region(printed, strip).shape, np.uint8)
        cells, texts = [], []
        for rect in rects:
            print_ = _region(printed, rect) > PRINTED_DARKNESS
            open_ = _off_print(print_, s.name_halo_mm)
            cells.append((rect, print_, open_))
            if print_.any():
                tx, ty, tw, th = cv2.boundingRect(print_.view(np.uint8))
                near = s.name_colour_near_mm
                left, top = max(rect[0], rect[0] + tx / PX - near), max(rect[1], rect[1] + ty / PX - near)
                right = min(rect[0] + rect[2], rect[0] + (tx + tw) / PX + near)
                bottom = min(rect[1] + rect[3], rect[1] + (ty + th) / PX + near)
                texts.append((left, top, right - left, bottom - top))
            view = _region(open_strip, (rect[0] - x0, rect[1] - y0, rect[2], rect[3]))
            view |= open_[: view.shape[0], : view.shape[1]].view(np.uint8)
        rows.append(NameCells(strip, open_strip, tuple(cells), tuple(texts)))
    if key not in _NAME_CELLS and len(_NAME_CELLS) >= NAME_CELLS_KEPT:
        del _NAME_CELLS[next(iter(_NAME_CELLS))]  # the oldest (a dict keeps its keys in the order they came)
    _NAME_CELLS[key] = (printed, rows)  # the page is held, so its id is not reused while it is here
    return rows


def name_cell_ink(ink: np.ndarray, page: PageLayout, boxes: list[BoxResult], printed: np.ndarray,
                  s: ScanSettings) -> set[int]:
    """Persons whose number, name or position cell holds ``name_ink_mm2`` of pen ink that the blank page's
    print does not explain (:func:`_loose_ink_mm2`): a tick or a mark beside a name, a name or a position
    ringed, a word written in. Under QD 262 any extra writing spoils the ballot; a mark by a name may be
    the voter's choice, or a name crossed out in a way the name check does not take for a strike.

    The print is placed first where the row's boxes were found. A row over the bar is looked at again with
    each cell's print fitted to this page's ink within ``name_fit_mm`` (the shift that puts the most of
    the print on ink): a phone's lens or a curled sheet moves a position 60 mm from the boxes by a
    millimetre more than its boxes, and the fit is asked of the few rows that need it. Most rows hold no
    ink off their print at all: one count over the row's three cells tells them."""
    shift: dict[int, list[tuple[float, float]]] = {}
    for b in boxes:
        shift.setdefault(b.person, []).append((b.dx_mm, b.dy_mm))
    found_persons = set()
    for row, named in zip(page.rows, _name_cells(page, printed, s), strict=False):
        moves = shift.get(row.person, [(0.0, 0.0)])
        dx, dy = sorted(m[0] for m in moves)[len(moves) // 2], sorted(m[1] for m in moves)[len(moves) // 2]
        sx, sy, sw, sh = named.strip
        strip = _region(ink, (sx + dx, sy + dy, sw, sh)).view(np.uint8)
        hh, ww = min(strip.shape[0], named.open_strip.shape[0]), min(strip.shape[1], named.open_strip.shape[1])
        if cv2.countNonZero(cv2.bitwise_and(strip[:hh, :ww], named.open_strip[:hh, :ww])) < PX**2:
            continue
        areas = [_loose_ink_mm2(_region(ink, (x + dx, y + dy, w, h)), open_, s)
                 for (x, y, w, h), _, open_ in named.cells]
        if sum(areas) < s.name_ink_mm2:
            continue
        for k, ((x, y, w, h), print_, open_) in enumerate(named.cells):
            m = s.name_fit_mm
            wide = _region(ink, (x + dx - m, y + dy - m, w + 2 * m, h + 2 * m))
            if areas[k] and print_.any() and wide.shape[0] > print_.shape[0] and wide.shape[1] > print_.shape[1]:
                fit = cv2.matchTemplate(wide.view(np.uint8), print_.view(np.uint8), cv2.TM_CCORR)
                iy, ix = np.unravel_index(int(np.argmax(fit)), fit.shape)
                areas[k] = min(areas[k], _loose_ink_mm2(wide[iy : iy + print_.shape[0], ix : ix + print_.shape[1]],
                                                        open_, s))
        if sum(areas) >= s.name_ink_mm2:
            found_persons.add(row.person)
    return found_persons


def _without_slivers(mask: np.ndarray, sliver_px: int) -> np.ndarray:
    """``mask`` without its level or upright pieces at most ``sliver_px`` thick: the bits of a crease or of a
    rule that a curl or a lens brought into a cell, which the print breaks into pieces too short for a
    straight line. A pen's stroke is thicker in the light-ink map, and writing is never one straight dash."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    drop = np.minimum(bw, bh) <= sliver_px
    drop[0] = True  # the background
    return mask & ~drop[labels]
