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

from calibration.simulate import (
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


# --- the existing profiles stay byte-identical -----------------------------------

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
              "f4979a03de39a5f518271258802876b33f4bd35b49cbd05805d37ddcdedf1fba"),
}


def _plan_digest(plan: list) -> str:
    """SHA-256 of every choice in a plan, with the ScanSpec fields that existed before ``field``."""
    summary = [[f.name, f.fmt, [[p.kind, p.voter, p.seed, {k: asdict(p.scan)[k] for k in OLD_SCAN_KEYS},
                None if p.spec is None else
                [asdict(p.spec)[k] for k in ("layout_page", "token", "crossed", "writing", "signature")]
                + [[(stt, [(m.level, m.style) for m in ms]) for stt, ms in sorted(p.spec.marks.items())]]]
               for p in f.pages]] for f in plan]
    return hashlib.sha256(json.dumps(summary).encode()).hexdigest()


@pytest.mark.parametrize("profile", sorted(EXISTING_PROFILE_SHA256))
def test_existing_profiles_are_byte_identical(printed_workspace: Workspace, profile: str) -> None:
    layout = load_layout(printed_workspace.layout_json)
    plan = _plan(layout, ["ABCDEFGHIJKLM", "NOPQRSTUVWXYZ"], profile, 3)
    job = plan[0].pages[0]
    img = _render_job(printed_workspace, replace(job, scan=replace(job.scan, dpi=100)))
    expected_plan, expected_page = EXISTING_PROFILE_SHA256[profile]
    assert _plan_digest(plan) == expected_plan
    assert hashlib.sha256(img.tobytes()).hexdigest() == expected_page
