"""What the review page shows: the queue of doubts, the pages and the tally.

:func:`review_state` reads the database (machine reading merged with the
decisions by :func:`kiemphieu.readings.load_readings`) and returns one
:class:`ReviewState`. Every flagged row of a page that waits for a human is a
row item; every page-level doubt is a ballot item. Items already decided stay
in the queue so that the page can show "n of m done".

Geometry is given in pixels of the straightened review image
(:data:`kiemphieu.layout.CANONICAL_PX_PER_MM` pixels per millimetre), as
(x, y, width, height) rectangles, which is how SVG draws them.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kiemphieu.i18n import tr
from kiemphieu.layout import CANONICAL_PX_PER_MM, Layout
from kiemphieu.readings import (
    REASON_TEXT,
    PageReading,
    cause_text,
    load_readings,
    recurring_causes,
    standing_decisions,
)
from kiemphieu.review.decisions import ROW_READINGS, ballot_offer, live_decisions, row_word
from kiemphieu.session import Session

PxRect = tuple[float, float, float, float]


@dataclass(frozen=True)
class Reason:
    code: str
    vi: str
    en: str


@dataclass(frozen=True)
class Cause:
    """A cause at the scanner or camera seen on many pages (:func:`kiemphieu.readings.recurring_causes`), with
    what to do about it: the committee mends it at the machine, not page by page."""

    code: str
    pages: int
    vi: str
    en: str


@dataclass(frozen=True)
class Opinion:
    """One reviewer's live decision on an item (two-person rule)."""

    reviewer: str
    decision_id: int
    reading: str


@dataclass(frozen=True)
class ReviewItem:
    """One thing a human has to decide.

    ``reading`` is a row reading word (``high`` … ``multiple``) for a row item
    or a verdict for a ballot item; ``machine`` is what the machine read (for a
    ballot item, the verdicts that agree with its doubt, comma separated).
    """

    key: str
    kind: str  # row | ballot
    page_id: int
    person: int | None
    name: str
    position: str
    reasons: tuple[Reason, ...]
    options: tuple[str, ...]
    machine: str
    standing: str | None
    crossed: bool
    opinions: tuple[Opinion, ...]
    done: bool
    disagreement: bool


@dataclass(frozen=True)
class BoxView:
    person: int
    level: str
    rect: PxRect
    score: float | None
    state: str  # marked | marginal | empty | unknown


@dataclass(frozen=True)
class RowView:
    person: int
    rect: PxRect


@dataclass(frozen=True)
class PageView:
    page_id: int
    source: str
    page_index: int
    kind: str
    layout_page: int | None
    reasons: tuple[Reason, ...]
    detail: str
    has_image: bool
    straightened: bool
    size: tuple[int, int]  # (width, height) of a straightened image in pixels
    boxes: tuple[BoxView, ...]
    rows: tuple[RowView, ...]
    verdict: str | None
    crossed: tuple[int, ...]


@dataclass(frozen=True)
class TallyRow:
    stt: int
    name: str
    collected: int
    valid: int
    invalid: int
    pending: int
    high: int
    medium: int
    low: int
    flag: str | None


@dataclass(frozen=True)
class TallyView:
    provisional: bool
    pending_pages: int
    rows: tuple[TallyRow, ...]


@dataclass(frozen=True)
class ReviewState:
    session_id: str
    title: str
    two_person: bool
    items: tuple[ReviewItem, ...]
    pages: tuple[PageView, ...]
    total: int
    done: int
    disagreements: tuple[str, ...]  # item keys
    tally: TallyView | None
    tally_error: str
    final: bool  # nothing is pending any more
    causes: tuple[Cause, ...]  # causes at the scanner seen on many pages, most pages first


def reason(code: str) -> Reason:
    """A reason code with its plain sentence (an unknown code is still shown, never dropped)."""
    vi, en = REASON_TEXT.get(code, (f"Lý do khác ({code})", f"Other reason ({code})"))
    return Reason(code, vi, en)


def item_key(page_id: int, person: int | None) -> str:
    return f"p{page_id}-" + ("b" if person is None else f"r{person}")


def _px(rect: tuple[float, float, float, float], dx: float = 0.0, dy: float = 0.0) -> PxRect:
    s = CANONICAL_PX_PER_MM
    x, y, w, h = rect
    return (round((x + dx) * s, 1), round((y + dy) * s, 1), round(w * s, 1), round(h * s, 1))


def _reading_of(after: dict[str, Any]) -> str:
    if "verdict" in after:
        return str(after["verdict"])
    return row_word(str(after.get("marks")), after.get("choice"))


def _page_view(
    conn: sqlite3.Connection, page: PageReading, raw: sqlite3.Row, layout: Layout | None
) -> PageView:
    straightened = raw["transform"] is not None
    boxes: list[BoxView] = []
    rows: list[RowView] = []
    if straightened and layout is not None and page.layout_page and 1 <= page.layout_page <= len(layout.pages):
        measured = {
            (b["person"], b["level"]): b
            for b in conn.execute("SELECT * FROM boxes WHERE page_id = ?", (page.page_id,))
        }
        for row in layout.page(page.layout_page).rows:
            rows.append(RowView(row.person, _px(row.row_mm)))
            for level, rect in row.boxes_mm.items():
                b = measured.get((row.person, level))
                if b is None:
                    boxes.append(BoxView(row.person, level, _px(rect), None, "unknown"))
                else:
                    boxes.append(
                        BoxView(row.person, level, _px(rect, b["dx_mm"], b["dy_mm"]), round(b["score"], 3), b["state"])
                    )
    width, height = (layout.page_size_mm if layout else (210.0, 297.0))
    return PageView(
        page_id=page.page_id,
        source=page.source,
        page_index=page.page_index,
        kind=page.kind,
        layout_page=page.layout_page,
        reasons=tuple(reason(c) for c in page.reasons),
        detail=str(raw["detail"] or ""),
        has_image=bool(raw["image"]),
        straightened=straightened,
        size=(round(width * CANONICAL_PX_PER_MM), round(height * CANONICAL_PX_PER_MM)),
        boxes=tuple(boxes),
        rows=tuple(rows),
        verdict=page.verdict,
        crossed=tuple(sorted(page.crossed_persons)),
    )


def _tally(session: Session, readings: list[PageReading], layout: Layout | None) -> tuple[TallyView | None, str]:
    try:
        from kiemphieu.tally import compute_tally
    except ImportError:
        return None, tr("Chưa có phần tổng hợp kết quả.", "The tally is not available.")
    try:
        tally = compute_tally(session, readings, layout=layout)
    except Exception as exc:  # the page must still work when the tally cannot be computed
        return None, str(exc)
    rows = tuple(
        TallyRow(r.stt, r.name, r.collected, r.valid, r.invalid, r.pending, r.high, r.medium, r.low, r.flag)
        for r in tally.rows
    )
    return TallyView(bool(tally.provisional), int(tally.pending_pages), rows), ""


def review_state(
    conn: sqlite3.Connection, session: Session, layout: Layout | None, *, with_tally: bool = True
) -> ReviewState:
    """Build the review queue, the page views and the provisional tally."""
    two = session.two_person_review
    readings = load_readings(conn, two_person=two)
    _, disagreements = standing_decisions(conn, two_person=two)
    disagreed = set(disagreements)
    opinions: dict[tuple[int, int | None], dict[str, Opinion]] = defaultdict(dict)
    for d in live_decisions(conn):
        key = (int(d["page_id"]), d["person"])
        opinions[key][d["reviewer"]] = Opinion(d["reviewer"], int(d["id"]), _reading_of(json.loads(d["after"])))
    raw_pages = {int(p["id"]): p for p in conn.execute("SELECT * FROM pages")}
    persons = {p.stt: p for p in session.persons}
    items: list[ReviewItem] = []
    pages: list[PageView] = []
    ordered = sorted(readings, key=lambda p: (p.source, p.page_index, p.page_id))
    for page in ordered:
        touched = any(k[0] == page.page_id for k in opinions)
        if not (page.pending or touched):
            continue
        pages.append(_page_view(conn, page, raw_pages[page.page_id], layout))
        page_doubt = page.kind != "blank" and (
            bool(page.reasons) or page.kind in ("unreadable", "not_issued", "rejected")
        )
        bkey = (page.page_id, None)
        if page_doubt or bkey in opinions:
            offer = ballot_offer(page.kind, page.reasons)
            options = offer.verdicts
            if page.verdict == "name_crossed" and "name_crossed" not in options:
                options = (*options, "name_crossed")
            items.append(
                ReviewItem(
                    key=item_key(*bkey), kind="ballot", page_id=page.page_id, person=None, name="", position="",
                    reasons=tuple(reason(c) for c in page.reasons), options=options,
                    machine=",".join(offer.agreeing), standing=page.verdict, crossed=False,
                    opinions=tuple(opinions.get(bkey, {}).values()),
                    done=page.verdict is not None or not page.pending,
                    disagreement=bkey in disagreed,
                )
            )
        for row in page.rows:
            rkey = (page.page_id, row.person)
            if not row.reasons and rkey not in opinions:
                continue
            person = persons.get(row.person)
            items.append(
                ReviewItem(
                    key=item_key(*rkey), kind="row", page_id=page.page_id, person=row.person,
                    name=person.name if person else str(row.person), position=person.position if person else "",
                    reasons=tuple(reason(c) for c in row.reasons), options=ROW_READINGS,
                    machine=row_word(row.machine_marks, row.machine_choice),
                    standing=row_word(row.marks, row.choice) if row.decided else None,
                    crossed=row.person in page.crossed_persons,
                    opinions=tuple(opinions.get(rkey, {}).values()),
                    done=row.decided or not page.pending,
                    disagreement=rkey in disagreed,
                )
            )
    tally, tally_error = _tally(session, readings, layout) if with_tally else (None, "")
    return ReviewState(
        session_id=session.session_id,
        title=session.title,
        two_person=two,
        items=tuple(items),
        pages=tuple(pages),
        total=len(items),
        done=sum(1 for i in items if i.done),
        disagreements=tuple(item_key(*k) for k in disagreements),
        tally=tally,
        tally_error=tally_error,
        final=not any(p.pending for p in readings),
        causes=tuple(Cause(code, n, *cause_text(code)) for code, n in recurring_causes(
            (*p.reasons, *(c for row in p.rows for c in row.reasons)) for p in readings).items()),
    )
