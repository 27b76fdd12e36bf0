"""The held-out pen (calibration.hands): its plans and strokes, without the scanner.

Quick checks; the scanner's run on this pen is ``test_accuracy_short.py`` (slow) and ``bench/hands.py``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from conftest import make_workspace

from calibration import hands
from calibration import simulate as sim
from kiemphieu.layout import Layout, load_layout


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    ws = make_workspace(tmp_path_factory.mktemp("hands") / "ws", copies=1)
    return load_layout(ws.layout_json)


def _plans(layout: Layout, seed: int, pages: int, *, steady: bool = False) -> tuple[list[dict], np.random.Generator]:
    """The plans of ``pages`` pages as :func:`calibration.hands.hand_deck` draws them, and its page stream after."""
    rng = np.random.default_rng(seed)
    plans = [hands.plan_page(layout, rng, steady=steady) for _ in range(pages)]
    cancels = np.random.default_rng([seed, hands.CANCEL_STREAM])
    for plan in plans:
        hands.plan_cancels(plan, cancels)
    return plans, rng


def _marks(plan: dict) -> str:
    return " ".join(f"{person}:" + "+".join(f"{level[0]}{style}" for level, style in marks)
                    for person, marks in plan["marks"].items())


def test_default_plans_unchanged(layout: Layout) -> None:
    """Without the options, a deck is planned as before they existed (values recorded from that code, 2026-11-24):
    the decks drawn before stay the same, byte for byte."""
    plans, rng = _plans(layout, 2026, 40)
    assert _marks(plans[0]) == ("1:hx-small 2:mx-big 3:lx 4:lx 5:lv+mx-twice 6: 7:mx 8:hx-twice 9:hcheck "
                                "10:mx-big 11:mcheck 12:mx")
    assert (plans[0]["crossed"], plans[0]["ink"]) == ([], "blue-gel")
    assert _marks(plans[1]) == ("1:hx 2:masterisk+lx 3:mx 4:hx 5:lcheck 6:hx-twice 7:lx-big 8:lx-small "
                                "9:mx-twice 10:lslash 11:hx 12:hasterisk")
    assert (plans[4]["crossed"], plans[5]["crossed"]) == ([(6, "loops")], [(11, "x-over")])
    assert plans[1]["cancelled"] == [(5, "high", "x-big", "cross-hatch", 1737975334)]
    assert plans[11]["cancelled"] == [(8, "low", "x-small", "back-and-forth", 795561201),
                                      (9, "high", "check", "back-and-forth", 1210270878)]
    assert rng.random() == pytest.approx(0.014351223669649249, abs=0)  # as many draws as before
    digest = hashlib.sha256(json.dumps(plans, sort_keys=True).encode()).hexdigest()
    assert digest == "8e039d876885319ecea079b494893524191b51c737a81e64ebce0bb31ea0f0e0"


def test_steady_voter_keeps_one_shape(layout: Layout) -> None:
    """A steady voter draws every mark of their page, and the mark they cancel, in one shape."""
    plans, _ = _plans(layout, 7, 60, steady=True)
    varied, _ = _plans(layout, 7, 60)
    shapes = [{style for marks in plan["marks"].values() for _, style in marks} for plan in plans]
    assert all(shape == {plan["shape"]} for shape, plan in zip(shapes, plans, strict=True))
    assert len({plan["shape"] for plan in plans}) >= 4  # the shape is drawn per page, not once for all
    assert sum(len({s for m in p["marks"].values() for _, s in m}) > 1 for p in varied) > 50  # as it is without
    for plan, other in zip(plans, varied, strict=True):  # the same rows, levels, crossed name and ink: only shapes
        assert {k: [lv for lv, _ in m] for k, m in plan["marks"].items()} == \
               {k: [lv for lv, _ in m] for k, m in other["marks"].items()}
        assert (plan["crossed"], plan["ink"]) == (other["crossed"], other["ink"])
        for _, _, style, _, _ in plan["cancelled"]:
            assert style == plan["shape"] or plan["shape"] not in hands.MARKS[:6]
    assert any(plan["cancelled"] and plan["shape"] in hands.MARKS[:6] for plan in plans)


PX_PER_MM = 6.0
BOX = (10.0, 10.0, 8.0, 7.0)  # the size of a ballot's box, page mm


def _inked(img: np.ndarray) -> np.ndarray:
    return np.asarray(img.min(axis=2) < 200)


@pytest.mark.parametrize("how", hands.CANCELS_B)
def test_cancelling_b_goes_over_the_box(how: str) -> None:
    """Each cancelling of set B inks the box, much more than the bare mark, and nothing further than
    SPILL_MM over its edges (and the pen's width)."""
    x, y, w, h = BOX
    inside = np.s_[int(y * PX_PER_MM):int((y + h) * PX_PER_MM), int(x * PX_PER_MM):int((x + w) * PX_PER_MM)]
    near = int((hands.SPILL_MM + 0.8) * PX_PER_MM)  # the spill and half the widest pen, with its edge
    around = np.s_[inside[0].start - near:inside[0].stop + near, inside[1].start - near:inside[1].stop + near]
    ratios = []
    for seed in range(12):
        ink = ("blue-ballpoint", "black-ballpoint", "black-felt", "pencil")[seed % 4]
        style = hands.MARKS[seed % 6]
        bare, cancelled, alone = (np.full((170, 170, 3), 255, np.uint8) for _ in range(3))
        rng = np.random.default_rng(seed)
        hands.draw(bare, hands.mark(style, BOX, rng), ink, PX_PER_MM, rng)
        rng = np.random.default_rng(seed)  # the same mark, then gone over as hand_of draws it
        hands.draw(cancelled, hands.mark(style, BOX, rng), ink, PX_PER_MM, rng)
        passes = hands.cancel_passes(how, BOX, rng)
        for strokes in passes:
            hands.draw(cancelled, strokes, ink, PX_PER_MM, rng)
            hands.draw(alone, strokes, ink, PX_PER_MM, rng)
        assert all(((s >= (x - hands.SPILL_MM, y - hands.SPILL_MM)) & (s <= (x + w + hands.SPILL_MM, y + h + hands.SPILL_MM))).all()
                   for strokes in passes for s in strokes)
        outside = _inked(alone)
        outside[around] = False
        assert not outside.any(), (how, seed)
        assert _inked(alone)[inside].mean() > 0.08, (how, seed)
        ratios.append(_inked(cancelled)[inside].mean() / _inked(bare)[inside].mean())
    assert min(ratios) > 1.4 and np.median(ratios) > 2.5, (how, ratios)


def test_cancels_b_planned(layout: Layout) -> None:
    """Set B is used when asked for, from its own stream; set A stays the default; other sets are refused."""
    rng = np.random.default_rng(3)
    plans = [hands.plan_page(layout, rng) for _ in range(40)]
    b = np.random.default_rng([3, hands.CANCEL_STREAM_B])
    for plan in plans:
        hands.plan_cancels(plan, b, cancels="b")
    ways = [how for plan in plans for _, _, _, how, _ in plan["cancelled"]]
    assert ways and set(ways) <= set(hands.CANCELS_B) and len(set(ways)) >= 3
    assert not set(hands.CANCELS) & set(hands.CANCELS_B)
    with pytest.raises(ValueError):
        hands.plan_cancels(plans[0], b, cancels="c")
    with pytest.raises(ValueError):
        hands.cancel_passes("smudged", BOX, b)


def test_page_truth_says_where_the_scanner_drew_a_streak(layout: Layout) -> None:
    """The evaluation counts a row sent to review for a streak through its box as the rule's (issue 3), not as
    a clear row sent to review, only when the truth says the scanner drew one: the other hand's pages too."""
    plan = hands.plan_page(layout, np.random.default_rng(1))
    for streak in (None, 42.5):
        truth = hands.page_truth("hand-0000.jpg", "t", layout, plan, sim.ScanSpec(dpi=150, streak_x_mm=streak))
        assert truth.scan["streak_x_mm"] == streak
