"""Debug overlays: the straightened page with every box outlined and scored.

Written only when asked for (``kiemphieu scan --debug DIR``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from kiemphieu.layout import CANONICAL_PX_PER_MM as PX
from kiemphieu.layout import PageLayout
from scanner.boxes import found_rects
from scanner.results import BoxResult, RowResult
from scanner.sources import PageTask

COLOURS = {"marked": (0, 160, 0), "marginal": (0, 140, 255), "empty": (160, 160, 160)}  # the overlay's (B, G, R) per state


def draw_overlay(straight: np.ndarray, page: PageLayout, boxes: Sequence[BoxResult], rows: Sequence[RowResult],
                 reasons: Sequence[str]) -> np.ndarray:
    """A colour copy of ``straight`` with boxes, scores, markers and reasons drawn on it."""
    out = cv2.cvtColor(straight, cv2.COLOR_GRAY2BGR) if straight.ndim == 2 else straight.copy()
    for b, (x, y, w, h) in zip(boxes, found_rects(page, boxes), strict=True):
        p0 = (int(x * PX), int(y * PX))
        p1 = (int((x + w) * PX), int((y + h) * PX))
        cv2.rectangle(out, p0, p1, COLOURS[b.state], 2)
        cv2.putText(out, f"{b.score:.2f}", (p0[0], p1[1] + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, COLOURS[b.state], 1)
    for rect in page.markers_mm.values():
        x, y, w, h = rect
        cv2.rectangle(out, (int(x * PX), int(y * PX)), (int((x + w) * PX), int((y + h) * PX)), (255, 0, 0), 2)
    by_person = {r.person: r for r in rows}
    for row in page.rows:
        r = by_person.get(row.person)
        if r and r.reasons:
            x, y, _, h = row.row_mm
            cv2.putText(out, ",".join(r.reasons), (int((x + 1) * PX), int((y + h) * PX) - 2),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 255), 1)
    if reasons:
        cv2.putText(out, "page: " + ",".join(reasons), (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2)
    return out


def write_overlay(folder: Path, task: PageTask, straight: np.ndarray, page: PageLayout, boxes: Sequence[BoxResult],
                  rows: Sequence[RowResult], reasons: Sequence[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    safe = task.rel.replace("/", "__")
    path = folder / f"{safe}-p{task.page_index + 1}.png"
    cv2.imwrite(str(path), draw_overlay(straight, page, boxes, rows, reasons))
    return path
