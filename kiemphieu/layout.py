"""The ballot layout: where everything is printed, in millimetres.

``layout.json`` (schema ``kiemphieu.layout/1``) is a published interface for
auditors and other tools. Rectangles are ``[x, y, w, h]`` in millimetres from the
page's top-left corner, x to the right, y down. This module is the one place
that owns the geometry; the renderer draws it and the scanner reads it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from kiemphieu.errors import LayoutError, WorkspaceError

Level = Literal["high", "medium", "low"]
LEVELS: tuple[Level, ...] = ("high", "medium", "low")
SCHEMA = "kiemphieu.layout/1"
QR_PREFIX = "KP1"

Rect = tuple[float, float, float, float]

# --- page geometry (mm), one place ---------------------------------------
# Straightened page images (scanner analysis, review images) use this scale:
# pixel (row, col) = (y_mm * CANONICAL_PX_PER_MM, x_mm * CANONICAL_PX_PER_MM).
CANONICAL_PX_PER_MM = 6.0
PAGE_W, PAGE_H = 210.0, 297.0
MARKER = 12.0
MARKER_IDS = {"top_middle": 0, "top_right": 1, "bottom_left": 2, "bottom_right": 3}
MARKERS_MM: dict[str, Rect] = {
    "top_middle": (99.0, 8.0, MARKER, MARKER),
    "top_right": (188.0, 8.0, MARKER, MARKER),
    "bottom_left": (10.0, 277.0, MARKER, MARKER),
    "bottom_right": (188.0, 277.0, MARKER, MARKER),
}
SEAL_MM: Rect = (0.0, 0.0, 72.0, 48.0)
QR_MM: Rect = (160.0, 8.0, 24.0, 24.0)
TABLE_X = 10.0
COL_W = {"stt": 10.0, "name": 62.0, "position": 52.0, "level": 22.0}
HEADER_TOP = 63.0
HEADER_H = 12.0
ROW_H = 10.0
ROWS_BOTTOM = 242.0  # rows end at or above this line
BOX_W, BOX_H = 8.0, 7.0
SIGNATURE_MM: Rect = (128.0, 249.0, 72.0, 24.0)
FREE_BOTTOM = 273.0


@dataclass(frozen=True)
class RowLayout:
    person: int
    name: str
    position: str
    name_mm: Rect
    position_mm: Rect
    row_mm: Rect
    boxes_mm: dict[str, Rect]
    cells_mm: dict[str, Rect]


@dataclass(frozen=True)
class PageLayout:
    page: int
    markers_mm: dict[str, Rect]
    qr_mm: Rect
    seal_mm: Rect
    signature_mm: Rect | None
    free_mm: tuple[Rect, ...]
    table_mm: Rect
    rows: tuple[RowLayout, ...]


@dataclass(frozen=True)
class Layout:
    session_id: str
    pages: tuple[PageLayout, ...]
    page_size_mm: tuple[float, float] = (PAGE_W, PAGE_H)
    marker_dictionary: str = "aruco_4x4_50"
    marker_ids: dict[str, int] = field(default_factory=lambda: dict(MARKER_IDS))

    @property
    def pages_per_ballot(self) -> int:
        return len(self.pages)

    @property
    def persons(self) -> list[RowLayout]:
        return [row for page in self.pages for row in page.rows]

    def body(self) -> dict[str, object]:
        """The JSON document without its hash."""
        return {
            "schema": SCHEMA,
            "session_id": self.session_id,
            "page_size_mm": list(self.page_size_mm),
            "pages_per_ballot": self.pages_per_ballot,
            "marker_dictionary": self.marker_dictionary,
            "marker_ids": self.marker_ids,
            "qr_payload": f"{QR_PREFIX}:session_id:layout_hash:page:token (token '-' when printed without tokens)",
            "pages": [asdict(p) for p in self.pages],
        }

    @property
    def layout_hash(self) -> str:
        canonical = json.dumps(self.body(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12].upper()

    def to_json(self) -> str:
        doc = self.body()
        doc["layout_hash"] = self.layout_hash
        return json.dumps(doc, ensure_ascii=False, indent=1)

    def page(self, number: int) -> PageLayout:
        return self.pages[number - 1]


def _tuple(r: Sequence[float]) -> Rect:
    x, y, w, h = (float(v) for v in r)
    return (x, y, w, h)


def load_layout(path: Path) -> Layout:
    """Read ``layout.json``; raise :class:`WorkspaceError` if it is missing or altered."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkspaceError(
            f"Chưa có {path.name}: hãy chạy 'kiemphieu ballots' trước.",
            f"{path.name} not found: run 'kiemphieu ballots' first.",
        ) from None
    if doc.get("schema") != SCHEMA:
        raise WorkspaceError(f"{path}: không phải {SCHEMA}.", f"{path}: not a {SCHEMA} document.")
    pages = []
    for p in doc["pages"]:
        rows = tuple(
            RowLayout(
                person=int(r["person"]),
                name=r["name"],
                position=r["position"],
                name_mm=_tuple(r["name_mm"]),
                position_mm=_tuple(r["position_mm"]),
                row_mm=_tuple(r["row_mm"]),
                boxes_mm={k: _tuple(v) for k, v in r["boxes_mm"].items()},
                cells_mm={k: _tuple(v) for k, v in r["cells_mm"].items()},
            )
            for r in p["rows"]
        )
        pages.append(
            PageLayout(
                page=int(p["page"]),
                markers_mm={k: _tuple(v) for k, v in p["markers_mm"].items()},
                qr_mm=_tuple(p["qr_mm"]),
                seal_mm=_tuple(p["seal_mm"]),
                signature_mm=_tuple(p["signature_mm"]) if p["signature_mm"] else None,
                free_mm=tuple(_tuple(f) for f in p["free_mm"]),
                table_mm=_tuple(p["table_mm"]),
                rows=rows,
            )
        )
    layout = Layout(
        session_id=doc["session_id"],
        pages=tuple(pages),
        page_size_mm=(float(doc["page_size_mm"][0]), float(doc["page_size_mm"][1])),
        marker_dictionary=doc["marker_dictionary"],
        marker_ids={k: int(v) for k, v in doc["marker_ids"].items()},
    )
    if doc.get("layout_hash") != layout.layout_hash:
        raise WorkspaceError(
            f"{path}: mã băm bố cục không khớp — tệp đã bị sửa.",
            f"{path}: layout hash does not match its content — the file was edited.",
        )
    return layout


def _column_x() -> dict[str, float]:
    xs, x = {}, TABLE_X
    for col in ("stt", "name", "position", "high", "medium", "low"):
        xs[col] = x
        x += COL_W["level"] if col in LEVELS else COL_W[col]
    xs["end"] = x
    return xs


COLUMN_X = _column_x()
ROWS_PER_PAGE = int((ROWS_BOTTOM - HEADER_TOP - HEADER_H) // ROW_H)


def build_layout(session_id: str, persons: Sequence[tuple[str, str]]) -> Layout:
    """Lay out ``persons`` (name, position) over as many pages as needed.

    Every page carries the same header, markers, QR place and seal area, so that
    every page identifies itself. The signature place is on the last page.
    """
    if not persons:
        raise LayoutError("Danh sách người được lấy phiếu trống.", "The list of persons is empty.")
    chunks = [persons[i : i + ROWS_PER_PAGE] for i in range(0, len(persons), ROWS_PER_PAGE)]
    pages = []
    stt = 0
    for index, chunk in enumerate(chunks, start=1):
        last = index == len(chunks)
        rows: list[RowLayout] = []
        top = HEADER_TOP + HEADER_H
        for name, position in chunk:
            stt += 1
            y = top + (len(rows)) * ROW_H
            boxes: dict[str, Rect] = {}
            cells: dict[str, Rect] = {}
            for level in LEVELS:
                cx = COLUMN_X[level]
                cells[level] = (cx, y, COL_W["level"], ROW_H)
                boxes[level] = (
                    round(cx + (COL_W["level"] - BOX_W) / 2, 3),
                    round(y + (ROW_H - BOX_H) / 2, 3),
                    BOX_W,
                    BOX_H,
                )
            rows.append(
                RowLayout(
                    person=stt,
                    name=name,
                    position=position,
                    name_mm=(COLUMN_X["name"] + 1.0, y + 1.0, COL_W["name"] - 2.0, ROW_H - 2.0),
                    position_mm=(COLUMN_X["position"] + 1.0, y + 1.0, COL_W["position"] - 2.0, ROW_H - 2.0),
                    row_mm=(TABLE_X, y, COLUMN_X["end"] - TABLE_X, ROW_H),
                    boxes_mm=boxes,
                    cells_mm=cells,
                )
            )
        table_bottom = top + len(rows) * ROW_H
        free_top = table_bottom + 3.0
        right_bottom = (SIGNATURE_MM[1] - 2.0) if last else FREE_BOTTOM
        free = [(TABLE_X, free_top, 114.0, round(FREE_BOTTOM - free_top, 3))]
        if right_bottom - free_top > 5.0:
            free.append((128.0, free_top, 72.0, round(right_bottom - free_top, 3)))
        pages.append(
            PageLayout(
                page=index,
                markers_mm=dict(MARKERS_MM),
                qr_mm=QR_MM,
                seal_mm=SEAL_MM,
                signature_mm=SIGNATURE_MM if last else None,
                free_mm=tuple(free),
                table_mm=(TABLE_X, HEADER_TOP, COLUMN_X["end"] - TABLE_X, table_bottom - HEADER_TOP),
                rows=tuple(rows),
            )
        )
    return Layout(session_id=session_id, pages=tuple(pages))


def qr_payload(layout: Layout, page: int, token: str | None) -> str:
    return f"{QR_PREFIX}:{layout.session_id}:{layout.layout_hash}:{page}:{token or '-'}"


@dataclass(frozen=True)
class QrPayload:
    session_id: str
    layout_hash: str
    page: int
    token: str | None


def parse_qr_payload(text: str) -> QrPayload | None:
    """Parse a decoded QR text; ``None`` when it is not a kiemphieu ballot code."""
    parts = text.strip().split(":")
    if len(parts) != 5 or parts[0] != QR_PREFIX or not parts[3].isdigit():
        return None
    return QrPayload(parts[1], parts[2], int(parts[3]), None if parts[4] == "-" else parts[4])
