"""Compare what the scanner recorded with the simulator's truth.

The categories are those of the accuracy benchmark. Silent errors — the ones a
committee would never see — are: a row auto-counted wrongly, an ambiguous row
not sent to review, a crossed-out name or written-in text not flagged, a
foreign or duplicate ballot counted, a page lost. Their target is zero.
Clear rows sent to review cost the committee time but never a wrong count.

A crossed-out name counts as flagged when its row carries ``name_crossed`` or
``red_ink``: a name struck in an ink the seal's dropout hides is found on the colour
scan as such ink over the name, and its row goes to a human who sees the strike.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

from calibration.truth import Truth
from kiemphieu import readings as R

#: styles that fill a box: read as a possibly cancelled mark and sent to review by policy
FILLED = ("fill", "hatch")


@dataclass(frozen=True)
class Miss:
    category: str
    source: str
    page: int
    person: int | None
    detail: str


@dataclass(frozen=True)
class Evaluation:
    pages: int
    rows: int
    clear_rows: int
    ambiguous_rows: int
    counts: dict[str, int]
    misses: tuple[Miss, ...] = field(default_factory=tuple)

    SILENT = ("wrong_auto_count", "ambiguous_not_reviewed", "crossed_not_flagged", "writing_not_flagged",
              "foreign_counted", "duplicate_counted", "page_lost")

    @property
    def silent_errors(self) -> int:
        return sum(self.counts.get(c, 0) for c in self.SILENT)

    @property
    def clear_review_rate(self) -> float:
        return self.counts.get("clear_row_reviewed", 0) / max(1, self.clear_rows)

    def report(self) -> str:
        lines = [
            f"pages {self.pages}, rows {self.rows} (clear {self.clear_rows}, ambiguous {self.ambiguous_rows})",
            f"silent errors: {self.silent_errors}",
        ]
        for c in self.SILENT:
            lines.append(f"  {c}: {self.counts.get(c, 0)}")
        lines.append(f"clear rows sent to review: {self.counts.get('clear_row_reviewed', 0)} "
                     f"({100 * self.clear_review_rate:.2f}%)")
        lines.append(f"pages flagged without a page-level cause: {self.counts.get('page_false_flag', 0)}")
        for m in self.misses[:30]:
            lines.append(f"  MISS {m.category}: {m.source} p{m.page} person {m.person}: {m.detail}")
        return "\n".join(lines)


def evaluate(conn: sqlite3.Connection, truth: Truth) -> Evaluation:
    """Score the database against ``truth`` (pages matched by source path and page number)."""
    pages = {(r["source"], r["page_index"] + 1): r for r in conn.execute("SELECT * FROM pages")}
    rows_by_page: dict[int, dict[int, sqlite3.Row]] = {}
    for r in conn.execute("SELECT * FROM rows"):
        rows_by_page.setdefault(r["page_id"], {})[r["person"]] = r
    counts: Counter[str] = Counter()
    misses: list[Miss] = []
    n_rows = clear = ambiguous = 0

    def miss(cat: str, src: str, page: int, person: int | None, detail: str) -> None:
        counts[cat] += 1
        misses.append(Miss(cat, src, page, person, detail))

    for t in truth.pages:
        p = pages.get((t.source, t.page))
        if p is None:
            miss("page_lost", t.source, t.page, None, "no record")
            continue
        page_reasons = set(json.loads(p["reasons"]))
        if t.kind == "blank":
            if p["kind"] == "ballot":
                miss("wrong_auto_count", t.source, t.page, None, "blank page read as a ballot")
            elif t.back_writing and R.R_BACK_WRITING not in page_reasons:
                miss("writing_not_flagged", t.source, t.page, None, "writing on a blank back not flagged")
            elif not t.back_writing and R.R_BACK_WRITING in page_reasons:
                counts["page_false_flag"] += 1
            continue
        if t.kind == "foreign":
            if p["kind"] == "ballot":
                miss("foreign_counted", t.source, t.page, None, "ballot of another session counted")
            continue
        if t.kind == "duplicate":
            # the second scan of a ballot: a human keeps one copy; its rows are judged on the original
            if R.R_DUPLICATE not in page_reasons:
                miss("duplicate_counted", t.source, t.page, None, "second scan of a ballot not flagged")
            continue
        if p["kind"] != "ballot":
            # not read as a ballot: it goes to a human, nothing is counted from it
            counts["ballot_not_read"] += 1
            continue
        if t.layout_page != p["layout_page"]:
            miss("wrong_auto_count", t.source, t.page, None, f"layout page {p['layout_page']} != {t.layout_page}")
            continue
        machine_rows = rows_by_page.get(p["id"], {})
        crossed_flagged = {person for person, r in machine_rows.items()
                           if {R.R_CROSSED, R.R_RED} & set(json.loads(r["reasons"]))}
        for person in t.crossed:
            if person not in crossed_flagged:
                miss("crossed_not_flagged", t.source, t.page, person, "crossed-out name not flagged")
        if t.writing and R.R_WRITING not in page_reasons:
            miss("writing_not_flagged", t.source, t.page, None, "written-in text not flagged")
        if t.back_writing and R.R_WRITING_ON_BACK not in page_reasons:
            miss("writing_not_flagged", t.source, t.page, None, "the writing on its back not flagged")
        expected = {R.R_DUPLICATE} | ({R.R_WRITING} if t.writing else set()) | (
            {R.R_WRITING_ON_BACK} if t.back_writing else set())
        if page_reasons - expected:
            counts["page_false_flag"] += 1
        for rt in t.rows:
            n_rows += 1
            r = machine_rows.get(rt.person)
            if r is None:
                miss("page_lost", t.source, t.page, rt.person, "row missing")
                continue
            reasons = set(json.loads(r["reasons"]))
            if rt.person in t.crossed:  # flagged for its crossed-out name, which is right; judge the marks
                reasons -= {R.R_CROSSED}
            reviewed = bool(reasons)
            if rt.expect == "review":
                ambiguous += 1
                if not reviewed:
                    miss("ambiguous_not_reviewed", t.source, t.page, rt.person,
                         f"{rt.styles} read as {r['marks']}/{r['choice']}")
                continue
            if rt.expect == "multiple":
                # two or three marks: a clear reading that still goes to a human, by policy
                counts["multiple_reviewed" if reviewed else "multiple_not_reviewed"] += 1
                if r["marks"] != "multiple" and not reviewed:
                    miss("wrong_auto_count", t.source, t.page, rt.person,
                         f"{rt.styles}: truth multiple, read {r['marks']}/{r['choice']}")
                continue
            if reasons == {R.R_STREAK} and t.scan.get("streak_x_mm") is not None:
                # a scanner streak through a box sends its row to review by rule (issue 3): policy, not a miss
                counts["streak_reviewed"] += 1
                continue
            clear += 1
            if reviewed:
                counts["clear_row_reviewed"] += 1
                if reasons == {R.R_SCRIBBLE} and any(st.split("+")[0] in FILLED for st in rt.styles.values()):
                    counts["clear_filled_reviewed"] += 1  # the filled-box policy: a part of the above
                misses.append(Miss("clear_row_reviewed", t.source, t.page, rt.person, f"{rt.styles} {sorted(reasons)}"))
                continue
            if r["marks"] != rt.expect or (rt.expect == "one" and r["choice"] != rt.choice):
                miss("wrong_auto_count", t.source, t.page, rt.person,
                     f"{rt.styles}: truth {rt.expect}/{rt.choice}, read {r['marks']}/{r['choice']}")
    misses.sort(key=lambda m: (m.category not in Evaluation.SILENT, m.category))
    return Evaluation(len(truth.pages), n_rows, clear, ambiguous, dict(counts), tuple(misses))
