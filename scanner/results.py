"""What the stages hand on: the run's context, sent once to each worker, and a page's typed
results (its boxes, its rows)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kiemphieu.layout import Layout
from scanner.settings import ScanSettings
from scanner.sources import PageTask


@dataclass(frozen=True)
class BoxResult:
    person: int
    level: str
    score: float  # light-ink share of the box interior (pencil or darker)
    faint: float  # share with any trace of ink
    span_mm: float  # longest extent of one stroke or trace
    state: str  # marked | marginal | empty
    dx_mm: float
    dy_mm: float
    shade: float = 0.0  # mean darkness of the interior above the paper beside the box
    dots: bool = False  # marginal for dots only (no drawn stroke, nothing faint beyond them): see classify_rows
    open_mm: float = math.inf  # the largest open disc of paper among its traces (BoxInk.open_mm): see is_heavy
    gone_over: bool = False  # a mark gone over (heavier_than_the_page, overdrawn): its row's reason is scribble


@dataclass(frozen=True)
class RowResult:
    person: int
    marks: str  # none | one | multiple
    choice: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PageResult:
    task: PageTask
    kind: str  # ballot | blank | unreadable | not_issued | rejected
    status: str  # auto | review | rejected
    token: str | None = None
    layout_page: int | None = None
    reasons: tuple[str, ...] = ()
    detail: str = ""
    transform: tuple[float, ...] | None = None  # 3x3 row-major, image (x, y) -> page mm
    image: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    boxes: tuple[BoxResult, ...] = ()
    rows: tuple[RowResult, ...] = ()


@dataclass(frozen=True)
class RunContext:
    """What every worker needs; small enough to send to each process once."""

    layout: Layout
    session_id: str
    layout_hash: str
    issued: frozenset[str]
    untokened_ok: bool
    settings: ScanSettings
    workspace: str
    debug_dir: str | None = None
