"""Every threshold of the scanner, in one validated object.

Defaults are conservative: when in doubt a box is *marginal* and its row goes
to a human. A ``scanner.toml`` in the workspace (same keys, see
:meth:`ScanSettings.to_toml`) overrides them, for thresholds fitted to a real
scanner; :func:`load_settings` reads and validates it.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from kiemphieu.errors import InputError

SETTINGS_FILE = "scanner.toml"


@dataclass(frozen=True)
class ScanSettings:
    # input limits
    max_pixels: int = 120_000_000  # larger images are rejected before decoding (A4 at 600 dpi is 35 MP)
    full_decode_px_per_mm: float = 5.5  # a page decoded at reduced size and read at under this is decoded in full
    # registration
    detect_max_side: int = 1000  # markers are searched on an image scaled to this long side
    max_residual_mm: float = 0.8  # marker fit residual beyond which registration is not trusted
    grid_search_mm: float = 4.0  # each printed table rule is looked for this far from its layout place
    grid_min_shift_mm: float = 0.3  # no rule moved this far: the sheet lies flat, no local correction
    grid_outlier_mm: float = 0.4  # a rule piece this far off the smooth fit is left out of it
    grid_max_residual_mm: float = 0.8  # a kept piece this far off: the sheet is crumpled, the page goes to review
    grid_min_cover: float = 0.55  # a rule is found where at least this share of its piece is ink, in one pixel row (column)
    grid_tilt_cover: float = 0.8  # a piece found only as a tilted line (scanner/grid.py, _tilted_peak) is a rule: ink in
    #                               this share of its pixel columns along ...
    grid_tilt_width_px: float = 2.5  # ... this many pixels of it a column at most, on average (a thin line) ...
    grid_tilt_rms_px: float = 1.0  # ... on one straight line, within this of it (pixels, root mean square) ...
    grid_tilt_max: float = 0.05  # ... tilted by less than this (pixels across per pixel along: about 3 degrees)
    refine_radius_mm: float = 1.5  # local search for each printed box outline
    refine_max_shift_mm: float = 1.2  # a larger local correction means the page is distorted: review
    outline_band_mm: float = 0.35  # a printed box side is looked for this far either side of its refined place ...
    outline_min_cover: float = 0.75  # ... and a box whose least-covered side is found along less than this: review
    # ink: darkness relative to the local paper level, three levels
    ink_darkness: float = 0.38  # ink: ballpoint, felt pen
    light_darkness: float = 0.14  # light ink: pencil counts as a mark from here
    trace_darkness: float = 0.03  # a trace: too light to count, too dark to ignore
    box_inset_mm: float = 1.0  # interior of a box = printed box shrunk by this (outline excluded)
    trace_inset_mm: float = 1.25  # traces are looked for further in: the smoothed outline spreads
    # box classification (two thresholds: definite and marginal)
    mark_ink: float = 0.02  # marked: light-ink share at least this ...
    mark_span_mm: float = 3.5  # ... and the largest stroke spans at least this
    empty_ink: float = 0.008  # empty: light-ink share below this ...
    empty_trace: float = 0.03  # ... trace share below this ...
    empty_span_mm: float = 1.3  # ... and no trace longer than this
    speck_mm: float = 1.2  # a trace shorter than this is a speck (a pen touch, a dot), not a stroke; nor is a piece of ink
    #                        that short writing, in the free areas or elsewhere, on a back or in a row's cells
    #                        (scanner/imaging.py, _blob_area_mm2)
    speck_ink: float = 0.03  # empty: all light ink, specks included, below this share
    line_share: float = 0.6  # a box whose ink is mostly one axis-aligned straight line (a fold): review
    faint_line_min: float = 0.010  # an empty box with a straight stroke this much darker than the paper both sides of it (averaged along 2 mm) ...
    faint_line_ratio: float = 1.75  # ... and this many times the page's paper clutter beside its boxes: review
    headroom_line_min: float = 0.010  # the same, on the colour channel with headroom of an overexposed colour picture
    #                                  (faint_in_colour: a noisier channel, a JPEG keeps colour at half resolution)
    luma_line_min: float = 0.010  # the same, on a colour picture's luma (faint_in_colour: a neutral mark's best look)
    crease_continues: float = 0.5  # a faint horizontal line in a box that runs on at half its strength or more ...
    crease_rows: int = 3  # ... within this many half-resolution rows (1 mm) of its height, on the paper both sides:
    #                       a crease, and only strokes across it are looked for in the box (boxes.faint_lines)
    shade_excess: float = 0.004  # an empty box this much darker on average than the paper beside it: review
    shade_strip_near_mm: float = 1.6  # the paper beside a box: this far from its edge (clear of its blurred outline) ...
    shade_strip_far_mm: float = 5.0  # ... to this far (boxes.box_regions: what shade_excess and the faint lines compare with)
    heavy_ink: float = 0.5  # a box this full may be a scribbled-out (cancelled) mark: review
    heavy_trace: float = 0.85  # ... or this much of it darkened at all
    shaded_trace: float = 0.6  # ... or this much darkened mostly faintly (a pencil scribble or shading) ...
    scribble_open_mm: float = 0.55  # ... or with no disc of paper left open between its traces wider than this
    #                                 radius (boxes.open_paper_mm: a scribble, a dense hatch, a fill)
    near_heavy_ink: float = 0.4  # a marked box this full in light ink, or ...
    near_heavy_trace: float = 0.72  # ... this much darkened, heavier than heavy_pen_ratio times the page's marks:
    #                                 a mark gone over, review (boxes.heavier_than_the_page)
    pen_travel_diagonals: float = 3.0  # a marked box whose strokes run longer than this many times its interior's
    #                                   diagonal: gone over (a hatch, strokes across a mark), review (boxes.overdrawn)
    solid_ink: float = 0.9  # a box this full is never taken for a mark, whatever the pen
    thick_pen_share: float = 0.8  # the page's typical mark at least this share of heavy_ink: a thick pen ...
    heavy_pen_ratio: float = 1.3  # ... and a heavy box up to this times the typical mark is that pen's mark;
    #                               a light or soft pen's mark (pen_rows) no more than this times theirs in traces
    crease_dark_share: float = 0.25  # a straight line in a box with pen-dark ink under this share of it: a crease
    pen_rows: int = 4  # rows with one box inked that show the voter's pen (see boxes.light_pen_marks) ...
    pen_trace_ratio: float = 0.5  # ... a marginal stroke with this share of their median trace ...
    pen_light_ratio: float = 0.3  # ... and of their median light ink is that pen's mark
    pen_core_ratio: float = 0.7  # a pen leaving traces only: a stroke this share of their median core darkness
    core_percentile: int = 90  # a stroke's core: its darkest tenth, the middle of its line rather than its soft edges
    soft_pen_spread: float = 2.0  # one voter's soft marks are within this factor of their median core darkness
    # dots, blots and a thick pen's small X: short solid pieces of light ink (scanner/boxes.py, _piece_shapes)
    dot_elongation: float = 2.5  # a dot, or two touching, is under 2.5 times as long as it is thick ...
    dot_max_mm: float = 3.5  # ... short: a thick marker's whole X or asterisk is one piece as thick, but longer ...
    dot_fill: float = 0.5  # ... and solid: it fills half its bounding box (two dots touching on a slant: 0.54; a
    #                        fragment of grainy pencil, bridged by the closing, fills 0.3-0.46 and is a stroke's part)
    arms_spread: float = 0.7  # a small thick X spreads 0.75-0.9 as far across as along; a tick (which can be as hollow) <= 0.6
    arms_solidity: float = 0.84  # ... and fills 0.68-0.81 of its hull. Dots and blots, alone or touching, fill 0.87 and over
    #                              (the 300-voter field deck's 35 short solid pieces in dots and empty boxes)
    blot_pen_ratio: float = 1.5  # a blot over dot_max_mm is a mark only on a page whose typical mark has 2/3 of its ink ...
    blot_width_ratio: float = 3.5  # ... and whose strokes are 1/3.5 as wide as the blot is thick: a thick marker's asterisk,
    #                                strokes crossing in one solid blob, is up to 3.2 times as thick as the page's strokes are
    #                                wide (the 300-voter field deck's 144 marked blots); a round drop of ink 3.6 mm across, on
    #                                a page marked with a 0.3-0.6 mm pen, 3.8-4.8
    blot_round: float = 0.9  # a blot whose outline encloses this share of what a circle of its length would: a drop of ink.
    #                          A digitised disc 3.6-4.4 mm across: 0.96-0.98; a marker's asterisk or X drawn into one blob: at
    #                          most 0.83 (the 300-voter field deck's 144 marked blots, /tmp/kp/s27/blotdeck.py)
    dots_max_ink: float = 0.1  # dots cover at most this share of a box (three 1 mm dots: 0.08) ...
    dots_max_count: int = 3  # ... in at most this many pieces (a grainy pencil stroke breaks into more) ...
    dots_dark: float = 0.1  # ... and a pen's dots have a pen-dark core: this share of their light ink at least (pencil
    #                         fragments and a faint tiny tick have next to none)
    dots_halo_mm: float = 0.8  # a dot's blurred halo, and the trace the smoothed page draws between dots this close
    # other ink on the ballot
    outside_ink_mm2: float = 3.0  # ink in a level cell outside its box that needs a look ...
    outside_speck_mm: float = 1.5  # ... in pieces spanning this or more (smaller ones are specks) ...
    outside_rule_mm: float = 0.8  # ... farther than this from the cell's sides: ink nearer is the table's rules,
    #                               slightly misregistered (scanner/outside.py, inspect)
    rim_ink_mm2: float = 6.0  # ink on a box's outline and within 1 mm of it beyond the page's usual: traced, circled
    rim_mm: float = 1.0  # a box's rim: its outline and this far either side, which neither its interior nor its cell's check sees
    #                      (the cell's check leaves out the box and this much round it: outside.inspect)
    # marks across two rows or the level columns (scanner/outside.py)
    between_rows_max_mm: float = 6.0  # boxes of two rows this close, one above the other, may share one voter's mark ...
    between_rows_middle: float = 0.3  # ... which crosses the rule between them this near the boxes' middle (of their width):
    #                                   an X over both boxes crosses it near its own middle; a big X overshooting its own box
    #                                   crosses it with an arm's end, near or beyond the box's side (and may touch the next box)
    upright_px: float = 1.5  # a stroke whose ink either side of the rule lies this near its crossing is upright
    runaway_mm: float = 2.5  # a stroke running this far into the rows either side of a rule, from one level's column to another's
    level_tilt_deg: float = 2.0  # a rule or an outline left this far from level by the page's straightening is still level
    # crossed names (scanner/names.py)
    name_cross_coverage: float = 0.25  # share of the name width under long straight strokes: crossed out?
    name_cross_dark: float = 0.08  # ... in pen-dark ink, where printed letters hold no such stroke: this share
    name_cross_margin: float = 0.12  # ... on light ink, and this much above the page's usual name
    name_cross_ratio: float = 1.3  # ... and this many times it (a very soft page's names vary more)
    name_cross_trace: float = 0.35  # ... or where nothing is printed, faint traces under such strokes: this share
    strike_min_mm: float = 3.5  # a straight stroke this long is not part of a printed letter
    steep_strike_min_mm: float = 5.0  # ... nor one this long across the name (40-140 degrees), accents stacked
    name_cross_steep: float = 0.1  # share of the name width under pen-dark strokes across it: crossed out
    name_cross_steep_light: float = 0.3  # ... or under light-ink strokes across it (a pencil zigzag)
    name_cross_ink_ratio: float = 2.0  # a name with this many times the page's usual ink for its print: crossed out
    name_cross_steep_gate: float = 1.25  # a name is searched for strokes across it with this many times its page's usual ink
    letter_halo_mm: float = 0.8  # a printed letter's reach on a scan: its blur on a soft page and the row's misregistration
    #                              (name_cross_trace looks for traces beyond it)
    # ink in a row's number, name and position cells, and a pen's colour there (scanner/names.py, scanner/colour.py)
    name_ink_mm2: float = 3.0  # pen ink (mm^2) in a row's number, name or position cells off their print: to review
    name_halo_mm: float = 0.8  # a printed letter's reach in its cell, once the print is placed: blur and what is left of misregistration
    name_fit_mm: float = 1.5  # how far a cell's print is looked for around where its row's boxes put it (a lens, a curl)
    rule_clear_mm: float = 1.0  # a row's number and position are looked at this far inside their cell's rules
    sliver_px: int = 2  # a piece of ink this thin, level or upright: a crease's shadow or a rule bent into a cell, in bits
    name_colour_mm2: float = 1.0  # a blue or violet pen's ink (mm^2) on or beside a row's printed texts: to review
    name_colour_contrast: int = 40  # blue over the paper's tint (blue channel above the lesser of green and red): a pen's ink
    name_colour_edge_px: int = 2  # source pixels beside neutral print where colour is a scanner's fringe, not ink
    name_colour_usual: float = 0.25  # a row is weighed against this quantile of the page's rows: what colours every row's
    #                                  print alike (what is left of a scanner's fringes, a cast) is no pen, which colours a few
    name_colour_fringe: float = 0.01  # colour per mm^2 of the heading's print: the scanner's fringes, not a pen
    name_colour_near_mm: float = 1.0  # a pen's colour is looked for this near a cell's printed text: farther, the grey ink shows it
    # writing (scanner/writing.py)
    writing_min_mm2: float = 4.0  # stray ink (writing) in free areas that needs a look
    writing_trace_mm2: float = 20.0  # ... or this much of traces (light pencil writing)
    straight_line_mm: float = 10.0  # a straight level or upright line this long is a rule, a crease or a streak, not writing
    free_crease_band_mm: float = 3.0  # a crease across the free areas explains this much either side of its line
    # writing outside the free areas (scanner/writing.py, writing_elsewhere)
    writing_edge_mm: float = 4.5  # the sheet's edge (its shadow, a skewed sheet's corner beyond it): never looked at for writing
    writing_corner_mm: float = 15.0  # ... nor its corners, this far along both edges
    margin_halo_mm: float = 1.5  # what is kept clear around a marker, the QR code, the seal and the signature's place
    print_halo_mm: float = 1.2  # the print's reach off the table, where only the markers place it (a big bold title)
    photo_print_halo_mm: float = 3.0  # ... and on a phone's photo, whose lens and a curled sheet move it further
    signature_reach_mm: float = 15.0  # a signature's flourish or long descender may run this far out of its place
    crease_pieces_mm: float = 12.0  # ink along one thin straight level or upright line, in pieces, this long in all: a crease
    # ink the dropout hides (scanner/colour.py)
    red_share: float = 0.02  # share of a box interior in ink the dropout hides (red, pink, yellow...): review
    hidden_contrast: int = 60  # grey levels above the paper's tint: ink the dropout hid (pale pink reaches 80, red 150+)
    hidden_seen_near_mm: float = 0.7  # colour this near ink the dropout shows belongs to that ink
    # folds and creases (scanner/folds.py)
    fold_ridge: float = 0.03  # a fold: a thin line this much darker than the paper 1 mm either side of it
    fold_coverage: float = 0.6  # a straight line over this share of the level columns: fold or ruler line
    fold_max_tilt_deg: float = 2.0  # folds are looked for up to this tilt on the straightened page (and creases through
    #                                 the places writing is looked for: scanner/writing.py, crease_tilts)
    fold_band_mm: float = 0.8  # a fold seen edge to edge is explained: this band around it is not ink
    fold_ink_share: float = 0.2  # ... unless this share of its length is pen-dark ink
    fold_min_free_share: float = 0.25  # a line is judged only where at least this share of its length is unprinted
    fold_margin_mm: float = 1.5  # distance kept from the page edge and the table rules when looking at the margins
    crease_reach_mm: float = 3.0  # the shade beside a crease leaves faint traces this far off its line
    crease_line_mm: float = 1.0  # the crease's own line, blurred, is within this of the line fitted to it
    crease_search_mm: float = 8.0  # a crease is looked for in the margins this far above and below the traces
    crease_margin_ridge: float = 0.015  # ... as a row of the margin whose median darkness stands this far above the rows about it
    local_crease_reach_mm: float = 4.0  # a crease through a box is looked for this far beyond it on both sides ...
    local_crease_ridge: float = 0.008  # ... as a line darker, averaged along each side's stretch, than the paper 1 mm about it
    # bleed-through: the back's print, mirrored (see scanner/bleed.py)
    bleed_min_strength: float = 0.02  # show-through weaker than this is left alone (under the trace level)
    bleed_min_explained: float = 0.18  # a fit must explain this share of the paper's faint darkness (a page
    #                                    without show-through: 0.08 at most; with it: 0.21 and more)
    bleed_max_shift_mm: float = 3.0  # the two sides of a sheet may be printed this far apart
    bleed_left_darkness: float = 0.004  # where the back darkened the page this much, the faint-mark measures do not look
    bleed_edge_mm: float = 6.0  # paper this close to the page edge is not used for the fit (scanner edges, shadows)
    bleed_ink_keep_mm: float = 1.0  # nor paper this close to front print or ink
    # how the page was scanned or printed: black and white, clipped, glare, headroom, resolution, faded (scanner/exposure.py)
    bitonal_share: float = 0.995  # a page with this share of its pixels pure black or pure white (0 or 255): a 1-bit scan
    thresholded_white: float = 0.5  # the boxes' columns this pure white (clipped_white: >= 254) ...
    thresholded_black: float = 0.1  # ... and this share of their dark pixels pure black: a 1-bit scan re-encoded
    thresholded_dark: int = 128  # ... their dark pixels (the ink, for thresholded_black): those under this level ...
    pure_black: int = 16  # ... and one at this level or under is pure black
    clipped_white: int = 254  # a pixel this bright is clipped white: the paper keeps its grain below it, and ink is gone
    clipped_box_share: float = 0.3  # an empty box this much at 255 in every channel (its paper clipped): a light mark lost? review
    clipped_paper: int = 255  # paper this bright is at the ceiling: a camera's or scanner's clip (clipped_box_share)
    glare_box: float = 0.5  # a box this much clipped ...
    glare_usual: float = 0.2  # ... on a page whose usual box is clipped less than this ...
    glare_outline: float = 0.5  # ... and whose printed outline keeps under this share of the usual box's print: a glare
    headroom_ceiling: float = 249.0  # the dropout's (red) channel has the paper by the boxes this bright, near its ceiling, ...
    headroom_levels: float = 3.0  # ... and another channel has it this many levels darker: faint marks are looked for there too
    min_px_per_mm: float = 3.5  # a page read at under this (90 dpi on the sheet): a fine or light stroke is lost, review
    faded_print_darkness: float = 0.42  # printed markers lighter than this (darkness vs paper): a faded print, review
    # scanner streaks and blank pages
    streak_dark: float = 0.6  # a column's pixel under this share of the paper's level is dark (40 % darker) ...
    streak_coverage: float = 0.80  # ... and a dark column over this share of the image height is a streak
    streak_side_px: int = 3  # a faint streak is compared with the columns this far either side of it (image pixels) ...
    streak_contrast: float = 0.04  # ... and is this much (of the paper's level) darker than both, row after row
    streak_band_mm: float = 1.0  # ink this near a streak's line (either side) is the streak's
    streak_flat_mm: float = 1.0  # a page whose fourth corner is this near the others' parallelogram is a scan: rows searched too
    streak_on_rule_mm: float = 0.8  # a "streak" this near a printed rule at both ends of the table is that rule
    streak_max_share: float = 0.05  # more than this share of the image's columns (rows) found as streaks: a dark border
    #                                 or a photo of something else, and no streak
    blank_ink_share: float = 0.0015  # a page without markers and less ink than this is blank
    back_margin_mm: float = 15.0  # a blank page's edge: the scanner lid's shadow, punched holes, a staple, a skewed sheet's corner
    # output
    review_jpeg_quality: int = 82

    def validate(self) -> ScanSettings:
        problems = []
        if not 0 < self.trace_darkness < self.light_darkness <= self.ink_darkness < 1:
            problems.append("0 < trace_darkness < light_darkness <= ink_darkness < 1")
        if not 0 < self.thresholded_white <= 1 or not 0 < self.thresholded_black <= 1 or not 0 < self.bitonal_share <= 1:
            problems.append("0 < thresholded_white <= 1, 0 < thresholded_black <= 1 and 0 < bitonal_share <= 1")
        if not 0 <= self.pure_black < self.thresholded_dark <= 255:
            problems.append("0 <= pure_black < thresholded_dark <= 255")
        if not 0 <= self.faded_print_darkness < 1 or not 0 < self.min_px_per_mm or not 0 < self.clipped_box_share <= 1:
            problems.append("0 <= faded_print_darkness < 1, 0 < min_px_per_mm and 0 < clipped_box_share <= 1")
        if not 128 <= self.clipped_white <= 255 or not 128 <= self.clipped_paper <= 255:
            problems.append("128 <= clipped_white <= 255 and 128 <= clipped_paper <= 255")
        if not 0 < self.glare_box <= 1 or not 0 < self.glare_usual <= 1 or not 0 < self.glare_outline <= 1:
            problems.append("0 < glare_box <= 1, 0 < glare_usual <= 1 and 0 < glare_outline <= 1")
        if not 0 < self.headroom_ceiling <= 255 or not 0 < self.headroom_levels < 255:
            problems.append("0 < headroom_ceiling <= 255 and 0 < headroom_levels < 255")
        if (not 0 < self.name_colour_contrast < 255 or self.name_colour_edge_px < 0
                or not 0 <= self.name_colour_usual <= 1 or not 0 < self.name_colour_fringe):
            problems.append("0 < name_colour_contrast < 255, name_colour_edge_px >= 0, 0 <= name_colour_usual <= 1, "
                            "0 < name_colour_fringe")
        if not 0 < self.hidden_contrast < 255 or self.hidden_seen_near_mm < 0:
            problems.append("0 < hidden_contrast < 255 and hidden_seen_near_mm >= 0")
        if not 0 <= self.empty_ink < self.mark_ink < self.heavy_ink <= 1 or not 0 < self.heavy_trace <= 1:
            problems.append("0 <= empty_ink < mark_ink < heavy_ink <= 1 and 0 < heavy_trace <= 1")
        if not 0 < self.empty_span_mm < self.mark_span_mm:
            problems.append("0 < empty_span_mm < mark_span_mm")
        if not self.heavy_ink <= self.solid_ink <= 1 or not 0 < self.thick_pen_share <= 1 or self.heavy_pen_ratio < 1:
            problems.append("heavy_ink <= solid_ink <= 1, 0 < thick_pen_share <= 1, heavy_pen_ratio >= 1")
        if not 0 < self.name_cross_dark <= self.name_cross_coverage <= 1:
            problems.append("0 < name_cross_dark <= name_cross_coverage <= 1")
        if (not 0 < self.name_cross_steep <= self.name_cross_steep_light <= 1 or self.name_cross_ink_ratio <= 1
                or not self.strike_min_mm <= self.steep_strike_min_mm <= 7.0):
            problems.append("0 < name_cross_steep <= name_cross_steep_light <= 1, name_cross_ink_ratio > 1, "
                            "strike_min_mm <= steep_strike_min_mm <= 7 (a name's height)")
        if not 0 < self.name_cross_trace <= 1 or self.name_cross_margin < 0 or self.name_cross_ratio < 1:
            problems.append("0 < name_cross_trace <= 1, name_cross_margin >= 0, name_cross_ratio >= 1")
        if not 1 <= self.name_cross_steep_gate <= self.name_cross_ink_ratio or self.letter_halo_mm < 0:
            problems.append("1 <= name_cross_steep_gate <= name_cross_ink_ratio and letter_halo_mm >= 0")
        if (self.name_halo_mm < 0 or self.name_fit_mm < 0 or self.name_colour_near_mm < 0 or self.rule_clear_mm < 0
                or not 0 < self.straight_line_mm or self.sliver_px < 0):
            problems.append("name_halo_mm >= 0, name_fit_mm >= 0, name_colour_near_mm >= 0, rule_clear_mm >= 0, "
                            "0 < straight_line_mm and sliver_px >= 0")
        if (self.pen_rows < 3 or not 0 < self.pen_trace_ratio <= 1 or not 0 < self.pen_light_ratio <= 1
                or not 0 < self.pen_core_ratio <= 1):
            problems.append("pen_rows >= 3, 0 < pen_trace_ratio <= 1, 0 < pen_light_ratio <= 1, 0 < pen_core_ratio <= 1")
        if not 0 < self.core_percentile <= 100 or self.soft_pen_spread < 1:
            problems.append("0 < core_percentile <= 100 and soft_pen_spread >= 1")
        if (not 1 <= self.dot_elongation <= 10 or not 0 < self.dot_max_mm <= 10 or not 0 < self.dot_fill <= 1
                or not 0 < self.arms_spread <= 1 or not 0 < self.arms_solidity <= 1):
            problems.append("1 <= dot_elongation <= 10, 0 < dot_max_mm <= 10, 0 < dot_fill <= 1, 0 < arms_spread <= 1, "
                            "0 < arms_solidity <= 1")
        if not 0 < self.blot_pen_ratio or not 0 < self.blot_width_ratio or not 0 < self.blot_round <= 1:
            problems.append("0 < blot_pen_ratio, 0 < blot_width_ratio and 0 < blot_round <= 1")
        if (not 0 < self.dots_max_ink <= 1 or self.dots_max_count < 1 or not 0 <= self.dots_dark <= 1
                or self.dots_halo_mm < 0):
            problems.append("0 < dots_max_ink <= 1, dots_max_count >= 1, 0 <= dots_dark <= 1 and dots_halo_mm >= 0")
        if not 0 <= self.crease_dark_share <= 1:
            problems.append("0 <= crease_dark_share <= 1")
        if not 0 < self.faint_line_min < 1 or not 0 < self.headroom_line_min < 1 or not 0 < self.luma_line_min < 1:
            problems.append("0 < faint_line_min, headroom_line_min, luma_line_min < 1")
        if not 0 < self.crease_continues <= 1 or self.crease_rows < 0:
            problems.append("0 < crease_continues <= 1 and crease_rows >= 0")
        if not 0 <= self.shade_strip_near_mm < self.shade_strip_far_mm <= 20:
            problems.append("0 <= shade_strip_near_mm < shade_strip_far_mm <= 20")
        if not 0 < self.speck_mm <= self.empty_span_mm or not self.empty_ink <= self.speck_ink:
            problems.append("0 < speck_mm <= empty_span_mm and empty_ink <= speck_ink")
        if not 0 < self.bleed_min_strength < 0.5 or not 0 < self.bleed_min_explained <= 1 \
                or not 0 <= self.bleed_max_shift_mm <= 10 or not 0 < self.bleed_left_darkness < 0.1:
            problems.append("0 < bleed_min_strength < 0.5, 0 < bleed_min_explained <= 1, 0 <= bleed_max_shift_mm <= 10,"
                            " 0 < bleed_left_darkness < 0.1")
        if not 0 < self.bleed_edge_mm <= 30 or not 0 <= self.bleed_ink_keep_mm <= 5:
            problems.append("0 < bleed_edge_mm <= 30, 0 <= bleed_ink_keep_mm <= 5")
        if not 0 < self.fold_min_free_share <= 1 or self.fold_margin_mm < 0 or not 0 <= self.fold_max_tilt_deg <= 10:
            problems.append("0 < fold_min_free_share <= 1, fold_margin_mm >= 0 and 0 <= fold_max_tilt_deg <= 10")
        if (not 0 < self.crease_line_mm <= self.crease_reach_mm or not 0 < self.crease_search_mm
                or not 0 < self.crease_margin_ridge < 1 or not 0 < self.local_crease_reach_mm
                or not 0 < self.local_crease_ridge < 1):
            problems.append("0 < crease_line_mm <= crease_reach_mm, 0 < crease_search_mm, 0 < crease_margin_ridge < 1, "
                            "0 < local_crease_reach_mm and 0 < local_crease_ridge < 1")
        if not 0 < self.grid_min_cover <= 1 or not 0 < self.grid_tilt_max < 1:
            problems.append("0 < grid_min_cover <= 1, 0 < grid_tilt_max < 1")
        if not 0 < self.grid_tilt_cover <= 1 or self.grid_tilt_width_px < 1 or not 0 < self.grid_tilt_rms_px:
            problems.append("0 < grid_tilt_cover <= 1, grid_tilt_width_px >= 1 and 0 < grid_tilt_rms_px")
        if not 0 < self.outline_band_mm <= 1 or not 0 <= self.outline_min_cover <= 1:
            problems.append("0 < outline_band_mm <= 1 and 0 <= outline_min_cover <= 1")
        if (not 0 < self.rim_mm or not 0 < self.between_rows_max_mm or not 0 < self.between_rows_middle <= 0.5
                or self.upright_px < 0 or not 0 < self.runaway_mm or not 0 <= self.level_tilt_deg <= 10):
            problems.append("0 < rim_mm, 0 < between_rows_max_mm, 0 < between_rows_middle <= 0.5, upright_px >= 0, "
                            "0 < runaway_mm and 0 <= level_tilt_deg <= 10")
        if (self.free_crease_band_mm < 0 or self.writing_edge_mm < 0 or self.writing_corner_mm < 0
                or self.margin_halo_mm < 0 or not 0 <= self.print_halo_mm <= self.photo_print_halo_mm
                or self.signature_reach_mm < 0 or not 0 < self.crease_pieces_mm):
            problems.append("free_crease_band_mm >= 0, writing_edge_mm >= 0, writing_corner_mm >= 0, margin_halo_mm >= 0, "
                            "0 <= print_halo_mm <= photo_print_halo_mm, signature_reach_mm >= 0, 0 < crease_pieces_mm")
        if not 0 < self.outside_ink_mm2 or not 0 < self.rim_ink_mm2 or not 0 < self.name_ink_mm2 or not 0 < self.name_colour_mm2:
            problems.append("0 < outside_ink_mm2, 0 < rim_ink_mm2, 0 < name_ink_mm2 and 0 < name_colour_mm2")
        if not 0 < self.outside_speck_mm or not 0 <= self.outside_rule_mm <= 5:
            problems.append("0 < outside_speck_mm and 0 <= outside_rule_mm <= 5")
        if (self.streak_side_px < 1 or not 0 < self.streak_contrast < 1 or self.streak_band_mm < 0
                or not 0 < self.streak_flat_mm or self.streak_on_rule_mm < 0):
            problems.append("streak_side_px >= 1, 0 < streak_contrast < 1, streak_band_mm >= 0, 0 < streak_flat_mm "
                            "and streak_on_rule_mm >= 0")
        if not 0 < self.streak_dark < 1 or not 0 < self.streak_coverage <= 1 or not 0 < self.streak_max_share <= 1:
            problems.append("0 < streak_dark < 1, 0 < streak_coverage <= 1 and 0 < streak_max_share <= 1")
        if not 0 < self.back_margin_mm < 100:
            problems.append("0 < back_margin_mm < 100")
        if self.max_pixels < 1_000_000 or not 0 < self.full_decode_px_per_mm:
            problems.append("max_pixels >= 1000000 and 0 < full_decode_px_per_mm")
        if not 200 <= self.detect_max_side <= 4000:
            problems.append("200 <= detect_max_side <= 4000")
        if problems:
            raise InputError(
                f"{SETTINGS_FILE}: ngưỡng không hợp lệ: {'; '.join(problems)}.",
                f"{SETTINGS_FILE}: invalid thresholds: {'; '.join(problems)}.",
            )
        return self

    def to_toml(self) -> str:
        lines = ["# kiemphieu scanner thresholds (ngưỡng máy quét)"]
        for key, value in asdict(self).items():
            lines.append(f"{key} = {value}")
        return "\n".join(lines) + "\n"


def load_settings(workspace_root: Path | None = None) -> ScanSettings:
    """Defaults, overridden by ``<workspace>/scanner.toml`` when present."""
    settings = ScanSettings()
    if workspace_root is None or not (workspace_root / SETTINGS_FILE).exists():
        return settings.validate()
    path = workspace_root / SETTINGS_FILE
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: lỗi cú pháp ({exc}).", f"{path}: syntax error ({exc}).") from None
    known = {f.name: f.type for f in fields(ScanSettings)}
    unknown = set(doc) - set(known)
    if unknown:
        raise InputError(
            f"{path}: khoá không biết: {', '.join(sorted(unknown))}.", f"{path}: unknown keys: {', '.join(sorted(unknown))}."
        )
    values = {k: (int(v) if known[k] == "int" else float(v)) for k, v in doc.items()}
    return replace(settings, **values).validate()  # type: ignore[arg-type]
