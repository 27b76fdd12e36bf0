"""Scanner stages, one at a time, on the small committed fixture ``fixtures/scans/ballot-150.jpg``.

The fixture is a grey 150-dpi scan of one voted ballot of the test session,
turned 90° and skewed 2°, with a scanner streak, a crossed-out name and words
written in the free area (see ``fixtures/scans/make_fixtures.py`` and the JSON
beside it for what is on it).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, make_workspace

from calibration.effects import colour_fringes
from kiemphieu import db
from kiemphieu import readings as R
from kiemphieu.layout import CANONICAL_PX_PER_MM, LEVELS, Layout, load_layout
from kiemphieu.session import REFERENCE_PDF, Workspace
from scanner.bleed import shifted
from scanner.boxes import (
    BoxInk,
    _mover,
    classify_box,
    classify_rows,
    score_boxes,
)
from scanner.colour import hidden_ink
from scanner.identify import identify, read_qr
from scanner.imaging import median_u8, percentile_u8
from scanner.ink import ink_maps
from scanner.names import strike_coverage
from scanner.pipeline import read_page
from scanner.register import LUMA, dropout, register, straighten, straighten_part
from scanner.results import BoxResult, PageResult, RunContext
from scanner.run import build_context
from scanner.settings import ScanSettings
from scanner.sources import DecodeError, FileProblem, decode_bytes, describe, sniff, tasks_for
from scanner.streaks import (
    band_in_boxes,
    find_streak_lines,
    find_streaks,
    parallelogram_gap_mm,
    streak_band,
    streak_boxes,
    streak_lines_mm,
    streak_names,
)

SCANS = FIXTURES / "scans"
IMAGE = SCANS / "ballot-150.jpg"
META = json.loads((SCANS / "ballot-150.json").read_text(encoding="utf-8"))
PX = CANONICAL_PX_PER_MM
S = ScanSettings()


@pytest.fixture(scope="module")
def fixture_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The conftest session with the fixture's token issued."""
    ws = make_workspace(tmp_path_factory.mktemp("stages") / "ws", copies=1)
    conn = db.connect(ws.db_path)
    try:
        db.add_tokens(conn, [META["token"]])
    finally:
        conn.close()
    return ws


@pytest.fixture(scope="module")
def layout(fixture_ws: Workspace) -> Layout:
    lay = load_layout(fixture_ws.layout_json)
    assert lay.layout_hash == META["layout_hash"], (
        "the ballot layout changed since the scan fixtures were made: "
        "run .venv/bin/python fixtures/scans/make_fixtures.py and commit the result")
    return lay


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    img = cv2.imread(str(IMAGE), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.ndim == 2
    return img


@pytest.fixture(scope="module")
def hom(image: np.ndarray, layout: Layout) -> np.ndarray:
    """The fixture scan's page transform (page mm -> image pixels), from its markers."""
    reg = register(image, layout, S)
    assert reg and reg.homography is not None
    return reg.homography


@pytest.fixture(scope="module")
def straight(image: np.ndarray, layout: Layout, hom: np.ndarray) -> np.ndarray:
    return straighten(image, hom, layout.page_size_mm)


def _payload(session_id: str, layout_hash: str, page: int, token: str | None) -> str:
    """A QR text as the ballots carry it (``KP1:<session>:<layout hash>:<page>:<token or ->``)."""
    return f"KP1:{session_id}:{layout_hash}:{page}:{token or '-'}"


def test_fixture_is_small() -> None:
    total = sum(p.stat().st_size for p in SCANS.iterdir() if p.is_file())
    assert total < 300_000


# --- sources ------------------------------------------------------------------------


def test_sniff_by_content_not_name() -> None:
    assert sniff(IMAGE.read_bytes()[:1024]) == "jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff(b"II*\x00....") == "tiff" and sniff(b"MM\x00*") == "tiff"
    assert sniff(b"BM....") == "bmp"
    assert sniff(b"%PDF-1.7\n") == "pdf"
    assert sniff(b"hello, this is text") == "unknown"


def test_describe_fixture() -> None:
    src = describe(IMAGE, SCANS)
    assert (src.rel, src.fmt, src.pages, src.problem) == ("ballot-150.jpg", "jpeg", 1, None)
    assert len(src.sha256) == 64


def test_decode_truncated_and_too_large() -> None:
    data = IMAGE.read_bytes()
    with pytest.raises(DecodeError) as err:
        decode_bytes(data[: len(data) // 2], "jpeg", max_pixels=S.max_pixels)
    assert err.value.problem.code == "truncated"
    with pytest.raises(DecodeError) as err:
        decode_bytes(data, "jpeg", max_pixels=1_000_000)
    assert err.value.problem.code == "too_large"
    full = decode_bytes(data, "jpeg", max_pixels=S.max_pixels)
    assert full.shape == tuple(META["shape"])
    # a reduced decode keeps the short side above the floor it was given
    reduced = decode_bytes(data, "jpeg", max_pixels=S.max_pixels, min_short_side=600)
    assert reduced.shape[:2] == (-(-full.shape[0] // 2), -(-full.shape[1] // 2))


def test_file_problem_is_truthy_and_bilingual() -> None:
    problem = FileProblem("empty_file", "Tệp rỗng.", "Empty file.")
    assert problem and problem.text in ("Tệp rỗng.", "Empty file.")


# --- dropout, register, straighten ---------------------------------------------------


def test_dropout_removes_red_keeps_blue_and_black() -> None:
    bgr = np.full((3, 3, 3), 250, np.uint8)
    bgr[0, 0] = (40, 40, 220)  # red seal ink
    bgr[1, 1] = (160, 60, 20)  # blue ballpoint
    bgr[2, 2] = (30, 30, 30)  # black
    grey = dropout(bgr)
    assert grey[0, 0] > 200 and grey[1, 1] < 60 and grey[2, 2] < 60
    assert dropout(grey) is grey


def test_register_fixture(image: np.ndarray, layout: Layout) -> None:
    reg = register(image, layout, S)
    assert reg and reg.markers == 4
    assert reg.residual_mm < 0.3
    assert reg.px_per_mm == pytest.approx(META["dpi"] / 25.4, rel=0.02)
    # turned 90°: the page's x axis runs along the image's rows
    hom = reg.homography
    assert hom is not None
    origin, right = cv2.perspectiveTransform(np.array([[[0.0, 0.0]], [[100.0, 0.0]]]), hom).reshape(2, 2)
    step = right - origin
    assert abs(step[1]) > 5 * abs(step[0])


def _rotated_xy(xy: np.ndarray, k: int, shape: tuple[int, ...]) -> np.ndarray:
    """Image (x, y) points of the original image, in the image turned by ``np.rot90(image, k)``."""
    h, w = shape[:2]
    x, y = xy[:, 0], xy[:, 1]
    return {1: np.stack([y, w - 1 - x], 1), 2: np.stack([w - 1 - x, h - 1 - y], 1), 3: np.stack([h - 1 - y, x], 1)}[k]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_register_any_orientation_gives_the_same_page(image: np.ndarray, layout: Layout, k: int) -> None:
    base = register(image, layout, S)
    turned = np.ascontiguousarray(np.rot90(image, k))
    reg = register(turned, layout, S)
    assert base.homography is not None and reg.homography is not None and reg.markers == 4
    points_mm = np.array([[[20.0, 20.0]], [[190.0, 20.0]], [[100.0, 150.0]], [[20.0, 280.0]], [[190.0, 280.0]]])
    expected = _rotated_xy(cv2.perspectiveTransform(points_mm, base.homography).reshape(-1, 2), k, image.shape)
    found = cv2.perspectiveTransform(points_mm, reg.homography).reshape(-1, 2)
    error_mm = np.abs(found - expected).max() / reg.px_per_mm
    assert error_mm < 0.35
    # the comparison can fail: the page read the other way round is far off
    wrong = _rotated_xy(cv2.perspectiveTransform(points_mm, base.homography).reshape(-1, 2), 2 if k != 2 else 1, image.shape)
    assert np.abs(found - wrong).max() / reg.px_per_mm > 10


def test_register_without_markers_is_falsy_and_explains(layout: Layout) -> None:
    paper = np.full((1754, 1240), 235, np.uint8)
    reg = register(paper, layout, S)
    assert not reg
    assert reg.failure == R.R_NO_MARKERS and reg.markers == 0
    with pytest.raises(ValueError, match="no registration"):
        _ = reg.px_per_mm


def test_register_with_one_marker_covered(image: np.ndarray, layout: Layout, hom: np.ndarray) -> None:
    x, y, w, h = layout.pages[0].markers_mm["bottom_right"]
    pts = cv2.perspectiveTransform(np.array([[[x - 2, y - 2]], [[x + w + 2, y + h + 2]]], np.float64), hom)
    (c0, r0), (c1, r1) = np.sort(pts.reshape(2, 2), axis=0).astype(int)
    covered = image.copy()
    covered[max(0, r0) : r1, max(0, c0) : c1] = 240
    three = register(covered, layout, S)
    assert three and three.markers == 3
    assert three.residual_mm < 0.5


def test_straighten_to_canonical_grid(straight: np.ndarray, layout: Layout) -> None:
    assert straight.shape == (1782, 1260)
    page = layout.pages[0]
    # every marker's black border sits where the layout says (row = y_mm * 6, col = x_mm * 6)
    for x, y, w, _h in page.markers_mm.values():
        border = straight[round((y + 0.5) * PX), round((x + 0.5) * PX) : round((x + w - 0.5) * PX)]
        assert float(border.mean()) < 90
        outside = straight[round((y - 1.5) * PX), round(x * PX) : round((x + w) * PX)]
        assert float(outside.mean()) > 170
    # an empty box of person 12: dark outline, light interior
    bx, by, bw, bh = page.rows[11].boxes_mm["medium"]
    assert float(straight[round((by + bh / 2) * PX), round(bx * PX) - 1 : round(bx * PX) + 2].min()) < 110
    assert float(straight[round((by + 2) * PX) : round((by + bh - 2) * PX), round((bx + 2) * PX) : round((bx + bw - 2) * PX)].mean()) > 200


def _homography(perspective: float) -> np.ndarray:
    """Canonical px -> image px: 2 degrees of skew, scale 1.05, and a perspective term along both axes."""
    a = np.deg2rad(2.0)
    hom = np.array([[1.05 * np.cos(a), -1.05 * np.sin(a), 40.0], [1.05 * np.sin(a), 1.05 * np.cos(a), 25.0],
                    [perspective, 0.5 * perspective, 1.0]])
    return hom


@pytest.mark.parametrize("perspective", [0.0, 1e-7, 4e-7])
def test_affine_tiles_follow_the_homography(perspective: float) -> None:
    from scanner.register import TILE_TOLERANCE_PX, _affine_tiles

    hom = _homography(perspective)
    tiles = _affine_tiles(hom, 1260, 1782)
    assert tiles is not None
    if perspective == 0.0:
        assert len(tiles) == 1  # a scan: one warpAffine
    else:
        assert len(tiles) > 1
    covered = np.zeros((1782, 1260), np.int32)
    rng = np.random.default_rng(3)
    for r0, r1, c0, c1, affine in tiles:
        covered[r0:r1, c0:c1] += 1
        pts = np.stack([rng.uniform(c0, c1 - 1, 200), rng.uniform(r0, r1 - 1, 200)], 1)
        exact = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), hom).reshape(-1, 2)
        approx = pts @ affine[:2, :2].T + affine[:2, 2]
        assert np.abs(approx - exact).max() <= 2 * TILE_TOLERANCE_PX  # between the fitted grid points too
    assert (covered == 1).all()  # every output pixel once


def test_affine_tiles_give_way_to_a_strong_perspective() -> None:
    from scanner.register import _affine_tiles

    assert _affine_tiles(_homography(1e-4), 1260, 1782) is None  # a phone photo: one exact warpPerspective


def test_straighten_through_tiles_matches_the_exact_warp(image: np.ndarray, layout: Layout, hom: np.ndarray) -> None:
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [4e-7, 2e-7, 1.0]])  # a slight perspective on top
    tilted = tilt @ hom
    tiled = straighten(image, tilted, layout.page_size_mm)
    canon_to_img = tilted @ np.diag([1 / PX, 1 / PX, 1.0])
    exact = cv2.warpPerspective(image, canon_to_img / canon_to_img[2, 2], tiled.shape[::-1],
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(tiled.astype(int) - exact.astype(int))
    assert diff.mean() < 0.3 and np.percentile(diff, 99.9) <= 8  # sub-pixel resampling differences only


def test_a_part_of_the_page_straightened_from_a_crop_of_the_source_is_that_part_of_the_page(
        image: np.ndarray, layout: Layout, hom: np.ndarray) -> None:
    """``straighten_part`` reads the source pixels around the part only (as ``faint_in_colour`` reads another
    colour channel), and gives the straightened page's pixels there; of one colour channel, that channel's; of
    :data:`LUMA`, the luma's."""
    whole = straighten(image, hom, layout.page_size_mm)
    r0, r1, c0, c1 = 300, 900, 700, 1200
    part = straighten_part(image, hom, layout.page_size_mm, (r0, r1, c0, c1))
    assert part.shape == (r1 - r0, c1 - c0)
    diff = np.abs(part.astype(int) - whole[r0:r1, c0:c1].astype(int))
    assert diff.mean() < 0.3 and np.percentile(diff, 99.9) <= 8  # sub-pixel resampling differences only
    colour = np.dstack([255 - image, image // 2, image])
    blue = straighten_part(colour, hom, layout.page_size_mm, (r0, r1, c0, c1), channel=0)
    assert np.abs(blue.astype(int) - (255 - part).astype(int)).max() <= 1
    luma = straighten_part(colour, hom, layout.page_size_mm, (r0, r1, c0, c1), channel=LUMA)
    grey = straighten_part(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY), hom, layout.page_size_mm, (r0, r1, c0, c1))
    assert np.abs(luma.astype(int) - grey.astype(int)).max() <= 1


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_the_ends_of_a_scan_hold_all_four_markers(image: np.ndarray, k: int) -> None:
    """On a scan the markers lie in the bands along the short edges, whichever way up: the same
    corners are found there as in the whole image, and a band does not see the other end's markers."""
    from scanner.register import find_markers

    turned = np.ascontiguousarray(np.rot90(image, k))
    whole = find_markers(turned, max_side=1000)
    ends = find_markers(turned, max_side=1000, ends_only=True)
    assert len(whole) == 4 and set(ends) == set(whole)
    assert max(np.abs(ends[i] - whole[i]).max() for i in whole) < 0.01
    middle = turned.copy()  # the same page with its ends blanked: the bands alone find nothing
    h, w = middle.shape
    band = int(max(h, w) * 0.2)
    if h >= w:
        middle[:band], middle[h - band :] = 235, 235
    else:
        middle[:, :band], middle[:, w - band :] = 235, 235
    assert find_markers(middle, max_side=1000, ends_only=True) == {}


def test_markers_touching_the_images_edge_are_found(image: np.ndarray, layout: Layout, hom: np.ndarray) -> None:
    """A sheet skewed by 5 degrees on the glass brings two corners to the image's edge: the markers there
    are whole but have no white around them on that side, and the detector passed them over (1.3 % of the
    adf-rough deck's pages were rejected as markers_missing). Cropped flush with the markers' outer sides on
    all four sides of the image, the page is still placed by all four markers, where it was."""
    pts = []
    for x, y, w, h in layout.pages[0].markers_mm.values():
        pts += [[[x, y]], [[x + w, y]], [[x + w, y + h]], [[x, y + h]]]
    corners = cv2.perspectiveTransform(np.array(pts, np.float64), hom).reshape(-1, 2)
    left, top = np.floor(corners.min(axis=0)).astype(int)
    right, bottom = np.ceil(corners.max(axis=0)).astype(int) + 1  # the image keeps the markers' last pixels
    cropped = np.ascontiguousarray(image[top:bottom, left:right])
    reg = register(cropped, layout, S)
    assert reg and reg.markers == 4 and reg.residual_mm < 0.15
    assert reg.homography is not None
    shifted = np.array([[1.0, 0.0, left], [0.0, 1.0, top], [0.0, 0.0, 1.0]]) @ reg.homography
    probe = np.array([[[105.0, 150.0]], [[30.0, 250.0]], [[190.0, 70.0]]])
    moved = cv2.perspectiveTransform(probe, shifted) - cv2.perspectiveTransform(probe, hom)
    assert np.abs(moved).max() < 1.0  # pixels


@pytest.mark.parametrize("stack", [np.vstack, np.hstack])
def test_two_ballots_in_one_image_are_not_registered_and_say_so(image: np.ndarray, layout: Layout,
                                                                stack: Callable[..., np.ndarray]) -> None:
    """Stacked, the top of one ballot and the bottom of the other give four distinct markers at the
    image's ends; their fit is inconsistent, and the whole image holds every marker twice: the page is
    not read, and its reason tells the committee to scan each ballot on its own. Side by side (two sheets
    on an A3 glass, or in one photo) the same."""
    from scanner.register import find_markers

    upright = image if image.shape[0] > image.shape[1] else np.ascontiguousarray(np.rot90(image))
    collage = stack([upright, upright])
    if stack is np.vstack:
        assert len(find_markers(collage, max_side=1000, ends_only=True)) == 4
    reg = register(collage, layout, S)
    assert not reg and reg.failure == R.R_SEVERAL


def test_the_smoothed_page_is_the_gaussian_of_sigma_1_5() -> None:
    """ink_maps smooths with 9 taps, not the 11 OpenCV picks for sigma 1.5: on 8-bit images the two outer
    taps round to zero, so the result is the same (checked on noise, which exercises every rounding)."""
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (400, 300), dtype=np.uint8)
    blocks = cv2.resize(rng.integers(0, 256, (40, 30), dtype=np.uint8), (300, 400), interpolation=cv2.INTER_NEAREST)
    for grey in (noise, blocks):
        assert np.array_equal(ink_maps(grey, S).smooth, cv2.GaussianBlur(grey, (0, 0), 1.5))


def test_marker_corners_are_refined_on_the_full_image() -> None:
    """A marker drawn at a known sub-pixel place: found on a reduced copy, refined on the image itself."""
    from ballot_templates.markers import dictionary
    from scanner.register import find_markers

    f = 4  # drawn 4x larger, then area-sampled: the marker's edges fall between pixels
    at, side = np.array([4013, 3006]), 320  # on the large canvas: 80 px in the 2000 px image
    canvas = np.full((1500 * f, 2000 * f), 255, np.uint8)
    canvas[at[1] : at[1] + side, at[0] : at[0] + side] = cv2.aruco.generateImageMarker(dictionary(), 1, side)
    grey = cv2.resize(canvas, (2000, 1500), interpolation=cv2.INTER_AREA)
    found = find_markers(grey, max_side=1000)
    assert set(found) == {1}
    corners = np.array([at, at + (side, 0), at + (side, side), at + (0, side)]) / f - 0.5  # pixel-centre (x, y)
    # on the 1000 px copy a corner is good to a pixel of the full image; refined, to a quarter of one (the
    # refinement pulls a corner slightly inwards, alike at every corner: the marker's centre stays exact)
    assert np.abs(found[1] - corners).max() < 0.3
    assert np.abs(found[1].mean(axis=0) - corners.mean(axis=0)).max() < 0.1


# --- identify -----------------------------------------------------------------------


def test_read_qr_and_identify(image: np.ndarray, layout: Layout, fixture_ws: Workspace, hom: np.ndarray) -> None:
    text = read_qr(image, hom, layout.pages[0].qr_mm)
    assert text == _payload(META["session_id"], META["layout_hash"], 1, META["token"])
    ctx = build_context(fixture_ws, S)
    ident = identify(text, ctx)
    assert (ident.kind, ident.token, ident.layout_page, ident.reasons) == ("ballot", META["token"], 1, ())


def _ctx(fixture_ws: Workspace, **kw: object) -> RunContext:
    return replace(build_context(fixture_ws, S), **kw)  # type: ignore[arg-type]


def test_identify_never_guesses(fixture_ws: Workspace, layout: Layout) -> None:
    ctx = _ctx(fixture_ws)
    sid, lh = layout.session_id, layout.layout_hash
    assert identify(None, ctx).reasons == (R.R_NO_QR,) and identify(None, ctx).kind == "unreadable"
    foreign = identify(_payload("OTHERSESS1", lh, 1, META["token"]), ctx)
    assert (foreign.kind, foreign.layout_page, foreign.reasons) == ("not_issued", None, (R.R_FOREIGN,))
    assert identify("https://example.com/not-ours", ctx).reasons == (R.R_FOREIGN,)
    wrong_layout = identify(_payload(sid, "000000000000", 1, META["token"]), ctx)
    assert (wrong_layout.kind, wrong_layout.reasons) == ("not_issued", (R.R_LAYOUT,))
    assert identify(_payload(sid, lh, 2, META["token"]), ctx).reasons == (R.R_LAYOUT,)  # page beyond the layout
    unknown = identify(_payload(sid, lh, 1, "NOTISSUED0001"), ctx)
    assert (unknown.kind, unknown.token, unknown.reasons) == ("not_issued", "NOTISSUED0001", (R.R_UNKNOWN_TOKEN,))
    assert identify(_payload(sid, lh, 1, None), ctx).reasons == (R.R_UNKNOWN_TOKEN,)
    untokened = identify(_payload(sid, lh, 1, None), _ctx(fixture_ws, untokened_ok=True))
    assert (untokened.kind, untokened.reasons) == ("ballot", ())


# --- score and classify -----------------------------------------------------------------


def test_score_boxes_on_fixture(straight: np.ndarray, layout: Layout) -> None:
    boxes, distorted = score_boxes(ink_maps(straight, S), layout.pages[0], S)
    assert not distorted
    assert len(boxes) == 3 * len(layout.pages[0].rows)
    state = {(b.person, b.level): b for b in boxes}
    streak_person = 11  # the streak crosses this row's boxes: not judged here
    for person in range(1, 13):
        if person == streak_person:
            continue
        marked = set(META["marks"].get(str(person), []))
        for level in LEVELS:
            b = state[(person, level)]
            expected = "marked" if level in marked else "empty"
            assert b.state == expected, (person, level, b)
            if expected == "marked":
                assert b.score >= S.mark_ink and b.span_mm >= S.mark_span_mm
            else:
                assert b.score < S.empty_ink
            assert abs(b.dx_mm) < 0.7 and abs(b.dy_mm) < 0.7


def test_classify_box_two_thresholds() -> None:
    s = S
    assert classify_box(BoxInk(0.15, 6.0, 0.2, 6.0, piece_mm=6.0), s) == "marked"
    # the same ink in dots close together (the smoothed trace joins them; every piece a speck): not a mark
    assert classify_box(BoxInk(0.15, 6.0, 0.2, 6.0, piece_mm=s.speck_mm * 0.8), s) == "marginal"
    assert classify_box(BoxInk(0.0, 0.0, 0.0, 0.0), s) == "empty"
    assert classify_box(BoxInk(s.empty_ink / 2, 0.5, s.empty_trace / 2, 0.5), s) == "empty"
    # between the two thresholds: a human looks
    assert classify_box(BoxInk((s.empty_ink + s.mark_ink) / 2, 6.0, 0.05, 6.0), s) == "marginal"
    # enough ink but only a dot: not a mark
    assert classify_box(BoxInk(0.05, s.mark_span_mm / 2, 0.06, s.mark_span_mm / 2), s) == "marginal"
    # a faint trace long enough to be a pencil line: not empty
    assert classify_box(BoxInk(0.0, 0.0, s.empty_trace / 2, s.empty_span_mm * 2), s) == "marginal"
    # a box filled solid (a cancelled mark) or one straight line (a fold): not a plain mark
    assert classify_box(BoxInk(s.heavy_ink + 0.05, 6.0, 0.9, 6.0, piece_mm=6.0), s) == "marginal"
    assert classify_box(BoxInk(0.1, 6.0, 0.1, 6.0, line=0.9, piece_mm=6.0), s) == "marginal"


def test_a_large_blot_is_a_mark_only_where_the_pages_marks_are_as_heavy_and_thick() -> None:
    """A solid round piece over 3.5 mm with no stroke in it (``big_blot``) is a thick marker's X on a page
    marked with that marker, and a drop of ink on a page marked in ballpoint (lighter marks, or thinner
    strokes) or with no typical mark."""
    blot = BoxInk(0.42, 6.0, 0.7, 6.0, piece_mm=4.0, big_blot=True, thick_mm=4.0)
    assert classify_box(blot, S) == "marginal"
    marker = {"pen_light": 0.35, "pen_width_mm": 4.0 / S.blot_width_ratio + 0.05}
    assert classify_box(blot, S, **marker) == "marked"  # the page's marks as heavy, its strokes as wide: a marker
    assert classify_box(blot, S, **(marker | {"pen_light": 0.42 / S.blot_pen_ratio - 0.01})) == "marginal"  # lighter
    assert classify_box(blot, S, **(marker | {"pen_width_mm": 4.0 / S.blot_width_ratio - 0.05})) == "marginal"  # thinner
    assert classify_box(blot, S, pen_light=0.35) == "marginal"  # how wide the page's strokes are is not known
    assert classify_box(replace(blot, big_blot=False), S) == "marked"  # a stroke in it


def _box(person: int, level: str, state: str, score: float = 0.1) -> BoxResult:
    return BoxResult(person, level, score, score, 5.0, state, 0.0, 0.0)


def test_classify_rows_none_one_multiple_marginal() -> None:
    boxes = [
        _box(1, "high", "marked"), _box(1, "medium", "empty", 0), _box(1, "low", "empty", 0),
        _box(2, "high", "empty", 0), _box(2, "medium", "empty", 0), _box(2, "low", "empty", 0),
        _box(3, "high", "marked"), _box(3, "medium", "empty", 0), _box(3, "low", "marked"),
        _box(4, "high", "marked"), _box(4, "medium", "marginal", 0.012), _box(4, "low", "empty", 0),
        _box(5, "high", "marginal", 0.8), _box(5, "medium", "empty", 0), _box(5, "low", "empty", 0),
        _box(6, "high", "marginal", 0.0), _box(6, "medium", "empty", 0), _box(6, "low", "empty", 0),
    ]
    rows = classify_rows(boxes, S)
    assert (rows[1].marks, rows[1].choice, rows[1].reasons) == ("one", "high", ())
    assert (rows[2].marks, rows[2].choice, rows[2].reasons) == ("none", None, ())
    assert (rows[3].marks, rows[3].choice, rows[3].reasons) == ("multiple", None, (R.R_MULTIPLE,))
    assert rows[4].reasons == (R.R_MARGINAL,) and rows[4].choice == "high"
    assert rows[5].reasons == (R.R_SCRIBBLE,)
    assert rows[6].reasons == (R.R_FAINT,)


# --- inspect ----------------------------------------------------------------------------


def _name_region(straight: np.ndarray, layout: Layout, person: int) -> np.ndarray:
    maps = ink_maps(straight, S)
    x, y, w, h = layout.pages[0].rows[person - 1].name_mm
    return maps.light[round((y + 0.3) * PX) : round((y + h - 0.3) * PX), round(x * PX) : round((x + w) * PX)]


def test_strike_coverage_crossed_name(straight: np.ndarray, layout: Layout) -> None:
    (crossed,) = META["crossed"]
    assert strike_coverage(_name_region(straight, layout, crossed), S) >= S.name_cross_coverage
    for person in (1, 2, 3, 5, 12):
        assert strike_coverage(_name_region(straight, layout, person), S) < S.name_cross_coverage / 2, person
    assert strike_coverage(np.zeros((40, 300), bool), S) == 0.0
    line = np.zeros((40, 300), bool)
    line[20, 30:270] = True
    assert strike_coverage(line, S) == pytest.approx(0.8, abs=0.02)


def test_find_streaks(image: np.ndarray, layout: Layout, hom: np.ndarray) -> None:
    streaks = find_streaks(image, S)
    assert len(streaks) == 1
    assert streaks[0] == pytest.approx(META["streak_x_mm"] * META["dpi"] / 25.4, abs=4)
    # the sheet was fed sideways: the streak runs along the rows, through 11's boxes and along 10's name
    lines = find_streak_lines(image, S)
    assert len(lines) == 1 and lines[0][0][0] == lines[0][1][0] == streaks[0]
    lines_mm = streak_lines_mm(lines, hom, layout.pages[0], S)
    assert streak_boxes(lines, hom, layout.pages[0]) == {11}
    assert streak_names(lines_mm, layout.pages[0], S) == {10, 11}
    # the same scan turned a quarter by the scan software to set the page upright: the streak is an image row,
    # and still found, through the same boxes and along the same name
    turned = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)  # image (x, y) -> (h - 1 - y, x)
    turn = np.array([[0, -1, image.shape[0] - 1], [1, 0, 0], [0, 0, 1]], np.float64)
    (row,) = find_streak_lines(turned, S)
    assert row[0][1] == row[1][1] == pytest.approx(streaks[0], abs=1)
    turned_mm = streak_lines_mm([row], turn @ hom, layout.pages[0], S)
    assert streak_boxes([row], turn @ hom, layout.pages[0]) == {11}
    assert streak_names(turned_mm, layout.pages[0], S) == {10, 11}
    # rows are searched on scans only (a photo has no streak, and a curled sheet's rule can lie along a row):
    # a scanner's page map is affine, a photo's is not
    size = layout.page_size_mm
    assert parallelogram_gap_mm(hom, size) < S.streak_flat_mm / 2 and parallelogram_gap_mm(turn @ hom, size) < S.streak_flat_mm / 2
    tilted = hom @ np.array([[1, 0, 0], [0, 1, 0], [2e-4, 1e-4, 1]], np.float64)  # the sheet leaning away
    assert parallelogram_gap_mm(tilted, size) > S.streak_flat_mm
    # synthetic: one thin dark column is a streak, a clean page or a dark border is not
    paper = np.full((800, 600), 230, np.uint8)
    assert find_streaks(paper, S) == []
    lined = paper.copy()
    lined[:, 300:302] = 60
    assert find_streaks(lined, S) == [pytest.approx(300.5, abs=1)]
    border = paper.copy()
    border[:, :60] = 20
    assert find_streaks(border, S) == []
    # a faint streak (10 % darker: a thin line of a 600-dpi scan read at reduced size) on noisy paper is
    # one; the noise alone, a shadow's edge and a printed rule over half the height are not
    rng = np.random.default_rng(3)
    noisy = np.clip(paper + rng.normal(0, 8, paper.shape), 0, 255)
    faint = noisy.copy()
    faint[:, 200] *= 0.9
    assert find_streaks(faint.astype(np.uint8), S) == [pytest.approx(200, abs=1)]
    assert find_streaks(noisy.astype(np.uint8), S) == []
    shadow = noisy.copy()
    shadow[:, 350:] *= 0.8
    assert find_streaks(shadow.astype(np.uint8), S) == []
    rule = noisy.copy()
    rule[200:600, 450] = 40
    assert find_streaks(rule.astype(np.uint8), S) == []
    # a photo: the background above and below the sheet, and a shadow's band down it 15 px wide, darken whole
    # columns; on a scan that is a wide dark streak, on a photo it is not one. A thin streak is one on both
    photo = noisy.copy()
    photo[:160], photo[640:], photo[:, 560:575] = 100, 100, 130
    assert find_streaks(photo.astype(np.uint8), S) == [pytest.approx(567, abs=1)]
    assert find_streaks(photo.astype(np.uint8), S, dark=False) == []
    assert find_streaks(faint.astype(np.uint8), S, dark=False) == [pytest.approx(200, abs=1)]




def test_a_streaks_band_in_a_box_found_off_its_place_sends_the_row_to_review(layout: Layout) -> None:
    """The band taken out of the boxes (1 mm either side of the streak's line) sends the row of every box whose
    interior it reaches, where the box was found: a streak passing 0.5 mm right of a box's printed place
    misses its interior, but reaches it in a box found 0.8 mm to the right."""
    page = layout.pages[0]
    x, y, w, h = page.rows[0].boxes_mm["low"]
    shape = (round(layout.page_size_mm[1] * PX), round(layout.page_size_mm[0] * PX))
    band = streak_band([np.array([[x + w + 0.5, 0.0], [x + w + 0.5, layout.page_size_mm[1]]])], shape, S)

    def boxes(dx: float) -> list[BoxResult]:
        return [BoxResult(row.person, level, 0.0, 0.0, 0.0, "empty", dx if row is page.rows[0] else 0.0, 0.0)
                for row in page.rows for level in LEVELS]

    assert band_in_boxes(band, page, boxes(0.0), S) == set()
    assert band_in_boxes(band, page, boxes(0.8), S) == {page.rows[0].person}


# --- the whole page -----------------------------------------------------------------------


def test_read_page_fixture(fixture_ws: Workspace, layout: Layout, tmp_path: Path) -> None:
    ctx = _ctx(fixture_ws, workspace=str(tmp_path), debug_dir=str(tmp_path / "debug"))
    result = read_page(next(tasks_for(describe(IMAGE, SCANS))), ctx)
    assert (result.kind, result.status, result.token, result.layout_page) == ("ballot", "review", META["token"], 1)
    assert result.reasons == (R.R_WRITING,)
    rows = {r.person: r for r in result.rows}
    assert sorted(rows) == list(range(1, 13))
    for person, row in rows.items():
        if person in (10, 11):  # the streak: crosses 10's name and 11's boxes
            continue
        marked = META["marks"].get(str(person), [])
        expected = "none" if not marked else "one" if len(marked) == 1 else "multiple"
        assert row.marks == expected, (person, row)
        assert row.choice == (marked[0] if len(marked) == 1 else None)
    assert R.R_CROSSED in rows[4].reasons
    assert R.R_STREAK in rows[11].reasons
    # the streak runs along person 10's name, where a strike would: the row goes to review as a streak,
    # not as a crossed name (the streak is taken out of what the name checks see)
    assert R.R_STREAK in rows[10].reasons and R.R_CROSSED not in rows[10].reasons
    for person in (1, 3, 5, 6, 7, 8, 12):
        assert rows[person].reasons == (), person
    assert result.image is not None and (tmp_path / result.image).is_file()
    assert list((tmp_path / "debug").glob("*.png"))


def _image_points(points_mm: list[tuple[float, float]], hom: np.ndarray) -> list[tuple[int, int]]:
    """Page points (mm) as whole image pixels, for drawing on the scan."""
    found = cv2.perspectiveTransform(np.array(points_mm, np.float64).reshape(-1, 1, 2), hom).reshape(-1, 2)
    return [(int(round(px)), int(round(py))) for px, py in found]


#: inks the red channel (the seal's dropout) does not see, BGR
HIDDEN_INKS = {"red pen": (40, 30, 215), "pink gel pen": (180, 110, 245), "magenta felt pen": (200, 60, 220),
               "orange pen": (30, 140, 250), "yellow highlighter": (60, 235, 250)}
VIOLET_PEN = (155, 45, 140)  # the classic Vietnamese mực tím: coloured, and dark in the red channel too


def _draw_x(colour: np.ndarray, hom: np.ndarray, rect_mm: tuple[float, float, float, float],
            bgr: tuple[int, int, int], thickness: int = 2) -> None:
    x, y, w, h = rect_mm
    a, b, c, d = _image_points([(x + 1, y + 1), (x + w - 1, y + h - 1), (x + w - 1, y + 1), (x + 1, y + h - 1)], hom)
    cv2.line(colour, a, b, bgr, thickness)
    cv2.line(colour, c, d, bgr, thickness)


def _read_colour(colour: np.ndarray, fixture_ws: Workspace, tmp_path: Path, name: str = "colour.png", *,
                 blank: bool = False) -> PageResult:
    """Read ``colour`` as a scan in a workspace at ``tmp_path``; with ``blank``, one that has the session's blank
    pages (its reference PDF), as a real workspace does: the name cells' checks need them."""
    scans = tmp_path / "scans"
    scans.mkdir(parents=True)
    if blank:
        shutil.copy(fixture_ws.reference_pdf, tmp_path / REFERENCE_PDF)
    cv2.imwrite(str(scans / name), colour)
    return read_page(next(tasks_for(describe(scans / name, scans))), _ctx(fixture_ws, workspace=str(tmp_path)))


@pytest.mark.parametrize("ink", list(HIDDEN_INKS))
def test_a_mark_in_an_ink_the_dropout_hides_sends_its_row_to_review(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, ink: str, hom: np.ndarray) -> None:
    """Red, pink, magenta, orange and yellow vanish in the red channel (the seal's dropout), so an X in
    them must not read as an empty box that counts: its row goes to review as ``red_ink``. Before
    (R minus the larger of G and B), a pink gel pen's X read as a row with no mark and no reason: a
    silent invalid vote. Rows without such ink are untouched."""
    colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    page = layout.pages[0]
    for person, level in ((3, "high"), (1, "low")):  # 3 has no mark; 1 has its own mark in "high"
        _draw_x(colour, hom, page.rows[person - 1].boxes_mm[level], HIDDEN_INKS[ink],
                4 if "highlighter" in ink else 2)
    result = _read_colour(colour, fixture_ws, tmp_path)
    rows = {r.person: r for r in result.rows}
    assert result.status == "review"
    assert R.R_RED in rows[3].reasons and rows[3].marks == "none"
    assert R.R_RED in rows[1].reasons
    assert [p for p, r in rows.items() if R.R_RED in r.reasons] == [1, 3]


def test_violet_ink_the_dropout_still_sees_is_read_as_the_mark_it_is(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, hom: np.ndarray) -> None:
    """Coloured ink that is dark in the red channel as well (violet) is read like blue: its colour at the
    stroke's edges is that stroke's, not ink the dropout hid. The scan is a JPEG, whose colour is kept at
    half resolution and spreads past the stroke's edges."""
    colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    _draw_x(colour, hom, layout.pages[0].rows[2].boxes_mm["high"], VIOLET_PEN, 3)
    rows = {r.person: r for r in _read_colour(colour, fixture_ws, tmp_path, "colour.jpg").rows}
    assert (rows[3].marks, rows[3].choice, rows[3].reasons) == ("one", "high", ())
    assert not [p for p, r in rows.items() if R.R_RED in r.reasons]


def test_a_name_struck_through_in_pink_sends_its_row_to_review(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, hom: np.ndarray) -> None:
    """A printed name crossed out makes the ballot invalid (QĐ 96 rule 2): struck in an ink the dropout
    hides, the strike is not in the grey page the name checks look at, so the row goes to review."""
    colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    x, y, w, h = layout.pages[0].rows[5].name_mm  # person 6: nothing else doubtful in this row
    a, b = _image_points([(x + 2, y + h / 2), (x + w * 0.6, y + h / 2 - 0.5)], hom)
    cv2.line(colour, a, b, HIDDEN_INKS["pink gel pen"], 2)
    rows = {r.person: r for r in _read_colour(colour, fixture_ws, tmp_path).rows}
    assert [p for p, r in rows.items() if R.R_RED in r.reasons] == [6]


def test_writing_in_an_ink_the_dropout_hides_is_found_in_the_free_areas(
        layout: Layout, image: np.ndarray, hom: np.ndarray) -> None:
    """A name written in with a pink pen is writing (``hidden_ink`` says so of the free areas)."""
    page = layout.pages[0]
    colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    assert hidden_ink(colour, hom, page, S) == (set(), False)
    x, y, w, h = page.free_mm[0]
    for k in range(4):  # four short words
        a, b = _image_points([(x + 10 + 12 * k, y + h - 12), (x + 19 + 12 * k, y + h - 14)], hom)
        cv2.line(colour, a, b, HIDDEN_INKS["pink gel pen"], 2)
    assert hidden_ink(colour, hom, page, S) == (set(), True)


BLUE_PEN = (175, 85, 40)  # a blue ballpoint, BGR


def _ink_on_letters(colour: np.ndarray, hom: np.ndarray, layout: Layout, bgr: tuple[int, int, int]) -> None:
    """A small X over person 6's first letters, 3.6 mm wide; four loops over person 8's position."""
    rows = layout.pages[0].rows
    x, y, w, h = rows[5].name_mm
    cx, cy = x + 2.5, y + h / 2
    for a, b in ((-1.8, -1.8), (-1.8, 1.8)):
        p, q = _image_points([(cx + a, cy + b), (cx - a, cy - b)], hom)
        cv2.line(colour, p, q, bgr, 2, cv2.LINE_AA)
    x, y, w, h = rows[7].position_mm
    loops = [(x + 3 + 0.9 * t + 1.0 * np.cos(t * 2.0), y + h / 2 + 1.1 * np.sin(t * 2.0)) for t in np.linspace(0, 12, 120)]
    cv2.polylines(colour, [np.array(_image_points(loops, hom), np.int32)], False, bgr, 2, cv2.LINE_AA)


def test_a_blue_pen_on_a_names_letters_is_seen_by_its_colour(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, hom: np.ndarray) -> None:
    """A small X over a name's first letters and loops written over a position stay on the letters or within
    their reach: in grey nothing is left off the print, and the rows were counted with no doubt (a name
    crossed out spoils the ballot under QĐ 96). The print is black; a blue pen's ink shows by its colour
    where it leaves the letters, and those two rows go to review as ``name_cell_ink``. The same ink in a
    black pen is not seen (what this test holds first)."""
    black = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    _ink_on_letters(black, hom, layout, (40, 40, 40))
    rows = {r.person: r for r in _read_colour(black, fixture_ws, tmp_path / "black", blank=True).rows}
    assert (rows[6].marks, rows[6].reasons, rows[8].reasons) == ("one", (), ())
    blue = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    _ink_on_letters(blue, hom, layout, BLUE_PEN)
    rows = {r.person: r for r in _read_colour(blue, fixture_ws, tmp_path / "blue", blank=True).rows}
    assert [p for p, r in rows.items() if R.R_NAME_INK in r.reasons] == [6, 8]


@pytest.mark.parametrize("shift_px", [0.25, 0.5, 1.0])
def test_a_scanners_colour_fringes_are_not_a_pen_on_the_names(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, shift_px: float) -> None:
    """A contact-image scanner lights each line red, green and blue in turn while the sheet moves: every
    letter's edge across the feed gets a blue rim on one side, more in one row than in another. That is no
    one's pen: the table's heading shows the same rims, and such a page is not judged by colour (it reads as
    its grey scan does). Without that look, 0.5 px of fringes on this sharp 150 dpi scan sent 7 rows of 12
    to review."""
    plain = {r.person: r for r in _read_colour(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), fixture_ws, tmp_path / "plain",
                                               blank=True).rows}
    fringed = colour_fringes(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), shift_px)
    assert np.count_nonzero(cv2.subtract(fringed[:, :, 0], fringed[:, :, 2]) >= 40) > 1000  # blue rims on every row
    rows = {r.person: r for r in _read_colour(fringed, fixture_ws, tmp_path / "fringed", blank=True).rows}
    assert rows == plain


def test_a_warm_light_or_cream_paper_is_not_hidden_ink_but_a_pink_mark_on_it_is(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, hom: np.ndarray) -> None:
    """Hidden ink is judged against the paper's own tint: a page photographed under a warm lamp (blue at
    70 %, green at 88 % of red) reads as the grey page does, and a pink X on it is still found."""
    grey = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR).astype(np.float32)
    warm = np.clip(grey * np.array([0.70, 0.88, 1.0], np.float32), 0, 255).astype(np.uint8)
    plain = {r.person: r for r in read_page(next(tasks_for(describe(IMAGE, SCANS))), _ctx(fixture_ws)).rows}
    warm_rows = {r.person: r for r in _read_colour(warm.copy(), fixture_ws, tmp_path / "warm").rows}
    assert warm_rows == plain
    _draw_x(warm, hom, layout.pages[0].rows[2].boxes_mm["medium"], HIDDEN_INKS["pink gel pen"])
    rows = {r.person: r for r in _read_colour(warm, fixture_ws, tmp_path / "pink").rows}
    assert [p for p, r in rows.items() if R.R_RED in r.reasons] == [3]


def _photographed(image: np.ndarray, gains_bgr: tuple[float, float, float], pencil: np.ndarray) -> np.ndarray:
    """``image`` (grey) with ``pencil`` (0..1 darkening, neutral) drawn on it, taken as a camera would: each
    channel's light times its gain, sensor noise, then clipped at 255."""
    page = image.astype(np.float32) * (1.0 - pencil)
    noise = np.random.default_rng(5).normal(0.0, 2.0, image.shape + (3,)).astype(np.float32)
    return np.clip(page[:, :, None] * np.array(gains_bgr, np.float32) + noise, 0, 255).astype(np.uint8)


def _faint_pencil_xs(layout: Layout, hom: np.ndarray, shape: tuple[int, ...], darkening: float = 0.06) -> np.ndarray:
    """A faint pencil X (``darkening``) in person 5's "high" and person 7's "low" box, each an empty box
    beside its voter's clear mark, as a darkening map of the fixture scan's ``shape``."""
    pencil = np.zeros(shape, np.float32)
    for person, level in ((5, "high"), (7, "low")):
        x, y, w, h = layout.pages[0].rows[person - 1].boxes_mm[level]
        for a, b in (((x + 1.2, y + 1.2), (x + w - 1.2, y + h - 1.2)), ((x + w - 1.2, y + 1.2), (x + 1.2, y + h - 1.2))):
            p, q = _image_points([a, b], hom)
            cv2.line(pencil, p, q, darkening, 2, cv2.LINE_AA)
    return pencil


def test_a_faint_pencil_mark_an_overexposed_red_channel_loses_is_looked_for_in_blue(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, hom: np.ndarray) -> None:
    """A photo taken in warm light and overexposed pins the red channel's white paper at 255: a faint pencil
    X (6 % darker than the paper) in person 5's and person 7's empty boxes is clipped away there, and the
    rows, each with its voter's clear mark, were counted with no doubt, though a human must look at a faint
    second mark. The blue channel, which the warm light dims, keeps the X: both rows go to review as
    ``faint`` (:func:`scanner.exposure.faint_in_colour`). Held first: the warm photo without the X reads
    as the plain scan does. (Overexposed in every channel, the X is gone from the picture: the next test.)"""
    pencil = _faint_pencil_xs(layout, hom, image.shape)
    plain = {r.person: r for r in read_page(next(tasks_for(describe(IMAGE, SCANS))), _ctx(fixture_ws)).rows}

    def faint(name: str, gains: tuple[float, float, float], marks: np.ndarray) -> list[int]:
        """The rows whose reasons differ from the plain scan's (10 and 11, under the fixture's streak, aside)."""
        read = _read_colour(_photographed(image, gains, marks), fixture_ws, tmp_path / name).rows
        rows = {r.person: r for r in read if r.person not in (10, 11)}
        assert {p: (r.marks, r.choice) for p, r in rows.items()} == {p: (plain[p].marks, plain[p].choice) for p in rows}
        return [p for p, r in rows.items() if r.reasons != plain[p].reasons]

    warm = (0.95, 1.1, 1.2)
    assert faint("warm", warm, np.zeros_like(pencil)) == []
    assert faint("warm-pencil", warm, pencil) == [5, 7]
    rows = {r.person: r for r in _read_colour(_photographed(image, warm, pencil), fixture_ws, tmp_path / "again").rows}
    assert R.R_FAINT in rows[5].reasons and R.R_FAINT in rows[7].reasons


@pytest.mark.parametrize("seed", [2, 4])
def test_a_faint_pencil_mark_the_red_channel_s_colour_noise_hides_is_looked_for_in_the_luma(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, hom: np.ndarray, seed: int) -> None:
    """A phone's picture carries colour noise (its sensor's demosaicing, a JPEG's coarse colour) that its luma
    does not: the red channel, where everything else is read, is the luma plus that noise. A faint pencil X
    (2 % darker than the paper) in person 5's and person 7's empty boxes, each beside its voter's clear
    mark, under colour noise of 12 levels and luma noise of 1: the red channel alone (the same picture's red
    channel read as a grey scan) sees neither, and both rows were counted with no doubt; the colour picture
    sends both to review as ``faint`` (:func:`scanner.exposure.faint_in_colour`), and reads every row as
    the red channel does. Without the X, the colour picture sends no row to review that the red channel
    does not. (Of seeds 1-6, the colour picture finds both X's in every one; the red channel misses one or
    both in five.)"""
    pencil = _faint_pencil_xs(layout, hom, image.shape, 0.02)

    def photo(marks: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(seed)
        noise = rng.normal(0.0, 12.0, image.shape + (3,)).astype(np.float32)
        noise -= (noise @ np.array([0.114, 0.587, 0.299], np.float32))[:, :, None]  # colour only: no luma
        noise += rng.normal(0.0, 1.0, image.shape)[:, :, None].astype(np.float32)
        page = image.astype(np.float32) * (1.0 - marks)
        picture = np.clip(page[:, :, None] + noise, 0, 255).astype(np.uint8)
        return cv2.imdecode(cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 75])[1], cv2.IMREAD_COLOR)

    for name, marks in (("plain", np.zeros_like(pencil)), ("pencil", pencil)):
        colour = photo(marks)
        red = {r.person: r for r in _read_colour(np.ascontiguousarray(colour[:, :, 2]), fixture_ws, tmp_path / f"{name}-red").rows}
        read = {r.person: r for r in _read_colour(colour, fixture_ws, tmp_path / name).rows}
        assert {p: (r.marks, r.choice) for p, r in read.items()} == {p: (r.marks, r.choice) for p, r in red.items()}
        assert not any(R.R_FAINT in r.reasons for r in red.values() if r.person in (5, 7))
        added = {p for p, r in read.items() if r.reasons != red[p].reasons}
        assert added == (set() if name == "plain" else {5, 7})
        assert all(R.R_FAINT in read[p].reasons for p in added)


def test_a_box_whose_paper_is_clipped_white_in_every_channel_goes_to_review(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, hom: np.ndarray) -> None:
    """Overexposed in every channel (a photo 20 % too bright), the faint pencil X in person 5's and person
    7's empty boxes is clipped away with the paper: nothing in the picture shows it, and the rows, each with
    its voter's clear mark, were counted with no doubt (a silent error on the simulator's phone deck).
    Every row with a box read as empty on paper clipped white in all three channels goes to review as
    ``overexposed``, its reading unchanged; so does a grey scan as bright. Only the rows under a bright
    patch do when the rest of the page keeps its grain; the plain scan, a warm photo whose blue channel
    keeps headroom, a grey scan 5 % brighter (paper at 250) and a scan whose paper lies at 252 with a
    scanner's grain (a tenth of its pixels reach 255: bright, not clipped) send none. (At 253 a quarter of
    them do, near the 0.3 of a box that counts: a row or two of such a page may go to review.)"""
    plain = {r.person: r for r in read_page(next(tasks_for(describe(IMAGE, SCANS))), _ctx(fixture_ws)).rows}
    pencil = _faint_pencil_xs(layout, hom, image.shape)

    def overexposed(name: str, picture: np.ndarray) -> set[int]:
        rows = _read_colour(picture, fixture_ws, tmp_path / name).rows
        assert {r.person: (r.marks, r.choice) for r in rows if r.person not in (10, 11)} == {
            p: (r.marks, r.choice) for p, r in plain.items() if p not in (10, 11)}
        return {r.person for r in rows if R.R_OVEREXPOSED in r.reasons}

    everyone = {row.person for row in layout.pages[0].rows} - {9}  # 9 marked all three boxes: none is empty
    assert not any(R.R_OVEREXPOSED in r.reasons for r in plain.values())
    assert overexposed("white", _photographed(image, (1.2, 1.2, 1.2), pencil)) == everyone
    assert overexposed("warm", _photographed(image, (0.95, 1.1, 1.2), pencil)) == set()
    assert overexposed("grey", cv2.convertScaleAbs(image, alpha=1.2)) == everyone
    assert overexposed("grey-bright", cv2.convertScaleAbs(image, alpha=1.05)) == set()
    grain = np.random.default_rng(7).normal(0.0, 2.0, image.shape)
    assert overexposed("grey-252", np.clip(np.rint(image * (252 / 238) + grain), 0, 255).astype(np.uint8)) == set()
    # a bright patch over the boxes of persons 2 to 4 only: a lamp's hot spot that keeps the print dark
    rows = layout.pages[0].rows
    x0 = min(x for x, _, _, _ in rows[1].boxes_mm.values()) - 2
    x1 = max(x + w for x, _, w, _ in rows[1].boxes_mm.values()) + 2
    y0, y1 = rows[1].boxes_mm["high"][1] - 1, rows[3].boxes_mm["high"][1] + rows[3].boxes_mm["high"][3] + 1
    cols, rows_px = zip(*_image_points([(x0, y0), (x1, y1)], hom), strict=True)  # the scan is turned
    patch = np.ones(image.shape, np.float32)
    patch[min(rows_px):max(rows_px), min(cols):max(cols)] = 1.2
    spot = np.clip(image.astype(np.float32) * patch, 0, 255).astype(np.uint8)
    assert overexposed("spot", cv2.cvtColor(spot, cv2.COLOR_GRAY2BGR)) == {2, 3, 4}


def test_a_faint_strike_past_a_names_end_is_found_where_nothing_is_printed(
        fixture_ws: Workspace, layout: Layout, image: np.ndarray, tmp_path: Path, hom: np.ndarray) -> None:
    """A faint pencil strike (10 % darker than the paper) through person 3's name and on past its end, too
    faint for the light ink: ``read_page`` finds it in the traces where the blank page (the session's
    reference PDF) has nothing printed. Without the reference PDF that look is not possible, and the
    strike is lost: what this test holds."""
    x, y, w, h = layout.pages[0].rows[2].name_mm
    a, b = _image_points([(x + 1, y + h * 0.55), (x + w * 0.95, y + h * 0.55 + 0.3)], hom)
    cover = np.zeros(image.shape, np.float32)
    cv2.line(cover, a, b, 1.0, 2, cv2.LINE_AA)
    struck = np.clip(image * (1.0 - 0.10 * cover), 0, 255).astype(np.uint8)
    scans = tmp_path / "scans"
    scans.mkdir()
    cv2.imwrite(str(scans / "struck.png"), struck)
    task = next(tasks_for(describe(scans / "struck.png", scans)))

    def crossed(workspace: Path) -> list[int]:
        rows = read_page(task, _ctx(fixture_ws, workspace=str(workspace))).rows
        return [r.person for r in rows if R.R_CROSSED in r.reasons]

    bare = tmp_path / "bare"
    bare.mkdir()
    assert crossed(bare) == [4]  # the fixture's own strike (pen); its streak along 10's name is a streak
    with_blank = tmp_path / "with_blank"
    with_blank.mkdir()
    shutil.copy(fixture_ws.reference_pdf, with_blank / REFERENCE_PDF)
    assert crossed(with_blank) == [3, 4]


def test_the_histogram_percentile_and_median_are_numpys_to_the_last_bit() -> None:
    """The page's paper level and the colour's tint come from a 256-bin histogram instead of numpy's
    partition, which is faster; every threshold built on them must stay the same number."""
    rng = np.random.default_rng(3)
    for trial in range(600):
        lo, hi = sorted(int(v) for v in rng.integers(0, 256, 2))
        values = rng.integers(lo, hi + 1, int(rng.integers(1, 4000))).astype(np.uint8)
        if trial % 2:  # a strided view, as the pages' samples are
            values = np.tile(values, (2, 1))[:, ::3]
        for q in (0, 20, 50, 90, 99.5, 100, float(rng.uniform(0, 100))):
            assert percentile_u8(values, q) == float(np.percentile(values, q)), (trial, q)
        assert median_u8(values) == float(np.median(values)), trial


def test_the_framed_views_move_an_image_as_shifted_does() -> None:
    image = np.random.default_rng(3).normal(size=(9, 13)).astype(np.float32)
    moved = _mover(image, 3)
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            np.testing.assert_array_equal(moved(dy, dx), shifted(image, dy, dx))


@pytest.mark.parametrize(("scale", "low"), [(0.45, True), (0.66, False)])
def test_a_page_read_at_under_90_dpi_goes_to_review_every_line(
        fixture_ws: Workspace, image: np.ndarray, tmp_path: Path, scale: float, low: bool) -> None:
    """At under 90 pixels per inch of the sheet (a small phone photo, a scanner set to 75 dpi) a fine pen's
    stroke is under a pixel wide, and a light pencil's mark is lost: bench/robustness.py found a faint mark
    beside a clear X read as the X alone, with no reason, on such a page. Every line of it goes to review
    (``low_resolution``); the fixture's 150 dpi scan at 0.66 (99 dpi) is read as it is."""
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    result = _read_colour(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR), fixture_ws, tmp_path)
    assert result.kind == "ballot" and result.rows
    assert all(R.R_LOW_RES in row.reasons for row in result.rows) is low
    assert any(R.R_LOW_RES in row.reasons for row in result.rows) is low
    assert ("90 pixels per inch" in result.detail) is low
