"""The results export: one row per (scanned page, person), for auditors.

``kiemphieu export DIR --results results.csv`` writes the columns
``source,page,ballot,person,marks,choice,valid,reasons,status``:

* ``source`` the file path relative to the scanned folder, ``page`` 1-based in the file;
* ``ballot`` the ballot token (empty without one), ``person`` the STT (empty for a
  page that yields no person rows: blank, unreadable, foreign, rejected);
* ``marks`` none|one|multiple and ``choice`` high|medium|low, after human review;
* ``valid`` yes|no under the session's rule set, empty while the line waits for review;
* ``reasons`` semicolon-separated codes: page-level and row-level machine reasons,
  then the rule's invalidity reasons;
* ``status`` auto|review|reviewed|rejected.

Rows are sorted by (source, page, person) and written as plain UTF-8 with ``\\n``
line ends, so the SHA-256 of the export is stable; the counting minutes print it.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

from kiemphieu.layout import Layout
from kiemphieu.readings import PageReading
from kiemphieu.rules import (
    EXCLUDED_DUPLICATE,
    EXCLUDED_NOT_BALLOT,
    LineVerdict,
    PageJudgement,
    get_rule_set,
    judge_readings,
)
from kiemphieu.session import Session, Workspace

RESULT_COLUMNS = ("source", "page", "ballot", "person", "marks", "choice", "valid", "reasons", "status")


@dataclass(frozen=True)
class ResultRow:
    """One row of the results export."""

    source: str
    page: int
    ballot: str
    person: int | None
    marks: str
    choice: str
    valid: str  # yes | no | "" (pending)
    reasons: tuple[str, ...]
    status: str

    def sort_key(self) -> tuple[str, int, int]:
        return (self.source, self.page, -1 if self.person is None else self.person)

    def cells(self) -> list[str]:
        return [
            self.source, str(self.page), self.ballot, "" if self.person is None else str(self.person),
            self.marks, self.choice, self.valid, ";".join(self.reasons), self.status,
        ]


def _unique(codes: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for c in codes if c))


def _valid_text(line: LineVerdict) -> str:
    if line.page_state == "excluded":
        return "no"
    return "" if line.valid is None else ("yes" if line.valid else "no")


def _page_rows(j: PageJudgement) -> list[ResultRow]:
    p = j.page
    source, page, token, status = p.source, p.page_index + 1, p.token or "", p.status
    read = {r.person: r for r in p.rows}
    rows = []
    for line in j.lines:
        r = read.get(line.person)
        if r is None:  # inferred from the layout: no reading to export
            continue
        rows.append(ResultRow(
            source, page, token, line.person, r.marks, r.choice or "", _valid_text(line),
            _unique([*p.reasons, *r.reasons, *line.reasons]), status,
        ))
    if rows:
        return rows
    extra: tuple[str, ...] = ()
    if j.state == "excluded":
        valid = "no"
        if p.verdict in ("duplicate_copy", "not_a_ballot"):
            extra = (EXCLUDED_DUPLICATE if p.verdict == "duplicate_copy" else EXCLUDED_NOT_BALLOT,)
    elif j.ballot_reasons:
        valid, extra = "no", j.ballot_reasons
    else:
        valid = ""  # pending, or a collected page without readings: not settled
    return [ResultRow(source, page, token, None, "", "", valid, _unique([*p.reasons, *extra]), status)]


def result_rows(
    session: Session, readings: Sequence[PageReading], *, layout: Layout | None = None
) -> tuple[ResultRow, ...]:
    """Every (page, person) row of the export, sorted by (source, page, person)."""
    page_persons = {p.page: tuple(r.person for r in p.rows) for p in layout.pages} if layout else None
    judged = judge_readings(
        readings, rules=get_rule_set(session.rule_set), crossed_scope=session.crossed_name_invalidates,
        page_persons=page_persons,
    )
    rows = [r for j in judged for r in _page_rows(j)]
    return tuple(sorted(rows, key=ResultRow.sort_key))


def results_csv(rows: Sequence[ResultRow]) -> bytes:
    """The export as plain UTF-8 CSV bytes with ``\\n`` line ends (no BOM)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for r in rows:
        writer.writerow(r.cells())
    return buffer.getvalue().encode("utf-8")


def results_csv_bytes(ws: Workspace) -> bytes:
    """The results export of a workspace, computed now from its database."""
    from kiemphieu.readings import workspace_readings

    state = workspace_readings(ws)
    return results_csv(result_rows(state.session, state.readings, layout=state.layout))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
