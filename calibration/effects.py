"""What happens to a ballot after the voter: the hanging seal, folds, the scanner, the phone.

All functions take and return uint8 images, BGR (H, W, 3) unless said otherwise;
geometry arguments are in millimetres on the page, pixel (row, col) =
(y_mm, x_mm) * ``px_per_mm``. Randomness comes from ``rng`` only (OpenCV's own
generator is seeded from it where it is used for speed).

The last part holds the ``field`` profile's conditions, which no other profile
produces: a sheet that is not flat (:func:`sheet_bend`, :func:`bend_sheet`), a
phone lens with barrel distortion (:func:`lens_distortion`), a scanner's grey
border or dark background strip (:func:`scanner_edge`) and 1-bit thresholding
(:func:`bitonal`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def paper(grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn a grey raster of the printed page into BGR paper with toner (not pure white/black)."""
    red = rng.uniform(240, 253)
    green = red - rng.uniform(0, 3)
    tint = np.array([green - rng.uniform(0, 7), green, red])  # B, G, R: white to slightly warm
    toner = rng.uniform(18, 45)
    x = np.arange(256, dtype=np.float64) / 255.0
    lut = np.stack([np.clip(x * t + (1 - x) * toner, 0, 255) for t in tint], axis=-1).astype(np.uint8)
    return np.asarray(cv2.LUT(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), lut.reshape(256, 1, 3)))


def _seal_mask(text: str, diameter_mm: float, px_per_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Alpha mask (float32, 0..1) of a round seal: two rings, a text ring and a star."""
    scale = 10.0  # draw at 10 px/mm, then resize
    size = int(diameter_mm * scale) + 8
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    c = size / 2
    r = diameter_mm * scale / 2
    d.ellipse((c - r, c - r, c + r, c + r), outline=255, width=int(1.1 * scale))
    r_in = r - 7.0 * scale
    d.ellipse((c - r_in, c - r_in, c + r_in, c + r_in), outline=255, width=int(0.45 * scale))
    star_r = r_in * 0.45
    pts = []
    for k in range(10):
        a = -math.pi / 2 + k * math.pi / 5
        rr = star_r if k % 2 == 0 else star_r * 0.4
        pts.append((c + rr * math.cos(a), c + rr * math.sin(a)))
    d.polygon(pts, fill=255)
    font = _font(int(3.3 * scale))
    ring_text = (text.upper() + " ★ ") if text else "ỦY BAN NHÂN DÂN ★ "
    n = len(ring_text)
    r_text = r - 4.0 * scale
    for i, ch in enumerate(ring_text):
        if ch == " ":
            continue
        a = -math.pi + 2 * math.pi * i / n
        glyph = Image.new("L", (int(4.5 * scale), int(4.5 * scale)), 0)
        ImageDraw.Draw(glyph).text((glyph.width / 2, glyph.height / 2), ch, fill=255, font=font, anchor="mm")
        glyph = glyph.rotate(-math.degrees(a) - 90, resample=Image.Resampling.BILINEAR)
        gx = c + r_text * math.cos(a) - glyph.width / 2
        gy = c + r_text * math.sin(a) - glyph.height / 2
        img.paste(255, (int(gx), int(gy)), glyph)
    big = np.asarray(img, dtype=np.float32) / 255.0
    out = int(round(size / scale * px_per_mm))
    mask = cv2.resize(big, (out, out), interpolation=cv2.INTER_AREA)
    rot = cv2.getRotationMatrix2D((out / 2, out / 2), float(rng.uniform(0, 360)), 1.0)
    return cv2.warpAffine(mask, rot, (out, out))


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_BOLD, size)


def stamp_seal(img: np.ndarray, text: str, *, px_per_mm: float, rng: np.random.Generator) -> None:
    """Stamp the red hanging seal over the top-left corner, in place."""
    diameter = float(rng.uniform(36.0, 40.0))
    mask = _seal_mask(text, diameter, px_per_mm, rng)
    # uneven stamp ink: low-frequency density with a few voids
    lo = rng.random((8, 8)).astype(np.float32)
    density = cv2.resize(lo, mask.shape[::-1], interpolation=cv2.INTER_CUBIC)
    density = np.clip(0.55 + 0.45 * density, 0.3, 1.0)
    speck = (rng.random(mask.shape) > 0.12).astype(np.float32)
    alpha = mask * density * (0.6 + 0.4 * speck) * float(rng.uniform(0.6, 0.85))
    cx_mm, cy_mm = rng.uniform(22.0, 32.0), rng.uniform(18.0, 26.0)
    size = mask.shape[0]
    r0 = int(cy_mm * px_per_mm - size / 2)
    c0 = int(cx_mm * px_per_mm - size / 2)
    _composite(img, alpha, r0, c0, np.array([45.0, 35.0, 205.0]) + rng.normal(0, 8, 3))


def _composite(img: np.ndarray, alpha: np.ndarray, r0: int, c0: int, colour_bgr: np.ndarray) -> None:
    """Multiply ink of ``colour_bgr`` with coverage ``alpha`` into ``img`` at (r0, c0), clipped."""
    h, w = alpha.shape
    rr0, cc0 = max(0, r0), max(0, c0)
    rr1, cc1 = min(img.shape[0], r0 + h), min(img.shape[1], c0 + w)
    if rr1 <= rr0 or cc1 <= cc0:
        return
    a = alpha[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0, None]
    roi = img[rr0:rr1, cc0:cc1].astype(np.float32)
    col = np.clip(colour_bgr, 0, 255).astype(np.float32) / 255.0
    roi *= 1.0 - a * (1.0 - col[None, None, :])
    img[rr0:rr1, cc0:cc1] = np.clip(roi, 0, 255).astype(np.uint8)


def fold(img: np.ndarray, kind: str, *, px_per_mm: float, rng: np.random.Generator) -> None:
    """Crease lines (``"half"``: across the middle; ``"quarter"``: also down the middle), in place (:func:`crease`)."""
    h, w = img.shape[:2]
    lines = [("h", h / 2 + rng.normal(0, 3.0 * px_per_mm))]
    if kind == "quarter":
        lines.append(("v", w / 2 + rng.normal(0, 3.0 * px_per_mm)))
    for orient, pos in lines:
        crease(img, orient, pos, px_per_mm=px_per_mm, rng=rng)


def crease(img: np.ndarray, orient: str, pos: float, *, px_per_mm: float, rng: np.random.Generator,
           tilt: float = 0.0) -> None:
    """One crease across the image (``orient`` ``"h"``) or down it (``"v"``), through pixel ``pos``, in place.

    Its line leaves the image's axis by ``tilt`` (pixels across per pixel along: a sheet that lies skewed in
    the scan is creased along its own edges), and by a random slope of a few tenths of a degree.

    A crease is a thin darker line with a light edge beside it, and the paper on one
    side is shaded a little, as the flattened sheet does not lie quite flat.
    """
    h, w = img.shape[:2]
    length = w if orient == "h" else h
    n = np.arange(length, dtype=np.float32)
    slope = rng.normal(0.0, 0.004) + tilt
    centre = pos + slope * (n - length / 2)
    band = int(18 * px_per_mm)
    lo = int(max(0, centre.min() - band))
    hi = int(min(h if orient == "h" else w, centre.max() + band))
    off = np.arange(lo, hi, dtype=np.float32)[:, None] - centre[None, :]  # (band, length)
    line = np.exp(-(off / (0.18 * px_per_mm)) ** 2) * rng.uniform(0.12, 0.25)
    light = np.exp(-((off - 0.5 * px_per_mm) / (0.3 * px_per_mm)) ** 2) * 0.05
    side = 1.0 if rng.random() < 0.5 else -1.0
    shade = np.clip(side * off / (15 * px_per_mm), 0.0, 1.0)
    shade = np.where(side * off > 0, (1.0 - shade) * rng.uniform(0.03, 0.07), 0.0)
    factor = (1.0 - line - shade + light).astype(np.float32)
    if orient == "h":
        roi = img[lo:hi].astype(np.float32) * factor[:, :, None]
        img[lo:hi] = np.clip(roi, 0, 255).astype(np.uint8)
    else:
        roi = img[:, lo:hi].astype(np.float32) * factor.T[:, :, None]
        img[:, lo:hi] = np.clip(roi, 0, 255).astype(np.uint8)


def bleed_through(img: np.ndarray, back: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Show ``back`` (the other side, grey uint8 of the same size) mirrored and faint."""
    mirrored = cv2.flip(back, 1)
    mirrored = cv2.GaussianBlur(mirrored, (0, 0), 2.0)
    strength = float(rng.uniform(0.04, 0.1))
    factor = 1.0 - strength * (1.0 - mirrored.astype(np.float32) / 255.0)
    return np.clip(img.astype(np.float32) * factor[:, :, None], 0, 255).astype(np.uint8)


def scan_geometry(img: np.ndarray, *, skew_deg: float, rotation: int, px_per_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Feed the page through a scanner: a margin of scanner background, skew, then rotation."""
    margin = int(rng.uniform(1.0, 4.0) * px_per_mm)
    bg = int(rng.uniform(225, 250))
    out = cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=(bg, bg, bg))
    if abs(skew_deg) > 1e-6:
        h, w = out.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(skew_deg), 1.0)
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(bg, bg, bg))
    if rotation:
        out = np.ascontiguousarray(np.rot90(out, k=-(rotation // 90)))
    return out


def streak(img: np.ndarray, x_mm: float, *, px_per_mm: float, rng: np.random.Generator) -> None:
    """A thin dark vertical line over the whole image height at image column ``x_mm``, in place."""
    col = int(x_mm * px_per_mm)
    width = int(rng.integers(1, 4))
    lo, hi = max(0, col), min(img.shape[1], col + width)
    if hi > lo:
        dark = rng.uniform(0.35, 0.7)
        img[:, lo:hi] = (img[:, lo:hi].astype(np.float32) * dark).astype(np.uint8)


def sensor(img: np.ndarray, *, noise: float, blur: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of ``blur`` px and gaussian noise of std ``noise`` (0..255).

    The noise is mostly luminance (one field for all channels), as in scanners, and
    comes from OpenCV's generator seeded from ``rng`` (many times faster than numpy's).
    A float image (the light on a camera's sensor, :func:`phone_photo`) gets its noise before it is
    clipped to 0..255 and rounded to uint8, as a camera's sensor clips; a uint8 one is saturated as it goes.
    """
    out = img
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    if noise > 0:
        h, w = out.shape[:2]
        n = np.empty((h, w), np.float32)
        cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
        cv2.randn(n, 0.0, float(noise))  # type: ignore[call-overload]
        field_ = np.asarray(cv2.cvtColor(n, cv2.COLOR_GRAY2BGR)) if out.ndim == 3 else n
        out = cv2.add(out, field_, dtype=cv2.CV_8U if out.dtype == np.uint8 else cv2.CV_32F)
    if out.dtype != np.uint8:
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out


def colour_fringes(img: np.ndarray, shift_px: float) -> np.ndarray:
    """A contact-image scanner's colour fringes on a BGR scan: its red, green and blue lamps light each line
    in turn while the sheet moves, so the red plane lies ``shift_px`` down the feed and the blue one as far
    up (sub-pixel, interpolated); every dark edge across the feed gets a coloured rim."""
    out = img.copy()
    for channel, dy in ((2, shift_px), (0, -shift_px)):
        out[:, :, channel] = cv2.warpAffine(img[:, :, channel], np.array([[1, 0, 0], [0, 1, dy]], np.float32),
                                            (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_REPLICATE)
    return out


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG compression artefacts, in memory."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 images
        raise RuntimeError("JPEG encoding failed")
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))


def phone_photo(page: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A phone photo of ``page`` lying on a desk: perspective, background, uneven light, shadow.

    Returns a 4000 x 3000 (portrait) or 3000 x 4000 (landscape) BGR float32 image in which the
    page's long side spans 60-85 % of the frame's long side: the light on the sensor, which may exceed 255
    where the photo is overexposed; :func:`sensor` adds the sensor's noise to it and then clips, so an
    overexposed paper comes out flat 255, as a camera's does (clipping first, then adding noise, made it 253
    with the noise's grain, like a scan's unclipped paper, until 2026-11-24).
    """
    landscape = rng.random() < 0.3
    fh, fw = (3000, 4000) if landscape else (4000, 3000)
    ph, pw = page.shape[:2]
    fill = rng.uniform(0.6, 0.85)
    long_side = fill * max(fh, fw)
    short_side = long_side * pw / ph
    cx, cy = fw / 2 + rng.normal(0, 0.04 * fw), fh / 2 + rng.normal(0, 0.04 * fh)
    if landscape:  # page lies sideways: its long side along the frame width
        hw, hh = long_side / 2, short_side / 2
        quad = [(cx - hw, cy + hh), (cx - hw, cy - hh), (cx + hw, cy - hh), (cx + hw, cy + hh)]
    else:
        hw, hh = short_side / 2, long_side / 2
        quad = [(cx - hw, cy - hh), (cx + hw, cy - hh), (cx + hw, cy + hh), (cx - hw, cy + hh)]
    jit = 0.05 * long_side
    dst = np.array([(x + rng.uniform(-jit, jit), y + rng.uniform(-jit, jit)) for x, y in quad], np.float32)
    # keep the whole page in the picture, with a small margin
    margin = 0.02 * min(fw, fh)
    lo_xy = dst.min(axis=0)
    hi_xy = dst.max(axis=0)
    span = hi_xy - lo_xy
    shrink = min(1.0, (fw - 2 * margin) / span[0], (fh - 2 * margin) / span[1])
    centre = (lo_xy + hi_xy) / 2
    dst = (dst - centre) * shrink + centre
    dst += np.maximum(0.0, margin - dst.min(axis=0)) - np.maximum(0.0, dst.max(axis=0) - (np.array([fw, fh]) - margin))
    dst = dst.astype(np.float32)
    # keep the camera a little tilted: one edge shorter than the opposite one
    src = np.array([(0, 0), (pw, 0), (pw, ph), (0, ph)], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    base = np.array([rng.uniform(60, 140), rng.uniform(80, 160), rng.uniform(100, 190)], np.float32)
    lo = cv2.resize(rng.random((6, 8)).astype(np.float32), (fw, fh), interpolation=cv2.INTER_CUBIC)
    bg = np.clip(base[None, None, :] * (0.75 + 0.5 * lo[:, :, None]), 0, 255).astype(np.uint8)
    photo = cv2.warpPerspective(page, m, (fw, fh), dst=bg, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT)
    # uneven light: a linear gradient and a soft vignette
    yy, xx = np.mgrid[0:fh:8, 0:fw:8].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    grad = (xx / fw - 0.5) * math.cos(ang) + (yy / fh - 0.5) * math.sin(ang)
    r2 = ((xx / fw - 0.5) ** 2 + (yy / fh - 0.5) ** 2) * 2
    light = 1.0 + grad * rng.uniform(0.25, 0.5) - r2 * rng.uniform(0.1, 0.25)
    # a soft shadow (the phone or a hand) over one side of the picture
    shadow = np.zeros_like(light)
    gh, gw = light.shape
    poly = np.array(
        [(0, 0), (rng.uniform(0.2, 0.45) * gw, 0), (rng.uniform(0.05, 0.25) * gw, rng.uniform(0.3, 0.6) * gh),
         (0, rng.uniform(0.4, 0.7) * gh)],
        np.float64,
    )
    if rng.random() < 0.5:
        poly[:, 0] = gw - 1 - poly[:, 0]
    if rng.random() < 0.5:
        poly[:, 1] = gh - 1 - poly[:, 1]
    poly = poly.astype(np.int32)
    cv2.fillPoly(shadow, [poly], 1.0)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 25)
    light *= 1.0 - shadow * rng.uniform(0.3, 0.5)
    light = cv2.resize(light.astype(np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
    warm = np.array([rng.uniform(0.88, 0.97), rng.uniform(0.95, 1.0), 1.0], np.float32)
    # the light the sensor sees, not yet clipped: :func:`sensor` adds its noise and then clips, as a camera does
    return np.asarray(photo.astype(np.float32) * light[:, :, None] * warm[None, None, :], np.float32)


# --- field conditions (the ``field`` profile only) -----------------------------

SHEET_BENDS = ("fold_bulge", "edge_curl")
SCANNER_EDGES = ("grey_border", "dark_strip")
BITONAL_METHODS = ("fixed", "adaptive")


@dataclass(frozen=True)
class SheetBend:
    """A smooth displacement of the sheet in its own plane, before the camera sees it.

    Attributes
    ----------
    dy_mm, dx_mm : (H, W) float32 displacement in mm of the page point at pixel
        (row, col): the ink drawn there is seen at pixel
        (row + dy_mm * px_per_mm, col + dx_mm * px_per_mm).
    height : (H, W) float32 in 0..1, how far the sheet is lifted (1 at the peak).
    shade : darkening of the lifted paper at ``height`` 1 (0.03-0.1).
    """

    dy_mm: np.ndarray
    dx_mm: np.ndarray
    height: np.ndarray
    shade: float

    def magnitude_mm(self) -> np.ndarray:
        """(H, W) length of the displacement in mm; never above the amplitude asked for."""
        return np.asarray(np.hypot(self.dy_mm, self.dx_mm))


def _coarse_grid(shape: tuple[int, int], px_per_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Page coordinates in mm, y and x, each (h, w), on a grid of about 1 mm over an image of ``shape``."""
    h, w = shape
    gh, gw = max(2, int(h / px_per_mm) + 1), max(2, int(w / px_per_mm) + 1)
    y = np.linspace(0.0, h / px_per_mm, gh, dtype=np.float32)
    x = np.linspace(0.0, w / px_per_mm, gw, dtype=np.float32)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    return yy, xx


def sheet_bend(
    shape: tuple[int, int], *, kind: str, amplitude_mm: float, px_per_mm: float, rng: np.random.Generator
) -> SheetBend:
    """How a sheet that is not flat moves under the camera: a bulge along a fold or a curled edge.

    Parameters
    ----------
    shape : (H, W) of the page image.
    kind : ``"fold_bulge"``: the sheet was folded in half and bulges along the
        horizontal middle (a ridge about 25-40 mm wide whose height varies along the
        fold); ``"edge_curl"``: one edge, chosen at random, curls up, the lift rising
        quadratically over its last 20-50 mm.
    amplitude_mm : the largest displacement on the page, mm (1.5-3 in the profile).
    px_per_mm : page resolution.
    rng : the only source of randomness.

    Returns
    -------
    SheetBend
        The displacement is ``amplitude_mm * height * v`` with ``|v| = 1``: smooth,
        zero away from the bend, never longer than ``amplitude_mm``, and not a
        projective map (a straight line across the bend comes out curved).
    """
    if kind not in SHEET_BENDS:
        raise ValueError(f"unknown sheet bend {kind!r}; use one of {', '.join(SHEET_BENDS)}")
    yy, xx = _coarse_grid(shape, px_per_mm)
    page_h, page_w = shape[0] / px_per_mm, shape[1] / px_per_mm
    view = rng.uniform(0, 2 * np.pi)  # the camera's side: a lifted point moves away from it
    if kind == "fold_bulge":
        fold_y = page_h / 2 + rng.normal(0.0, 3.0)
        sigma = rng.uniform(25.0, 40.0)
        along = 0.75 + 0.25 * np.sin(2 * np.pi * xx / page_w * rng.uniform(0.5, 1.5) + rng.uniform(0, 2 * np.pi))
        height = np.exp(-(((yy - fold_y) / sigma) ** 2)) * along
        inward = np.zeros((2,), np.float32)
    else:
        side = int(rng.integers(0, 4))  # top, right, bottom, left
        band = rng.uniform(20.0, 50.0)
        dist = (yy, page_w - xx, page_h - yy, xx)[side]
        height = np.clip((band - dist) / band, 0.0, 1.0) ** 2
        inward = np.array([(1, 0), (0, -1), (-1, 0), (0, 1)][side], np.float32)  # (dy, dx) towards the page
    direction = 0.7 * inward + np.array([math.sin(view), math.cos(view)], np.float32) * (0.3 if inward.any() else 1.0)
    direction /= float(np.linalg.norm(direction)) + 1e-9
    full = (shape[1], shape[0])
    height_px = np.clip(cv2.resize(height.astype(np.float32), full, interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    shade = float(rng.uniform(0.03, 0.1))
    return SheetBend(
        dy_mm=(amplitude_mm * direction[0] * height_px).astype(np.float32),
        dx_mm=(amplitude_mm * direction[1] * height_px).astype(np.float32),
        height=height_px,
        shade=shade,
    )


def bend_sheet(img: np.ndarray, bend: SheetBend, *, px_per_mm: float) -> np.ndarray:
    """Move the page's ink by ``bend`` and shade the lifted paper.

    Parameters
    ----------
    img : (H, W, 3) uint8 BGR page, the shape ``bend`` was made for.

    Returns
    -------
    numpy.ndarray
        (H, W, 3) uint8: pixel (row, col) shows the page at (row, col) - (dy, dx) * px_per_mm
        (the displacement is smooth and small, so this inverts it to well under a pixel).
    """
    h, w = img.shape[:2]
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = cols - bend.dx_mm * px_per_mm
    map_y = rows - bend.dy_mm * px_per_mm
    out = cv2.remap(img, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    light = 1.0 - bend.shade * bend.height
    return np.clip(out.astype(np.float32) * light[:, :, None], 0, 255).astype(np.uint8)


def lens_distortion(img: np.ndarray, *, k1: float) -> np.ndarray:
    """Radial lens distortion of a photo: ``r_d = r_u * (1 + k1 * r_u**2)``.

    ``r`` is the distance from the frame centre divided by half the frame diagonal
    (1 at the corners); ``k1 < 0`` is barrel distortion (straight lines bow outwards,
    the corners move in by ``|k1|`` of the half-diagonal).

    Parameters
    ----------
    img : (H, W, 3) or (H, W) uint8 photo.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype; the frame's edges are filled by reflection.
    """
    h, w = img.shape[:2]
    step = 8  # the displacement is smooth: compute it on a coarse grid of cell centres
    gh, gw = -(-h // step), -(-w // step)
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float64) * step + (step - 1) / 2  # cv2.resize's sample points
    cy, cx = (h - 1) / 2, (w - 1) / 2
    half_diag = math.hypot(h, w) / 2
    yd, xd = (gy - cy) / half_diag, (gx - cx) / half_diag
    rd = np.hypot(yd, xd)
    ru = rd.copy()
    for _ in range(8):  # invert r_d = r_u (1 + k1 r_u^2) by fixed-point iteration
        ru = rd / (1.0 + k1 * ru**2)
    gain = np.where(rd > 0, ru / np.maximum(rd, 1e-12), 1.0) - 1.0  # source = centre + (1 + gain) * offset
    # bilinear resizing is exact for the linear part of the map; only the outermost
    # half cell (background) is clamped
    size = (gw * step, gh * step)
    map_y = cv2.resize((gy + yd * gain * half_diag).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)[:h, :w].copy()
    map_x = cv2.resize((gx + xd * gain * half_diag).astype(np.float32), size, interpolation=cv2.INTER_LINEAR)[:h, :w].copy()
    return np.asarray(cv2.remap(img, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))


def scanner_edge(img: np.ndarray, kind: str, *, px_per_mm: float, rng: np.random.Generator) -> np.ndarray:
    """What a multifunction scanner adds at the edges of the scan.

    Parameters
    ----------
    img : (H, W, 3) uint8 BGR scan (after :func:`scan_geometry`).
    kind : ``"grey_border"``: all four edges darken smoothly (by 15-35 % at the edge,
        fading over 2-5 mm), as a lid that does not press the sheet flat;
        ``"dark_strip"``: a strip of dark scanner background (grey 25-80, 4-14 mm wide)
        along one edge, outside the paper, with the paper's soft shadow beside it.

    Returns
    -------
    numpy.ndarray
        BGR uint8; ``grey_border`` keeps the shape, ``dark_strip`` adds the strip's
        rows or columns on its side.
    """
    if kind not in SCANNER_EDGES:
        raise ValueError(f"unknown scanner edge {kind!r}; use one of {', '.join(SCANNER_EDGES)}")
    if kind == "grey_border":
        h, w = img.shape[:2]
        sigma = rng.uniform(2.0, 5.0) * px_per_mm
        depth = rng.uniform(0.15, 0.35)
        ry = np.minimum(np.arange(h), np.arange(h)[::-1]).astype(np.float32)
        rx = np.minimum(np.arange(w), np.arange(w)[::-1]).astype(np.float32)
        edge = np.minimum(ry[:, None], rx[None, :])
        factor = 1.0 - depth * np.exp(-edge / sigma)
        return np.clip(img.astype(np.float32) * factor[:, :, None], 0, 255).astype(np.uint8)
    side = int(rng.integers(0, 4))  # top, right, bottom, left
    width = int(rng.uniform(4.0, 14.0) * px_per_mm)
    level = rng.uniform(25.0, 80.0)
    shadow_depth, shadow_mm = rng.uniform(0.15, 0.35), rng.uniform(1.0, 2.5)
    turned = np.ascontiguousarray(np.rot90(img, k=side))  # the strip's side on top
    h, w = turned.shape[:2]
    dist = np.arange(h, dtype=np.float32)[:, None, None]
    paper_ = turned.astype(np.float32) * (1.0 - shadow_depth * np.exp(-dist / (shadow_mm * px_per_mm)))
    strip = np.full((width, w, 3), level, np.float32)
    strip *= 0.85 + 0.3 * cv2.resize(rng.random((2, 16)).astype(np.float32), (w, width))[:, :, None]
    out = np.clip(np.vstack([strip, paper_]), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.rot90(out, k=-side))


def bitonal(grey: np.ndarray, *, method: str, threshold: float, px_per_mm: float) -> np.ndarray:
    """Threshold a grey scan to black and white, as a scanner's 1-bit mode does.

    Parameters
    ----------
    grey : (H, W) uint8.
    method : ``"fixed"``: black where grey < ``threshold`` * 255; ``"adaptive"``:
        black where grey < ``threshold`` * the local paper level (the brightest grey
        within 5 mm, averaged over 20 mm), so shading does not turn black.
    threshold : fraction, 0 < threshold < 1.

    Returns
    -------
    numpy.ndarray
        (H, W) uint8 holding only 0 and 255. Faint pencil lighter than the threshold
        vanishes; grainy pencil near it turns to speckle.
    """
    if method not in BITONAL_METHODS:
        raise ValueError(f"unknown bitonal method {method!r}; use one of {', '.join(BITONAL_METHODS)}")
    if method == "fixed":
        level = np.full(grey.shape, threshold * 255.0, np.float32)
    else:
        k = max(3, int(5 * px_per_mm) | 1)
        paper_level = cv2.dilate(grey, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
        box = max(3, int(20 * px_per_mm))
        level = np.asarray(cv2.blur(paper_level.astype(np.float32), (box, box)) * np.float32(threshold), np.float32)
    return np.where(grey.astype(np.float32) < level, 0, 255).astype(np.uint8)
