"""Rules and tally: golden cases, boundaries at exactly 1/2 and 2/3, and invariants."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiemphieu.errors import InputError, NoQuorumError, PendingReviewError
from kiemphieu.readings import PageReading, RowReading
from kiemphieu.rules import (
    INV_BALLOT_CROSSED,
    INV_EXTRA_WRITING,
    INV_MULTIPLE,
    INV_NAME_CROSSED,
    INV_NO_MARK,
    INV_NOT_ISSUED,
    RULE_SETS,
    get_rule_set,
    judge_readings,
)
from kiemphieu.session import Person, Session
from kiemphieu.tally import compute_tally, flag_for, percent_text, require_final

RULE_IDS = tuple(RULE_SETS)


def make_session(n: int = 3, **kw: object) -> Session:
    options: dict = dict(
        session_id="S1", organisation="Sở X", title="Hội nghị", place="Hà Nội", date="2026-01-01",
        summoned=30, present=30, issued=30,
        persons=tuple(Person(i, f"Người {i}", "Phó Giám đốc") for i in range(1, n + 1)),
    )
    options.update(kw)
    return Session(**options).validate()


def row(person: int, choice: str | None, *, marks: str | None = None, reasons: tuple[str, ...] = (),
        decided: bool = False) -> RowReading:
    m = marks or ("one" if choice else "none")
    return RowReading(person, m, choice, m, choice, reasons, decided, bool(reasons) and not decided)  # type: ignore[arg-type]


_ids = iter(range(1, 10**9))


def page(rows: tuple[RowReading, ...], *, token: str | None = None, layout_page: int = 1, kind: str = "ballot",
         reasons: tuple[str, ...] = (), verdict: str | None = None, crossed: frozenset[int] = frozenset(),
         source: str | None = None, page_id: int | None = None) -> PageReading:
    pid = page_id if page_id is not None else next(_ids)
    needs_ballot = kind != "blank" and (bool(reasons) or kind in ("unreadable", "not_issued", "rejected"))
    pending = (needs_ballot and verdict is None) or any(r.pending for r in rows)
    if verdict in ("duplicate_copy", "not_a_ballot", "not_issued"):
        pending = False
    return PageReading(
        page_id=pid, source=source or f"scan{pid:05d}.pdf", page_index=0, kind=kind,  # type: ignore[arg-type]
        status="review" if pending else "auto", token=token, layout_page=layout_page, reasons=reasons,
        rows=rows, verdict=verdict, crossed_persons=crossed, pending=pending,
    )


def ballot(*choices: str | None, token: str | None = None, **kw: object) -> PageReading:
    return page(tuple(row(i, c) for i, c in enumerate(choices, start=1)), token=token, **kw)  # type: ignore[arg-type]


# --- rules ---------------------------------------------------------------------

def test_line_rules_no_mark_and_multiple_invalid_for_that_person_only() -> None:
    p = page((row(1, "high"), row(2, None), row(3, None, marks="multiple")))
    (j,) = judge_readings([p], rules=get_rule_set("qd96-2023"), crossed_scope="person")
    assert [(line.valid, line.reasons) for line in j.lines] == [
        (True, ()), (False, (INV_NO_MARK,)), (False, (INV_MULTIPLE,)),
    ]


@pytest.mark.parametrize("rule_id, whole", [("qd96-2023", False), ("qd262-2014", True)])
def test_extra_writing_whole_ballot_only_under_262(rule_id: str, whole: bool) -> None:
    p = ballot("high", "low", "medium", reasons=("writing",), verdict="extra_writing")
    (j,) = judge_readings([p], rules=get_rule_set(rule_id), crossed_scope="person")
    if whole:
        assert all(line.valid is False and INV_EXTRA_WRITING in line.reasons for line in j.lines)
    else:
        assert [line.choice for line in j.lines] == ["high", "low", "medium"]


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_crossed_name_scope_person_or_ballot(rule_id: str) -> None:
    p = ballot("high", "low", "medium", verdict="name_crossed", crossed=frozenset({2}))
    (by_person,) = judge_readings([p], rules=get_rule_set(rule_id), crossed_scope="person")
    assert [line.valid for line in by_person.lines] == [True, False, True]
    assert by_person.lines[1].reasons == (INV_NAME_CROSSED,)
    (by_ballot,) = judge_readings([p], rules=get_rule_set(rule_id), crossed_scope="ballot")
    assert [line.valid for line in by_ballot.lines] == [False, False, False]
    assert all(INV_BALLOT_CROSSED in line.reasons for line in by_ballot.lines)


def test_machine_crossed_suspicion_is_pending_until_decided() -> None:
    p = page((row(1, "high", reasons=("name_crossed",)), row(2, "low")))
    (j,) = judge_readings([p], rules=get_rule_set("qd96-2023"), crossed_scope="person")
    assert j.lines[0].pending and j.lines[1].valid is True


def test_not_issued_invalidates_every_page_of_the_token_and_layout_gives_persons() -> None:
    p1 = page((row(1, "high"), row(2, "low")), token="T1", layout_page=1)
    p2 = page((), token="T1", layout_page=2, kind="not_issued", verdict="not_issued")
    judged = judge_readings([p1, p2], rules=get_rule_set("qd96-2023"), crossed_scope="person",
                            page_persons={1: (1, 2), 2: (3,)})
    assert all(line.valid is False and line.reasons == (INV_NOT_ISSUED,) for j in judged for line in j.lines)
    assert [line.person for line in judged[1].lines] == [3]


def test_duplicate_copy_is_not_collected() -> None:
    s = make_session()
    t = compute_tally(s, [ballot("high", "high", "high", token="A"),
                          ballot("low", "low", "low", token="A", reasons=("duplicate",), verdict="duplicate_copy")])
    assert t.ballots_collected == 1 and [r.high for r in t.rows] == [1, 1, 1] and not t.provisional


def test_rule_set_unknown_is_input_error() -> None:
    with pytest.raises(InputError):
        get_rule_set("qd1-1999")


# --- tally ---------------------------------------------------------------------

def test_golden_tally() -> None:
    s = make_session(counted=4)
    readings = [
        ballot("high", "low", "low"),
        ballot("medium", "low", None),
        ballot("high", "low", "high"),
        page((row(1, "low"), row(2, None, marks="multiple"), row(3, "low"))),
    ]
    t = compute_tally(s, readings)
    r1, r2, r3 = t.rows
    assert (r1.collected, r1.valid, r1.invalid, r1.high, r1.medium, r1.low) == (4, 4, 0, 2, 1, 1)
    assert (r2.valid, r2.invalid, r2.low, r2.flag) == (3, 1, 3, "two_thirds")  # 3 of 4 low
    assert (r3.valid, r3.invalid, r3.low, r3.flag) == (3, 1, 2, None)  # exactly 1/2: no flag
    assert r1.percent("high") == "50.00" and r2.percent("low") == "75.00"
    assert t.ballots_collected == 4 and t.ballots_valid == 2 and t.ballots_partly_valid == 2
    assert not t.provisional and t.checks == ()


@pytest.mark.parametrize("rule_id", RULE_IDS)
@pytest.mark.parametrize(
    "low, collected, expected",
    [
        (10, 15, "two_thirds"),  # exactly 2/3
        (9, 15, "over_half"),
        (8, 16, None),  # exactly 1/2
        (9, 16, "over_half"),
        (2, 3, "two_thirds"),
        (1, 2, None),
        (7, 12, "over_half"),
        (8, 12, "two_thirds"),
        (0, 0, None),
    ],
)
def test_boundaries_through_the_whole_tally(rule_id: str, low: int, collected: int, expected: str | None) -> None:
    s = make_session(1, rule_set=rule_id, issued=collected, present=30)
    readings = [ballot("low") for _ in range(low)] + [ballot("high") for _ in range(collected - low)]
    (r,) = compute_tally(s, readings).rows
    assert (r.low, r.collected, r.flag) == (low, collected, expected)
    assert flag_for(low, collected) == expected
    rules = get_rule_set(rule_id)
    if expected is not None:
        wording = getattr(rules, expected)
        assert wording.label_vi and wording.consequence_vi


def test_flag_wording_differs_between_rule_sets() -> None:
    assert RULE_SETS["qd262-2014"].over_half.label_en == "More than 50% low"
    assert RULE_SETS["qd96-2023"].over_half.label_en == "More than 1/2 but less than 2/3 low"
    assert RULE_SETS["qd262-2014"].two_thirds.label_en == "2/3 or more low"


def test_percent_text_is_exact_half_up() -> None:
    assert percent_text(1, 3) == "33.33" and percent_text(2, 3) == "66.67"
    assert percent_text(1, 8) == "12.50" and percent_text(1, 800) == "0.13"
    assert percent_text(0, 0) == "—"


def test_provisional_counts_pending_lines_apart_and_final_refuses() -> None:
    s = make_session()
    readings = [ballot("high", "high", "high"),
                page((row(1, "high"), row(2, "low", reasons=("marginal",)), row(3, "low")))]
    t = compute_tally(s, readings)
    assert t.provisional and t.pending_pages == 1
    r2 = t.rows[1]
    assert (r2.collected, r2.valid, r2.pending, r2.low) == (2, 1, 1, 0)
    assert "TẠM TÍNH" in t.status_text
    with pytest.raises(PendingReviewError):
        require_final(t)


def test_decided_row_settles_the_line() -> None:
    s = make_session(counted=1)
    r = RowReading(2, "one", "low", "none", None, ("marginal",), True, False)
    t = compute_tally(s, [page((row(1, "high"), r, row(3, "low")))])
    assert not t.provisional and t.rows[1].low == 1
    require_final(t)


def test_no_quorum_and_over_issued_stop_final() -> None:
    s = make_session(1, summoned=30, present=19, counted=1)  # 3*19 = 57 < 60
    t = compute_tally(s, [ballot("high")])
    assert [c.code for c in t.stops] == ["no_quorum"] and t.quorum is False
    with pytest.raises(NoQuorumError):
        require_final(t)
    s = make_session(1, summoned=30, present=20, issued=1, counted=2)  # exactly 2/3 present is enough
    t = compute_tally(s, [ballot("high"), ballot("low")])
    assert t.quorum is True and [c.code for c in t.stops] == ["over_issued"]
    assert "2" in t.stops[0].text
    with pytest.raises(InputError):
        require_final(t)


def test_a_count_from_the_ballot_box_other_than_the_ballots_scanned_stops_final() -> None:
    """Two ballots read; the committee counted 3 in the box (one never scanned) or 1: a stop either way, and
    the final tally is refused. Equal: no check. Not entered: a stop too (a provisional tally is shown, the
    final one refused), as the quorum is while the number present is not entered."""
    readings = [ballot("high", token="T1"), ballot("low", token="T2")]
    for counted in (3, 1):
        t = compute_tally(make_session(1, counted=counted), readings)
        assert [c.code for c in t.stops] == ["count_mismatch"] and str(counted) in t.stops[0].text
        with pytest.raises(InputError):
            require_final(t)
    t = compute_tally(make_session(1, counted=2), readings)
    assert not any(c.code.startswith("count") for c in t.checks)
    require_final(t)
    t = compute_tally(make_session(1), readings)
    assert [c.code for c in t.checks] == ["counted_unknown"] and [c.code for c in t.stops] == ["counted_unknown"]
    with pytest.raises(InputError, match="--counted"):
        require_final(t)


def test_a_photocopy_in_the_box_is_one_more_paper_but_a_second_scan_is_not() -> None:
    """A photocopy of ballot T1, decided not issued, shares T1's token: the tally counts T1 once (invalid),
    but the box held two papers, and the committee's count of 3 agrees with the scans. A second scan of the
    same paper (decided ``duplicate_copy``) is not one more paper. A two-page ballot is one paper."""
    original = ballot("high", token="T1")
    copy = ballot("high", token="T1", kind="not_issued", reasons=("duplicate",), verdict="not_issued")
    rescan = ballot("low", token="T2", reasons=("duplicate",), verdict="duplicate_copy")
    readings = [original, copy, ballot("low", token="T2"), rescan]
    t = compute_tally(make_session(1, counted=3), readings)
    assert t.ballots_collected == 2 and not t.stops, t.checks
    assert [c.code for c in compute_tally(make_session(1, counted=2), readings).stops] == ["count_mismatch"]
    two_pages = [page((row(1, "high"),), token="T3", layout_page=1), page((), token="T3", layout_page=2)]
    assert not compute_tally(make_session(1, counted=1), two_pages).stops


def test_multi_page_ballot_counted_once_each_person_from_their_page() -> None:
    s = make_session(3)
    readings = []
    for k, (a, b, c) in enumerate([("high", "low", "low"), ("medium", "low", "high")]):
        readings.append(page((row(1, a), row(2, b)), token=f"T{k}", layout_page=1))
        readings.append(page((row(3, c),), token=f"T{k}", layout_page=2))
    t = compute_tally(s, readings)
    assert t.ballots_collected == 2 and [r.collected for r in t.rows] == [2, 2, 2]
    assert t.rows[2].high == 1 and t.rows[1].flag == "two_thirds"


def test_untokened_pages_count_by_layout_page() -> None:
    s = make_session(3)
    readings = [page((row(1, "high"), row(2, "low")), layout_page=1) for _ in range(3)]
    readings += [page((row(3, "low"),), layout_page=2) for _ in range(2)]
    t = compute_tally(s, readings)
    assert t.ballots_collected == 3 and t.rows[2].collected == 2


# --- properties ----------------------------------------------------------------

CHOICES = st.sampled_from(["high", "medium", "low", None, "multi"])


@st.composite
def readings_strategy(draw: st.DrawFn) -> tuple[Session, list[PageReading]]:
    n = draw(st.integers(1, 4))
    rule_id = draw(st.sampled_from(RULE_IDS))
    scope = draw(st.sampled_from(["person", "ballot"]))
    s = make_session(n, rule_set=rule_id, crossed_name_invalidates=scope, issued=None)
    pages = []
    for pid in range(1, draw(st.integers(0, 12)) + 1):
        rows = []
        for person in range(1, n + 1):
            c = draw(CHOICES)
            reasons = ("marginal",) if draw(st.integers(0, 5)) == 0 else ()
            rows.append(row(person, None if c == "multi" else c, marks="multiple" if c == "multi" else None,
                            reasons=reasons))
        verdict = draw(st.sampled_from([None, None, None, "valid", "not_issued", "name_crossed",
                                        "extra_writing", "duplicate_copy", "not_a_ballot"]))
        page_reasons = ("writing",) if verdict or draw(st.booleans()) else ()
        crossed = frozenset(draw(st.sets(st.integers(1, n), max_size=n))) if verdict == "name_crossed" else frozenset()
        pages.append(page(tuple(rows), token=f"T{pid}", reasons=page_reasons, verdict=verdict, crossed=crossed,
                          page_id=pid))
    return s, pages


@settings(max_examples=150, deadline=None)
@given(readings_strategy(), st.randoms(use_true_random=False))
def test_invariants(case: tuple[Session, list[PageReading]], rnd) -> None:  # type: ignore[no-untyped-def]
    session, readings = case
    t = compute_tally(session, readings)
    for r in t.rows:
        assert r.valid + r.invalid + r.pending == r.collected
        assert r.high + r.medium + r.low == r.valid
        if r.collected:
            assert r.share("high") + r.share("medium") + r.share("low") == Fraction(r.valid, r.collected)
        if not t.provisional:
            assert r.pending == 0 and r.valid + r.invalid == r.collected
        assert r.flag == flag_for(r.low, r.collected)
    assert t.ballots_valid + t.ballots_invalid + t.ballots_partly_valid + t.ballots_pending == t.ballots_collected
    shuffled = list(readings)
    rnd.shuffle(shuffled)
    assert compute_tally(session, shuffled) == t


@settings(max_examples=60, deadline=None)
@given(readings_strategy())
def test_deciding_every_pending_line_makes_the_tally_final(case: tuple[Session, list[PageReading]]) -> None:
    session, readings = case
    settled = []
    for p in readings:
        rows = tuple(replace(r, decided=r.pending, pending=False) for r in p.rows)
        verdict = p.verdict or ("valid" if p.reasons else None)
        settled.append(replace(p, rows=rows, verdict=verdict, pending=False))
    t = compute_tally(session, settled)
    assert not t.provisional
    assert all(r.valid + r.invalid == r.collected for r in t.rows)
