"""Robustness benchmark: what other scanners, files and cameras do to pages the simulator made.

Takes a deck that ``bench/accuracy.py`` made (``--deck DIR/<profile>``: its ``printed/``
workspace, ``scans/`` and ``truth.json``) and turns ``--pages`` of its single-page ballot
scans into each variant below, each variant on pages of its own (so no token is seen
twice). The variants are things the simulator does not draw: files as other scanners and
phones write them (rotations, a PDF that draws its image flipped or rotated, EXIF
orientation, CMYK, 16-bit, palette, WebP, HEIC, a Letter-size cut, a dark border, a
ballot small in a photo), what printers and hands do to the sheet (printed "fit to page"
or off centre, a sticker over a marker, crumpled, folded in thirds or in eighths), and what light, lens and paper do to
the image (a dark, washed or auto-enhanced scan, gamma, tinted paper, a shadow, a lamp's glare, a steep
photo, motion blur, defocus, noise, a contact-image scanner's colour fringes, a sheet that is not flat).
The variants are scanned into a fresh copy of the deck's printed workspace and scored
against the deck's truth, variant by variant.

A page the scanner cannot read is fine here as long as it says so (a Letter-size cut is
``markers_missing``, a QR code blurred past reading is ``qr_unreadable``): what must not
happen is a silent error. Exit status: 0 without silent errors, 1 with any, 2 for bad
arguments.

Example::

    .venv/bin/python bench/accuracy.py --profile adf --voters 300 --seed 2 --jobs 2 --out /tmp/bx/acc300/adf
    .venv/bin/python bench/robustness.py --deck /tmp/bx/acc300/adf/adf --pages 12 --jobs 2 --out /tmp/bx/robust
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from _checkout import use_this_checkout  # bench/ is the script's folder: always importable
from PIL import Image

ROOT = use_this_checkout()  # this checkout's code, in the worker processes too

from calibration.effects import colour_fringes, crease  # noqa: E402
from calibration.evaluate import evaluate  # noqa: E402
from calibration.truth import PageTruth, load_truth  # noqa: E402
from kiemphieu import db  # noqa: E402
from kiemphieu.session import open_workspace  # noqa: E402
from scanner import scan_folder  # noqa: E402

Make = Callable[[np.ndarray, float, Mapping[str, Any]], bytes]  # (BGR scan, its pixels per mm, its scan record) -> file bytes


def _png(img: np.ndarray) -> bytes:
    return bytes(cv2.imencode(".png", img)[1].tobytes())


def _jpeg(img: np.ndarray, quality: int = 92) -> bytes:
    return bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())


def _pil_bytes(img: np.ndarray, fmt: str, mode: str | None = None, **options: object) -> bytes:
    im = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    if mode is not None:
        im = im.convert(mode)
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def _pdf(img: np.ndarray, matrix: str, *, rotate: int = 0, landscape: bool = False) -> bytes:
    """A one-page A4 PDF holding ``img`` as one JPEG drawn with the placement ``matrix`` (``a b c d e f``)."""
    import pikepdf

    h, w = img.shape[:2]
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, _jpeg(img[:, :, ::-1].copy()), Type=pikepdf.Name.XObject,
                           Subtype=pikepdf.Name.Image, Width=w, Height=h, ColorSpace=pikepdf.Name.DeviceRGB,
                           BitsPerComponent=8, Filter=pikepdf.Name.DCTDecode)
    page = pikepdf.Dictionary(Type=pikepdf.Name.Page, MediaBox=[0, 0, 842, 595] if landscape else [0, 0, 595, 842],
                              Contents=pikepdf.Stream(pdf, f"q {matrix} cm /Im0 Do Q".encode()),
                              Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)))
    if rotate:
        page.Rotate = rotate
    pdf.pages.append(pikepdf.Page(page))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _heic(img: np.ndarray) -> bytes:
    """A HEIC photo; one over 30 megapixels (a 600-dpi page) is scaled down first: a single HEVC picture
    stops at 35.7 megapixels, and libheif's encoder writes a bigger one that no decoder reads (a phone
    tiles a big photo instead)."""
    from scanner.sources import _register_heif

    _register_heif()
    h, w = img.shape[:2]
    if h * w > 30_000_000:
        img = _scaled(img, float(np.sqrt(30_000_000 / (h * w))))
    return _pil_bytes(img, "HEIF", quality=80)


def _exif_rotated(img: np.ndarray) -> bytes:
    """Pixels stored a quarter turn off, with the EXIF orientation tag (6) that turns them back."""
    im = Image.fromarray(cv2.cvtColor(cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE), cv2.COLOR_BGR2RGB))
    exif = im.getexif()
    exif[0x0112] = 6
    out = io.BytesIO()
    im.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def _blurred(img: np.ndarray, length: int, *, vertical: bool) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    if vertical:
        kernel[:, length // 2] = 1.0
    else:
        kernel[length // 2, :] = 1.0
    return np.asarray(cv2.filter2D(img, -1, kernel / length))


def _shadow(img: np.ndarray) -> np.ndarray:
    """A soft diagonal shadow over a third of the sheet, 45 % darker at its core."""
    h, w = img.shape[:2]
    x, y = np.linspace(-1, 1, w)[None, :], np.linspace(-1, 1, h)[:, None]
    light = 1 - 0.45 / (1 + np.exp(-(x + 0.5 * y) * 12))
    return np.clip(img * light[..., None], 0, 255).astype(np.uint8)


def _not_flat(img: np.ndarray, px_per_mm: float, amplitude_mm: float) -> np.ndarray:
    """A sheet that does not lie flat: a smooth random displacement, ``amplitude_mm`` at most on each axis."""
    h, w = img.shape[:2]
    rng = np.random.default_rng([h, w, int(amplitude_mm * 10)])
    fields = []
    for _ in range(2):
        f = cv2.resize(rng.normal(0, 1, (4, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        fields.append(f * (amplitude_mm * px_per_mm / max(1e-6, float(np.abs(f).max()))))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.asarray(cv2.remap(img, gx + fields[0], gy + fields[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def _in_frame(img: np.ndarray) -> np.ndarray:
    """The ballot at half size in the middle of a grey photo of the same size."""
    h, w = img.shape[:2]
    small = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w, 3), 90, np.uint8)
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return canvas


def _salt_and_pepper(img: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(img.shape[0])
    out = img.copy()
    u = rng.random(img.shape[:2])
    out[u < 0.003] = 0
    out[u > 0.997] = 255
    return out


def _bordered(img: np.ndarray, px: int) -> np.ndarray:
    """The scanner's dark lid around the sheet, ``px`` wide on every side."""
    return np.asarray(cv2.copyMakeBorder(img, px, px, px, px, cv2.BORDER_CONSTANT, value=(20, 20, 20)))


def _paper(img: np.ndarray) -> tuple[float, ...]:
    """The scan's paper colour: the median of a strip along the top edge, between the markers."""
    k = img.shape[1] / 210.0
    return tuple(float(v) for v in np.median(img[: round(3 * k), round(40 * k) : round(90 * k)].reshape(-1, 3), axis=0))


def _printed_moved(img: np.ndarray, px_per_mm: float, matrix_mm: np.ndarray) -> np.ndarray:
    """The sheet as a printer that moves its content prints it: ``matrix_mm`` (2 x 3, page mm to page mm)
    applied to the scan's content, paper where nothing lands."""
    to_px = np.diag([px_per_mm, px_per_mm, 1.0])
    move = to_px @ np.vstack([matrix_mm, [0.0, 0.0, 1.0]]) @ np.linalg.inv(to_px)
    return np.asarray(cv2.warpAffine(img, move[:2], img.shape[1::-1], flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=_paper(img)))


def _fit_to_page(img: np.ndarray, px_per_mm: float, factor: float) -> np.ndarray:
    """Printed with "fit to printable area": the content shrunk about the page's centre."""
    return _printed_moved(img, px_per_mm, np.array([[factor, 0, 105 * (1 - factor)], [0, factor, 148.5 * (1 - factor)]]))


def _sticker(img: np.ndarray, px_per_mm: float) -> np.ndarray:
    """A yellow sticky note over the bottom-right corner, hiding its alignment marker (a torn corner or a staple
    does the same): three markers are left."""
    out = img.copy()
    out[round(270 * px_per_mm) :, round(180 * px_per_mm) :] = (120, 230, 250)
    return out


def _glare(img: np.ndarray, px_per_mm: float) -> np.ndarray:
    """A lamp's glare on a photo: a bright oval over the upper boxes, the ink under its core 85 % washed out."""
    h, w = img.shape[:2]
    y, x = np.ogrid[0:h, 0:w]
    r = 22 * px_per_mm
    core = np.exp(-((x - 150 * px_per_mm) ** 2 + ((y - 110 * px_per_mm) / 0.7) ** 2) / (2 * r * r)).astype(np.float32)
    lit = img + (255 - img.astype(np.float32)) * (0.85 * core)[..., None] + 60 * core[..., None]
    return np.clip(lit, 0, 255).astype(np.uint8)


def _steep_photo(img: np.ndarray) -> np.ndarray:
    """A photo taken at a steep angle from the foot of the sheet: its top little more than half as wide as its
    bottom, on a dark table, at 60 % of the scan's resolution."""
    h, w = img.shape[:2]
    big_h, big_w = int(h * 1.3), int(w * 1.5)
    corners = np.float32([[big_w * 0.3, big_h * 0.1], [big_w * 0.7, big_h * 0.1], [big_w * 0.85, big_h * 0.9],
                          [big_w * 0.15, big_h * 0.9]])
    warp = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), corners)
    photo = cv2.warpPerspective(img, warp, (big_w, big_h), borderValue=(60, 70, 80))
    return _scaled(photo, 0.6)


def _crumpled(img: np.ndarray, px_per_mm: float) -> np.ndarray:
    """A sheet crumpled and smoothed out again: 14 creases at random angles (a thin dark line, a shade on one
    side), on a sheet 1.5 mm off flat."""
    h, w = img.shape[:2]
    rng = np.random.default_rng([h, w])
    y, x = np.mgrid[0:h:4, 0:w:4].astype(np.float32)
    light = np.ones_like(x)
    for _ in range(14):
        x0, y0, angle = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, np.pi)
        across = (x - x0) * np.sin(angle) - (y - y0) * np.cos(angle)
        light *= (1 - 0.12 * np.exp(-np.abs(across) / (1.2 * px_per_mm)) * (across > 0)
                  - 0.05 * np.exp(-np.abs(across) / (0.3 * px_per_mm)))
    bent = _not_flat(img, px_per_mm, 1.5)
    return np.clip(bent * cv2.resize(light, (w, h))[..., None], 0, 255).astype(np.uint8)


def _folded(img: np.ndarray, px_per_mm: float, sheet: Mapping[str, Any], across: tuple[float, ...],
            down: tuple[float, ...] = ()) -> np.ndarray:
    """A sheet folded to go into the ballot box and flattened again: creases across the sheet at the shares
    ``across`` of its height and down it at ``down`` of its width, each within 3 mm of its place, along the
    sheet's own edges as it lies in the scan (``sheet``: the truth's scan record, its skew and quarter turns).
    The simulator folds in half or in quarters only, at the middle. The shares are symmetric, so a sheet fed
    upside down is creased at the same places."""
    h, w = img.shape[:2]
    rng = np.random.default_rng([h, w, len(across), len(down)])
    tan = float(np.tan(np.radians(sheet.get("skew_deg", 0.0))))
    turned = sheet.get("rotation", 0) in (90, 270)  # the sheet lies across the image: its height is the image's width
    out = img.copy()
    for shares, sheet_across in ((across, True), (down, False)):
        image_across = sheet_across != turned
        for share in shares:
            pos = share * (h if image_across else w) + rng.normal(0, 3.0 * px_per_mm)
            crease(out, "h" if image_across else "v", pos, px_per_mm=px_per_mm, rng=rng,
                   tilt=-tan if image_across else tan)
    return out


def _scaled(img: np.ndarray, factor: float) -> np.ndarray:
    return np.asarray(cv2.resize(img, None, fx=factor, fy=factor,
                                 interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC))


#: name -> (file extension, maker); each maker takes a BGR scan, its pixels per mm and its scan record
#: (the truth's: dpi, skew, quarter turns), which only a change to the sheet itself needs
VARIANTS: dict[str, tuple[str, Make]] = {
    # files as other scanners and phones write them
    "rotated-90": ("png", lambda a, k, _: _png(cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE))),
    "rotated-270": ("png", lambda a, k, _: _png(cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE))),
    "exif-rotated": ("jpg", lambda a, k, _: _exif_rotated(a)),
    "pdf-flipped": ("pdf", lambda a, k, _: _pdf(a[::-1].copy(), "595 0 0 -842 0 842")),
    "pdf-rotate-90": ("pdf", lambda a, k, _: _pdf(cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE), "842 0 0 595 0 0",
                                               rotate=90, landscape=True)),
    "cmyk-jpeg": ("jpg", lambda a, k, _: _pil_bytes(a, "JPEG", "CMYK", quality=92)),
    "png-16-bit": ("png", lambda a, k, _: _png(a.astype(np.uint16) * 257)),
    "png-palette": ("png", lambda a, k, _: _pil_bytes(a, "PNG", "P", palette=Image.Palette.ADAPTIVE, colors=64)),
    "progressive-jpeg": ("jpg", lambda a, k, _: _pil_bytes(a, "JPEG", quality=85, progressive=True)),
    "tiff-jpeg": ("tif", lambda a, k, _: _pil_bytes(a, "TIFF", compression="jpeg")),
    "webp": ("webp", lambda a, k, _: bytes(cv2.imencode(".webp", a, [cv2.IMWRITE_WEBP_QUALITY, 90])[1].tobytes())),
    "heic": ("heic", lambda a, k, _: _heic(a)),
    "jpeg-q25": ("jpg", lambda a, k, _: _jpeg(a, 25)),
    "100-dpi": ("png", lambda a, k, _: _png(_scaled(a, 100 / 25.4 / k))),
    "600-dpi": ("jpg", lambda a, k, _: _jpeg(_scaled(a, 600 / 25.4 / k))),
    "dark-border": ("png", lambda a, k, _: _png(_bordered(a, round(15 * k)))),
    "small-in-photo": ("jpg", lambda a, k, _: _jpeg(_in_frame(a))),
    "letter-cut": ("png", lambda a, k, _: _png(a[: round(279.4 * k)])),
    # the sheet as printed and handled
    "print-fit-to-page": ("png", lambda a, k, _: _png(_fit_to_page(a, k, 0.94))),
    "print-offset": ("png", lambda a, k, _: _png(_printed_moved(a, k, np.array([[1.0, 0, 4.0], [0, 0.985, 3.0]])))),
    "sticker-on-marker": ("png", lambda a, k, _: _png(_sticker(a, k))),
    "crumpled": ("jpg", lambda a, k, _: _jpeg(_crumpled(a, k))),
    # light, lens and paper
    "dark": ("png", lambda a, k, _: _png((a * 0.7).astype(np.uint8))),
    "auto-enhanced": ("jpg", lambda a, k, _: _jpeg(np.clip((a.astype(np.float32) - 60) * (255 / 155), 0, 255)
                                                .astype(np.uint8))),
    "gamma-2.2": ("png", lambda a, k, _: _png((255 * (a / 255.0) ** 2.2).astype(np.uint8))),
    "washed-out": ("png", lambda a, k, _: _png((255 - (255 - a.astype(np.float32)) * 0.45).astype(np.uint8))),
    "yellow-paper": ("png", lambda a, k, _: _png(np.clip(a * np.array([0.78, 0.97, 1.0]), 0, 255).astype(np.uint8))),
    "pink-paper": ("png", lambda a, k, _: _png(np.clip(a * np.array([0.92, 0.84, 1.0]), 0, 255).astype(np.uint8))),
    # a photo in warm light, overexposed: red and green pinned at 255 on the paper, blue not
    "overexposed-warm": ("jpg", lambda a, k, _: _jpeg(np.clip(a * np.array([0.97, 1.12, 1.25]), 0, 255).astype(np.uint8))),
    "shadow": ("jpg", lambda a, k, _: _jpeg(_shadow(a))),
    "glare": ("jpg", lambda a, k, _: _jpeg(_glare(a, k))),
    "steep-photo": ("jpg", lambda a, k, _: _jpeg(_steep_photo(a))),
    "motion-0.6mm": ("png", lambda a, k, _: _png(_blurred(a, max(3, round(0.6 * k) | 1), vertical=False))),
    "motion-0.9mm": ("png", lambda a, k, _: _png(_blurred(a, max(3, round(0.9 * k) | 1), vertical=True))),
    "defocus": ("jpg", lambda a, k, _: _jpeg(cv2.GaussianBlur(a, (0, 0), 0.25 * k))),
    "colour-fringes": ("jpg", lambda a, k, _: _jpeg(colour_fringes(a, 0.5))),
    "colour-fringes-1px": ("png", lambda a, k, _: _png(colour_fringes(a, 1.0))),
    "salt-and-pepper": ("png", lambda a, k, _: _png(_salt_and_pepper(a))),
    "not-flat-1mm": ("png", lambda a, k, _: _png(_not_flat(a, k, 1.0))),
    "not-flat-2mm": ("png", lambda a, k, _: _png(_not_flat(a, k, 2.0))),
    "phone-low-res": ("jpg", lambda a, k, _: _jpeg(_scaled(a, 0.3), 60)),
    # added later, last, so that every variant above keeps its pages: the sheet folded into the ballot box
    "folded-thirds": ("jpg", lambda a, k, sheet: _jpeg(_folded(a, k, sheet, (1 / 3, 2 / 3)))),  # a letter fold
    "folded-eighths": ("jpg", lambda a, k, sheet: _jpeg(_folded(a, k, sheet, (1 / 4, 1 / 2, 3 / 4), (1 / 2,)))),  # halved 3 times
}


def _sources(truth_pages: tuple[PageTruth, ...]) -> list[PageTruth]:
    """Single-page ballot scans (PNG or JPEG) of the deck, not photos: each variant starts from a flat scan."""
    return [p for p in truth_pages if p.kind == "ballot" and p.source.endswith((".png", ".jpg"))
            and not p.scan.get("phone")]


def run(deck: Path, out: Path, *, pages: int, jobs: int, names: list[str]) -> int:
    truth = load_truth(deck / "truth.json")
    sources = iter(_sources(truth.pages))
    if out.exists():
        shutil.rmtree(out)
    scans = out / "scans"
    scans.mkdir(parents=True)
    shutil.copytree(deck / "printed", out / "run")
    made: dict[str, list[PageTruth]] = {}
    for name in names:
        ext, make = VARIANTS[name]
        for k in range(pages):
            src = next(sources, None)
            if src is None:
                raise SystemExit(f"the deck has too few flat single-page scans for {len(names)} x {pages} pages")
            img = cv2.imread(str(deck / "scans" / src.source), cv2.IMREAD_COLOR)
            if img is None:
                raise SystemExit(f"cannot read {src.source} of the deck")
            px_per_mm = float(src.scan["dpi"]) / 25.4
            target = f"{name}-{k:02d}.{ext}"
            (scans / target).write_bytes(make(img, px_per_mm, src.scan))
            # the variant is the front alone: a back written on, in the deck's next file, is not scanned with
            # it, so nothing links it to a written back (the scan flags the page before one, writing_on_back)
            made.setdefault(name, []).append(replace(src, source=target, page=1, back_writing=False))
    ws = open_workspace(out / "run")
    print(f"scanning {sum(len(v) for v in made.values())} pages of {len(made)} variants with {jobs} job(s) ...",
          flush=True)
    scan_folder(ws, scans, jobs=jobs)
    conn = db.connect(ws.db_path)
    results = {}
    try:
        kinds = {r["source"]: r["kind"] for r in conn.execute("SELECT source, kind FROM pages")}
        reasons = {r["source"]: json.loads(r["reasons"]) for r in conn.execute("SELECT source, reasons FROM pages")}
        for name, variant_pages in made.items():
            ev = evaluate(conn, replace(truth, pages=tuple(variant_pages), files=tuple(p.source for p in variant_pages)))
            results[name] = {
                "pages": len(variant_pages),
                "read_as_ballots": sum(kinds.get(p.source) == "ballot" for p in variant_pages),
                "page_reasons": dict(Counter(code for p in variant_pages for code in reasons.get(p.source, []))),
                "silent_errors": ev.silent_errors,
                "clear_rows": ev.clear_rows,
                "clear_rows_to_review": ev.counts.get("clear_row_reviewed", 0),
                "misses": [f"{m.category}: {m.source} person {m.person}: {m.detail}" for m in ev.misses
                           if m.category in ev.SILENT],
            }
    finally:
        conn.close()
    width = max(len(n) for n in results)
    print(f"{'variant':{width}}  pages  ballots  silent  clear rows to review     pages' own reasons")
    for name, r in results.items():
        share = r["clear_rows_to_review"] / max(1, r["clear_rows"])
        own = ", ".join(f"{code} {n}" for code, n in sorted(r["page_reasons"].items()))
        print(f"{name:{width}}  {r['pages']:5d}  {r['read_as_ballots']:7d}  {r['silent_errors']:6d}  "
              f"{r['clear_rows_to_review']:4d} of {r['clear_rows']:4d} ({share:5.1%})  {own}")
        for line in r["misses"]:
            print(f"    {line}")
    (out / "robustness.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return 1 if any(r["silent_errors"] for r in results.values()) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deck", type=Path, required=True, help="DIR/<profile> of a deck bench/accuracy.py made")
    parser.add_argument("--out", type=Path, required=True, help="working folder (emptied first)")
    parser.add_argument("--pages", type=int, default=5, help="pages per variant")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="only these (repeatable)")
    args = parser.parse_args(argv)
    if args.pages < 1 or not (args.deck / "truth.json").is_file() or not (args.deck / "printed").is_dir():
        parser.print_usage()
        print("--deck must be a deck made by bench/accuracy.py (truth.json, printed/, scans/); --pages >= 1")
        return 2
    return run(args.deck, args.out, pages=args.pages, jobs=args.jobs, names=args.variant or list(VARIANTS))


if __name__ == "__main__":
    sys.exit(main())
