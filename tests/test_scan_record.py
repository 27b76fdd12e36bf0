"""Recording: a simulated deck read with zero silent errors, kill-and-resume, and --watch.

* A 12-voter ``adf`` deck from :func:`calibration.simulate.simulate` is read once
  without interruption and scored with :func:`calibration.evaluate.evaluate`.
* The same deck is read by ``kiemphieu scan`` in a subprocess that is killed
  (SIGKILL) after a few pages are recorded; a second run finishes the job, and the
  database must then hold exactly what the uninterrupted run wrote.
* ``--watch`` picks up files that appear while it runs and never reads a file
  that is still being written.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_workspace

import scanner.run
from calibration.evaluate import evaluate
from calibration.simulate import MarkSpec, PageSpec, ScanSpec, render_page, simulate
from calibration.truth import load_truth
from kiemphieu import db
from kiemphieu.errors import ExitCode
from kiemphieu.session import Workspace
from scanner.run import ScanSummary, scan_folder, watch_folder

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Deck:
    pristine: Path  # a workspace with printed ballots that nothing has scanned into
    folder: Path
    truth: Path
    reference: Workspace  # the uninterrupted run
    summary: ScanSummary


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> Deck:
    root = tmp_path_factory.mktemp("record")
    ws = make_workspace(root / "ws", copies=14)
    sim = simulate(ws, root / "scans", voters=12, profile="adf", seed=11, jobs=2)
    pristine = root / "pristine"
    shutil.copytree(ws.root, pristine)
    summary = scan_folder(ws, sim.out_dir, jobs=2)
    return Deck(pristine, sim.out_dir, sim.truth_path, ws, summary)


def test_simulated_deck_has_no_silent_errors(deck: Deck) -> None:
    conn = db.connect(deck.reference.db_path)
    try:
        result = evaluate(conn, load_truth(deck.truth))
    finally:
        conn.close()
    assert result.pages == deck.summary.pages_read >= 12
    assert result.rows >= 12 * 12
    assert result.silent_errors == 0, result.report()
    assert result.clear_review_rate < 0.1, result.report()


def _content(path: Path) -> dict[str, object]:
    """What a scan recorded, keyed by (file sha256, page index): ids and timings left out."""
    conn = sqlite3.connect(str(path))
    try:
        pages = {(r[0], r[1]): r[2:] for r in conn.execute(
            "SELECT file_sha256, page_index, source, kind, status, token, layout_page, reasons, detail, transform, image"
            " FROM pages")}
        boxes = {(r[0], r[1], r[2], r[3]): r[4:] for r in conn.execute(
            "SELECT p.file_sha256, p.page_index, b.person, b.level, b.score, b.faint, b.span_mm, b.state, b.dx_mm, b.dy_mm"
            " FROM boxes b JOIN pages p ON p.id = b.page_id")}
        rows = {(r[0], r[1], r[2]): r[3:] for r in conn.execute(
            "SELECT p.file_sha256, p.page_index, r.person, r.marks, r.choice, r.reasons FROM rows r JOIN pages p ON p.id = r.page_id")}
        files = set(conn.execute("SELECT sha256, path, size, pages FROM files"))
    finally:
        conn.close()
    return {"pages": pages, "boxes": boxes, "rows": rows, "files": files}


def _count_pages(db_path: Path) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM pages").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _scan_cmd(ws: Path, folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kiemphieu.cli", "--lang", "en", "scan", str(ws), str(folder), "-q", *extra]


def test_kill_and_resume_ends_as_an_uninterrupted_run(deck: Deck, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(deck.pristine, ws)
    total = deck.summary.pages_read
    proc = subprocess.Popen(_scan_cmd(ws, deck.folder, "-j", "1"), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _count_pages(ws / "kiemphieu.sqlite") < 3:
            assert proc.poll() is None, f"scan ended before it was killed: {proc.stderr.read().decode() if proc.stderr else ''}"
            assert time.monotonic() < deadline, "no pages recorded"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    recorded = _count_pages(ws / "kiemphieu.sqlite")
    assert 3 <= recorded < total, "the kill came too late to test anything"
    again = subprocess.run(_scan_cmd(ws, deck.folder, "-j", "2"), cwd=ROOT, capture_output=True, text=True,
                           timeout=300, check=False)
    assert again.returncode in (ExitCode.OK, ExitCode.NEEDS_ATTENTION), again.stderr
    assert f"Read {total - recorded} new pages ({recorded} already recorded)" in again.stdout
    resumed, reference = _content(ws / "kiemphieu.sqlite"), _content(deck.reference.db_path)
    for table in ("files", "pages", "rows", "boxes"):
        assert resumed[table] == reference[table], table
    # the review images too
    assert sorted(p.name for p in (ws / "images").iterdir()) == sorted(p.name for p in deck.reference.images_dir.iterdir())


# --- watch ----------------------------------------------------------------------------


def _ballot_jpeg(ws: Workspace, token: str, seed: int) -> bytes:
    marks: dict[int, tuple[MarkSpec, ...]] = {1: (MarkSpec("medium", "x"),)}
    img = render_page(ws, PageSpec(1, token, marks), ScanSpec(dpi=150), rng=np.random.default_rng(seed))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


@pytest.fixture
def small_ws(tmp_path: Path) -> tuple[Workspace, tuple[str, ...]]:
    ws = make_workspace(tmp_path / "ws", copies=2)
    conn = db.connect(ws.db_path)
    try:
        return ws, tuple(sorted(db.issued_tokens(conn)))
    finally:
        conn.close()


def test_watch_waits_until_a_file_is_written(small_ws: tuple[Workspace, tuple[str, ...]], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Polls are scripted: the late file is half-written at one poll and complete at the next."""
    ws, tokens = small_ws
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "early.jpg").write_bytes(_ballot_jpeg(ws, tokens[0], 1))
    late = _ballot_jpeg(ws, tokens[1], 2)
    clock = [0.0]
    polls = [0]
    steps = {2: lambda: (folder / "late.jpg").write_bytes(late[: len(late) // 2]),
             3: lambda: (folder / "late.jpg").open("ab").write(late[len(late) // 2 :])}

    def sleep(seconds: float) -> None:
        polls[0] += 1
        clock[0] += seconds
        step = steps.get(polls[0])
        if step:
            step()

    fake_time = types.SimpleNamespace(sleep=sleep, monotonic=lambda: clock[0], perf_counter=time.perf_counter)
    monkeypatch.setattr(scanner.run, "time", fake_time)
    summaries = watch_folder(ws, folder, poll_s=1.0, idle_timeout_s=2.5, jobs=1)
    assert [s.pages_read for s in summaries] == [1, 1]
    conn = db.connect(ws.db_path)
    try:
        pages = {r["source"]: (r["kind"], r["token"]) for r in conn.execute("SELECT * FROM pages")}
        (files,) = conn.execute("SELECT COUNT(*) FROM files").fetchone()
    finally:
        conn.close()
    assert pages == {"early.jpg": ("ballot", tokens[0]), "late.jpg": ("ballot", tokens[1])}
    assert files == 2  # the half-written content was never read


def test_cli_watch_picks_up_a_new_file(small_ws: tuple[Workspace, tuple[str, ...]], tmp_path: Path) -> None:
    ws, tokens = small_ws
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "first.jpg").write_bytes(_ballot_jpeg(ws, tokens[0], 3))
    proc = subprocess.Popen(_scan_cmd(ws.root, folder, "-j", "1", "--watch", "--idle-timeout", "3"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while _count_pages(ws.db_path) < 1:
            assert proc.poll() is None and time.monotonic() < deadline, "first file not read"
            time.sleep(0.1)
        staged = tmp_path / "second.part"
        staged.write_bytes(_ballot_jpeg(ws, tokens[1], 4))
        os.replace(staged, folder / "second.jpg")  # appears while the watch runs
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == ExitCode.OK, out + err
    assert "Waiting for new files" in out
    assert _count_pages(ws.db_path) == 2
