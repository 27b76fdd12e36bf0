"""Another hand: voter marks and crossed-out names drawn by a pen the simulator does not have.

The accuracy decks are voted with :mod:`calibration.strokes`, and the scanner's thresholds were
fitted on them: they could fit that simulator rather than marks. This module draws with a pen
written for a held-out check alone, never used to fit a threshold:

- strokes are quadratic curves of one width each, drawn anti-aliased (cv2 polylines at 4x); ink
  is subtractive, a reflectance per channel: blue, black and violet ballpoint, blue gel, a black
  felt pen (0.7-1.2 mm), and a pencil whose stroke is grained;
- marks: X (usual, big over the box's edges, small, drawn twice), check, V, slash, plus,
  asterisk, a circle in the box; rows with one mark (80 %), none (10 %) or two (10 %). Each mark
  takes a shape of its own unless the voters are steady (``steady=True``): then each voter keeps
  one shape for all the marks on their page, as most real voters do;
- a crossed-out name on 30 % of the pages: a line, two lines, a wavy line, a zigzag, loops, an X
  over the name;
- a mark cancelled on 6 % of the rows (truth: a human must look): a mark drawn, then gone over with
  this hand's own cancelling (back-and-forth strokes at a slant, loops, a cross-hatch, or ink blotted
  out in a few heavy strokes), in a box the row's other mark does not use. Drawn from a random stream
  of their own, so the rest of a deck is the same page for page as without them. Not unseen any more:
  the six of them first read as votes were looked at when ``boxes.heavier_than_the_page`` was
  chosen (2026-11-24), so they no longer check that rule as a held-out hand would. That is set A,
  the default (``cancels="a"``);
- set B (``cancels="b"``), other ways of going over a mark to cancel it, written blind to the
  scanner on 2026-11-24: from how people cancel a mark on paper, without reading the scanner's
  code or thresholds. A spiral scrubbed from the middle out (at times back in), a zigzag up and
  down across the box, the mark struck out by 2-4 lines and a few more, the box blacked out by
  many short strokes every way, a mesh of lines one way and then the other. Each stays in the
  box or runs over its edges by up to 1 mm, may lean, and is drawn in one to three passes of the
  pen, each with a width and pressure of its own. The cancelled rows are chosen from a stream of
  their own, another than set A's, so the rest of the deck is the same as with set A. Until a
  scanner rule is chosen after looking at them, they check that rule as a held-out hand would.

:func:`hand_deck` draws such ballots through the simulator's printer, seal, folds and scanner
or camera (a profile's scan settings) and returns their truth, for
:func:`calibration.evaluate.evaluate` (``bench/hands.py``, ``tests/test_accuracy_short.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

from calibration import simulate as sim
from calibration.truth import PageTruth, RowTruth, Truth
from kiemphieu import db
from kiemphieu.layout import LEVELS, Layout, load_layout
from kiemphieu.session import Workspace

Strokes = list[np.ndarray]  # the strokes of one mark or crossing: (N, 2) page mm each

#: ink -> (reflectance B, G, R at full strength, stroke width range mm, opacity range)
INKS: dict[str, tuple[tuple[float, float, float], tuple[float, float], tuple[float, float]]] = {
    "blue-ballpoint": ((0.70, 0.33, 0.16), (0.3, 0.55), (0.75, 1.0)),
    "black-ballpoint": ((0.22, 0.22, 0.25), (0.3, 0.5), (0.8, 1.0)),
    "violet-ballpoint": ((0.55, 0.22, 0.45), (0.3, 0.5), (0.75, 1.0)),
    "blue-gel": ((0.85, 0.45, 0.12), (0.45, 0.7), (0.85, 1.0)),
    "black-felt": ((0.12, 0.12, 0.12), (0.7, 1.2), (0.9, 1.0)),
    "pencil": ((0.50, 0.50, 0.52), (0.35, 0.6), (0.45, 0.8)),
}
INK_SHARES = (0.4, 0.2, 0.1, 0.1, 0.1, 0.1)
MARKS = ("x", "x-big", "x-small", "x-twice", "check", "v", "slash", "plus", "asterisk", "circle")
MARK_SHARES = (0.35, 0.08, 0.08, 0.07, 0.14, 0.07, 0.06, 0.05, 0.05, 0.05)
CROSSINGS = ("line", "two-lines", "wavy", "zigzag", "loops", "x-over")
CANCELS = ("back-and-forth", "loops", "cross-hatch", "blotted")
CANCEL_SHARE = 0.06  # of the rows with fewer than two marks
CANCEL_STREAM = 0xCA4C  # the cancelled marks' own random stream: default_rng([seed, CANCEL_STREAM])
#: a second set of cancellings, written blind to the scanner (``cancels="b"``), and its own stream
CANCELS_B = ("spiral", "zigzag", "struck-out", "scribbled", "mesh")
CANCEL_STREAM_B = 0xCA4D
CANCEL_SETS = {"a": (CANCELS, CANCEL_STREAM), "b": (CANCELS_B, CANCEL_STREAM_B)}
SPILL_MM = 1.0  # how far a cancelling of set B may run over its box's edge


def _curve(p0: tuple[float, float], p1: tuple[float, float], bow: float, n: int = 24) -> np.ndarray:
    """A quadratic curve from ``p0`` to ``p1`` whose middle is pushed aside by ``bow`` of its length."""
    a, b = np.asarray(p0, float), np.asarray(p1, float)
    mid = (a + b) / 2 + np.array([-(b - a)[1], (b - a)[0]]) * bow
    t = np.linspace(0, 1, n)[:, None]
    return np.asarray((1 - t) ** 2 * a + 2 * (1 - t) * t * mid + t**2 * b)


def mark(style: str, box: tuple[float, float, float, float], rng: np.random.Generator) -> Strokes:
    """The strokes of one mark of ``style`` in ``box`` (page mm)."""
    x, y, w, h = box
    centre = np.array([x + w / 2 + rng.normal(0, 0.6), y + h / 2 + rng.normal(0, 0.5)])
    size = {"x-big": rng.uniform(1.05, 1.4), "x-small": rng.uniform(0.45, 0.55)}.get(style, rng.uniform(0.55, 0.95))
    a, b = w / 2 * size, h / 2 * size
    turn = np.deg2rad(rng.normal(0, 8))
    rot = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])

    def at(u: float, v: float) -> tuple[float, float]:
        px, py = centre + rot @ np.array([u, v])
        return float(px), float(py)

    def bow() -> float:
        return float(rng.normal(0, 0.06))

    if style in ("x", "x-big", "x-small"):
        return [_curve(at(-a, -b), at(a, b), bow()), _curve(at(a, -b), at(-a, b), bow())]
    if style == "x-twice":  # one arm drawn over again
        first = _curve(at(-a, -b), at(a, b), bow())
        return [first, first[::-1] + rng.normal(0, 0.15, first.shape), _curve(at(a, -b), at(-a, b), bow())]
    if style == "check":
        k = rng.uniform(0.6, 1.0)
        return [np.vstack([_curve(at(-a, 0), at(-a * 0.2, b * k), bow(), 10),
                           _curve(at(-a * 0.2, b * k), at(a, -b * 1.1), bow(), 16)])]
    if style == "v":
        return [np.vstack([_curve(at(-a * 0.8, -b), at(0, b), bow(), 12), _curve(at(0, b), at(a * 0.8, -b), bow(), 12)])]
    if style == "slash":
        return [_curve(at(-a, b), at(a, -b), bow())]
    if style == "plus":
        return [_curve(at(-a, 0), at(a, 0), bow()), _curve(at(0, -b), at(0, b), bow())]
    if style == "asterisk":
        return [_curve(at(-a, -b), at(a, b), bow()), _curve(at(a, -b), at(-a, b), bow()), _curve(at(0, -b), at(0, b), bow())]
    if style == "circle":
        t = np.linspace(0, 2 * np.pi * rng.uniform(1.0, 1.15), 60) + rng.uniform(0, 2 * np.pi)
        return [np.array([at(a * 0.8 * math.cos(q), b * 0.8 * math.sin(q)) for q in t])]
    raise ValueError(f"unknown mark {style!r}")


def crossing(style: str, name: tuple[float, float, float, float], rng: np.random.Generator) -> Strokes:
    """The strokes that cross out a printed ``name`` (page mm) in ``style``."""
    x, y, w, h = name
    end = x + w * rng.uniform(0.5, 0.9)
    mid = y + h * rng.uniform(0.45, 0.65)
    if style == "line":
        return [_curve((x + 1, mid), (end, mid + rng.normal(0, 0.5)), float(rng.normal(0, 0.01)))]
    if style == "two-lines":
        return [_curve((x + 1, mid - 1), (end, mid - 1), 0.0), _curve((x + 1, mid + 1), (end, mid + 1.2), 0.0)]
    if style == "wavy":
        xs = np.linspace(x + 1, end, 80)
        return [np.column_stack([xs, mid + np.sin((xs - x) / rng.uniform(1.5, 3.0))])]
    if style == "zigzag":
        xs = np.arange(x + 1, end, rng.uniform(1.5, 4.0))
        return [np.array([(xx, y + (1.3 if i % 2 else h - 1.3)) for i, xx in enumerate(xs)])]
    if style == "loops":
        t = np.linspace(0, 1, 400)
        turns = rng.uniform(8, 14)
        return [np.column_stack([x + 1 + (end - x - 1) * t + 1.2 * np.cos(2 * np.pi * turns * t),
                                 mid + 1.6 * np.sin(2 * np.pi * turns * t)])]
    if style == "x-over":
        return [_curve((x + 2, y + 1), (end, y + h - 1), 0.02), _curve((x + 2, y + h - 1), (end, y + 1), -0.02)]
    raise ValueError(f"unknown crossing {style!r}")


def cancel(style: str, box: tuple[float, float, float, float], rng: np.random.Generator) -> Strokes:
    """The strokes that go over a mark in ``box`` (page mm) to cancel it, in ``style``."""
    x, y, w, h = box
    x0, y0 = x + rng.uniform(-0.4, 0.8), y + rng.uniform(-0.4, 0.8)  # about the box's edge: inside it or a little over
    x1, y1 = x + w - rng.uniform(-0.4, 0.8), y + h - rng.uniform(-0.4, 0.8)
    if style == "back-and-forth":  # one stroke going back and forth across the box
        ys = np.linspace(y0, y1, int(rng.integers(5, 10))) + rng.normal(0, 0.2)
        return [np.array([((x1 if i % 2 else x0) + rng.normal(0, 0.3), yy) for i, yy in enumerate(ys)])]
    if style == "loops":  # a coil of small loops wandering down the box
        t = np.linspace(0, 1, 600)
        r = (y1 - y0) * rng.uniform(0.12, 0.18)
        turns, sweeps = rng.uniform(10, 16), rng.uniform(1.2, 2.0)
        cx = x0 + r + (x1 - x0 - 2 * r) * (0.5 + 0.5 * np.sin(2 * np.pi * sweeps * t + rng.uniform(0, np.pi)))
        cy = y0 + r + (y1 - y0 - 2 * r) * t
        return [np.column_stack([cx + r * np.cos(2 * np.pi * turns * t), cy + r * np.sin(2 * np.pi * turns * t)])]
    if style == "cross-hatch":  # two sets of parallel lines, each line within the box
        strokes = []
        for turn in (rng.uniform(30, 60), rng.uniform(120, 150)):
            along = np.array([math.cos(math.radians(turn)), math.sin(math.radians(turn))])
            across = np.array([-along[1], along[0]])
            for off in np.linspace(-0.4, 0.4, int(rng.integers(4, 7))) * (x1 - x0 + y1 - y0):
                pts = np.array([(x0 + x1) / 2, (y0 + y1) / 2]) + off * across + np.linspace(-w, w, 80)[:, None] * along
                inside = pts[(pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)]
                if len(inside) >= 2:
                    strokes.append(inside)
        return strokes
    if style == "blotted":  # a few heavy strokes laid side by side, up and down
        n = int(rng.integers(6, 10))
        return [_curve((xx, y0), (xx + rng.normal(0, 0.3), y1), float(rng.normal(0, 0.03)))
                for xx in np.linspace(x0, x1, n)]
    raise ValueError(f"unknown cancelling {style!r}")


def _through(points: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """One stroke through ``points`` (page mm) in turn, each leg a little bowed, ``n`` points a leg."""
    return np.vstack([_curve((a[0], a[1]), (b[0], b[1]), float(rng.normal(0, 0.05)), n) for a, b in pairwise(points)])


def _cancel_b(style: str, reach: tuple[float, float, float, float], rng: np.random.Generator) -> list[Strokes]:
    """The pen passes of a set B cancelling over ``reach`` (x0, y0, x1, y1 page mm)."""
    x0, y0, x1, y1 = reach
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    if style == "spiral":  # scrubbing round and round from the middle out, at times back in over it
        def wander(t: np.ndarray, knots: int, sd: float) -> np.ndarray:  # a slow random wobble along t
            return np.interp(t * (knots - 1), np.arange(knots), rng.normal(0, sd, knots))

        def spiral(turns: float, inner: float, outward: bool) -> np.ndarray:
            t = np.linspace(0, 1, int(90 * turns))
            r = inner + (1 - inner) * (t if outward else 1 - t)
            q = rng.choice((-1, 1)) * 2 * np.pi * turns * t + rng.uniform(0, 2 * np.pi)
            k = int(2 * turns) + 2  # the hand's rounds are not round, and their middle wanders
            return np.column_stack([cx + wander(t, k, 0.5) + rx * r * (1 + wander(t, k, 0.12)) * np.cos(q),
                                    cy + wander(t, k, 0.5) + ry * r * (1 + wander(t, k, 0.12)) * np.sin(q)])
        passes = [[spiral(rng.uniform(5, 10), rng.uniform(0.05, 0.25), True)]]
        if rng.random() < 0.5:
            passes.append([spiral(rng.uniform(3, 6), rng.uniform(0.1, 0.4), False)])
        return passes
    if style == "zigzag":  # one stroke up and down across the box, left to right, at times back again
        def zigzag(peaks: int, backwards: bool, slant: float) -> np.ndarray:
            xs = np.linspace(x0, x1, 2 * peaks + 1)[:: -1 if backwards else 1] + rng.normal(0, 0.15, 2 * peaks + 1)
            ys = np.where(np.arange(2 * peaks + 1) % 2 == int(rng.integers(2)), y0, y1) + rng.normal(0, 0.3, 2 * peaks + 1)
            return _through(np.column_stack([xs + slant * (ys - cy), ys]), rng, 8)
        slant = rng.uniform(-0.3, 0.3)
        passes = [[zigzag(int(rng.integers(6, 13)), False, slant)]]
        if rng.random() < 0.4:
            passes.append([zigzag(int(rng.integers(4, 9)), True, slant + rng.normal(0, 0.1))])
        return passes
    if style == "struck-out":  # 2-4 lines across the mark, then a few more, shorter and at a slant
        n = int(rng.integers(2, 5))
        ys = np.linspace(y0 + 0.2 * (y1 - y0), y1 - 0.2 * (y1 - y0), n) + rng.normal(0, 0.3, n)
        first = [_curve((x0 + rng.normal(0, 0.3), yy), (x1 + rng.normal(0, 0.3), yy + rng.normal(0, 0.4)),
                        float(rng.normal(0, 0.02))) for yy in ys]
        more = [_curve((x0 + rng.uniform(0, 1.5), yy), (x1 - rng.uniform(0, 1.5), yy + rng.normal(0, 1.0)),
                       float(rng.normal(0, 0.04))) for yy in rng.uniform(y0 + 0.5, y1 - 0.5, int(rng.integers(1, 4)))]
        return [first, more]
    if style == "scribbled":  # blacked out: many short strokes, back and forth, every way, in 1-3 goes
        def scrawl() -> np.ndarray:
            p = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            turn = rng.uniform(0, np.pi)
            along, across = np.array([math.cos(turn), math.sin(turn)]), np.array([-math.sin(turn), math.cos(turn)])
            legs, length, step = int(rng.integers(2, 5)), rng.uniform(1.5, 4.0), rng.uniform(0.2, 0.5)
            pts = np.array([p + along * length * (i % 2) + across * step * i for i in range(legs + 1)])
            if not ((pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)).all():
                pts = 2 * p - pts  # the other way from where it starts, back into the box
            return _through(pts, rng, 6)
        goes = int(rng.integers(1, 4))
        return [[scrawl() for _ in range(int(rng.integers(25, 60)) // goes)] for _ in range(goes)]
    if style == "mesh":  # a grid of lines over the mark, one way and then the other, each its own go
        def lines(n: int, across: bool) -> Strokes:  # across the box (left to right) or down it
            (a0, a1), (b0, b1) = ((x0, x1), (y0, y1)) if across else ((y0, y1), (x0, x1))
            strokes = []
            for off in b0 + (b1 - b0) * (np.linspace(0.15, 0.85, n) + rng.normal(0, 0.03, n)):
                ends = np.array([[a0 + rng.normal(0, 0.3), off], [a1 + rng.normal(0, 0.3), off + rng.normal(0, 0.4)]])
                strokes.append(_through(ends if across else ends[:, ::-1], rng, 24))
            return strokes
        across_first = bool(rng.random() < 0.5)
        return [lines(int(rng.integers(3, 6)), across_first), lines(int(rng.integers(3, 6)), not across_first)]
    raise ValueError(f"unknown cancelling {style!r}")


def cancel_passes(style: str, box: tuple[float, float, float, float], rng: np.random.Generator) -> list[Strokes]:
    """The strokes that go over a mark in ``box`` (page mm) to cancel it, in ``style`` of ``CANCELS``
    or ``CANCELS_B``, by pen pass: each pass is drawn on its own, so with a width and a pressure of
    its own. A cancelling of set A is one pass (:func:`cancel`). One of set B is drawn over the box
    with each edge moved in by up to 0.8 mm or out by up to ``SPILL_MM``, may lean, and is kept
    within ``SPILL_MM`` of the box."""
    if style in CANCELS:
        return [cancel(style, box, rng)]
    if style not in CANCELS_B:
        raise ValueError(f"unknown cancelling {style!r}")
    x, y, w, h = box
    inset = rng.uniform(-SPILL_MM, 0.8, 4)
    passes = _cancel_b(style, (x + inset[0], y + inset[1], x + w - inset[2], y + h - inset[3]), rng)
    turn = math.radians(rng.normal(0, 5))
    rot = np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    centre = np.array([x + w / 2, y + h / 2])
    lo, hi = np.array([x - SPILL_MM, y - SPILL_MM]), np.array([x + w + SPILL_MM, y + h + SPILL_MM])
    return [[np.clip((s - centre) @ rot + centre, lo, hi) for s in strokes] for strokes in passes]


def draw(img: np.ndarray, strokes: Strokes, ink: str, px_per_mm: float, rng: np.random.Generator) -> None:
    """Draw ``strokes`` in ``ink`` on ``img`` (BGR, page mm * ``px_per_mm``) in place."""
    reflectance, (w0, w1), (o0, o1) = INKS[ink]
    width = rng.uniform(w0, w1)
    ss = 4
    pts = np.vstack(strokes) * px_per_mm
    pad = int(width * px_per_mm) + 4
    c0, r0 = max(0, int(pts[:, 0].min()) - pad), max(0, int(pts[:, 1].min()) - pad)
    c1, r1 = min(img.shape[1], int(pts[:, 0].max()) + pad), min(img.shape[0], int(pts[:, 1].max()) + pad)
    if c1 <= c0 or r1 <= r0:
        return
    cover = np.zeros(((r1 - r0) * ss, (c1 - c0) * ss), np.float32)
    for stroke in strokes:
        at = np.round((stroke * px_per_mm - (c0, r0)) * ss * 8).astype(np.int32)
        cv2.polylines(cover, [at], False, 1.0, max(1, round(width * px_per_mm * ss)), cv2.LINE_AA, 3)
    cover = np.asarray(cv2.resize(cover, (c1 - c0, r1 - r0), interpolation=cv2.INTER_AREA))
    if ink == "pencil":  # graphite on paper grain
        cover = cover * np.asarray(rng.uniform(0.5, 1.0, cover.shape), np.float32)
    alpha = np.clip(cover * rng.uniform(o0, o1), 0, 1)[..., None]
    roi = img[r0:r1, c0:c1].astype(np.float32)
    img[r0:r1, c0:c1] = np.clip(roi * (1 - alpha + alpha * np.asarray(reflectance, np.float32)), 0, 255).astype(np.uint8)


def plan_page(layout: Layout, rng: np.random.Generator, *, steady: bool = False) -> dict:
    """What one voter does on the first layout page: marks per person, a crossed name or none, the ink.

    Each mark's shape is drawn on its own (``MARK_SHARES``); a ``steady`` voter keeps one shape for
    the whole page: the first one drawn, put in every mark and in the plan as ``"shape"``. The draws
    are the same either way, so a steady page has the rows, levels, crossed name and ink of the page
    drawn from the same stream without it, and only the shapes differ.
    """
    page = layout.pages[0]
    marks: dict[int, list[tuple[str, str]]] = {}
    for row in page.rows:
        u = rng.random()
        count = 1 if u < 0.8 else (0 if u < 0.9 else 2)
        levels = rng.choice(LEVELS, count, replace=False)
        marks[row.person] = [(str(level), str(rng.choice(MARKS, p=MARK_SHARES))) for level in levels]
    crossed = []
    if rng.random() < 0.3:
        crossed = [(int(rng.choice([r.person for r in page.rows])), str(rng.choice(CROSSINGS)))]
    plan: dict = {"marks": marks, "crossed": crossed, "ink": str(rng.choice(list(INKS), p=INK_SHARES)), "cancelled": []}
    if steady:
        shape = next((style for row_marks in marks.values() for _, style in row_marks), None)
        plan["marks"] = {person: [(level, shape) for level, _ in row_marks] for person, row_marks in marks.items()}
        plan["shape"] = shape
    return plan


def plan_cancels(plan: dict, rng: np.random.Generator, *, cancels: str = "a") -> None:
    """Add to ``plan`` the marks its voter cancels (``CANCEL_SHARE`` of the rows with fewer than two marks):
    (person, level, the mark, how it is cancelled, a seed for the strokes), in a box no other mark uses.
    The mark is one of ``MARKS[:6]``: a steady voter's own shape (``plan["shape"]``) when it is one of them;
    it is cancelled in a way of set ``cancels``: "a" (``CANCELS``) or "b" (``CANCELS_B``)."""
    if cancels not in CANCEL_SETS:
        raise ValueError(f"cancels must be one of {sorted(CANCEL_SETS)}, not {cancels!r}")
    ways = CANCEL_SETS[cancels][0]
    for person, marks in plan["marks"].items():
        if rng.random() >= CANCEL_SHARE or len(marks) >= 2:
            continue
        free = [level for level in LEVELS if level not in {lv for lv, _ in marks}]
        level, style, how = str(rng.choice(free)), str(rng.choice(MARKS[:6])), str(rng.choice(ways))
        if plan.get("shape") in MARKS[:6]:
            style = plan["shape"]
        plan["cancelled"].append((person, level, style, how, int(rng.integers(2**31))))


@contextmanager
def hand_of(plans: dict[str, dict]) -> Iterator[None]:
    """The simulator's voter ink replaced by this benchmark's pen, following ``plans`` (by token)."""
    voter_ink = sim._voter_ink

    def ink(img: np.ndarray, layout: Layout, spec: sim.PageSpec, px_per_mm: float, rng: np.random.Generator) -> None:
        plan = plans[str(spec.token)]
        rows = {r.person: r for r in layout.page(spec.layout_page).rows}
        for person, marks in plan["marks"].items():
            for level, style in marks:
                draw(img, mark(style, rows[person].boxes_mm[level], rng), plan["ink"], px_per_mm, rng)
        for person, style in plan["crossed"]:
            draw(img, crossing(style, rows[person].name_mm, rng), plan["ink"], px_per_mm, rng)
        for person, level, style, how, seed in plan["cancelled"]:  # their own stream: the page's is left as it was
            own = np.random.default_rng(seed)
            box = rows[person].boxes_mm[level]
            draw(img, mark(style, box, own), plan["ink"], px_per_mm, own)
            for strokes in cancel_passes(how, box, own):
                draw(img, strokes, plan["ink"], px_per_mm, own)

    sim._voter_ink = ink
    try:
        yield
    finally:
        sim._voter_ink = voter_ink


def page_truth(source: str, token: str, layout: Layout, plan: dict, scan: sim.ScanSpec) -> PageTruth:
    rows = []
    cancelled = {person: (level, f"hand-{style}-cancelled-{how}") for person, level, style, how, _ in plan["cancelled"]}
    for person, marks in plan["marks"].items():
        styles = {level: "empty" for level in LEVELS} | {level: f"hand-{style}" for level, style in marks}
        expect = ("none", "one", "multiple")[len(marks)]
        if person in cancelled:  # a mark cancelled: a human must look
            level, style = cancelled[person]
            styles[level], expect = style, "review"
        rows.append(RowTruth(person, expect, marks[0][0] if len(marks) == 1 and expect != "review" else None, styles))
    return PageTruth(source=source, page=1, kind="ballot", token=token, session_id=layout.session_id, layout_page=1,
                     voter=None, rows=tuple(rows), crossed=tuple(p for p, _ in plan["crossed"]), writing=False,
                     signature=False, scan={"dpi": scan.dpi, "phone": scan.phone, "streak_x_mm": scan.streak_x_mm, "ink": plan["ink"]})


def plan_deck(layout: Layout, tokens: list[str], rng: np.random.Generator, *, seed: int, cancels: str = "a",
              steady: bool = False) -> dict[str, dict]:
    """What the voter of each of ``tokens`` does (:func:`plan_page`, drawn from ``rng``, which
    :func:`hand_deck` goes on using for the scans), with the marks they cancel (:func:`plan_cancels`, from the
    set's own stream of ``seed``): a deck's plans, by token, again from its seed and tokens alone."""
    plans = {token: plan_page(layout, rng, steady=steady) for token in tokens}
    cancel_rng = np.random.default_rng([seed, CANCEL_SETS[cancels][1]])
    for token in tokens:
        plan_cancels(plans[token], cancel_rng, cancels=cancels)
    return plans


def hand_deck(ws: Workspace, out: Path, *, profile: str, pages: int, seed: int, cancels: str = "a",
              steady: bool = False) -> tuple[Truth, dict[str, dict]]:
    """Draw ``pages`` ballots voted by this hand into ``out`` (one file each), with the first ``pages``
    issued tokens of ``ws``, scanned as ``profile`` (adf, adf-rough, phone) does; their truth and their
    plans by file name. ``cancels``: the set the cancelled marks are gone over with, "a" or "b"
    (:func:`plan_cancels`), each from a stream of its own; ``steady``: each voter keeps one mark shape
    on their page (:func:`plan_page`)."""
    if cancels not in CANCEL_SETS:
        raise ValueError(f"cancels must be one of {sorted(CANCEL_SETS)}, not {cancels!r}")
    layout = load_layout(ws.layout_json)
    conn = db.connect(ws.db_path)
    try:
        tokens = sorted(db.issued_tokens(conn))[:pages]
    finally:
        conn.close()
    if len(tokens) < pages:
        raise ValueError(f"the workspace has {len(tokens)} issued ballots, fewer than {pages}")
    rng = np.random.default_rng(seed)
    plans = plan_deck(layout, tokens, rng, seed=seed, cancels=cancels, steady=steady)
    out.mkdir(parents=True, exist_ok=True)
    truth_pages, by_file = [], {}
    with hand_of(plans):
        for i, token in enumerate(tokens):
            fmt = "jpg" if rng.random() < 0.7 else "png"
            scan = sim._scan_spec(profile, rng, fmt=fmt)
            img = sim.render_page(ws, sim.PageSpec(1, token, {}), scan, rng=rng)
            name = f"hand-{i:04d}.{fmt}"
            params = [cv2.IMWRITE_JPEG_QUALITY, scan.jpeg_quality or 90] if fmt == "jpg" else []
            cv2.imwrite(str(out / name), img, params)
            truth_pages.append(page_truth(name, token, layout, plans[token], scan))
            by_file[name] = plans[token]
    truth = Truth(session_id=layout.session_id, profile=f"hands-{profile}", seed=seed, voters=pages,
                  pages_per_ballot=1, files=tuple(p.source for p in truth_pages), pages=tuple(truth_pages))
    return truth, by_file
