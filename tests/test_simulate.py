"""The simulator: truth matches what is drawn, decks are deterministic and readable."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from click.testing import CliRunner
from PIL import Image

from calibration import effects
from calibration import simulate as simulate_module
from calibration.simulate import (
    FIELD_CLEAR_STYLES,
    FileJob,
    MarkSpec,
    PageSpec,
    ScanSpec,
    _plan,
    _render_job,
    blank_page,
    render_page,
    row_truth,
    simulate,
)
from calibration.strokes import AMBIGUOUS_STYLES, CLEAR_STYLES, Pen, warm_pen
from calibration.truth import load_truth
from kiemphieu.cli import main
from kiemphieu.errors import InputError
from kiemphieu.layout import load_layout
from kiemphieu.session import Workspace

DPI = 150
PX = DPI / 25.4


def _straighten(img: np.ndarray) -> np.ndarray:
    """Page pixels at the known geometry: a ScanSpec() page has only a margin added.

    The margin (1-4 mm of scanner background) is found from the page edge, the one
    place where paper meets the lighter or darker scanner lid.
    """
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    # the printed markers: the top-left of the bottom-left marker is at (10, 277) mm
    dark = grey < 100
    rows = np.where(dark[:, : int(30 * PX)].any(axis=1))[0]
    cols = np.where(dark[int(260 * PX) :, :].any(axis=0))[0]
    bottom_left_top = rows[rows > int(250 * PX)].min()
    left = cols.min()
    dy = bottom_left_top - round(277 * PX)
    dx = left - round(10 * PX)
    h, w = round(297 * PX), round(210 * PX)
    return grey[dy : dy + h, dx : dx + w]


def _box_darkness(page: np.ndarray, rect: tuple[float, float, float, float], inset_mm: float = 1.0) -> float:
    x, y, w, h = rect
    r0, r1 = int((y + inset_mm) * PX), int((y + h - inset_mm) * PX)
    c0, c1 = int((x + inset_mm) * PX), int((x + w - inset_mm) * PX)
    return float(255.0 - page[r0:r1, c0:c1].mean())


def test_row_truth_rules() -> None:
    assert row_truth(())["expect"] == "none"
    one = row_truth((MarkSpec("low", "x"), MarkSpec("high", "dots")))
    assert one["expect"] == "one" and one["choice"] == "low"
    assert one["styles"] == {"high": "dots", "medium": "empty", "low": "x"}
    assert row_truth((MarkSpec("low", "x"), MarkSpec("high", "check")))["expect"] == "multiple"
    assert row_truth((MarkSpec("low", "x"), MarkSpec("high", "faint")))["expect"] == "review"
    assert row_truth((MarkSpec("medium", "neighbour_stroke"),))["expect"] == "none"
    with pytest.raises(ValueError):
        MarkSpec("high", "stamp")


def test_marks_are_drawn_where_truth_says(printed_workspace: Workspace) -> None:
    layout = load_layout(printed_workspace.layout_json)
    rows = layout.page(1).rows
    clear = ("x", "check", "slash", "fill", "circle", "small_x", "x_overshoot", "cancelled")
    marks: dict[int, tuple[MarkSpec, ...]] = {
        row.person: (MarkSpec("medium", clear[i % len(clear)]),) for i, row in enumerate(rows[:8])
    }
    spec = PageSpec(layout_page=1, token="TESTTOKEN0001", marks=marks)
    img = render_page(printed_workspace, spec, ScanSpec(dpi=DPI), rng=np.random.default_rng(4))
    page = _straighten(img)
    for row in rows:
        for level in ("high", "medium", "low"):
            darkness = _box_darkness(page, row.boxes_mm[level])
            if row.person in marks and level == "medium":
                assert darkness > 12.0, (row.person, level, darkness)
            else:  # an empty box: paper only
                assert darkness < 10.0, (row.person, level, darkness)


def test_measure_can_fail_on_a_wrong_box(printed_workspace: Workspace) -> None:
    """The darkness measure tells a marked box from an empty one (it is not always true)."""
    layout = load_layout(printed_workspace.layout_json)
    row = layout.page(1).rows[0]
    spec = PageSpec(1, None, {row.person: (MarkSpec("high", "x"),)})
    page = _straighten(render_page(printed_workspace, spec, ScanSpec(dpi=DPI), rng=np.random.default_rng(1)))
    assert _box_darkness(page, row.boxes_mm["high"]) > 3 * _box_darkness(page, row.boxes_mm["low"]) + 5


def test_not_marks_stay_mostly_out_of_the_box(printed_workspace: Workspace) -> None:
    layout = load_layout(printed_workspace.layout_json)
    row = layout.page(1).rows[1]
    for seed, style in enumerate(("dots", "neighbour_stroke", "tiny_tick", "faint")):
        spec = PageSpec(1, None, {row.person: (MarkSpec("low", style),)})
        page = _straighten(render_page(printed_workspace, spec, ScanSpec(dpi=DPI), rng=np.random.default_rng(seed)))
        ink = _box_darkness(page, row.boxes_mm["low"])
        x_spec = PageSpec(1, None, {row.person: (MarkSpec("low", "x"),)})
        x_page = _straighten(render_page(printed_workspace, x_spec, ScanSpec(dpi=DPI), rng=np.random.default_rng(seed)))
        assert ink < _box_darkness(x_page, row.boxes_mm["low"]), style


def test_render_is_deterministic_and_greyscale(printed_workspace: Workspace) -> None:
    spec = PageSpec(1, "T", {1: (MarkSpec("high", "x"),)}, crossed=(2,), writing=True, signature=True)
    scan = ScanSpec(dpi=DPI, skew_deg=2.5, rotation=180, color=False, noise=4, blur=0.7, jpeg_quality=70,
                    fold="quarter", streak_x_mm=50.0, bleed=True)
    a = render_page(printed_workspace, spec, scan, rng=np.random.default_rng(9))
    b = render_page(printed_workspace, spec, scan, rng=np.random.default_rng(9))
    c = render_page(printed_workspace, spec, scan, rng=np.random.default_rng(10))
    assert a.ndim == 2 and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_qr_is_readable_and_carries_the_session(printed_workspace: Workspace) -> None:
    spec = PageSpec(1, "ABCDEFGHIJKLM", {}, session_id="OTHER00001")
    img = render_page(printed_workspace, spec, ScanSpec(dpi=200, rotation=180), rng=np.random.default_rng(2))
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(img)
    assert text.startswith("KP1:OTHER00001:") and text.endswith(":1:ABCDEFGHIJKLM")


def test_phone_frame_and_blank_page(printed_workspace: Workspace) -> None:
    img = render_page(printed_workspace, PageSpec(1, "T", {}), ScanSpec(dpi=100, phone=True, jpeg_quality=85),
                      rng=np.random.default_rng(3))
    assert sorted(img.shape[:2]) == [3000, 4000]
    blank = blank_page(ScanSpec(dpi=DPI), rng=np.random.default_rng(1))
    assert blank.shape[2] == 3 and blank.mean() > 200 and blank.min() > 150


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def rough_deck(tmp_path_factory: pytest.TempPathFactory, printed_workspace: Workspace) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("rough")
    out = root / "scans"
    result = simulate(printed_workspace, out, voters=4, profile="adf-rough", seed=11, jobs=2)
    return out, result.truth_path


def test_deck_is_deterministic(printed_workspace: Workspace, tmp_path: Path, rough_deck: tuple[Path, Path]) -> None:
    out, truth = rough_deck
    again = simulate(printed_workspace, tmp_path / "scans", voters=4, profile="adf-rough", seed=11, jobs=1)
    assert _digest(out) == _digest(again.out_dir)
    assert json.loads(truth.read_text())["pages"] == json.loads(again.truth_path.read_text())["pages"]


def test_truth_is_beside_the_scans_and_complete(rough_deck: tuple[Path, Path], printed_workspace: Workspace) -> None:
    out, truth_path = rough_deck
    assert truth_path == out.parent / "scans-truth.json"
    assert not any(p.suffix == ".json" for p in out.iterdir())
    truth = load_truth(truth_path)
    assert truth.profile == "adf-rough" and truth.session_id == "TESTSESS01"
    kinds = [p.kind for p in truth.pages]
    assert kinds.count("ballot") == 4 and kinds.count("duplicate") == 1 and kinds.count("foreign") == 1
    dup = next(p for p in truth.pages if p.kind == "duplicate")
    originals = [p for p in truth.pages if p.kind == "ballot" and p.token == dup.token]
    assert len(originals) == 1 and originals[0].rows == dup.rows
    assert truth.pages.index(originals[0]) < truth.pages.index(dup)
    foreign = next(p for p in truth.pages if p.kind == "foreign")
    assert foreign.session_id != "TESTSESS01"
    with printed_workspace_db(printed_workspace) as issued:
        assert {p.token for p in truth.ballots()} <= issued
    assert set(truth.files) == {p.name for p in out.iterdir()}
    for page in truth.ballots():
        assert len(page.rows) == 12


class printed_workspace_db:  # noqa: N801 - a tiny context manager
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def __enter__(self) -> frozenset[str]:
        from kiemphieu import db

        self.conn = db.connect(self.ws.db_path)
        return db.issued_tokens(self.conn)

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _open_pages(path: Path) -> int:
    """Open a scan file the way a reader would; return its page count."""
    if path.suffix == ".pdf":
        with pikepdf.open(path) as pdf:
            for page in pdf.pages:
                images = list(page.get_images().values())
                assert len(images) == 1 and images[0].Filter == "/DCTDecode"
            return len(pdf.pages)
    if path.suffix == ".tif":
        with Image.open(path) as im:
            n = getattr(im, "n_frames", 1)
            for k in range(n):
                im.seek(k)
                assert im.size[0] > 500
            return n
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.shape[0] > 500
    return 1


@pytest.mark.parametrize("profile", ["adf", "phone"])
def test_profiles_write_readable_files(printed_workspace: Workspace, tmp_path: Path, profile: str) -> None:
    voters = 3 if profile == "adf" else 2
    result = simulate(printed_workspace, tmp_path / "scans", voters=voters, profile=profile, seed=5,
                      truth_path=tmp_path / "elsewhere" / "t.json")
    truth = load_truth(tmp_path / "elsewhere" / "t.json")
    per_file: dict[str, int] = {}
    for page in truth.pages:
        per_file[page.source] = per_file.get(page.source, 0) + 1
    for path in result.files:
        assert path.suffix in {".jpg", ".png", ".tif", ".pdf"}
        assert _open_pages(path) == per_file[path.name]
    assert len([p for p in truth.pages if p.kind == "ballot"]) == voters
    if profile == "phone":
        assert all(p.suffix == ".jpg" for p in result.files) and all(p.scan["phone"] for p in truth.pages)


def test_rough_deck_files_open(rough_deck: tuple[Path, Path]) -> None:
    out, truth_path = rough_deck
    truth = load_truth(truth_path)
    for path in out.iterdir():
        assert _open_pages(path) == sum(1 for p in truth.pages if p.source == path.name)


def test_errors(printed_workspace: Workspace, tmp_path: Path) -> None:
    cases = [
        (dict(out_dir=tmp_path / "a", voters=5, profile="adf"), "issued"),
        (dict(out_dir=tmp_path / "b", voters=1, profile="adf", truth_path=tmp_path / "b" / "t.json"), "scan folder"),
        (dict(out_dir=tmp_path / "c", voters=1, profile="flatbed"), "profile"),
    ]
    for kwargs, words in cases:
        with pytest.raises(InputError) as err:
            simulate(printed_workspace, seed=1, **kwargs)  # type: ignore[arg-type]
        assert words in err.value.en and err.value.vi != err.value.en
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "old.jpg").write_bytes(b"x")
    with pytest.raises(InputError) as err:
        simulate(printed_workspace, tmp_path / "d", voters=1, profile="adf", seed=1)
    assert "already holds" in err.value.en
    assert (tmp_path / "d" / "old.jpg").read_bytes() == b"x"
    with pytest.raises(InputError):
        load_truth(tmp_path / "missing.json")


def test_cli(printed_workspace: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["simulate", str(printed_workspace.root), "--voters", "9", "--profile", "adf",
                               "--out", str(tmp_path / "s")])
    assert res.exit_code == 3 and "phiếu đã phát ra" in res.output
    res = runner.invoke(main, ["--lang", "en", "simulate", str(printed_workspace.root), "--voters", "1",
                               "--profile", "adf", "--out", str(tmp_path / "s"), "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert "Truth file" in res.output and (tmp_path / "s-truth.json").exists()
    assert runner.invoke(main, ["simulate", "--help"]).exit_code == 0


# --- the existing profiles are unchanged by the field profile -----------------

OLD_SCAN_KEYS = ("dpi", "rotation", "skew_deg", "seal", "color", "noise", "blur", "jpeg_quality", "fold",
                 "streak_x_mm", "bleed", "phone")
# Recorded before the field profile was added (plan of 2 fixed tokens, seed 3; first page at 100 dpi).
# They pin the order and number of random draws of each profile, and the pixels; a library
# upgrade (OpenCV, poppler) may change the pixels, the plan digest should never change.
EXISTING_PROFILE_SHA256 = {
    "adf": ("a7c9b5e057a722169667e14da111a4aab7a3a0cf243ef0b61b935d494b8f7bda",
            "801c14e90a1c16b057ccf9a70da5179eb7378a4aab578f7ed90e78a13f0063db"),
    "adf-rough": ("c0413365147f2d12c4f3f41f6b82a0d090562fde662c86d1cbec027d2af47e92",
                  "b56c659594d6871dbddf97e1e0098192a4db49ee32e0080b26cb83d694317f31"),
    "phone": ("d13089e6145dc3a6810bc8f6cf59338d5a390fe49cfcad19c9c4268f33324d3c",
              "5b8d27f7be0c45ec74719fb6efe8feabf6c331b3fa64854ca68259ea6e1d61bb"),
}
# The phone's pixels moved once on purpose (2026-11-24): its sensor noise is added before the clip to 255, as
# a camera's is, so overexposed paper comes out flat white (the page digest was f4979a03...fba before).


def _plan_digest(plan: list) -> str:
    """SHA-256 of every choice in a plan, with the ScanSpec fields that existed before ``field``."""
    summary = [[f.name, f.fmt, [[p.kind, p.voter, p.seed, {k: asdict(p.scan)[k] for k in OLD_SCAN_KEYS},
                None if p.spec is None else
                [asdict(p.spec)[k] for k in ("layout_page", "token", "crossed", "writing", "signature")]
                + [[(stt, [(m.level, m.style) for m in ms]) for stt, ms in sorted(p.spec.marks.items())]]]
               for p in f.pages]] for f in plan]
    return hashlib.sha256(json.dumps(summary).encode()).hexdigest()


# The phone profile's not-marks and ambiguous marks came later, drawn from a stream of their own: without them
# (``_with_doubt`` left out) its plan and first page are still those pinned above; with them, these.
PHONE_WITH_DOUBT_SHA256 = ("8ccd1a6eae050322f93678cdb42bf82d6fb591fbfa169c4fe300f102f5acb47e",
                           "42aee2e469b98eae6d9cee0a91650ef751b0a890d20ae871b3dd5bd3e403597a")  # 5e6882b2... before the clip moved


@pytest.mark.parametrize("profile", sorted(EXISTING_PROFILE_SHA256))
def test_existing_profiles_are_byte_identical(printed_workspace: Workspace, profile: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    layout = load_layout(printed_workspace.layout_json)

    def digests() -> tuple[str, str, list]:
        plan = _plan(layout, ["ABCDEFGHIJKLM", "NOPQRSTUVWXYZ"], profile, 3)
        job = plan[0].pages[0]
        img = _render_job(printed_workspace, replace(job, scan=replace(job.scan, dpi=100)))
        return _plan_digest(plan), hashlib.sha256(img.tobytes()).hexdigest(), plan

    if profile == "phone":
        with monkeypatch.context() as m:
            m.setattr(simulate_module, "_with_doubt", lambda marks, rng: marks)
            assert digests()[:2] == EXISTING_PROFILE_SHA256[profile]
        plan_digest, page_digest, plan = digests()
        assert (plan_digest, page_digest) == PHONE_WITH_DOUBT_SHA256
        assert any(m.style in AMBIGUOUS_STYLES for f in plan for p in f.pages for ms in p.spec.marks.values() for m in ms)
    else:
        plan_digest, page_digest, plan = digests()
        assert (plan_digest, page_digest) == EXISTING_PROFILE_SHA256[profile]
    assert all(p.spec is None or p.spec.pen is None for f in plan for p in f.pages)


@pytest.mark.parametrize("profile", ["adf", "adf-rough"])
def test_some_blank_backs_of_adf_rough_are_written_on(printed_workspace: Workspace, profile: str) -> None:
    """A rough deck's blank backs are written on now and then (a name, a note, a signature), each right after
    the ballot page whose back it is, which the truth marks too; the other profiles' backs stay blank."""
    layout = load_layout(printed_workspace.layout_json)
    plan = _plan(layout, [f"T{k:012d}" for k in range(1500)], profile, 5)
    pages = [p for f in plan for p in f.pages]
    backs = [p for p in pages if p.kind == "blank"]
    written = [k for k, p in enumerate(pages) if p.writing is not None]
    assert len(backs) > 20
    if profile == "adf":
        assert not written and not any(p.back_writing for p in pages)
        return
    assert 0.05 * len(backs) <= len(written) <= 0.3 * len(backs)
    assert {pages[k].writing for k in written} == {"words", "signature"}
    fronts = {k - 1 for k in written if pages[k - 1].kind == "ballot"}
    assert fronts and fronts == {k for k, p in enumerate(pages) if p.back_writing}


def test_existing_styles_are_unchanged() -> None:
    assert CLEAR_STYLES == ("x", "check", "slash", "fill", "circle", "small_x", "x_overshoot")
    assert not set(FIELD_CLEAR_STYLES) & set(CLEAR_STYLES)


# --- the field profile ---------------------------------------------------------

FIELD_SEED = 15  # 4 voters: a group4 TIFF (a ballot and a blank back), a 1-bit PNG, a grey JPEG, a bent phone photo


def test_field_styles_are_clear_marks() -> None:
    for style in FIELD_CLEAR_STYLES:
        one = row_truth((MarkSpec("low", style), MarkSpec("high", "dots")))
        assert one["expect"] == "one" and one["choice"] == "low", style
    assert row_truth((MarkSpec("low", "plus"), MarkSpec("high", "x")))["expect"] == "multiple"
    assert row_truth((MarkSpec("low", "hatch"), MarkSpec("high", "tiny_tick")))["expect"] == "review"


@pytest.mark.parametrize("pen", [Pen("ballpoint", (165, 50, 125), 0.35, 0.9), Pen("gel", (30, 25, 25), 0.45, 1.0),
                                 Pen("marker", (170, 70, 20), 1.8, 0.85)], ids=lambda p: p.kind)
def test_field_styles_draw_inside_their_box(printed_workspace: Workspace, pen: Pen) -> None:
    layout = load_layout(printed_workspace.layout_json)
    rows = layout.page(1).rows
    marks = {row.person: (MarkSpec("medium", FIELD_CLEAR_STYLES[i % len(FIELD_CLEAR_STYLES)]),)
             for i, row in enumerate(rows[: 2 * len(FIELD_CLEAR_STYLES)])}
    spec = PageSpec(layout_page=1, token="TESTTOKEN0001", marks=marks, pen=pen)
    page = _straighten(render_page(printed_workspace, spec, ScanSpec(dpi=DPI), rng=np.random.default_rng(6)))
    paper = 255.0 - float(np.median(page))  # the paper's own tint
    for row in rows:
        for level in ("high", "medium", "low"):
            darkness = _box_darkness(page, row.boxes_mm[level]) - paper
            if row.person in marks and level == "medium":
                assert darkness > 12.0, (marks[row.person], darkness)
            else:
                assert darkness < 3.0, (row.person, level, darkness)


def test_field_scan_options_are_checked() -> None:
    for bad in (dict(bitonal="fixed"), dict(color=False, bitonal="fixed", jpeg_quality=80), dict(curl="edge_curl"),
                dict(lens_k1=-0.05), dict(phone=True, edge="dark_strip"), dict(color=False, bitonal="otsu"),
                dict(phone=True, curl="wave"), dict(color=False, bitonal="fixed", threshold=1.5)):
        with pytest.raises(ValueError):
            ScanSpec(**bad)  # type: ignore[arg-type]
    assert ScanSpec().bitonal is None and ScanSpec().curl is None and ScanSpec().lens_k1 == 0.0


@pytest.mark.parametrize("kind", ["fold_bulge", "edge_curl"])
def test_sheet_bend_is_bounded_smooth_and_not_projective(kind: str) -> None:
    px = 4.0
    shape = (round(297 * px), round(210 * px))
    bend = effects.sheet_bend(shape, kind=kind, amplitude_mm=2.5, px_per_mm=px, rng=np.random.default_rng(2))
    mag = bend.magnitude_mm()
    assert mag.shape == shape and 0.7 * 2.5 < mag.max() <= 2.5 + 1e-4
    assert mag[shape[0] // 4, shape[1] // 2] < 0.05 or kind == "edge_curl"  # a fold's bulge stays near the fold
    assert np.abs(np.diff(mag, axis=0)).max() < 0.05 and np.abs(np.diff(mag, axis=1)).max() < 0.05  # smooth
    # page points on a 10 mm grid, moved by the bend: no homography maps them back to the grid
    ys, xs = np.mgrid[5:297:10, 5:210:10].reshape(2, -1).astype(np.float32)
    r, c = (ys * px).astype(int), (xs * px).astype(int)
    src = np.stack([xs, ys], axis=1)
    dst = src + np.stack([bend.dx_mm[r, c], bend.dy_mm[r, c]], axis=1)
    h, _ = cv2.findHomography(src, dst, 0)
    misfit = np.abs(cv2.perspectiveTransform(src[None], h)[0] - dst).max()
    assert misfit > 0.3, misfit
    page = np.full((*shape, 3), 240, np.uint8)
    page[::40] = 20
    bent = effects.bend_sheet(page, bend, px_per_mm=px)
    assert bent.shape == page.shape and not np.array_equal(bent, page)


def test_lens_distortion_is_barrel() -> None:
    frame = np.full((600, 800), 230, np.uint8)
    frame[80:83, :] = 20  # a straight line near the top
    assert np.array_equal(effects.lens_distortion(frame, k1=0.0), frame)
    bowed = effects.lens_distortion(frame, k1=-0.06)
    row_of = [float(np.argmin(bowed[:300, c])) for c in (60, 400, 740)]
    assert row_of[1] < row_of[0] - 3 and row_of[1] < row_of[2] - 3  # it bows outwards (up) in the middle


def _marker_misfit(img: np.ndarray, printed_workspace: Workspace) -> float:
    """Largest distance (px) of the 16 detected marker corners from one homography fitted to them."""
    layout = load_layout(printed_workspace.layout_json)
    by_id = {v: k for k, v in layout.marker_ids.items()}
    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    corners, ids, _ = det.detectMarkers(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    assert ids is not None and len(ids) == 4
    src, dst = [], []
    for quad, i in zip(corners, ids.ravel(), strict=True):
        x, y, w, h = layout.page(1).markers_mm[by_id[int(i)]]
        src += [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        dst += [tuple(p) for p in quad.reshape(4, 2)]
    s, d = np.float32(src), np.float32(dst)
    hom, _ = cv2.findHomography(s, d, 0)
    return float(np.abs(cv2.perspectiveTransform(s[None], hom)[0] - d).max())


def test_bent_distorted_photo_is_not_a_perspective(printed_workspace: Workspace) -> None:
    spec = PageSpec(1, "T", {})
    flat = render_page(printed_workspace, spec, ScanSpec(dpi=100, phone=True), rng=np.random.default_rng(0))
    bent = render_page(printed_workspace, spec, ScanSpec(dpi=100, phone=True, lens_k1=-0.06, curl="edge_curl", curl_mm=3.0),
                       rng=np.random.default_rng(0))
    flat_misfit, bent_misfit = _marker_misfit(flat, printed_workspace), _marker_misfit(bent, printed_workspace)
    assert flat_misfit < 2.5 and bent_misfit > flat_misfit + 3.0, (flat_misfit, bent_misfit)


def test_bitonal_drops_faint_pencil(printed_workspace: Workspace) -> None:
    layout = load_layout(printed_workspace.layout_json)
    row = layout.page(1).rows[0]
    spec = PageSpec(1, None, {row.person: (MarkSpec("high", "x"), MarkSpec("low", "faint"))})
    for method, threshold in (("fixed", 0.5), ("adaptive", 0.7)):
        img = render_page(printed_workspace, spec, ScanSpec(dpi=DPI, color=False, bitonal=method, threshold=threshold),
                          rng=np.random.default_rng(1))
        assert img.ndim == 2 and set(np.unique(img)) == {0, 255}
        page = _straighten(img)
        assert _box_darkness(page, row.boxes_mm["high"]) > 20.0
        assert _box_darkness(page, row.boxes_mm["low"]) < 5.0, method


def test_field_plan_mixes_devices_as_documented(printed_workspace: Workspace) -> None:
    layout = load_layout(printed_workspace.layout_json)
    plan = _plan(layout, [f"T{i:012d}" for i in range(300)], "field", 1)
    scans = [p.scan for f in plan for p in f.pages if p.kind == "ballot"]
    share = {
        "phone": sum(s.phone for s in scans) / len(scans),
        "bitonal": sum(s.bitonal is not None for s in scans) / len(scans),
        "grey": sum(not s.color and s.bitonal is None for s in scans) / len(scans),
        "colour": sum(s.color and not s.phone for s in scans) / len(scans),
    }
    for device, target in {"phone": 0.35, "bitonal": 0.2, "grey": 0.25, "colour": 0.2}.items():
        assert abs(share[device] - target) < 0.07, share
    assert all(s.dpi == 400 or s.edge == "dark_strip" for s in scans if s.color and not s.phone)
    assert all(s.lens_k1 < 0 for s in scans if s.phone) and any(s.curl for s in scans)
    styles = [m.style for f in plan for p in f.pages if p.spec for ms in p.spec.marks.values() for m in ms]
    assert sum(st in FIELD_CLEAR_STYLES for st in styles) > 0.5 * len(styles)
    assert {"faint", "tiny_tick", "cancelled", "dots", "neighbour_stroke"} <= set(styles)
    assert {f.fmt for f in plan} == {"jpg", "png", "tif", "pdf"}


FIELD_PLAN_BEFORE_WARM_PENS = "a26fa0d0e6168cd921d2a34379697756ecdef483ebeb055aee97766401804e2e"


def _voter_pens(plan: list[FileJob]) -> dict[int | None, Pen | None]:
    return {p.voter: p.spec.pen for f in plan for p in f.pages if p.kind == "ballot" and p.spec is not None}


def test_a_few_field_voters_use_a_pen_the_dropout_hides_and_no_one_else_changes(
        printed_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """About 4 % of the field profile's voters write in red ballpoint or pink gel, inks that turn
    almost white in the red channel the seal is dropped with. They are drawn from a stream of their
    own: with no warm pens the deck is the same, voter for voter, but for those voters' pens."""
    layout = load_layout(printed_workspace.layout_json)
    tokens = [f"T{i:012d}" for i in range(300)]
    plan = _plan(layout, tokens, "field", 1)
    monkeypatch.setattr(simulate_module, "WARM_PEN_SHARE", 0.0)
    before = _plan(layout, tokens, "field", 1)
    pens, pens_before = _voter_pens(plan), _voter_pens(before)
    warm = {v for v, pen in pens.items() if pen != pens_before[v]}
    assert 4 <= len(warm) <= 22, len(warm)
    for v in warm:
        pen = pens[v]
        assert pen is not None
        b, g, r = pen.color_bgr
        assert r >= 175 and r - min(b, g) >= 100, pen  # light in the red channel, strongly coloured
    # marks, scans, seeds, files: all as the deck drew them before there were warm pens (c1e8158)
    assert _plan_digest(plan) == _plan_digest(before) == FIELD_PLAN_BEFORE_WARM_PENS
    rng = np.random.default_rng(5)
    kinds = {warm_pen(rng).kind for _ in range(60)}
    assert kinds == {"ballpoint", "gel"}


@pytest.fixture(scope="module")
def field_deck(tmp_path_factory: pytest.TempPathFactory, printed_workspace: Workspace) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("field") / "scans"
    result = simulate(printed_workspace, out, voters=4, profile="field", seed=FIELD_SEED, jobs=2)
    return out, result.truth_path


def test_field_deck_is_deterministic(printed_workspace: Workspace, tmp_path: Path, field_deck: tuple[Path, Path]) -> None:
    out, truth = field_deck
    again = simulate(printed_workspace, tmp_path / "scans", voters=4, profile="field", seed=FIELD_SEED, jobs=1)
    assert _digest(out) == _digest(again.out_dir)
    assert json.loads(truth.read_text())["pages"] == json.loads(again.truth_path.read_text())["pages"]


def test_field_deck_files_open_and_bitonal_is_one_bit(field_deck: tuple[Path, Path]) -> None:
    out, truth_path = field_deck
    truth = load_truth(truth_path)
    assert truth.profile == "field" and len(truth.ballots()) == 4
    for path in out.iterdir():
        pages = [p for p in truth.pages if p.source == path.name]
        assert _open_pages(path) == len(pages)
        if pages[0].scan["bitonal"]:
            with Image.open(path) as im:
                assert im.mode == "1"
                if path.suffix == ".tif":
                    assert im.info["compression"] == "group4"
        elif not pages[0].scan["color"] and path.suffix == ".jpg":
            with Image.open(path) as im:
                assert im.mode == "L"
    devices = {"phone" if p.scan["phone"] else "bitonal" if p.scan["bitonal"] else "grey" if not p.scan["color"] else "colour"
               for p in truth.pages}
    assert {"phone", "bitonal", "grey"} <= devices
    assert any(p.scan["curl"] and p.scan["lens_k1"] < 0 for p in truth.pages)
    doc = json.loads(truth_path.read_text())
    assert all("pen" in p for p in doc["pages"] if p["kind"] == "ballot")


def test_a_cameras_overexposed_paper_is_flat_white_and_a_scanners_bright_paper_keeps_its_grain() -> None:
    """A camera's sensor adds its noise to the light and then clips: paper lit to 300 comes out 255 in every
    pixel, where clipping first and adding the noise after gave it a scan's grain around 253 (so the
    scanner could not tell overexposed paper from bright paper). A uint8 scan is saturated as before."""
    rng = np.random.default_rng(1)
    light = np.full((64, 64, 3), 300.0, np.float32)
    assert np.all(effects.sensor(light, noise=4.0, blur=0.6, rng=rng) == 255)
    bright = effects.sensor(np.full((64, 64, 3), 250, np.uint8), noise=4.0, blur=0.0, rng=rng)
    assert bright.dtype == np.uint8 and 0.05 < float(np.mean(bright == 255)) < 0.3
    assert effects.sensor(light, noise=0.0, blur=0.0, rng=rng).dtype == np.uint8
