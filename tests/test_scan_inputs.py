"""Scanner input: every format, bad files, identical copies, the CLI's exit codes, export and debug.

One folder of good and bad files is scanned once through ``kiemphieu scan``
(click's runner, the real CLI); the tests then read the database, the output
and the files themselves.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from click.testing import CliRunner, Result
from conftest import decode_qr_at, make_workspace
from PIL import Image

from calibration.simulate import MarkSpec, PageSpec, ScanSpec, render_page
from kiemphieu import db
from kiemphieu import readings as R
from kiemphieu.cli import main
from kiemphieu.cli_scan import print_summary
from kiemphieu.errors import ExitCode
from kiemphieu.i18n import set_lang
from kiemphieu.layout import load_layout
from kiemphieu.session import Workspace
from scanner.run import Problem, ScanSummary
from scanner.sources import _register_heif

MARKS: dict[int, tuple[MarkSpec, ...]] = {1: (MarkSpec("high", "x"),), 2: (MarkSpec("low", "x"),)}
BAD = {
    "bad/empty.jpg": "empty_file",
    "bad/truncated.jpg": "truncated",
    "bad/notes.png": "not_an_image",
    "bad/huge.png": "too_large",
    "bad/locked.pdf": "encrypted",
}


def _png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose header claims ``width`` x ``height`` (CRC fixed): cheap to make, huge to decode."""
    buf = io.BytesIO()
    Image.new("L", (1, 1), 255).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), data (13), crc (4)
    assert data[ihdr + 4 : ihdr + 8] == b"IHDR"
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", zlib.crc32(bytes(data[ihdr + 4 : ihdr + 21])))
    return bytes(data)


def _natural_photo(rng: np.random.Generator) -> np.ndarray:
    """A photo of something else: smooth colour gradients, soft blobs, texture. No markers, not blank."""
    h, w = 1200, 1600
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        img[:, :, c] = 90 + 60 * np.sin(xx / rng.uniform(150, 400) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(150, 400))
    for _ in range(25):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(30, 200)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        img += blob[:, :, None] * rng.uniform(-90, 90, 3)
    img += cv2.GaussianBlur(rng.normal(0, 25, (h, w, 3)).astype(np.float32), (0, 0), 2)
    return np.clip(img, 0, 255).astype(np.uint8)


def _token_of_pdf(data: bytes, qr_mm: tuple[float, float, float, float]) -> str:
    """The ballot token in the QR code of a one-page printed ballot PDF (read independently of the scanner)."""
    from pdf2image import convert_from_bytes

    page = np.asarray(convert_from_bytes(data, dpi=200, grayscale=True)[0])
    text = decode_qr_at(page, qr_mm, 200 / 25.4)
    assert text.startswith("KP1:"), text
    return str(text.rsplit(":", 1)[1])


def _pdf_drawing_flipped(img: np.ndarray) -> bytes:
    """A one-page A4 PDF holding ``img`` as a JPEG stored upside down, drawn flipped (a negative determinant)."""
    h, w = img.shape[:2]
    flipped = cv2.imencode(".jpg", cv2.cvtColor(img[::-1], cv2.COLOR_BGR2RGB), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, flipped, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image, Width=w, Height=h,
                           ColorSpace=pikepdf.Name.DeviceRGB, BitsPerComponent=8, Filter=pikepdf.Name.DCTDecode)
    pdf.pages.append(pikepdf.Page(pikepdf.Dictionary(
        Type=pikepdf.Name.Page, MediaBox=[0, 0, 595, 842],
        Contents=pikepdf.Stream(pdf, b"q 595 0 0 -842 0 842 cm /Im0 Do Q"),
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)))))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.ndim == 3 else img)


@dataclass(frozen=True)
class Run:
    ws: Workspace
    folder: Path
    first: Result
    second: Result
    before: dict[str, tuple[str, int]]  # rel path -> (sha256, mtime_ns)
    tokens: tuple[str, ...]  # issued tokens other than the vector page's
    vector_token: str
    debug: Path

    def pages(self) -> dict[tuple[str, int], dict[str, object]]:
        conn = db.connect(self.ws.db_path)
        try:
            return {(r["source"], r["page_index"] + 1): dict(r) for r in conn.execute("SELECT * FROM pages")}
        finally:
            conn.close()


def _fingerprints(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("inputs")
    ws = make_workspace(root / "ws", copies=10)
    # a vector PDF page: page 7 of the printed ballots, unmarked (rasterised by poppler); its token is
    # random, so the rendered pages take other tokens (the same token twice would be a duplicate)
    vector = pikepdf.new()
    with pikepdf.open(ws.ballots_pdf) as printed:
        vector.pages.append(printed.pages[6])
        buf = io.BytesIO()
        vector.save(buf)
    layout = load_layout(ws.layout_json)
    vector_token = _token_of_pdf(buf.getvalue(), layout.pages[6 % layout.pages_per_ballot].qr_mm)
    conn = db.connect(ws.db_path)
    try:
        tokens = tuple(sorted(db.issued_tokens(conn) - {vector_token}))
    finally:
        conn.close()
    folder = root / "scans"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "bad").mkdir()
    rng = np.random.default_rng(7)

    def page(i: int, **scan: object) -> np.ndarray:
        return render_page(ws, PageSpec(1, tokens[i], MARKS), ScanSpec(dpi=150, **scan), rng=rng)  # type: ignore[arg-type]

    cv2.imwrite(str(folder / "one.jpg"), page(0), [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(folder / "a" / "two.png"), page(1, rotation=90))
    cv2.imwrite(str(folder / "a" / "b" / "three.bmp"), page(2, color=False))
    # multi-page TIFF: a ballot and its blank back
    tiff_pages = [_pil(page(3)), Image.new("L", (1240, 1754), 245)]
    tiff_pages[0].save(folder / "a" / "duplex.tif", save_all=True, append_images=tiff_pages[1:], compression="tiff_lzw")
    # multi-page PDF of embedded JPEGs, as a scanner writes it (PIL stores each page as one DCT image)
    jpeg_pages = [_pil(page(4)), _pil(page(5, rotation=180))]
    jpeg_pages[0].save(folder / "batch.pdf", save_all=True, append_images=jpeg_pages[1:], resolution=150.0)
    # a vector PDF page: page 7 of the printed ballots, unmarked (rasterised by poppler)
    (folder / "vector.pdf").write_bytes(buf.getvalue())
    # a PDF whose one image is stored upside down and drawn flipped by its placement matrix, as some
    # scanners write it: the page shows the sheet, the raw image its mirror (no readable marker or QR)
    (folder / "flipped.pdf").write_bytes(_pdf_drawing_flipped(page(6)))
    # a phone's photos: WebP, and HEIC (an iPhone's default format)
    _pil(page(7)).save(folder / "photo.webp", quality=90)
    _register_heif()
    _pil(page(8)).save(folder / "photo.heic", quality=90)
    # bad files: each becomes a rejected page with a reason, and the batch goes on
    (folder / "bad" / "empty.jpg").write_bytes(b"")
    whole = (folder / "one.jpg").read_bytes()
    (folder / "bad" / "truncated.jpg").write_bytes(whole[: len(whole) * 2 // 3])
    (folder / "bad" / "notes.png").write_text("Biên bản kiểm phiếu — not an image\n", encoding="utf-8")
    (folder / "bad" / "huge.png").write_bytes(_png_claiming(50_000, 50_000))
    jpeg_pages[0].save(folder / "bad" / "plain.pdf", resolution=150.0)
    with pikepdf.open(folder / "bad" / "plain.pdf") as plain:
        plain.save(folder / "bad" / "locked.pdf", encryption=pikepdf.Encryption(owner="o", user="secret"))
    (folder / "bad" / "plain.pdf").unlink()
    cv2.imwrite(str(folder / "bad" / "holiday.jpg"), _natural_photo(rng), [cv2.IMWRITE_JPEG_QUALITY, 85])
    # an identical copy of a good file under another name
    shutil.copyfile(folder / "one.jpg", folder / "a" / "one-again.jpg")
    before = _fingerprints(folder)
    debug = root / "debug"
    runner = CliRunner(env={"COLUMNS": "300"})  # a wide terminal: table cells on one line
    first = runner.invoke(main, ["--lang", "en", "scan", str(ws.root), str(folder), "-j", "2", "-q", "--debug", str(debug)])
    second = runner.invoke(main, ["--lang", "vi", "scan", str(ws.root), str(folder), "-j", "2", "-q"])
    return Run(ws, folder, first, second, before, tokens, vector_token, debug)


def test_input_files_are_never_modified(run: Run) -> None:
    assert _fingerprints(run.folder) == run.before


def test_every_format_is_read(run: Run) -> None:
    pages = run.pages()
    expect = {
        ("one.jpg", 1): run.tokens[0],
        ("a/two.png", 1): run.tokens[1],
        ("a/b/three.bmp", 1): run.tokens[2],
        ("a/duplex.tif", 1): run.tokens[3],
        ("batch.pdf", 1): run.tokens[4],
        ("batch.pdf", 2): run.tokens[5],
        ("flipped.pdf", 1): run.tokens[6],
        ("photo.webp", 1): run.tokens[7],
        ("photo.heic", 1): run.tokens[8],
    }
    for key, token in expect.items():
        p = pages[key]
        assert (p["kind"], p["token"], p["layout_page"]) == ("ballot", token, 1), key
    vector = pages[("vector.pdf", 1)]  # the 7th printed ballot
    assert (vector["kind"], vector["token"], vector["layout_page"]) == ("ballot", run.vector_token, 1)
    assert pages[("a/duplex.tif", 2)]["kind"] == "blank"
    conn = db.connect(run.ws.db_path)
    try:
        for key in [*expect, ("vector.pdf", 1)]:
            rows = {r["person"]: (r["marks"], r["choice"]) for r in conn.execute(
                "SELECT r.* FROM rows r JOIN pages p ON p.id = r.page_id WHERE p.source = ? AND p.page_index = ?",
                (key[0], key[1] - 1))}
            if key[0] == "vector.pdf":
                assert set(rows.values()) == {("none", None)}
            else:
                assert rows[1] == ("one", "high") and rows[2] == ("one", "low"), key
                assert {rows[p] for p in range(3, 13)} == {("none", None)}, key
    finally:
        conn.close()


def test_bad_files_are_rejected_with_a_reason(run: Run) -> None:
    pages = run.pages()
    for rel, code in BAD.items():
        p = pages[(rel, 1)]
        assert (p["kind"], p["status"]) == ("rejected", "rejected"), rel
        assert json.loads(str(p["reasons"])) == [R.R_FILE, code], rel
        assert p["detail"], rel
    photo = pages[("bad/holiday.jpg", 1)]
    assert (photo["kind"], photo["status"], json.loads(str(photo["reasons"]))) == ("unreadable", "rejected", [R.R_NO_MARKERS])


def test_cli_exit_code_and_summary_lines(run: Run) -> None:
    out = run.first.output
    assert run.first.exit_code == ExitCode.NEEDS_ATTENTION, out
    for rel in [*BAD, "bad/holiday.jpg"]:
        assert rel in out, rel
    assert "Empty file" in out and "Truncated JPEG" in out and "Password-protected PDF" in out
    assert "Image too large (50000 x 50000" in out
    assert "a/one-again.jpg" in out and "identical" in out
    assert "kiemphieu review" in out


def test_identical_copy_is_not_counted_twice(run: Run) -> None:
    pages = run.pages()
    assert ("a/one-again.jpg", 1) not in pages
    conn = db.connect(run.ws.db_path)
    try:
        (n,) = conn.execute("SELECT COUNT(*) FROM pages WHERE token = ?", (run.tokens[0],)).fetchone()
    finally:
        conn.close()
    assert n == 1
    assert R.R_DUPLICATE not in json.loads(str(pages[("one.jpg", 1)]["reasons"]))


def test_second_run_adds_nothing(run: Run) -> None:
    assert run.second.exit_code == ExitCode.NEEDS_ATTENTION, run.second.output
    assert "Đã đọc 0 trang mới" in run.second.output
    files = [p for p in run.folder.rglob("*") if p.is_file()]
    pages = run.pages()
    assert len(pages) == len(files) - 1 + 2  # one identical copy left out; the TIFF and the PDF have two pages
    conn = db.connect(run.ws.db_path)
    try:
        (boxes,) = conn.execute("SELECT COUNT(*) FROM boxes").fetchone()
    finally:
        conn.close()
    assert boxes == 10 * 36


def test_debug_writes_overlays(run: Run) -> None:
    overlays = sorted(p.name for p in run.debug.glob("*.png"))
    assert "one.jpg-p1.png" in overlays and "a__duplex.tif-p1.png" in overlays
    assert "batch.pdf-p2.png" in overlays
    img = cv2.imread(str(run.debug / "one.jpg-p1.png"))
    assert img is not None and img.shape == (1782, 1260, 3)
    # the marked box of person 1 is outlined in green
    green = (img[:, :, 1] > 120) & (img[:, :, 0] < 60) & (img[:, :, 2] < 60)
    assert green.sum() > 100


def test_export_has_a_row_per_page_and_person(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    result = CliRunner().invoke(main, ["--lang", "en", "export", str(run.ws.root), "--results", str(out)])
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert list(lines[0]) == ["source", "page", "ballot", "person", "marks", "choice", "valid", "reasons", "status"]
    by_page: dict[tuple[str, str], list[dict[str, str]]] = {}
    for line in lines:
        by_page.setdefault((line["source"], line["page"]), []).append(line)
    one = {line["person"]: line for line in by_page[("one.jpg", "1")]}
    assert sorted(one, key=int) == [str(p) for p in range(1, 13)]
    assert (one["1"]["marks"], one["1"]["choice"], one["1"]["valid"], one["1"]["ballot"]) == ("one", "high", "yes", run.tokens[0])
    for key in [("a/duplex.tif", "2"), ("bad/holiday.jpg", "1"), *((rel, "1") for rel in BAD)]:
        (line,) = by_page[key]
        assert line["person"] == "" and line["marks"] == "", key
    assert by_page[("bad/empty.jpg", "1")][0]["status"] == "rejected"
    assert "empty_file" in by_page[("bad/empty.jpg", "1")][0]["reasons"]


def test_empty_folder_exit_3(tmp_path: Path, printed_workspace: Workspace) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = CliRunner().invoke(main, ["--lang", "en", "scan", str(printed_workspace.root), str(empty), "-q"])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "has no files" in result.output
    result = CliRunner().invoke(main, ["--lang", "vi", "scan", str(printed_workspace.root), str(empty), "-q"])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "không có tệp nào" in result.output


def test_missing_folder_is_a_clear_error(tmp_path: Path, printed_workspace: Workspace) -> None:
    result = CliRunner().invoke(main, ["--lang", "en", "scan", str(printed_workspace.root), str(tmp_path / "nope"), "-q"])
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "not found" in result.output


def test_a_clean_batch_exits_0(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", copies=1)
    conn = db.connect(ws.db_path)
    try:
        (token,) = db.issued_tokens(conn)
    finally:
        conn.close()
    folder = tmp_path / "scans"
    folder.mkdir()
    img = render_page(ws, PageSpec(1, token, MARKS), ScanSpec(dpi=150), rng=np.random.default_rng(3))
    cv2.imwrite(str(folder / "p.png"), img)
    result = CliRunner().invoke(main, ["--lang", "en", "scan", str(ws.root), str(folder), "-q", "-j", "1"])
    assert result.exit_code == ExitCode.OK, result.output
    assert "Read 1 new pages" in result.output


def test_huge_image_rejected_before_decoding(tmp_path: Path) -> None:
    """Read the 50,000 x 50,000 PNG in a process limited to 1 GB of address space: it must say too_large."""
    import subprocess
    import sys

    huge = tmp_path / "huge.png"
    huge.write_bytes(_png_claiming(50_000, 50_000))
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from scanner.sources import describe, tasks_for, decode_page, DecodeError\n"
        "from scanner.settings import ScanSettings\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "src = describe(Path(sys.argv[1]), Path(sys.argv[1]).parent)\n"
        "try:\n"
        "    decode_page(next(tasks_for(src)), max_pixels=ScanSettings().max_pixels)\n"
        "except DecodeError as exc:\n"
        "    print(exc.problem.code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(huge)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "too_large"


def test_a_cause_on_many_pages_is_named_once_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    """A streak on three pages (dust on the scanner's glass) is told once after the list, with its remedy, in
    the committee's language; a cause on fewer pages, or one the scanner does not cause, is not."""
    def problem(name: str, *reasons: str) -> Problem:
        return Problem(name, 1, "ballot", "review", reasons, "")

    problems = (problem("a.jpg", R.R_STREAK, R.R_STREAK), problem("b.jpg", R.R_MULTIPLE, R.R_STREAK),
                problem("c.jpg", R.R_STREAK), problem("d.jpg", R.R_BITONAL), problem("e.jpg", R.R_BITONAL),
                *(problem(f"m{i}.jpg", R.R_MULTIPLE) for i in range(4)))
    summary = ScanSummary(9, 9, 0, {"review": 9}, {"ballot": 9}, (), problems, 1.0)
    assert summary.scanner_causes == {R.R_STREAK: 3}
    print_summary(summary)
    out = " ".join(capsys.readouterr().out.split())
    assert "Trên 3 trang: Vệt dọc của máy quét" in out and "Hãy lau kính rồi quét lại các trang này" in out
    assert "Trên 2 trang" not in out and "Trên 4 trang" not in out
    set_lang("en")
    try:
        print_summary(summary)
    finally:
        set_lang("vi")
    out = " ".join(capsys.readouterr().out.split())
    assert "On 3 pages: A scanner streak" in out and "Clean the glass and scan these pages again" in out
