"""Recording review decisions beside the machine reading.

A decision is one new row in ``decisions`` and one entry in ``audit_log``,
written in a single transaction; nothing is ever updated or deleted. An undo is
a new decision whose ``undoes`` names the withdrawn one. The formats of
``after`` and the merge with the machine reading are those of
:mod:`kiemphieu.readings`.

Row readings travel as one word (``high``, ``medium``, ``low``, ``none`` or
``multiple``), converted here to and from the ``after`` document.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from kiemphieu.db import dumps
from kiemphieu.errors import InputError
from kiemphieu.layout import LEVELS
from kiemphieu.readings import (
    BALLOT_VERDICTS,
    R_CROSSED,
    R_DUPLICATE,
    R_FOREIGN,
    R_UNKNOWN_TOKEN,
    R_WRITING,
    R_WRITING_ON_BACK,
    standing_decisions,
)
from kiemphieu.review.audit import append_entry
from kiemphieu.session import normalise

RowReadingWord = Literal["high", "medium", "low", "none", "multiple"]
ROW_READINGS: tuple[str, ...] = (*LEVELS, "none", "multiple")
MAX_NOTE = 500
MAX_REVIEWER = 80
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def row_after(reading: str) -> dict[str, Any]:
    """The ``after`` document of a row reading word."""
    if reading in LEVELS:
        return {"marks": "one", "choice": reading}
    if reading in ("none", "multiple"):
        return {"marks": reading, "choice": None}
    raise InputError(
        f"Cách đọc '{reading}' không hợp lệ; chọn một trong {', '.join(ROW_READINGS)}.",
        f"Unknown reading '{reading}'; use one of {', '.join(ROW_READINGS)}.",
    )


def row_word(marks: str, choice: str | None) -> str:
    """The reading word of a (marks, choice) pair."""
    if marks == "one" and choice in LEVELS:
        return str(choice)
    return "multiple" if marks == "multiple" else "none"


# which verdicts each page-level doubt offers, the first ones agreeing with the machine
_OFFERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # reason: (verdicts agreeing with the machine, other verdicts offered)
    R_DUPLICATE: (("duplicate_copy", "valid"), ()),
    R_WRITING: (("extra_writing",), ("valid",)),
    R_WRITING_ON_BACK: (("extra_writing",), ("valid",)),
    R_UNKNOWN_TOKEN: (("not_issued",), ("valid", "not_a_ballot")),
    R_FOREIGN: (("not_issued",), ("not_a_ballot",)),
}


@dataclass(frozen=True)
class BallotOffer:
    """The ballot-level verdicts offered for a page.

    ``agreeing`` are the verdicts that confirm the machine's doubt (no note needed);
    when it is empty the machine has no opinion and no verdict needs a note.
    """

    verdicts: tuple[str, ...]
    agreeing: tuple[str, ...]


def ballot_offer(kind: str, reasons: Sequence[str]) -> BallotOffer:
    """The verdicts a reviewer may give a page of ``kind`` flagged with ``reasons``."""
    if kind in ("unreadable", "rejected"):
        return BallotOffer(("not_a_ballot", "not_issued"), ("not_a_ballot",))
    agreeing: list[str] = []
    others: list[str] = []
    if kind == "not_issued":
        agreeing.append("not_issued")
        others += ["valid", "not_a_ballot"]
    for reason in reasons:
        agree, other = _OFFERS.get(reason, ((), ("valid", "not_issued", "not_a_ballot")))
        agreeing += agree
        others += other
    verdicts = list(dict.fromkeys(agreeing + others + ["valid"]))
    return BallotOffer(tuple(verdicts), tuple(dict.fromkeys(agreeing)))


@dataclass(frozen=True)
class RecordedDecision:
    """A decision as written: its id, what stood before and the audit hash."""

    id: int
    page_id: int
    person: int | None
    reviewer: str
    decided_at: str
    before: dict[str, Any]
    after: dict[str, Any]
    note: str
    undoes: int | None
    audit_hash: str


def clean_reviewer(name: str) -> str:
    """A reviewer name, normalised; raise :class:`InputError` when empty or too long."""
    cleaned = normalise(name or "")
    if not cleaned:
        raise InputError("Hãy nhập tên người xem xét.", "Enter the reviewer's name.")
    if len(cleaned) > MAX_REVIEWER:
        raise InputError(
            f"Tên người xem xét quá dài (tối đa {MAX_REVIEWER} ký tự).",
            f"The reviewer name is too long (at most {MAX_REVIEWER} characters).",
        )
    return cleaned


def _page(conn: sqlite3.Connection, page_id: int) -> sqlite3.Row:
    page = conn.execute("SELECT id, kind, reasons FROM pages WHERE id = ?", (page_id,)).fetchone()
    if page is None:
        raise InputError(f"Không có trang số {page_id}.", f"There is no page {page_id}.")
    return page


def _machine_row(conn: sqlite3.Connection, page_id: int, person: int) -> sqlite3.Row:
    row = conn.execute(
        "SELECT marks, choice, reasons FROM rows WHERE page_id = ? AND person = ?", (page_id, person)
    ).fetchone()
    if row is None:
        raise InputError(
            f"Trang số {page_id} không có dòng của người số {person}.",
            f"Page {page_id} has no line for person {person}.",
        )
    return row


def _check_note(differs: bool, note: str) -> str:
    note = " ".join((note or "").split())
    if len(note) > MAX_NOTE:
        raise InputError(
            f"Ghi chú quá dài (tối đa {MAX_NOTE} ký tự).", f"The note is too long (at most {MAX_NOTE} characters)."
        )
    if differs and not note:
        raise InputError(
            "Quyết định khác với kết quả máy đọc: hãy ghi chú ngắn lý do.",
            "The decision differs from the machine's reading: add a short note saying why.",
        )
    return note


def _validate(conn: sqlite3.Connection, page_id: int, person: int | None, after: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Check ``after``; return it canonicalised, the machine reading, and whether it differs."""
    page = _page(conn, page_id)
    if person is not None:
        machine = _machine_row(conn, page_id, person)
        canonical = row_after(row_word(str(after.get("marks")), after.get("choice")))
        if canonical != {"marks": after.get("marks"), "choice": after.get("choice")} or set(after) - {"marks", "choice"}:
            raise InputError("Cách đọc dòng không hợp lệ.", "The line reading is not valid.")
        machine_after = row_after(row_word(machine["marks"], machine["choice"]))
        return {"marks": machine["marks"], "choice": machine["choice"]}, canonical != machine_after
    verdict = after.get("verdict")
    if verdict not in BALLOT_VERDICTS:
        raise InputError(
            f"Quyết định '{verdict}' không hợp lệ; chọn một trong {', '.join(BALLOT_VERDICTS)}.",
            f"Unknown verdict '{verdict}'; use one of {', '.join(BALLOT_VERDICTS)}.",
        )
    reasons = tuple(json.loads(page["reasons"]))
    offer = ballot_offer(page["kind"], reasons)
    machine_doc = {"kind": page["kind"], "reasons": list(reasons)}
    if verdict == "name_crossed":
        persons = after.get("persons")
        if not isinstance(persons, list) or not persons or not all(isinstance(p, int) for p in persons):
            raise InputError(
                "Hãy cho biết họ tên nào bị gạch xoá.", "Say which printed names are crossed out."
            )
        if set(after) != {"verdict", "persons"}:
            raise InputError("Quyết định không hợp lệ.", "The decision is not valid.")
        flagged = set()
        for p in persons:
            flagged.add(R_CROSSED in json.loads(_machine_row(conn, page_id, p)["reasons"]))
        return machine_doc, flagged != {True}
    if set(after) != {"verdict"}:
        raise InputError("Quyết định không hợp lệ.", "The decision is not valid.")
    if verdict not in offer.verdicts:
        raise InputError(
            f"Quyết định '{verdict}' không áp dụng cho trang này.",
            f"The verdict '{verdict}' does not apply to this page.",
        )
    return machine_doc, bool(offer.agreeing) and verdict not in offer.agreeing


def _insert(
    conn: sqlite3.Connection,
    *,
    page_id: int,
    person: int | None,
    reviewer: str,
    decided_at: str,
    before: dict[str, Any],
    after: dict[str, Any],
    note: str,
    undoes: int | None,
) -> RecordedDecision:
    cur = conn.execute(
        "INSERT INTO decisions(page_id, person, reviewer, decided_at, before, after, note, undoes)"
        " VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
        (page_id, person, reviewer, decided_at, dumps(before), dumps(after), note, undoes),
    )
    decision_id = int(cur.lastrowid or 0)
    digest = append_entry(conn, decision_id)
    return RecordedDecision(decision_id, page_id, person, reviewer, decided_at, before, after, note, undoes, digest)


def _stamp(clock: Clock) -> str:
    return clock().astimezone(UTC).isoformat(timespec="seconds")


def record_decision(
    conn: sqlite3.Connection,
    *,
    page_id: int,
    person: int | None,
    reviewer: str,
    after: dict[str, Any],
    note: str = "",
    two_person: bool = False,
    clock: Clock = utc_now,
) -> RecordedDecision:
    """Record a human decision and its audit entry in one transaction.

    Parameters
    ----------
    conn
        The workspace database (:func:`kiemphieu.db.connect`, autocommit mode).
    page_id, person
        The page, and the person (STT) for a row decision or None for a ballot decision.
    reviewer
        Who decides.
    after
        The decision document (see :mod:`kiemphieu.readings`); for a row use :func:`row_after`.
    note
        Required when the decision differs from the machine's reading.
    two_person
        The session's two-person rule: decides what ``before`` (the standing decision) is.
    clock
        Returns the current time (injected by tests).

    Returns
    -------
    RecordedDecision

    Raises
    ------
    InputError
        Unknown page or line, a malformed decision, a verdict not offered for the
        page, a missing note, an empty reviewer name. Nothing is written then.
    """
    reviewer = clean_reviewer(reviewer)
    conn.execute("BEGIN IMMEDIATE")
    try:
        machine, differs = _validate(conn, page_id, person, dict(after))
        note = _check_note(differs, note)
        standing, _ = standing_decisions(conn, two_person=two_person)
        before = standing.get((page_id, person), machine)
        recorded = _insert(
            conn, page_id=page_id, person=person, reviewer=reviewer, decided_at=_stamp(clock),
            before=before, after=dict(after), note=note, undoes=None,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return recorded


def live_decisions(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Decisions that are neither undo entries nor undone, oldest first."""
    return list(
        conn.execute(
            "SELECT * FROM decisions d WHERE d.undoes IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id) ORDER BY d.id"
        )
    )


def undo_decision(
    conn: sqlite3.Connection,
    *,
    reviewer: str,
    decision_id: int | None = None,
    note: str = "",
    clock: Clock = utc_now,
) -> RecordedDecision:
    """Withdraw a decision of ``reviewer`` (by default their latest) with a new entry.

    Raises
    ------
    InputError
        Nothing to undo, an unknown decision, one already withdrawn, or one made by
        another reviewer.
    """
    reviewer = clean_reviewer(reviewer)
    conn.execute("BEGIN IMMEDIATE")
    try:
        live = live_decisions(conn)
        if decision_id is None:
            mine = [d for d in live if d["reviewer"] == reviewer]
            if not mine:
                raise InputError(
                    f"{reviewer} chưa có quyết định nào để hoàn tác.", f"{reviewer} has no decision to undo."
                )
            target: sqlite3.Row | None = mine[-1]
        else:
            target = next((d for d in live if d["id"] == decision_id), None)
            if target is None:
                raise InputError(
                    f"Quyết định số {decision_id} không có hoặc đã được hoàn tác.",
                    f"Decision {decision_id} does not exist or was already undone.",
                )
        assert target is not None
        if target["reviewer"] != reviewer:
            raise InputError(
                f"Chỉ {target['reviewer']} mới hoàn tác được quyết định số {decision_id}.",
                f"Only {target['reviewer']} may undo decision {decision_id}.",
            )
        recorded = _insert(
            conn, page_id=int(target["page_id"]), person=target["person"], reviewer=reviewer,
            decided_at=_stamp(clock), before=json.loads(target["after"]), after={"undo": int(target["id"])},
            note=_check_note(False, note), undoes=int(target["id"]),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return recorded
