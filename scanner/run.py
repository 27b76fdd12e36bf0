"""The scan driver: every file, every page, in parallel, recorded once.

Each page is read by a worker process (:func:`scanner.pipeline.read_page`) and
written by this process in one SQLite transaction, so killing the run at any
moment loses at most the pages in flight, and running again reads exactly the
pages that are missing: the database ends as after an uninterrupted run.
Pages are keyed by the file's SHA-256 and the page index, so scanning the same
folder twice adds nothing.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiemphieu import db
from kiemphieu import readings as R
from kiemphieu.errors import InputError
from kiemphieu.layout import load_layout
from kiemphieu.session import Workspace
from scanner.pipeline import image_name, read_page
from scanner.register import straighten
from scanner.results import PageResult, RunContext
from scanner.settings import ScanSettings, load_settings
from scanner.sources import (
    DecodeError,
    PageTask,
    SourceFile,
    decode_page,
    describe,
    list_files,
    sniff,
    tasks_for,
)

Progress = Callable[[int, int, int], None]  # (pages done, pages to do, pages flagged so far)


@dataclass(frozen=True)
class Problem:
    source: str
    page: int  # 1-based
    kind: str
    status: str
    reasons: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class ScanSummary:
    files: int
    pages_read: int  # read in this run
    pages_known: int  # already in the database before this run
    by_status: dict[str, int]
    by_kind: dict[str, int]
    identical_files: tuple[tuple[str, str], ...]  # (file, the file with the same content read before)
    problems: tuple[Problem, ...]
    elapsed_s: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def needs_attention(self) -> bool:
        return bool(self.problems)

    @property
    def scanner_causes(self) -> dict[str, int]:
        """:func:`kiemphieu.readings.recurring_causes` of this run's pages that need attention."""
        return R.recurring_causes(p.reasons for p in self.problems)


def build_context(ws: Workspace, settings: ScanSettings, *, debug_dir: Path | None = None) -> RunContext:
    layout = load_layout(ws.layout_json)
    conn = db.connect(ws.db_path)
    try:
        issued = db.issued_tokens(conn)
        untokened = db.get_meta(conn, "untokened_issued") == "1"
    finally:
        conn.close()
    return RunContext(
        layout=layout,
        session_id=layout.session_id,
        layout_hash=layout.layout_hash,
        issued=issued,
        untokened_ok=untokened,
        settings=settings,
        workspace=str(ws.root),
        debug_dir=str(debug_dir) if debug_dir else None,
    )


# --- worker processes -----------------------------------------------------------

_CTX: RunContext | None = None


def _init_worker(ctx: RunContext) -> None:
    global _CTX
    _CTX = ctx
    cv2.setNumThreads(1)


def _work(task: PageTask) -> PageResult:
    assert _CTX is not None
    try:
        return read_page(task, _CTX)
    except Exception as exc:  # a bug must not lose the page: it is recorded and shown
        return PageResult(task, "rejected", "rejected", reasons=(R.R_FILE, "internal_error"),
                          detail=f"Internal error while reading this page: {type(exc).__name__}: {exc}")


def _results(tasks: list[PageTask], ctx: RunContext, jobs: int) -> Iterator[PageResult]:
    if jobs <= 1 or len(tasks) <= 1:
        _init_worker(ctx)
        for task in tasks:
            yield _work(task)
        return
    # forkserver, not fork: forking a process that has threads (OpenCV's pool, a web server) can
    # deadlock the child; the fork server is a fresh single-threaded process that forks cheaply.
    context: Any = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    if hasattr(context, "set_forkserver_preload"):
        context.set_forkserver_preload(["scanner.pipeline"])
    pool = context.Pool(processes=jobs, initializer=_init_worker, initargs=(ctx,), maxtasksperchild=500)
    try:
        yield from pool.imap_unordered(_work, tasks, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


# --- database -------------------------------------------------------------------


def _known_pages(conn: sqlite3.Connection) -> set[tuple[str, int]]:
    return {(r[0], r[1]) for r in conn.execute("SELECT file_sha256, page_index FROM pages")}


def _rejected_file_result(src: SourceFile) -> PageResult:
    assert src.problem is not None
    task = next(tasks_for(src))
    return PageResult(task, "rejected", "rejected", reasons=(R.R_FILE, src.problem.code), detail=src.problem.en)


def _add_reason(reasons_json: str, reason: str) -> str:
    reasons = json.loads(reasons_json)
    if reason not in reasons:
        reasons.append(reason)
    return db.dumps(reasons)


def record(conn: sqlite3.Connection, result: PageResult, pages_in_file: int, size: int) -> None:
    """Write one page in one transaction; earlier pages with the same token become duplicates."""
    task = result.task
    reasons = list(result.reasons)
    status = result.status
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT OR IGNORE INTO files(sha256, path, size, pages) VALUES(?, ?, ?, ?)",
                     (task.sha256, task.rel, size, pages_in_file))
        if result.token and result.layout_page:
            twins = conn.execute(
                "SELECT id, reasons FROM pages WHERE token = ? AND layout_page = ?",
                (result.token, result.layout_page),
            ).fetchall()
            for twin in twins:
                conn.execute(
                    "UPDATE pages SET reasons = ?, status = CASE status WHEN 'auto' THEN 'review' ELSE status END WHERE id = ?",
                    (_add_reason(twin["reasons"], R.R_DUPLICATE), twin["id"]),
                )
            if twins:
                reasons.append(R.R_DUPLICATE)
                status = "review" if status == "auto" else status
        cur = conn.execute(
            "INSERT INTO pages(file_sha256, page_index, source, kind, status, token, layout_page, reasons, detail,"
            " transform, image, timings) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task.sha256, task.page_index, task.rel, result.kind, status, result.token, result.layout_page,
             db.dumps(reasons), result.detail, db.dumps(result.transform) if result.transform else None,
             result.image, db.dumps({k: round(v, 4) for k, v in result.timings.items()})),
        )
        page_id = cur.lastrowid
        conn.executemany(
            "INSERT INTO boxes(page_id, person, level, score, faint, span_mm, state, dx_mm, dy_mm)"
            " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(page_id, b.person, b.level, b.score, b.faint, b.span_mm, b.state, b.dx_mm, b.dy_mm) for b in result.boxes],
        )
        conn.executemany(
            "INSERT INTO rows(page_id, person, marks, choice, reasons) VALUES(?, ?, ?, ?, ?)",
            [(page_id, r.person, r.marks, r.choice, db.dumps(list(r.reasons))) for r in result.rows],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _link_backs(conn: sqlite3.Connection) -> None:
    """A back written on (``back_writing``) sends the ballot page scanned right before it to review
    (``writing_on_back``): the page before it in the same file (a duplex PDF or TIFF), or, for a back that is
    a file's first page, the last page of the file before it in name order (a scanner numbering its images
    front, back, front, ...). Asking the database, not this run, links pages read in any order or run."""
    backs = conn.execute("SELECT source, page_index FROM pages WHERE reasons LIKE ?",
                         (f'%"{R.R_BACK_WRITING}"%',)).fetchall()
    for back in backs:
        if back["page_index"] > 0:
            front = conn.execute("SELECT id, kind, reasons FROM pages WHERE source = ? AND page_index = ?",
                                 (back["source"], back["page_index"] - 1)).fetchone()
        else:
            front = conn.execute("SELECT id, kind, reasons FROM pages WHERE source < ? "
                                 "ORDER BY source DESC, page_index DESC LIMIT 1", (back["source"],)).fetchone()
        if front is None or front["kind"] != "ballot" or R.R_WRITING_ON_BACK in json.loads(front["reasons"]):
            continue
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE pages SET reasons = ?, status = CASE status WHEN 'auto' THEN 'review' ELSE status END "
                     "WHERE id = ?", (_add_reason(front["reasons"], R.R_WRITING_ON_BACK), front["id"]))
        conn.execute("COMMIT")


def _render_review_image(conn: sqlite3.Connection, ws: Workspace, ctx: RunContext, page_id: int) -> None:
    """A page that became doubtful after it was read (a duplicate): make its review image now."""
    row = conn.execute(
        "SELECT p.file_sha256, p.page_index, p.source, p.transform, s.path FROM pages p "
        "LEFT JOIN sources s ON s.sha256 = p.file_sha256 WHERE p.id = ?", (page_id,)
    ).fetchone()
    if row is None or row["transform"] is None or row["path"] is None or not Path(row["path"]).exists():
        return
    with Path(row["path"]).open("rb") as f:
        fmt = sniff(f.read(1024))  # the file was hashed when it was read: only its format is needed
    task = PageTask(row["path"], row["source"], row["file_sha256"], row["page_index"], fmt)
    try:
        image = decode_page(task, max_pixels=ctx.settings.max_pixels)
    except DecodeError:
        return
    img_to_mm = np.array(json.loads(row["transform"]), np.float64).reshape(3, 3)
    straight = straighten(image, np.linalg.inv(img_to_mm), ctx.layout.page_size_mm)
    from scanner.pipeline import _save_jpeg

    rel = _save_jpeg(straight, ws.root, image_name(task), ctx.settings.review_jpeg_quality)
    conn.execute("UPDATE pages SET image = ? WHERE id = ?", (rel, page_id))


# --- the run ---------------------------------------------------------------------


def _describe_all(conn: sqlite3.Connection, folder: Path, paths: Iterable[Path],
                  jobs: int = 1) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Hash and identify every file, in ``jobs`` threads (hashing and reading release the GIL), in order."""
    files, identical = [], []
    first_by_sha: dict[str, str] = {r[0]: r[1] for r in conn.execute("SELECT sha256, path FROM files")}
    seen_now: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        described = list(pool.map(lambda path: describe(path, folder), paths))
    for src in described:
        path = src.path
        conn.execute("INSERT OR REPLACE INTO sources(path, sha256, rel) VALUES(?, ?, ?)", (str(path.resolve()), src.sha256, src.rel))
        first = seen_now.get(src.sha256) or first_by_sha.get(src.sha256)
        if first is not None and first != src.rel:
            identical.append((src.rel, first))
            continue
        seen_now[src.sha256] = src.rel
        files.append(src)
    return files, identical


def scan_folder(
    ws: Workspace,
    folder: Path,
    *,
    jobs: int | None = None,
    settings: ScanSettings | None = None,
    debug_dir: Path | None = None,
    progress: Progress | None = None,
    paths: list[Path] | None = None,
) -> ScanSummary:
    """Read every page of every file below ``folder`` that is not yet in the database."""
    started = time.perf_counter()
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"Không tìm thấy thư mục ảnh quét {folder}.", f"Scan folder not found: {folder}.")
    settings = settings or load_settings(ws.root)
    ctx = build_context(ws, settings, debug_dir=debug_dir)
    all_paths = paths if paths is not None else list_files(folder)
    if not all_paths:
        raise InputError(
            f"Thư mục {folder} không có tệp nào. Hãy kiểm tra đường dẫn, hoặc dùng --watch để chờ máy quét.",
            f"The folder {folder} has no files. Check the path, or use --watch to wait for the scanner.",
        )
    conn = db.connect(ws.db_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        jobs = jobs or os.cpu_count() or 1
        files, identical = _describe_all(conn, folder, all_paths, jobs)
        conn.execute("COMMIT")
        known = _known_pages(conn)
        pages_known = 0
        todo: list[PageTask] = []
        meta: dict[str, SourceFile] = {}
        for src in files:
            meta[src.sha256] = src
            if src.problem is not None:
                if (src.sha256, 0) in known:
                    pages_known += 1
                else:
                    record(conn, _rejected_file_result(src), 1, src.size)
                continue
            for task in tasks_for(src):
                if (task.sha256, task.page_index) in known:
                    pages_known += 1
                else:
                    todo.append(task)
        flagged = 0
        done = 0
        if progress:
            progress(0, len(todo), 0)
        timing_totals: Counter[str] = Counter()
        for result in _results(todo, ctx, jobs):
            src = meta[result.task.sha256]
            record(conn, result, src.pages, src.size)
            done += 1
            flagged += result.status != "auto" or result.kind != "ballot"
            timing_totals.update(result.timings)
            if progress:
                progress(done, len(todo), flagged)
        _link_backs(conn)
        # pages that became doubtful after they were read (duplicates, a back written on) need their image
        # now; asking the database, not this run, also mends a run killed before it got here
        for (page_id,) in conn.execute(
            "SELECT id FROM pages WHERE status = 'review' AND image IS NULL AND transform IS NOT NULL"
        ).fetchall():
            _render_review_image(conn, ws, ctx, page_id)
        summary = _summarise(conn, files, identical, done, pages_known, started, timing_totals)
    finally:
        conn.close()
    return summary


def _summarise(conn: sqlite3.Connection, files: list[SourceFile], identical: list[tuple[str, str]], read: int,
               known: int, started: float, timings: Counter[str]) -> ScanSummary:
    shas = [f.sha256 for f in files]
    by_status: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    problems = []
    for chunk in range(0, len(shas), 500):
        part = shas[chunk : chunk + 500]
        marks = ",".join("?" * len(part))
        for p in conn.execute(
            f"SELECT * FROM pages WHERE file_sha256 IN ({marks}) ORDER BY source, page_index", part  # noqa: S608
        ):
            by_status[p["status"]] += 1
            by_kind[p["kind"]] += 1
            row_reasons = [json.loads(r[0]) for r in conn.execute("SELECT reasons FROM rows WHERE page_id = ?", (p["id"],))]
            reasons = tuple(json.loads(p["reasons"])) + tuple(dict.fromkeys(x for rr in row_reasons for x in rr))
            if p["status"] != "auto" or p["kind"] not in ("ballot", "blank"):
                problems.append(Problem(p["source"], p["page_index"] + 1, p["kind"], p["status"], reasons, p["detail"]))
    return ScanSummary(
        files=len(files),
        pages_read=read,
        pages_known=known,
        by_status=dict(by_status),
        by_kind=dict(by_kind),
        identical_files=tuple(identical),
        problems=tuple(problems),
        elapsed_s=time.perf_counter() - started,
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def watch_folder(
    ws: Workspace,
    folder: Path,
    *,
    poll_s: float = 2.0,
    idle_timeout_s: float | None = None,
    on_batch: Callable[[ScanSummary], None] | None = None,
    **options: object,
) -> list[ScanSummary]:
    """Keep reading ``folder`` as the scanner adds files, until interrupted.

    A file is read only once its size and modification time have not changed
    between two polls (the scanner has finished writing it). With
    ``idle_timeout_s``, stop after that long without a new file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"Không tìm thấy thư mục ảnh quét {folder}.", f"Scan folder not found: {folder}.")
    previous: dict[Path, tuple[int, int]] = {}
    done: set[tuple[Path, int, int]] = set()
    summaries: list[ScanSummary] = []
    last_new = time.monotonic()
    while True:
        current = {}
        for p in list_files(folder):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            current[p] = (st.st_size, st.st_mtime_ns)
        ready = [p for p, sig in current.items() if previous.get(p) == sig and (p, *sig) not in done]
        if ready:
            summary = scan_folder(ws, folder, paths=ready, **options)  # type: ignore[arg-type]
            summaries.append(summary)
            done.update((p, *current[p]) for p in ready)
            last_new = time.monotonic()
            if on_batch:
                on_batch(summary)
        elif idle_timeout_s is not None and time.monotonic() - last_new > idle_timeout_s:
            return summaries
        previous = current
        time.sleep(poll_s)
