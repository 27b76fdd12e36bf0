"""The tally: what the counting committee announces and signs.

:func:`compute_tally` turns the merged page readings into one
:class:`PersonTally` per person on the list, plus the checks that stop or warn
(quorum, more ballots collected than issued, pages waiting for review).
Counts are integers; shares are exact :class:`fractions.Fraction`; flags are
decided with integer comparisons only (10 low of 15 collected is exactly 2/3).

A provisional tally (pages still wait for review) counts only settled lines: a
pending line is counted in ``pending``, never in valid or invalid, so for every
person ``valid + invalid + pending == collected``; in a final tally
``pending == 0``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Literal

from kiemphieu.errors import InputError, NoQuorumError, PendingReviewError
from kiemphieu.i18n import tr
from kiemphieu.layout import Layout
from kiemphieu.readings import PageReading
from kiemphieu.rules import PageJudgement, RuleSet, ballot_key, get_rule_set, judge_readings
from kiemphieu.session import Session, Workspace

Flag = Literal["over_half", "two_thirds"]
Severity = Literal["stop", "warn"]
LEVEL_NAMES = ("high", "medium", "low")


def flag_for(low: int, collected: int) -> Flag | None:
    """The flag for ``low`` of ``collected`` ballots, decided with integers only.

    ``two_thirds`` when ``3 * low >= 2 * collected``; ``over_half`` when
    ``2 * low > collected`` (and below 2/3); else None.
    """
    if collected <= 0:
        return None
    if 3 * low >= 2 * collected:
        return "two_thirds"
    if 2 * low > collected:
        return "over_half"
    return None


def percent_text(count: int, total: int) -> str:
    """``count / total`` as a percentage with 2 decimals, rounded half up, exactly."""
    if total <= 0:
        return "—"
    value = (Decimal(count) * 100 / Decimal(total)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{value}"


@dataclass(frozen=True)
class PersonTally:
    """One person's result.

    ``collected`` counts the collected ballot pages carrying the person's line
    (plus, while provisional, lines on pages still waiting for a decision);
    ``valid + invalid + pending == collected`` always.
    """

    stt: int
    name: str
    position: str
    issued: int | None
    collected: int
    valid: int
    invalid: int
    pending: int
    high: int
    medium: int
    low: int
    flag: Flag | None

    def count(self, level: str) -> int:
        return {"high": self.high, "medium": self.medium, "low": self.low}[level]

    def share(self, level: str) -> Fraction:
        """Exact share of ``level`` among ballots collected (0 when none collected)."""
        return Fraction(self.count(level), self.collected) if self.collected else Fraction(0)

    def percent(self, level: str) -> str:
        """The percentage of ``level`` among ballots collected, 2 decimals."""
        return percent_text(self.count(level), self.collected)


@dataclass(frozen=True)
class Check:
    """A condition the committee must see: ``stop`` refuses a final tally, ``warn`` informs."""

    code: str
    severity: Severity
    vi: str
    en: str

    @property
    def text(self) -> str:
        return tr(self.vi, self.en)


@dataclass(frozen=True)
class Tally:
    """The whole result of one conference (one workspace)."""

    session: Session
    rules: RuleSet
    rows: tuple[PersonTally, ...]
    ballots_collected: int
    ballots_valid: int  # every line valid
    ballots_invalid: int  # every line invalid
    ballots_partly_valid: int  # some lines valid, some invalid
    ballots_pending: int  # a line still waits for review
    pending_pages: int
    checks: tuple[Check, ...]

    @property
    def provisional(self) -> bool:
        return self.pending_pages > 0

    @property
    def quorum(self) -> bool | None:
        """True when at least 2/3 of those summoned are present; None if not entered."""
        if self.session.present is None:
            return None
        return 3 * self.session.present >= 2 * self.session.summoned

    @property
    def stops(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.severity == "stop")

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.severity == "warn")

    @property
    def status_text(self) -> str:
        """``CHÍNH THỨC`` / ``TẠM TÍNH`` sentence shown on every output."""
        if self.provisional:
            return tr(
                f"TẠM TÍNH — còn {self.pending_pages} trang chờ xem xét; kết quả chưa chính thức.",
                f"PROVISIONAL — {self.pending_pages} page(s) still wait for review; not the final result.",
            )
        return tr("Kết quả đã kiểm xong tất cả các trang.", "All pages have been counted.")


def _checks(
    session: Session, *, ballots_collected: int, papers: int, pending_pages: int, unattributed: int
) -> tuple[Check, ...]:
    checks: list[Check] = []
    if session.present is None:
        checks.append(Check(
            "present_unknown", "stop",
            "Chưa nhập số người có mặt (--present): chưa kiểm tra được điều kiện 2/3 số người được triệu tập.",
            "The number present is not entered (--present): the 2/3 quorum cannot be checked.",
        ))
    elif 3 * session.present < 2 * session.summoned:
        checks.append(Check(
            "no_quorum", "stop",
            f"Có mặt {session.present}/{session.summoned} người, dưới 2/3 số người được triệu tập: "
            "hội nghị không đủ điều kiện tiến hành.",
            f"{session.present} of {session.summoned} present, below 2/3 of those summoned: "
            "the conference could not be held.",
        ))
    if session.issued is None:
        checks.append(Check(
            "issued_unknown", "warn",
            "Chưa nhập số phiếu phát ra (--issued).", "The number of ballots issued is not entered (--issued).",
        ))
    elif ballots_collected > session.issued:
        checks.append(Check(
            "over_issued", "stop",
            f"CẢNH BÁO: số phiếu thu về ({ballots_collected}) lớn hơn số phiếu phát ra ({session.issued}).",
            f"WARNING: more ballots collected ({ballots_collected}) than issued ({session.issued}).",
        ))
    if session.counted is None:
        checks.append(Check(
            "counted_unknown", "stop",
            "Chưa nhập số phiếu ban kiểm phiếu đếm được trong thùng phiếu (--counted): chưa đối chiếu được với "
            "số phiếu đã quét.",
            "The number of ballots the committee counted in the ballot box is not entered (--counted): the "
            "ballots scanned cannot be checked against it.",
        ))
    elif session.counted != papers:
        checks.append(Check(
            "count_mismatch", "stop",
            f"CẢNH BÁO: ban kiểm phiếu đếm được {session.counted} phiếu trong thùng phiếu, nhưng đã đọc được "
            f"{papers} phiếu từ các bản quét. Có thể có phiếu chưa được quét (kẹt giấy, hai tờ "
            "bị kéo cùng lúc), trang chưa xem xét xong, hoặc số đếm chưa đúng.",
            f"WARNING: the committee counted {session.counted} ballots in the ballot box, but {papers} "
            "ballots were read from the scans. Some may not have been scanned (a jam, two sheets "
            "fed together), pages may still wait for review, or the count may be wrong.",
        ))
    if session.present is not None and ballots_collected > session.present:
        checks.append(Check(
            "over_present", "warn",
            f"Số phiếu thu về ({ballots_collected}) lớn hơn số người có mặt ({session.present}).",
            f"More ballots collected ({ballots_collected}) than persons present ({session.present}).",
        ))
    if unattributed:
        checks.append(Check(
            "unattributed", "warn",
            f"{unattributed} trang được tính là phiếu thu về nhưng không xác định được trang nào của phiếu.",
            f"{unattributed} collected page(s) could not be matched to a page of the ballot.",
        ))
    if pending_pages:
        checks.append(Check(
            "pending", "warn",
            f"TẠM TÍNH: còn {pending_pages} trang chờ xem xét.",
            f"PROVISIONAL: {pending_pages} page(s) still wait for review.",
        ))
    return tuple(checks)


def _ballot_papers(judged: Sequence[PageJudgement]) -> int:
    """The ballot papers the collected pages are, to set beside the committee's count of the ballot box.

    A ballot's token groups its pages (:func:`_count_ballots` counts it once), but a photocopy of a
    ballot, decided not issued, is one more paper in the box with the same token: a ballot is as many
    papers as the most pages read of any one of its layout pages. A second scan of the same paper
    (``duplicate_copy``) is not collected. Pages without a token count as :func:`_count_ballots` counts them.
    """
    pages: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for j in judged:
        if j.state == "collected":
            key = ballot_key(j.page) if j.page.token else ("untokened", "")
            pages[key][j.page.layout_page or 1] += 1
    return sum(max(count.values()) for count in pages.values())


def _count_ballots(judged: Sequence[PageJudgement]) -> tuple[int, int, int, int, int]:
    """Distinct collected ballots: (collected, valid, invalid, partly valid, pending).

    Pages with a token group by token. Pages without a token cannot be grouped:
    they count as many ballots as the most frequent layout page among them.
    """
    groups: dict[tuple[str, str], list[PageJudgement]] = defaultdict(list)
    untokened_by_page: dict[int, list[PageJudgement]] = defaultdict(list)
    for j in judged:
        if j.state != "collected":
            continue
        if j.page.token:
            groups[ballot_key(j.page)].append(j)
        else:
            untokened_by_page[j.page.layout_page or 1].append(j)
    # untokened pages: the k-th page (by page id) of each layout page makes ballot k. The
    # ballot count does not depend on this pairing; only the valid / partly valid split of
    # untokened multi-page ballots does.
    for pages in untokened_by_page.values():
        for k, j in enumerate(sorted(pages, key=lambda j: j.page.page_id)):
            groups[("untokened", str(k))].append(j)
    valid = invalid = partly = pending = 0
    for pages in groups.values():
        lines = [line for j in pages for line in j.lines]
        if any(line.pending for line in lines):
            pending += 1
        elif lines and all(line.valid for line in lines):
            valid += 1
        elif all(line.valid is False for line in lines):
            invalid += 1
        else:
            partly += 1
    return len(groups), valid, invalid, partly, pending


def compute_tally(session: Session, readings: Sequence[PageReading], *, layout: Layout | None = None) -> Tally:
    """Apply the session's rule set to the readings and count, per person.

    Parameters
    ----------
    session : Session
        The conference: persons, summoned / present / issued, rule set and the
        crossed-name option.
    readings : sequence of PageReading
        From :func:`kiemphieu.readings.load_readings`; the order does not matter.
    layout : Layout, optional
        The ballot layout, used to know which persons a page without line
        readings carries (a foreign ballot decided ``not_issued``). Without it a
        single-page ballot is assumed to carry every person.

    Returns
    -------
    Tally
        ``provisional`` while any page waits for review.
    """
    rules = get_rule_set(session.rule_set)
    if layout is not None:
        page_persons = {p.page: tuple(r.person for r in p.rows) for p in layout.pages}
    elif all((p.layout_page or 1) == 1 for p in readings):
        page_persons = {1: tuple(p.stt for p in session.persons)}
    else:
        page_persons = {}
    ordered = sorted(readings, key=lambda p: (p.source, p.page_index, p.page_id))
    judged = judge_readings(
        ordered, rules=rules, crossed_scope=session.crossed_name_invalidates, page_persons=page_persons
    )
    known = {p.stt for p in session.persons}
    counts: dict[int, dict[str, int]] = {stt: defaultdict(int) for stt in known}
    for j in judged:
        if j.state == "excluded":
            continue
        for line in j.lines:
            if line.person not in known:
                raise InputError(
                    f"Trang {j.page.source} #{j.page.page_index + 1} có dòng của người số {line.person}, "
                    "không có trong danh sách.",
                    f"Page {j.page.source} #{j.page.page_index + 1} has a line for person {line.person}, "
                    "who is not on the list.",
                )
            c = counts[line.person]
            c["collected"] += 1
            if line.valid is None:
                c["pending"] += 1
            elif line.valid:
                c["valid"] += 1
                c[str(line.choice)] += 1
            else:
                c["invalid"] += 1
    rows = tuple(
        PersonTally(
            stt=p.stt,
            name=p.name,
            position=p.position,
            issued=session.issued,
            collected=counts[p.stt]["collected"],
            valid=counts[p.stt]["valid"],
            invalid=counts[p.stt]["invalid"],
            pending=counts[p.stt]["pending"],
            high=counts[p.stt]["high"],
            medium=counts[p.stt]["medium"],
            low=counts[p.stt]["low"],
            flag=flag_for(counts[p.stt]["low"], counts[p.stt]["collected"]),
        )
        for p in session.persons
    )
    collected, valid, invalid, partly, pending_ballots = _count_ballots(judged)
    pending_pages = sum(1 for p in readings if p.pending)
    unattributed = sum(1 for j in judged if j.state == "collected" and not j.lines)
    checks = _checks(session, ballots_collected=collected, papers=_ballot_papers(judged), pending_pages=pending_pages,
                     unattributed=unattributed)
    return Tally(
        session=session,
        rules=rules,
        rows=rows,
        ballots_collected=collected,
        ballots_valid=valid,
        ballots_invalid=invalid,
        ballots_partly_valid=partly,
        ballots_pending=pending_ballots,
        pending_pages=pending_pages,
        checks=checks,
    )


def tally_workspace(ws: Workspace) -> Tally:
    """Open the workspace's database, load the session and readings, and count."""
    from kiemphieu.readings import workspace_readings

    state = workspace_readings(ws)
    return compute_tally(state.session, state.readings, layout=state.layout)


def require_final(tally: Tally) -> None:
    """Raise unless the tally may be announced as final (and the minutes signed).

    Raises
    ------
    PendingReviewError
        Pages still wait for review.
    NoQuorumError
        Fewer than 2/3 of those summoned were present (or the number present is unknown).
    InputError
        More ballots collected than issued, or not as many as the committee counted in the ballot box, or
        that count not entered.
    """
    if tally.pending_pages:
        raise PendingReviewError(
            f"Còn {tally.pending_pages} trang chờ xem xét: chưa thể lập kết quả chính thức. "
            "Hãy xem xét hết các phiếu ('kiemphieu review') rồi chạy lại.",
            f"{tally.pending_pages} page(s) still wait for review: the result cannot be final yet. "
            "Finish the review ('kiemphieu review') and run again.",
        )
    require_quorum(tally)
    for check in tally.stops:
        if check.code == "over_issued":
            raise InputError(
                check.vi + " Hãy kiểm tra lại số phiếu phát ra (--issued) và các bản quét.",
                check.en + " Check the number issued (--issued) and the scans.",
            )
        if check.code == "counted_unknown":
            raise InputError(
                check.vi + " Hãy nhập số phiếu đếm được trong thùng phiếu (--counted) trước khi lập kết quả "
                "chính thức: một tờ phiếu máy quét không chụp được (kẹt giấy, hai tờ bị kéo cùng lúc) chỉ lộ ra khi "
                "so với số đếm này.",
                check.en + " Enter the number counted in the ballot box (--counted) before the final result: a "
                "sheet the scanner never imaged (a jam, two sheets fed together) shows only against that count.",
            )
        if check.code == "count_mismatch":
            raise InputError(
                check.vi + " Hãy đếm lại, quét những phiếu còn thiếu ('kiemphieu scan') hoặc nhập lại số "
                "đếm được (--counted).",
                check.en + " Count again, scan the missing ballots ('kiemphieu scan') or enter the count "
                "again (--counted).",
            )


def require_quorum(tally: Tally) -> None:
    """Raise :class:`NoQuorumError` when the conference could not be held (or present is unknown)."""
    for check in tally.stops:
        if check.code in ("no_quorum", "present_unknown"):
            raise NoQuorumError(check.vi, check.en)
