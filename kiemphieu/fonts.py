"""TrueType fonts for PDFs, so Vietnamese diacritics render exactly."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from kiemphieu.errors import MissingDependencyError

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)
REGULAR, BOLD = "KP-Sans", "KP-Sans-Bold"


def _find(filename: str) -> Path:
    for d in FONT_DIRS:
        if (d / filename).exists():
            return d / filename
    raise MissingDependencyError(
        f"Không tìm thấy phông chữ {filename}. Cài gói Debian 'fonts-dejavu-core' (make install).",
        f"Font {filename} not found. Install the Debian package 'fonts-dejavu-core' (make install).",
    )


@cache
def register_fonts() -> tuple[str, str]:
    """Register DejaVu Sans with reportlab; return (regular, bold) font names."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(REGULAR, str(_find("DejaVuSans.ttf"))))
    pdfmetrics.registerFont(TTFont(BOLD, str(_find("DejaVuSans-Bold.ttf"))))
    return REGULAR, BOLD
