"""Input files: find them, identify them by content, and decode one page at a time.

Formats are recognised by their first bytes, never by the file name, so a text
file named ``.png`` is reported as what it is. Multi-page TIFF and PDF files are
read one page at a time, so memory does not grow with the length of a file.
Input files are opened read-only and never modified.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from kiemphieu.i18n import tr

Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, before decoding
PDF_RASTER_DPI = 200  # a PDF page is rasterised at this resolution, above the canonical 6 px/mm (152 dpi): fixed
#                       by the construction (the page is straightened to the canonical resolution)
#: ISO base media brands of HEIF still images: a phone's HEIC photo (an iPhone's default format)
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")


@dataclass(frozen=True)
class FileProblem:
    """Why a file or page could not be decoded: a reason code and a sentence."""

    code: str
    vi: str
    en: str

    def __bool__(self) -> bool:  # a problem is never "nothing"
        return True

    @property
    def text(self) -> str:
        return tr(self.vi, self.en)


@dataclass(frozen=True)
class SourceFile:
    path: Path
    rel: str  # path relative to the scanned folder, with forward slashes
    sha256: str
    size: int
    fmt: str  # jpeg | png | tiff | bmp | webp | heif | pdf | unknown
    pages: int
    problem: FileProblem | None


@dataclass(frozen=True)
class PageTask:
    """One page to read: small and picklable, sent to a worker process."""

    path: str
    rel: str
    sha256: str
    page_index: int
    fmt: str


def sniff(head: bytes) -> str:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heif"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    return "unknown"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def list_files(folder: Path) -> list[Path]:
    """Every regular file below ``folder`` (recursive, hidden files included), in a stable order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_file():
                found.append(p)
    return found


def _count_pages(path: Path, fmt: str) -> tuple[int, FileProblem | None]:
    if fmt == "tiff":
        try:
            with Image.open(path) as im:
                return max(1, int(getattr(im, "n_frames", 1))), None
        except Exception as exc:
            return 1, FileProblem("damaged", f"Tệp TIFF hỏng ({exc}).", f"Damaged TIFF file ({exc}).")
    if fmt == "pdf":
        import pikepdf

        try:
            with pikepdf.open(path) as pdf:
                return max(1, len(pdf.pages)), None
        except pikepdf.PasswordError:
            return 1, FileProblem(
                "encrypted",
                "Tệp PDF có mật khẩu: hãy quét lại không đặt mật khẩu.",
                "Password-protected PDF: scan again without a password.",
            )
        except Exception as exc:
            return 1, FileProblem("damaged", f"Tệp PDF hỏng ({exc}).", f"Damaged PDF file ({exc}).")
    return 1, None


def describe(path: Path, folder: Path) -> SourceFile:
    """Identify one input file (hash, format, page count, or the problem with it)."""
    rel = path.relative_to(folder).as_posix()
    size = path.stat().st_size
    digest = sha256_file(path)
    if size == 0:
        return SourceFile(path, rel, digest, 0, "unknown", 1, FileProblem(
            "empty_file", "Tệp rỗng (0 byte).", "Empty file (0 bytes)."))
    with path.open("rb") as f:
        head = f.read(1024)
    fmt = sniff(head)
    if fmt == "unknown":
        return SourceFile(path, rel, digest, size, fmt, 1, FileProblem(
            "not_an_image",
            "Không phải tệp ảnh (JPEG, PNG, TIFF, BMP, WebP, HEIC) hay PDF.",
            "Not an image (JPEG, PNG, TIFF, BMP, WebP, HEIC) or PDF file.",
        ))
    pages, problem = _count_pages(path, fmt)
    return SourceFile(path, rel, digest, size, fmt, pages, problem)


def tasks_for(src: SourceFile) -> Iterator[PageTask]:
    for i in range(src.pages):
        yield PageTask(str(src.path), src.rel, src.sha256, i, src.fmt)


# --- decoding ----------------------------------------------------------------


class DecodeError(Exception):
    def __init__(self, problem: FileProblem) -> None:
        super().__init__(problem.en)
        self.problem = problem


def _too_large(w: int, h: int, max_pixels: int) -> DecodeError:
    return DecodeError(FileProblem(
        "too_large",
        f"Ảnh quá lớn ({w} x {h} điểm ảnh); hãy quét ở 300 dpi.",
        f"Image too large ({w} x {h} pixels); scan at 300 dpi.",
    ))


def _jpeg_complete(data: bytes) -> bool:
    """True when the JPEG stream ends with an end-of-image marker after its last scan."""
    end = len(data)
    while end > 0 and data[end - 1] == 0:  # trailing padding (without copying a multi-megabyte buffer)
        end -= 1
    if data[max(0, end - 2) : end] == b"\xff\xd9":
        return True
    last_sos = data.rfind(b"\xff\xda")
    return last_sos >= 0 and data.find(b"\xff\xd9", last_sos) >= 0


def _to_bgr_or_gray(image: np.ndarray) -> np.ndarray:
    """8-bit BGR (H, W, 3) or greyscale (H, W), whatever came out of a decoder."""
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        elif image.dtype == bool:
            image = image.astype(np.uint8) * 255
        else:
            image = cv2.normalize(image.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)  # type: ignore[call-overload]
    if image.ndim == 3:
        if image.shape[2] == 1:
            return image[:, :, 0]
        if image.shape[2] == 4:
            return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


# OpenCV's reduced JPEG decodes, by their factor (an enumeration)
REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def decode_bytes(data: bytes, fmt: str, *, max_pixels: int, min_short_side: int | None = None) -> np.ndarray:
    """Decode a JPEG/PNG/BMP byte string into BGR or greyscale; raise :class:`DecodeError`.

    With ``min_short_side``, a large JPEG is decoded directly at 1/2, 1/4 or 1/8
    of its size (scaled in the JPEG decoder, much cheaper than decoding in full),
    as long as its short side stays at least ``min_short_side`` pixels.
    """
    if fmt == "jpeg" and not _jpeg_complete(data):
        raise DecodeError(FileProblem(
            "truncated", "Tệp JPEG bị cắt cụt (chưa ghi xong hoặc hỏng).", "Truncated JPEG (incomplete or damaged)."))
    if fmt == "heif":
        _register_heif()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            w, h = probe.size
            if w * h > max_pixels:
                raise _too_large(w, h, max_pixels)
            if fmt == "heif":  # OpenCV has no HEIF decoder
                return _pil_to_array(probe)
    except DecodeError:
        raise
    except Exception:
        raise DecodeError(FileProblem("damaged", "Không giải mã được ảnh.", "The image cannot be decoded.")) from None
    flag = cv2.IMREAD_UNCHANGED
    if fmt == "jpeg" and min_short_side:
        factor = max((f for f in REDUCED_FLAGS if min(w, h) // f >= min_short_side), default=1)
        flag = REDUCED_FLAGS.get(factor, flag)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None or image.size == 0:
        raise DecodeError(FileProblem("damaged", "Không giải mã được ảnh (tệp hỏng).", "The image cannot be decoded (damaged file)."))
    return _to_bgr_or_gray(image)


def _register_heif() -> None:
    """Let PIL open HEIF (a phone's HEIC photo); the decoder applies the photo's rotation and mirroring."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _pil_to_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("1", "L", "I;16", "I"):
        arr = np.asarray(im.convert("L"))
        return np.ascontiguousarray(arr)
    arr = np.asarray(im.convert("RGB"))
    return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)


def _decode_tiff(path: str, index: int, max_pixels: int) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im.seek(index)
            w, h = im.size
            if w * h > max_pixels:
                raise _too_large(w, h, max_pixels)
            return _pil_to_array(im)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(FileProblem("damaged", f"Trang TIFF hỏng ({exc}).", f"Damaged TIFF page ({exc}).")) from None


def _decode_pdf(path: str, index: int, max_pixels: int) -> np.ndarray:
    """A scanned PDF page that is one embedded image is taken directly; else rasterised."""
    import pikepdf

    try:
        with pikepdf.open(path) as pdf:
            page = pdf.pages[index]
            images = list(page.images.items())
            mirrored = _drawn_mirrored(page, *images[0]) if len(images) == 1 and not _has_text(page) else None
            if mirrored is not None:
                pdfimage = pikepdf.PdfImage(images[0][1])  # type: ignore[arg-type]
                w, h = pdfimage.width, pdfimage.height
                if w * h > max_pixels:
                    raise _too_large(w, h, max_pixels)
                array = None
                if pdfimage.filters == ["/DCTDecode"] and pdfimage.obj.get("/SMask") is None:
                    raw = cv2.imdecode(np.frombuffer(pdfimage.obj.read_raw_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
                    array = None if raw is None else _to_bgr_or_gray(raw)
                if array is None:
                    array = _pil_to_array(pdfimage.as_pil_image())
                return array[::-1] if mirrored else array
            mediabox = [float(v) for v in page.mediabox]
            width_in = abs(mediabox[2] - mediabox[0]) / 72.0
            height_in = abs(mediabox[3] - mediabox[1]) / 72.0
            if width_in * height_in * PDF_RASTER_DPI**2 > max_pixels:
                raise _too_large(int(width_in * PDF_RASTER_DPI), int(height_in * PDF_RASTER_DPI), max_pixels)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(FileProblem("damaged", f"Trang PDF hỏng ({exc}).", f"Damaged PDF page ({exc}).")) from None
    from pdf2image import convert_from_path

    try:
        pages = convert_from_path(path, dpi=PDF_RASTER_DPI, first_page=index + 1, last_page=index + 1)
    except Exception as exc:
        raise DecodeError(FileProblem("damaged", f"Không chuyển được trang PDF thành ảnh ({exc}).",
                                      f"The PDF page cannot be rasterised ({exc}).")) from None
    if not pages:
        raise DecodeError(FileProblem("damaged", "Trang PDF trống.", "Empty PDF page."))
    return _pil_to_array(pages[0])


def _drawn_mirrored(page: Any, name: str, obj: Any) -> bool | None:
    """Whether the page draws its one image (``name``, its stream ``obj``) mirrored; None: take the page's
    rasterisation instead.

    A scanner may store the image upside down and draw it flipped (a placement matrix with a
    negative determinant): the page shows the sheet, the raw image its mirror, whose markers
    and QR code cannot be read. A rotation needs no care (the markers give the orientation) and
    a mirror in any axis is a flip of the rows up to a rotation. An image drawn more than once,
    or not at the top level of the page, or with a /Decode array (inverted), or a stencil mask,
    is left to poppler.
    """
    import pikepdf

    if obj.get("/Decode") is not None or bool(obj.get("/ImageMask", False)):
        return None
    sign, stack, drawn = 1.0, [], []  # the sign of the placement's determinant, through q ... Q
    for instruction in pikepdf.parse_content_stream(page):
        operands, op = list(instruction.operands), str(instruction.operator)
        if op == "q":
            stack.append(sign)
        elif op == "Q" and stack:
            sign = stack.pop()
        elif op == "cm" and len(operands) == 6:
            a, b, c, d = (float(v) for v in operands[:4])
            sign *= float(np.sign(a * d - b * c))
        elif op == "Do" and operands and str(operands[0]) == name:
            drawn.append(sign)
    if len(drawn) != 1 or drawn[0] == 0:
        return None
    return drawn[0] < 0


def _has_text(page: object) -> bool:
    try:
        content = page.obj.get("/Contents")  # type: ignore[attr-defined]
        streams = content if isinstance(content, list) or hasattr(content, "__iter__") and not hasattr(content, "read_bytes") else [content]
        for s in streams:
            if b"BT" in s.read_bytes():
                return True
    except Exception:
        return False
    return False


def decode_page(task: PageTask, *, max_pixels: int, min_short_side: int | None = None) -> np.ndarray:
    """Decode page ``task.page_index`` of ``task.path`` (BGR or greyscale uint8)."""
    if task.fmt == "tiff":
        return _decode_tiff(task.path, task.page_index, max_pixels)
    if task.fmt == "pdf":
        return _decode_pdf(task.path, task.page_index, max_pixels)
    try:
        data = Path(task.path).read_bytes()
    except OSError as exc:
        raise DecodeError(FileProblem("unreadable", f"Không đọc được tệp ({exc}).", f"Cannot read the file ({exc}).")) from None
    return decode_bytes(data, task.fmt, max_pixels=max_pixels, min_short_side=min_short_side)
