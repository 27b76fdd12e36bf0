"""Validity rules: which person-lines on which ballots count.

The two rule sets are data (:data:`RULE_SETS`), not scattered ``if``\\ s:

* ``qd96-2023`` — Quy định 96-QĐ/TW (2023): a person's line is invalid with no
  box or two or three boxes marked; a crossed-out printed name invalidates that
  person's line or the whole ballot (a session option, shown in every report);
  written-in names invalidate only the written part; a ballot not issued by the
  counting committee is invalid; a signature is allowed.
* ``qd262-2014`` — Quy định 262-QĐ/TW (2014): the same, except that any extra
  name or other information written on the ballot invalidates the whole ballot.

:func:`judge_readings` applies a rule set to the merged readings (machine reading
plus standing human decisions, see :mod:`kiemphieu.readings`) and gives each
person-line a :class:`LineVerdict`: valid, invalid (with reason codes) or still
pending review. Whole-ballot effects on a multi-page ballot apply to every page
that carries the same ballot token.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from kiemphieu.errors import InputError
from kiemphieu.i18n import tr
from kiemphieu.readings import PageReading, RowReading

Scope = Literal["person", "ballot"]
WritingEffect = Literal["written_part", "ballot"]
PageState = Literal["collected", "pending", "excluded"]

# rule (invalidity) reason codes ------------------------------------------------
INV_NO_MARK = "inv_no_mark"
INV_MULTIPLE = "inv_multiple_marks"
INV_NAME_CROSSED = "inv_name_crossed"
INV_BALLOT_CROSSED = "inv_ballot_name_crossed"
INV_EXTRA_WRITING = "inv_extra_writing"
INV_NOT_ISSUED = "inv_not_issued"
EXCLUDED_DUPLICATE = "excluded_duplicate_copy"
EXCLUDED_NOT_BALLOT = "excluded_not_a_ballot"

RULE_REASON_TEXT: dict[str, tuple[str, str]] = {
    INV_NO_MARK: ("Không đánh dấu ô nào", "No box marked"),
    INV_MULTIPLE: ("Đánh dấu hai hoặc ba ô", "Two or three boxes marked"),
    INV_NAME_CROSSED: ("Họ tên in trên phiếu bị gạch xoá", "Printed name crossed out"),
    INV_BALLOT_CROSSED: (
        "Phiếu có họ tên in sẵn bị gạch xoá (cả phiếu không hợp lệ)",
        "A printed name on the ballot is crossed out (whole ballot invalid)",
    ),
    INV_EXTRA_WRITING: (
        "Phiếu ghi thêm tên người hoặc thông tin khác (cả phiếu không hợp lệ)",
        "Extra name or information written on the ballot (whole ballot invalid)",
    ),
    INV_NOT_ISSUED: ("Phiếu không do ban kiểm phiếu phát ra", "Ballot not issued by the counting committee"),
    EXCLUDED_DUPLICATE: ("Bản quét trùng, không tính", "Duplicate scan, not counted"),
    EXCLUDED_NOT_BALLOT: ("Không phải phiếu, không tính", "Not a ballot, not counted"),
}


@dataclass(frozen=True)
class Consequence:
    """How a rule set words a flag and what it entails (vi, en)."""

    label_vi: str
    label_en: str
    consequence_vi: str
    consequence_en: str

    @property
    def label(self) -> str:
        return tr(self.label_vi, self.label_en)

    @property
    def consequence(self) -> str:
        return tr(self.consequence_vi, self.consequence_en)


@dataclass(frozen=True)
class RuleSet:
    """One regulation's validity rules and flag wording.

    Attributes
    ----------
    rule_id : str
        ``qd96-2023`` or ``qd262-2014``.
    invalid_marks : tuple of str
        Line readings (``marks``) that make a person's line invalid.
    extra_writing : {"written_part", "ballot"}
        What written-in names or information invalidate.
    not_issued_invalid : bool
        A ballot not issued by the counting committee is invalid.
    signature_allowed : bool
        The voter may sign the ballot; a signature is not extra writing.
    over_half, two_thirds : Consequence
        Wording of the two flags.
    """

    rule_id: str
    title_vi: str
    title_en: str
    invalid_marks: tuple[str, ...]
    extra_writing: WritingEffect
    not_issued_invalid: bool
    signature_allowed: bool
    over_half: Consequence
    two_thirds: Consequence

    @property
    def title(self) -> str:
        return tr(self.title_vi, self.title_en)

    def describe(self, *, crossed_scope: str) -> list[str]:
        """The rules applied, one sentence each, in the selected language."""
        crossed = (
            tr("chỉ dòng của người bị gạch tên không hợp lệ", "only the crossed-out person's line is invalid")
            if crossed_scope == "person"
            else tr("cả phiếu không hợp lệ", "the whole ballot is invalid")
        )
        writing = (
            tr("chỉ phần ghi thêm không hợp lệ", "only the written-in part is invalid")
            if self.extra_writing == "written_part"
            else tr("cả phiếu không hợp lệ", "the whole ballot is invalid")
        )
        return [
            tr(f"Quy định áp dụng: {self.title_vi}.", f"Rules applied: {self.title_en}."),
            tr(
                "Không đánh dấu ô nào hoặc đánh dấu hai, ba ô: không hợp lệ đối với người đó.",
                "No box, or two or three boxes marked: invalid for that person.",
            ),
            tr(f"Gạch xoá họ tên in trên phiếu: {crossed}.", f"Printed name crossed out: {crossed}."),
            tr(f"Ghi thêm tên người hoặc thông tin khác: {writing}.", f"Names or information written in: {writing}."),
            tr(
                "Phiếu không do ban kiểm phiếu phát ra: không hợp lệ. Người ghi phiếu có thể ký tên hoặc không.",
                "A ballot not issued by the counting committee is invalid. The voter may sign or not.",
            ),
        ]


RULE_SETS: dict[str, RuleSet] = {
    "qd96-2023": RuleSet(
        rule_id="qd96-2023",
        title_vi="Quy định 96-QĐ/TW ngày 02/02/2023",
        title_en="Regulation 96-QĐ/TW of 2 February 2023",
        invalid_marks=("none", "multiple"),
        extra_writing="written_part",
        not_issued_invalid=True,
        signature_allowed=True,
        over_half=Consequence(
            "Trên 1/2 đến dưới 2/3 số phiếu tín nhiệm thấp",
            "More than 1/2 but less than 2/3 low",
            "Đưa ra khỏi quy hoạch các chức vụ cao hơn; xem xét cho thôi giữ chức vụ, bố trí công tác khác, "
            "cho từ chức hoặc tiến hành bỏ phiếu tín nhiệm.",
            "Taken out of planning for higher posts; may be relieved, reassigned, allowed to resign, "
            "or face a formal confidence vote.",
        ),
        two_thirds=Consequence(
            "Từ 2/3 số phiếu tín nhiệm thấp trở lên",
            "2/3 or more low",
            "Miễn nhiệm chức vụ đang đảm nhiệm và bố trí công tác khác (thấp hơn) mà không chờ hết nhiệm kỳ, "
            "hết thời hạn bổ nhiệm.",
            "Dismissed from the current post and reassigned (lower) without waiting for the end of the term.",
        ),
    ),
    "qd262-2014": RuleSet(
        rule_id="qd262-2014",
        title_vi="Quy định 262-QĐ/TW ngày 08/10/2014",
        title_en="Regulation 262-QĐ/TW of 8 October 2014",
        invalid_marks=("none", "multiple"),
        extra_writing="ballot",
        not_issued_invalid=True,
        signature_allowed=True,
        over_half=Consequence(
            "Trên 50% số phiếu tín nhiệm thấp",
            "More than 50% low",
            "Cần được xem xét đưa ra khỏi danh sách quy hoạch các chức vụ cao hơn và bố trí, sắp xếp "
            "công tác phù hợp.",
            "To be considered for removal from planning for higher posts and for a suitable reassignment.",
        ),
        two_thirds=Consequence(
            "Từ 2/3 số phiếu tín nhiệm thấp trở lên",
            "2/3 or more low",
            "Cần kịp thời xem xét; nếu không đáp ứng yêu cầu nhiệm vụ thì cho từ chức hoặc cho thôi giữ "
            "chức vụ, không chờ hết nhiệm kỳ, hết tuổi công tác.",
            "To be reviewed promptly; if not meeting the post's demands, allowed to resign or relieved "
            "without waiting for the end of the term.",
        ),
    ),
}


def get_rule_set(rule_id: str) -> RuleSet:
    """Return the rule set called ``rule_id``; raise :class:`InputError` if unknown."""
    try:
        return RULE_SETS[rule_id]
    except KeyError:
        raise InputError(
            f"Bộ quy tắc '{rule_id}' không có; chọn một trong {', '.join(RULE_SETS)}.",
            f"Unknown rule set '{rule_id}'; use one of {', '.join(RULE_SETS)}.",
        ) from None


@dataclass(frozen=True)
class LineVerdict:
    """The verdict on one person's line on one page.

    ``valid`` is True or False once settled and None while the line waits for review
    or when the page is not a collected ballot page (``page_state`` tells which).
    """

    page_id: int
    person: int
    page_state: PageState
    valid: bool | None
    choice: str | None  # high | medium | low, set only when valid
    reasons: tuple[str, ...]  # rule invalidity codes
    inferred: bool = False  # no reading of this line: the person is known from the layout only

    @property
    def pending(self) -> bool:
        return self.page_state != "excluded" and self.valid is None


@dataclass(frozen=True)
class PageJudgement:
    """A page, its state and the verdict on each line it carries."""

    page: PageReading
    state: PageState
    ballot_reasons: tuple[str, ...]  # whole-ballot invalidity codes (empty when none)
    lines: tuple[LineVerdict, ...]


def page_level_pending(page: PageReading) -> bool:
    """True when the page itself (not one of its lines) still waits for a ballot decision."""
    if page.verdict is not None or page.kind == "blank":
        return False
    return bool(page.reasons) or page.kind != "ballot"


def page_state(page: PageReading) -> PageState:
    """``collected`` (a ballot page that counts), ``pending`` (undecided) or ``excluded``."""
    if page.verdict in ("duplicate_copy", "not_a_ballot"):
        return "excluded"
    if page.verdict is not None:
        return "collected"
    if page_level_pending(page):
        return "pending"
    return "collected" if page.kind == "ballot" else "excluded"


def ballot_key(page: PageReading) -> tuple[str, str]:
    """Which pages belong to one ballot: the token, else the page alone."""
    if page.token:
        return ("token", page.token)
    return ("page", str(page.page_id))


def _ballot_reasons(pages: Sequence[PageReading], rules: RuleSet, crossed_scope: str) -> tuple[str, ...]:
    reasons: list[str] = []
    verdicts = {p.verdict for p in pages}
    if "not_issued" in verdicts and rules.not_issued_invalid:
        reasons.append(INV_NOT_ISSUED)
    if "name_crossed" in verdicts and crossed_scope == "ballot":
        reasons.append(INV_BALLOT_CROSSED)
    if "extra_writing" in verdicts and rules.extra_writing == "ballot":
        reasons.append(INV_EXTRA_WRITING)
    return tuple(reasons)


def judge_line(
    row: RowReading | None,
    *,
    person: int,
    page: PageReading,
    state: PageState,
    ballot_reasons: tuple[str, ...],
    crossed: frozenset[int],
    rules: RuleSet,
) -> LineVerdict:
    """Apply ``rules`` to one line; whole-ballot and crossed-name effects are given.

    ``row`` is None when the page has no reading of the line (an unreadable or
    foreign page): the line is invalid if a whole-ballot rule says so, else pending.
    """
    inferred = row is None
    if state == "excluded":
        code = EXCLUDED_DUPLICATE if page.verdict == "duplicate_copy" else EXCLUDED_NOT_BALLOT
        reasons = (code,) if page.verdict else ()
        return LineVerdict(page.page_id, person, state, None, None, reasons, inferred)
    invalid = list(ballot_reasons)
    if person in crossed:
        invalid.insert(0, INV_NAME_CROSSED)
    if invalid:  # decided invalid whatever the marks say
        return LineVerdict(page.page_id, person, state, False, None, tuple(invalid), inferred)
    if row is None or state == "pending" or row.pending:
        return LineVerdict(page.page_id, person, state, None, None, (), inferred)
    if row.marks in rules.invalid_marks or row.choice is None:
        code = INV_MULTIPLE if row.marks == "multiple" else INV_NO_MARK
        return LineVerdict(page.page_id, person, state, False, None, (code,))
    return LineVerdict(page.page_id, person, state, True, row.choice, ())


def _persons_on(page: PageReading, page_persons: Mapping[int, Sequence[int]]) -> tuple[int, ...]:
    """Persons printed on a page that has no line readings, from the layout."""
    if page.layout_page is not None and page.layout_page in page_persons:
        return tuple(page_persons[page.layout_page])
    if len(page_persons) == 1:
        return tuple(next(iter(page_persons.values())))
    return ()


def judge_readings(
    readings: Sequence[PageReading],
    *,
    rules: RuleSet,
    crossed_scope: str,
    page_persons: Mapping[int, Sequence[int]] | None = None,
) -> tuple[PageJudgement, ...]:
    """Apply a rule set to every page; return one :class:`PageJudgement` per page.

    Parameters
    ----------
    readings : sequence of PageReading
        Merged readings from :func:`kiemphieu.readings.load_readings`, any order.
    rules : RuleSet
        The rule set of the session.
    crossed_scope : {"person", "ballot"}
        What a crossed-out printed name invalidates (``crossed_name_invalidates``).
    page_persons : mapping of int to sequence of int, optional
        The persons (STT) printed on each layout page. Used for a collected page
        that has no line readings (for instance a foreign ballot decided
        ``not_issued``): its lines are inferred from the layout.

    Returns
    -------
    tuple of PageJudgement
        In the order of ``readings``. A page decided ``not_issued``, or under a
        whole-ballot rule, makes every line of every page with the same token
        invalid; a crossed name under the ``person`` scope invalidates only that line.
    """
    if crossed_scope not in ("person", "ballot"):
        raise InputError(
            "crossed_name_invalidates phải là 'person' hoặc 'ballot'.",
            "crossed_name_invalidates must be 'person' or 'ballot'.",
        )
    states = {p.page_id: page_state(p) for p in readings}
    groups: dict[tuple[str, str], list[PageReading]] = defaultdict(list)
    for p in readings:
        if states[p.page_id] != "excluded":
            groups[ballot_key(p)].append(p)
    group_reasons = {k: _ballot_reasons(v, rules, crossed_scope) for k, v in groups.items()}
    group_crossed = {
        k: frozenset().union(*(p.crossed_persons for p in v if p.verdict == "name_crossed"))
        for k, v in groups.items()
    }
    judged = []
    for p in readings:
        state = states[p.page_id]
        key = ballot_key(p)
        ballot_reasons = group_reasons.get(key, ()) if state != "excluded" else ()
        crossed = group_crossed.get(key, frozenset()) if state != "excluded" else frozenset()
        rows: list[tuple[RowReading | None, int]] = [(r, r.person) for r in p.rows]
        if not rows and state == "collected":  # a page still undecided claims no person yet
            rows = [(None, n) for n in _persons_on(p, page_persons or {})]
        lines = tuple(
            judge_line(
                row, person=person, page=p, state=state, ballot_reasons=ballot_reasons,
                crossed=crossed, rules=rules,
            )
            for row, person in sorted(rows, key=lambda item: item[1])
        )
        judged.append(PageJudgement(p, state, ballot_reasons, lines))
    return tuple(judged)


def reason_text(code: str) -> str:
    """A human sentence for a rule or reading reason code."""
    from kiemphieu.readings import REASON_TEXT

    vi_en = RULE_REASON_TEXT.get(code) or REASON_TEXT.get(code)
    return tr(*vi_en) if vi_en else code
