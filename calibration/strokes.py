"""Hand-drawn pen strokes: voters' marks, struck-out names, written words, signatures.

Every mark is a set of pen strokes (polylines in millimetres on the page, x to the
right, y down) with a pressure profile: the pen lands, the line thickens, wobbles a
little, and lifts with a thinner tail. Strokes are rasterised with supersampled
discs of varying radius, then given an ink texture (ballpoint skips, pencil grain)
and composited multiplicatively onto the paper, so crossings get darker as real
ink does. Nothing is a stamped glyph: size, position, angle and curvature are drawn
from ``rng`` each time.

The ``field`` profile's voters (held out from tuning) use other hands and pens:
:data:`FIELD_CLEAR_STYLES` (a hooked X, a large shaky X, a V tick, a plus, a box
hatched with parallel lines, an asterisk) and :func:`field_pen` (violet ballpoint,
gel pen, thick marker), a few :func:`warm_pen` (red ballpoint, pink gel pen: inks the
seal's dropout hides). They are clear marks, kept in their own tuple so that
:data:`CLEAR_STYLES` and everything drawn for the other profiles stay as they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from kiemphieu.layout import Rect

Stroke = tuple[np.ndarray, np.ndarray]
"""A stroke: points ``(N, 2)`` in mm as (x, y) and pressure ``(N,)`` in 0..1."""

CLEAR_STYLES = ("x", "check", "slash", "fill", "circle", "small_x", "x_overshoot")
NOT_MARK_STYLES = ("dots", "neighbour_stroke", "fold_line")
AMBIGUOUS_STYLES = ("cancelled", "tiny_tick", "faint")
FIELD_CLEAR_STYLES = ("hooked_x", "big_shaky_x", "v_tick", "plus", "hatch", "asterisk")
"""Clear marks drawn only by the ``field`` profile's voters (see :func:`field_mark_strokes`)."""
STYLES = CLEAR_STYLES + NOT_MARK_STYLES + AMBIGUOUS_STYLES + FIELD_CLEAR_STYLES


@dataclass(frozen=True)
class Pen:
    """A writing instrument.

    Parameters
    ----------
    kind : "ballpoint" | "felt" | "pencil" | "crease" | "gel" | "marker"
        (``gel`` and ``marker`` only from :func:`field_pen` and :func:`warm_pen`)
    color_bgr : ink colour, BGR 0..255
    width_mm : nominal line width
    opacity : peak ink coverage, 0..1
    """

    kind: str
    color_bgr: tuple[int, int, int]
    width_mm: float
    opacity: float


def random_pen(rng: np.random.Generator) -> Pen:
    """A voter's pen: mostly blue or black ballpoint, sometimes felt pen or pencil."""
    u = rng.random()
    if u < 0.5:
        blue = (int(rng.integers(120, 170)), int(rng.integers(40, 80)), int(rng.integers(10, 40)))
        return Pen("ballpoint", blue, float(rng.uniform(0.3, 0.45)), float(rng.uniform(0.9, 1.0)))
    if u < 0.8:
        black = int(rng.integers(20, 50))
        return Pen("ballpoint", (black + 5, black, black), float(rng.uniform(0.3, 0.45)), float(rng.uniform(0.9, 1.0)))
    if u < 0.92:
        colour = (int(rng.integers(20, 50)),) * 3 if rng.random() < 0.6 else (150, 60, 25)
        return Pen("felt", colour, float(rng.uniform(0.6, 1.0)), 0.95)  # type: ignore[arg-type]
    return pencil(rng)


def pencil(rng: np.random.Generator, *, faint: bool = False) -> Pen:
    grey = int(rng.integers(60, 100))
    opacity = float(rng.uniform(0.12, 0.2)) if faint else float(rng.uniform(0.5, 0.7))
    return Pen("pencil", (grey, grey, grey + 5), float(rng.uniform(0.3, 0.5)), opacity)


def _violet(rng: np.random.Generator) -> tuple[int, int, int]:
    """Violet ink (mực tím), BGR: bright in the red channel the scanner keeps."""
    return (int(rng.integers(140, 190)), int(rng.integers(30, 70)), int(rng.integers(100, 150)))


def field_pen(rng: np.random.Generator) -> Pen:
    """A pen of the ``field`` profile: violet ballpoint, gel pen, thick marker, or a usual pen.

    Gel pens are black, blue or violet, opaque and without ballpoint skips; markers
    are 1.3-2.2 mm wide, a little translucent, with uneven ink. A quarter of the
    voters still use :func:`random_pen`.
    """
    u = rng.random()
    if u < 0.3:
        return Pen("ballpoint", _violet(rng), float(rng.uniform(0.3, 0.45)), float(rng.uniform(0.85, 1.0)))
    if u < 0.55:
        return Pen("gel", _ink_colour(rng), float(rng.uniform(0.35, 0.6)), float(rng.uniform(0.95, 1.0)))
    if u < 0.75:
        return Pen("marker", _ink_colour(rng), float(rng.uniform(1.3, 2.2)), float(rng.uniform(0.8, 0.92)))
    return random_pen(rng)


def warm_pen(rng: np.random.Generator) -> Pen:
    """A pen whose ink the seal's dropout hides: a red ballpoint (two in three) or a pink gel pen.

    Both turn almost white in the red channel that drops the red seal, so a box
    marked with them reads as empty there: the scanner must find them on the
    colour scan (``red_ink``). A grey scan keeps them as mid-grey ink, a 1-bit
    scan as what its threshold kept.
    """
    if rng.random() < 2 / 3:
        return Pen("ballpoint", (int(rng.integers(30, 70)), int(rng.integers(30, 70)), int(rng.integers(175, 215))),
                   float(rng.uniform(0.3, 0.45)), float(rng.uniform(0.9, 1.0)))
    return Pen("gel", (int(rng.integers(150, 200)), int(rng.integers(90, 130)), int(rng.integers(228, 250))),
               float(rng.uniform(0.35, 0.6)), float(rng.uniform(0.95, 1.0)))


def _ink_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """Black, blue or violet ink, BGR."""
    u = rng.random()
    if u < 0.4:
        black = int(rng.integers(15, 45))
        return (black + 5, black, black)
    if u < 0.75:
        return (int(rng.integers(130, 190)), int(rng.integers(40, 90)), int(rng.integers(5, 40)))
    return _violet(rng)


# --- stroke geometry (mm) ----------------------------------------------------


def _wobble(n: int, amp: float, rng: np.random.Generator) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    out = np.zeros(n)
    for k in (1.0, 2.3, 4.1):
        out += rng.normal(0.0, amp / k) * np.sin(2 * np.pi * k * t + rng.uniform(0, 2 * np.pi))
    return out


def _pressure(n: int, rng: np.random.Generator, *, lift: bool = True) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    land = np.clip(t / rng.uniform(0.04, 0.12), 0.0, 1.0) ** 0.5
    tail = np.clip((1.0 - t) / rng.uniform(0.08, 0.25), 0.0, 1.0) if lift else np.ones(n)
    base = rng.uniform(0.75, 1.0) + 0.12 * np.sin(2 * np.pi * t * rng.uniform(0.5, 2.0) + rng.uniform(0, 6))
    p = base * (0.35 + 0.65 * land) * (0.25 + 0.75 * tail)
    return np.clip(p, 0.1, 1.0)


def _catmull_rom(ctrl: np.ndarray, per_seg: int) -> np.ndarray:
    pts = np.vstack([ctrl[0], ctrl, ctrl[-1]])
    out = []
    for i in range(1, len(pts) - 2):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        t = np.linspace(0.0, 1.0, per_seg, endpoint=False)[:, None]
        out.append(
            0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    out.append(ctrl[-1][None, :])
    return np.vstack(out)


def path_stroke(
    ctrl: np.ndarray | list[tuple[float, float]],
    rng: np.random.Generator,
    *,
    wobble_mm: float = 0.08,
    curvature: float = 0.06,
    lift: bool = True,
) -> Stroke:
    """A smooth stroke through control points (mm), with wobble and a pen pressure profile."""
    c = np.asarray(ctrl, dtype=np.float64)
    if len(c) == 2:  # a straight stroke bends a little: add a displaced midpoint
        d = c[1] - c[0]
        normal = np.array([-d[1], d[0]])
        mid = (c[0] + c[1]) / 2 + normal * rng.normal(0.0, curvature)
        c = np.vstack([c[0], mid, c[1]])
    length = float(np.sum(np.linalg.norm(np.diff(c, axis=0), axis=1)))
    n_total = max(8, int(length / 0.08))
    pts = _catmull_rom(c, max(4, n_total // max(1, len(c) - 1)))
    n = len(pts)
    d = np.gradient(pts, axis=0)
    norm = np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
    normal = np.hstack([-d[:, 1:2], d[:, 0:1]]) / norm
    pts = pts + normal * _wobble(n, wobble_mm, rng)[:, None]
    return pts, _pressure(n, rng, lift=lift)


def _rot(points: list[tuple[float, float]], cx: float, cy: float, angle_deg: float) -> list[tuple[float, float]]:
    a = math.radians(angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    return [(cx + (x - cx) * ca - (y - cy) * sa, cy + (x - cx) * sa + (y - cy) * ca) for x, y in points]


def _x_strokes(cx: float, cy: float, a: float, b: float, rng: np.random.Generator) -> list[Stroke]:
    ang = rng.normal(0.0, 7.0)
    j = lambda: rng.normal(0.0, 0.25)  # noqa: E731
    s1 = _rot([(cx - a + j(), cy - b + j()), (cx + a + j(), cy + b + j())], cx, cy, ang)
    s2 = _rot([(cx + a + j(), cy - b + j()), (cx - a + j(), cy + b + j())], cx, cy, ang)
    if rng.random() < 0.3:
        s1 = s1[::-1]
    if rng.random() < 0.2:
        s2 = s2[::-1]
    return [path_stroke(s1, rng), path_stroke(s2, rng)]


def _check_strokes(cx: float, cy: float, size: float, rng: np.random.Generator) -> list[Stroke]:
    s = size
    pts = [
        (cx - 0.45 * s + rng.normal(0, 0.05 * s), cy + rng.normal(0, 0.05 * s)),
        (cx - 0.12 * s + rng.normal(0, 0.04 * s), cy + 0.42 * s + rng.normal(0, 0.04 * s)),
        (cx + 0.5 * s + rng.normal(0, 0.06 * s), cy - 0.5 * s + rng.normal(0, 0.06 * s)),
    ]
    return [path_stroke(_rot(pts, cx, cy, rng.normal(0, 8)), rng, wobble_mm=0.05)]


def _zigzag(x: float, y: float, w: float, h: float, passes: int, rng: np.random.Generator) -> Stroke:
    pts = []
    for i in range(passes):
        yy = y + h * (i + rng.uniform(0.1, 0.6)) / passes
        left = x + rng.uniform(0.0, 0.12) * w
        right = x + w - rng.uniform(0.0, 0.12) * w
        pts.append((left, yy + rng.normal(0, 0.2)) if i % 2 == 0 else (right, yy + rng.normal(0, 0.2)))
    return path_stroke(pts, rng, wobble_mm=0.1)


def mark_strokes(style: str, box: Rect, rng: np.random.Generator) -> list[Stroke]:
    """The strokes of one mark of ``style`` drawn in ``box`` (mm rect x, y, w, h).

    ``cancelled`` is returned with its cancelling scribble; ``faint`` needs a faint pencil
    (see :func:`pen_for_style`).
    """
    x, y, w, h = box
    cx = x + w / 2 + rng.normal(0.0, 0.35)
    cy = y + h / 2 + rng.normal(0.0, 0.3)
    if style in ("x", "faint"):
        k = rng.uniform(0.3, 0.5)
        return _x_strokes(cx, cy, w * k, h * rng.uniform(0.3, 0.5), rng)
    if style == "small_x":
        return _x_strokes(cx, cy, rng.uniform(1.2, 1.8), rng.uniform(1.1, 1.6), rng)
    if style == "x_overshoot":
        return _x_strokes(cx, cy, w / 2 + rng.uniform(1.2, 3.0), h / 2 + rng.uniform(1.0, 2.5), rng)
    if style == "check":
        return _check_strokes(cx, cy, min(w, h) * rng.uniform(0.7, 1.05), rng)
    if style == "tiny_tick":
        return _check_strokes(cx + rng.uniform(-1.5, 1.5), cy + rng.uniform(-1.2, 1.2), 1.5, rng)
    if style == "slash":
        a, b = w * rng.uniform(0.3, 0.5), h * rng.uniform(0.3, 0.5)
        pts = [(cx - a, cy + b), (cx + a, cy - b)] if rng.random() < 0.7 else [(cx - a, cy - b), (cx + a, cy + b)]
        return [path_stroke(pts, rng)]
    if style == "fill":
        return [_zigzag(x + 0.4, y + 0.3, w - 0.8, h - 0.6, int(rng.integers(7, 12)), rng)]
    if style == "circle":
        rx, ry = w * rng.uniform(0.28, 0.4), h * rng.uniform(0.28, 0.4)
        start = rng.uniform(0, 2 * np.pi)
        t = np.linspace(start, start + rng.uniform(1.9, 2.15) * np.pi, 60)
        drift = np.linspace(1.0, rng.uniform(0.85, 1.1), len(t))
        pts = [(cx + rx * d * math.cos(a), cy + ry * d * math.sin(a)) for a, d in zip(t, drift, strict=True)]
        return [path_stroke(pts, rng, wobble_mm=0.05)]
    if style == "dots":
        out = []
        for _ in range(int(rng.integers(1, 4))):
            px, py = x + rng.uniform(1.0, w - 1.0), y + rng.uniform(1.0, h - 1.0)
            ang = rng.uniform(0, 2 * np.pi)
            ln = rng.uniform(0.05, 0.25)
            out.append(path_stroke([(px, py), (px + ln * math.cos(ang), py + ln * math.sin(ang))], rng, wobble_mm=0.0))
        return out
    if style == "neighbour_stroke":
        side = rng.choice(["left", "right", "top", "bottom"])
        depth = rng.uniform(0.7, 1.3)
        run = rng.uniform(3.0, 6.0)
        if side == "left":
            ey = y + rng.uniform(1.0, h - 1.0)
            pts = [(x - run, ey + rng.normal(0, 1.5)), (x + depth, ey)]
        elif side == "right":
            ey = y + rng.uniform(1.0, h - 1.0)
            pts = [(x + w + run, ey + rng.normal(0, 1.5)), (x + w - depth, ey)]
        elif side == "top":
            ex = x + rng.uniform(1.0, w - 1.0)
            pts = [(ex + rng.normal(0, 1.5), y - run), (ex, y + depth)]
        else:
            ex = x + rng.uniform(1.0, w - 1.0)
            pts = [(ex + rng.normal(0, 1.5), y + h + run), (ex, y + h - depth)]
        return [path_stroke(pts, rng)]
    if style == "fold_line":
        yy = y + rng.uniform(0.2, 0.8) * h
        slope = rng.normal(0.0, 0.03)
        return [path_stroke([(x - 8.0, yy - 8.0 * slope), (x + w + 8.0, yy + (w + 8.0) * slope)], rng, wobble_mm=0.0, curvature=0.0, lift=False)]
    if style == "cancelled":
        under = _x_strokes(cx, cy, w * 0.4, h * 0.4, rng) if rng.random() < 0.6 else _check_strokes(cx, cy, min(w, h) * 0.9, rng)
        scribble = _zigzag(x - 0.3, y - 0.3, w + 0.6, h + 0.6, int(rng.integers(6, 10)), rng)
        # a second, rotated scribble makes it a real hatch
        sc2 = _zigzag(x, y, w, h, int(rng.integers(4, 7)), rng)
        sc2 = (np.array(_rot([tuple(p) for p in sc2[0]], x + w / 2, y + h / 2, rng.uniform(60, 120))), sc2[1])
        return under + [scribble, sc2]
    if style in FIELD_CLEAR_STYLES:
        return field_mark_strokes(style, box, cx, cy, rng)
    raise ValueError(f"unknown mark style {style!r}")


def field_mark_strokes(style: str, box: Rect, cx: float, cy: float, rng: np.random.Generator) -> list[Stroke]:
    """The strokes of one of :data:`FIELD_CLEAR_STYLES` in ``box`` (mm), centred near (``cx``, ``cy``).

    ``hooked_x``: an X whose first stroke starts with a small hook; ``big_shaky_x``: an
    X 1.1-1.5 times the box with a trembling hand; ``v_tick``: a V with two arms of
    about equal length; ``plus``: a + sign; ``hatch``: 4-7 parallel lines across the
    box, each a separate stroke; ``asterisk``: three or four lines through the centre.
    """
    x, y, w, h = box
    if style == "hooked_x":
        return _hooked_x(cx, cy, w * rng.uniform(0.3, 0.45), h * rng.uniform(0.3, 0.45), rng)
    if style == "big_shaky_x":
        return _shaky_x(cx, cy, w * rng.uniform(0.55, 0.75), h * rng.uniform(0.55, 0.75), rng)
    if style == "v_tick":
        return _v_tick(cx, cy, w * rng.uniform(0.28, 0.42), h * rng.uniform(0.3, 0.45), rng)
    if style == "plus":
        return _plus(cx, cy, w * rng.uniform(0.3, 0.45), h * rng.uniform(0.3, 0.45), rng)
    if style == "hatch":
        return _hatch(x, y, w, h, rng)
    if style == "asterisk":
        return _asterisk(cx, cy, min(w, h) * rng.uniform(0.3, 0.45), rng)
    raise ValueError(f"unknown field mark style {style!r}")


def _hooked_x(cx: float, cy: float, a: float, b: float, rng: np.random.Generator) -> list[Stroke]:
    """An X; the first stroke lands, curls back in a small hook, then runs down the diagonal."""
    ang = rng.normal(0.0, 6.0)
    hook = rng.uniform(0.6, 1.2)
    start = (cx - a, cy - b)
    s1 = [(start[0] + hook, start[1] - 0.2 * hook), (start[0] + 0.3 * hook, start[1] - 0.8 * hook), start, (cx + a, cy + b)]
    s2 = [(cx + a + rng.normal(0, 0.25), cy - b + rng.normal(0, 0.25)), (cx - a + rng.normal(0, 0.25), cy + b + rng.normal(0, 0.25))]
    return [path_stroke(_rot(s1, cx, cy, ang), rng, wobble_mm=0.06), path_stroke(_rot(s2, cx, cy, ang), rng)]


def _tremor(start: tuple[float, float], end: tuple[float, float], amp: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Control points from ``start`` to ``end`` with a sideways tremor of about ``amp`` mm."""
    n = int(rng.integers(12, 19))
    t = np.linspace(0.0, 1.0, n)
    p0, p1 = np.asarray(start), np.asarray(end)
    d = p1 - p0
    normal = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9)
    side = rng.normal(0.0, amp, n) * np.sin(np.pi * t) ** 0.5
    pts = p0[None, :] + t[:, None] * d[None, :] + side[:, None] * normal[None, :]
    return [(float(px), float(py)) for px, py in pts]


def _shaky_x(cx: float, cy: float, a: float, b: float, rng: np.random.Generator) -> list[Stroke]:
    """A very large X drawn with a trembling hand (it overruns the box)."""
    ang = rng.normal(0.0, 8.0)
    s1 = _tremor((cx - a, cy - b), (cx + a, cy + b), rng.uniform(0.1, 0.22), rng)
    s2 = _tremor((cx + a, cy - b), (cx - a, cy + b), rng.uniform(0.1, 0.22), rng)
    return [path_stroke(_rot(s, cx, cy, ang), rng, wobble_mm=0.12) for s in (s1, s2)]


def _v_tick(cx: float, cy: float, a: float, b: float, rng: np.random.Generator) -> list[Stroke]:
    """A V: down the left arm, up the right one, arms of about equal length."""
    bottom = (cx + rng.normal(0, 0.3), cy + b)
    pts = [(cx - a, cy - b + rng.normal(0, 0.3)), bottom, (cx + a * rng.uniform(0.9, 1.15), cy - b * rng.uniform(0.9, 1.2))]
    return [path_stroke(_rot(pts, cx, cy, rng.normal(0, 6)), rng, wobble_mm=0.05)]


def _plus(cx: float, cy: float, a: float, b: float, rng: np.random.Generator) -> list[Stroke]:
    """A + sign: a horizontal then a vertical stroke."""
    ang = rng.normal(0.0, 5.0)
    horiz = [(cx - a, cy + rng.normal(0, 0.2)), (cx + a, cy + rng.normal(0, 0.2))]
    vert = [(cx + rng.normal(0, 0.2), cy - b), (cx + rng.normal(0, 0.2), cy + b)]
    return [path_stroke(_rot(s, cx, cy, ang), rng) for s in (horiz, vert)]


def _hatch(x: float, y: float, w: float, h: float, rng: np.random.Generator) -> list[Stroke]:
    """4-7 parallel lines across the box (each lifted), all at one slant, kept inside the box."""
    n = int(rng.integers(4, 8))
    slant = rng.uniform(-0.7, 0.7)  # horizontal run per mm of height
    lo_x, hi_x, lo_y, hi_y = x + 0.5, x + w - 0.5, y + 0.5, y + h - 0.5
    mid_y = (lo_y + hi_y) / 2
    reach = abs(slant) * (hi_y - lo_y) / 2
    out = []
    for k in range(n):
        u = (k + 0.5 + rng.normal(0, 0.08)) / n
        xm = lo_x - reach + (hi_x - lo_x + 2 * reach) * u  # where the line crosses the box's middle
        ys = [lo_y, hi_y]
        if abs(slant) > 1e-3:  # clip the line x = xm + slant * (y - mid_y) to the box's width
            y_a, y_b = mid_y + (lo_x - xm) / slant, mid_y + (hi_x - xm) / slant
            ys = [max(lo_y, min(y_a, y_b)), min(hi_y, max(y_a, y_b))]
        if ys[1] - ys[0] < 1.0:
            continue
        ends = [(xm + slant * (yy - mid_y) + rng.normal(0, 0.15), yy + rng.normal(0, 0.15)) for yy in ys]
        out.append(path_stroke(ends if rng.random() < 0.7 else ends[::-1], rng))
    return out


def _asterisk(cx: float, cy: float, r: float, rng: np.random.Generator) -> list[Stroke]:
    """Three or four lines through the centre."""
    n = int(rng.integers(3, 5))
    base = rng.uniform(0, 180)
    out = []
    for k in range(n):
        a = math.radians(base + 180.0 * k / n + rng.normal(0, 6))
        dx, dy = r * math.cos(a), r * math.sin(a)
        out.append(path_stroke([(cx - dx, cy - dy), (cx + dx, cy + dy)], rng))
    return out


def pen_for_style(style: str, pen: Pen, rng: np.random.Generator) -> Pen:
    """The pen a style is drawn with (``faint`` is a faint pencil, ``fold_line`` a crease)."""
    if style == "faint":
        return pencil(rng, faint=True)
    if style == "fold_line":
        return Pen("crease", (120, 120, 125), 0.12, float(rng.uniform(0.2, 0.35)))
    return pen


def strike_strokes(name_rect: Rect, rng: np.random.Generator) -> list[Stroke]:
    """One or two lines through a printed name."""
    x, y, w, h = name_rect
    x0 = x + rng.uniform(-1.0, 2.0)
    x1 = x + rng.uniform(0.45, 0.9) * w
    out = []
    for k in range(1 if rng.random() < 0.65 else 2):
        yy = y + h * (0.62 + 0.12 * k) + rng.normal(0, 0.3)
        out.append(path_stroke([(x0, yy + rng.normal(0, 0.4)), (x1, yy + rng.normal(0, 0.4))], rng, wobble_mm=0.1, curvature=0.012))
    return out


def _cursive(x0: float, baseline: float, letters: int, height: float, rng: np.random.Generator) -> tuple[list[tuple[float, float]], float]:
    """Control points of a cursive-looking word: loops with random ascenders."""
    pts: list[tuple[float, float]] = [(x0, baseline)]
    x = x0
    for _ in range(letters):
        adv = height * rng.uniform(0.45, 0.8)
        tall = height * (rng.uniform(1.4, 2.0) if rng.random() < 0.25 else rng.uniform(0.7, 1.0))
        kind = rng.random()
        if kind < 0.4:  # loop
            pts += [(x + adv * 0.6, baseline - tall), (x + adv * 0.2, baseline - tall * 0.8), (x + adv * 0.5, baseline)]
        elif kind < 0.8:  # hump
            pts += [(x + adv * 0.3, baseline - tall * 0.9), (x + adv * 0.7, baseline - tall * 0.9), (x + adv, baseline)]
        else:  # descender
            pts += [(x + adv * 0.4, baseline - tall * 0.6), (x + adv * 0.5, baseline + tall * 0.6), (x + adv, baseline)]
        x += adv
    return pts, x


def word_strokes(area: Rect, rng: np.random.Generator, *, words: int | None = None) -> list[Stroke]:
    """A handwritten-looking name (scribble words) somewhere in ``area``."""
    ax, ay, aw, ah = area
    height = rng.uniform(3.0, 5.0)
    n_words = int(words if words is not None else rng.integers(2, 4))
    lens = [int(rng.integers(2, 6)) for _ in range(n_words)]
    est = sum(lens) * height * 0.65 + n_words * height
    x = ax + rng.uniform(2.0, max(2.5, aw - est - 2.0))
    baseline = ay + rng.uniform(height * 2.2, max(height * 2.3, ah - height))
    slope = rng.normal(0, 0.03)
    out = []
    for n in lens:
        pts, x_end = _cursive(x, baseline, n, height, rng)
        pts = [(px, py + (px - ax) * slope) for px, py in pts]
        out.append(path_stroke(pts, rng, wobble_mm=0.1))
        if rng.random() < 0.4:  # a diacritic above the word
            dx = rng.uniform(x, x_end)
            out.append(path_stroke([(dx, baseline - height * 1.6), (dx + 0.8, baseline - height * 1.9)], rng))
        x = x_end + height * rng.uniform(0.8, 1.3)
    return out


def signature_strokes(area: Rect, rng: np.random.Generator) -> list[Stroke]:
    """A signature: a fast flourish of loops and an underline, inside ``area``."""
    ax, ay, aw, ah = area
    height = rng.uniform(5.0, 9.0)
    x = ax + rng.uniform(10.0, max(10.5, aw - 45.0))
    baseline = ay + rng.uniform(11.0, max(11.5, ah - 3.0))
    pts, x_end = _cursive(x, baseline, int(rng.integers(3, 7)), height, rng)
    strokes = [path_stroke(pts, rng, wobble_mm=0.15)]
    if rng.random() < 0.7:
        strokes.append(path_stroke([(x - 2.0, baseline + 1.5), (x_end + 4.0, baseline + rng.normal(0, 1.5))], rng, curvature=0.1))
    return strokes


# --- rasterisation -------------------------------------------------------------


def draw_strokes(
    img: np.ndarray, strokes: list[Stroke], pen: Pen, *, px_per_mm: float, rng: np.random.Generator
) -> None:
    """Composite ``strokes`` drawn with ``pen`` onto ``img`` in place.

    Parameters
    ----------
    img : (H, W, 3) uint8 BGR page, pixel (row, col) = (y_mm, x_mm) * ``px_per_mm``.
    strokes : strokes in page millimetres.
    """
    if not strokes:
        return
    allpts = np.vstack([s[0] for s in strokes]) * px_per_mm
    pad = pen.width_mm * px_per_mm + 3
    c0 = max(0, int(allpts[:, 0].min() - pad))
    r0 = max(0, int(allpts[:, 1].min() - pad))
    c1 = min(img.shape[1], int(allpts[:, 0].max() + pad) + 1)
    r1 = min(img.shape[0], int(allpts[:, 1].max() + pad) + 1)
    if c1 <= c0 or r1 <= r0:
        return
    ss = 4 if px_per_mm < 10 else 2  # supersampling
    shift = 3
    h, w = (r1 - r0) * ss, (c1 - c0) * ss
    alpha = np.zeros((h, w), np.float32)
    for pts, pressure in strokes:
        buf = np.zeros((h, w), np.float32)
        p = (pts * px_per_mm - np.array([c0, r0])) * ss
        seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
        radius = np.maximum(0.5, pen.width_mm * px_per_mm * ss / 2 * (0.55 + 0.45 * pressure))
        # resample so consecutive discs overlap
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        step = max(0.5, float(radius.min()) * 0.4)
        s_new = np.arange(0.0, cum[-1] + 1e-9, step) if cum[-1] > 0 else np.array([0.0])
        xs = np.interp(s_new, cum, p[:, 0])
        ys = np.interp(s_new, cum, p[:, 1])
        rs = np.interp(s_new, cum, radius)
        vs = np.interp(s_new, cum, 0.7 + 0.3 * pressure)
        scale = 1 << shift
        for xx, yy, rr, vv in zip(xs, ys, rs, vs, strict=True):
            cv2.circle(buf, (int(xx * scale), int(yy * scale)), int(rr * scale), float(vv), -1, cv2.LINE_8, shift)
        alpha = 1.0 - (1.0 - alpha) * (1.0 - buf)
    alpha = np.asarray(cv2.resize(alpha, (c1 - c0, r1 - r0), interpolation=cv2.INTER_AREA), np.float32)
    if pen.kind == "ballpoint":
        tex = 1.0 - 0.3 * np.abs(rng.standard_normal(alpha.shape)).astype(np.float32) * (rng.random(alpha.shape) < 0.15)
        alpha *= cv2.GaussianBlur(tex.astype(np.float32), (0, 0), 0.6)
    elif pen.kind == "pencil":
        grain = np.asarray(rng.random(alpha.shape) < 0.6, np.float32) * np.asarray(rng.uniform(0.5, 1.0, alpha.shape), np.float32)
        alpha *= grain
    elif pen.kind in ("gel", "marker"):
        alpha = _field_ink(alpha, pen, px_per_mm=px_per_mm, rng=rng)
    alpha *= pen.opacity
    roi = img[r0:r1, c0:c1].astype(np.float32)
    colour = np.array(pen.color_bgr, np.float32) / 255.0
    roi *= 1.0 - alpha[:, :, None] * (1.0 - colour[None, None, :])
    img[r0:r1, c0:c1] = np.clip(roi, 0, 255).astype(np.uint8)


def _field_ink(alpha: np.ndarray, pen: Pen, *, px_per_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Ink texture of the field pens on a coverage map ``alpha`` (h, w), float32 0..1.

    A gel pen lays a full, even line (coverage pushed up, no skips); a marker soaks
    into the paper (edges feathered by 0.15 mm) and runs unevenly (a low-frequency
    density of 0.75-1 over a few mm).
    """
    if pen.kind == "gel":
        return np.asarray(np.clip(alpha * 1.25, 0.0, 1.0), np.float32)
    feathered = np.asarray(cv2.GaussianBlur(alpha, (0, 0), max(0.5, 0.15 * px_per_mm)), np.float32)
    h, w = alpha.shape
    cells = (max(2, int(h / (3 * px_per_mm)) + 2), max(2, int(w / (3 * px_per_mm)) + 2))
    density = cv2.resize(rng.uniform(0.75, 1.0, cells).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.asarray(np.clip(np.maximum(alpha, feathered) * density, 0.0, 1.0), np.float32)
