"""Speed benchmark: pages per second and peak memory of ``scan_folder`` against bare decoding.

Generates ``--pages`` distinct scanned pages once (``--dpi``, JPEG): a few voted
pages are rendered by the simulator (:func:`calibration.simulate.render_page`,
no skew, so the QR code stays where the layout puts it), then every file is one
of them with its own issued token painted into the QR code and its own sensor
noise, so every file has distinct content and is read as a distinct ballot.

Then, for each ``--jobs`` value, in a fresh process each (so peak memory is that
phase's own):

a. bare decoding: ``cv2.imread`` of every file, full size, in a pool of that many
   processes (in the process itself for 1 job, as ``scan_folder`` does);
b. ``scan_folder`` into a fresh copy of the printed workspace;
c. bare decoding again.

The scan is compared with the mean of the two decodes that bracket it: this
machine's speed drifts by 10-35 % over minutes, and a single decode measured
before a long scan can fall in a faster or slower spell than the scan. It reports
pages/s, the ratio of scan time to bare-decode time, the same ratio in CPU
seconds (all processes of the phase: insensitive to other load on the machine),
and peak RSS of the main process (``RUSAGE_SELF``) and of the largest worker
(``RUSAGE_CHILDREN``). With ``--pages-large`` it repeats both at the largest
``--jobs`` value on a batch 10x larger, to show that memory does not grow with
the batch. Prints the command line and a Markdown table for the README.

Example::

    .venv/bin/python bench/speed.py --pages 300 --dpi 300 --jobs 1,2 --out /tmp/speed
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing as mp
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _checkout import use_this_checkout  # bench/ is the script's folder: always importable

ROOT = use_this_checkout()  # this checkout's code, in the worker processes too

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import segno  # noqa: E402
from PIL import Image  # noqa: E402

SESSION_ID = "BENCHSPD01"
DISTINCT_RENDERS = 8
CLEAR = ("x", "x", "x", "check", "slash", "small_x")


@dataclass(frozen=True)
class Phase:
    """One measured phase, as reported by its own process."""

    phase: str  # decode | scan
    batch: int
    jobs: int
    pages: int
    elapsed_s: float
    self_maxrss_mb: float
    children_maxrss_mb: float
    cpu_s: float  # user + system seconds of the phase's process and its workers
    by_kind: dict[str, int]
    by_status: dict[str, int]


# --- the deck ------------------------------------------------------------------


def _tokens(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct ballot tokens in the format of :func:`ballot_templates.render.new_token`."""
    out: dict[str, None] = {}
    while len(out) < n:
        out[base64.b32encode(rng.bytes(8)).decode("ascii").rstrip("=")] = None
    return list(out)


def _printed(root: Path, tokens: list[str]) -> Path:
    """A printed workspace (one real print run) whose issued set also holds ``tokens``."""
    from ballot_templates.render import render_ballots
    from kiemphieu import db
    from kiemphieu.demo import COMMITTEE, EXAMPLE_PERSONS
    from kiemphieu.session import init_workspace

    ws = init_workspace(root, EXAMPLE_PERSONS, organisation="Sở Giáo dục và Đào tạo Hải Phòng",
                        title="Hội nghị lấy phiếu tín nhiệm năm 2026 (đo tốc độ)", place="Hải Phòng",
                        date="2026-11-22", summoned=len(tokens) + 6, present=len(tokens),
                        committee=COMMITTEE, session_id=SESSION_ID)
    render_ballots(ws, copies=1)
    conn = db.connect(ws.db_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        db.add_tokens(conn, tokens)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return root


_BASES: list[np.ndarray] = []
_QR: list[tuple[int, int, int, int]] = []  # r0, r1, c0, c1 of the QR symbol in each base image
_PAYLOAD = ""  # "KP1:<session>:<hash>:1:{token}"


def _renders(ws_root: Path, dpi: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]], str]:
    """A few voted pages at ``dpi`` (BGR, no skew), and where the QR symbol is in each."""
    from calibration.simulate import MarkSpec, PageSpec, ScanSpec, render_page
    from kiemphieu.layout import LEVELS, load_layout
    from kiemphieu.session import open_workspace

    ws = open_workspace(ws_root)
    layout = load_layout(ws.layout_json)
    page = layout.page(1)
    bases = []
    for _ in range(DISTINCT_RENDERS):
        marks: dict[int, tuple[MarkSpec, ...]] = {row.person: (MarkSpec(LEVELS[int(rng.integers(0, 3))], CLEAR[int(rng.integers(0, len(CLEAR)))]),)
                 for row in page.rows}
        spec = PageSpec(layout_page=1, token="-", marks=marks, signature=bool(rng.random() < 0.3))
        bases.append(render_page(ws, spec, ScanSpec(dpi=dpi, noise=0.0, blur=float(rng.uniform(0, 0.4))), rng=rng))
    px = dpi / 25.4
    x, y, w, h = page.qr_mm
    qr = []
    for base in bases:  # the scanner's margin is drawn at random for each page
        margin = (base.shape[0] - int(round(layout.page_size_mm[1] * px))) // 2
        qr.append((margin + int(round(y * px)), margin + int(round((y + h) * px)),
                   margin + int(round(x * px)), margin + int(round((x + w) * px))))
    return bases, qr, f"KP1:{layout.session_id}:{layout.layout_hash}:1:{{token}}"


def _init_writer(bases: list[np.ndarray], qr: list[tuple[int, int, int, int]], payload: str) -> None:
    global _BASES, _QR, _PAYLOAD
    _BASES, _QR, _PAYLOAD = bases, qr, payload
    cv2.setNumThreads(1)


def _page(index: int, token: str, seed: int) -> np.ndarray:
    """Base page ``index % K`` with ``token`` in its QR code and its own noise."""
    img = _BASES[index % len(_BASES)].copy()
    r0, r1, c0, c1 = _QR[index % len(_BASES)]
    matrix = np.array(segno.make(_PAYLOAD.format(token=token), error="h", micro=False).matrix, dtype=bool)
    n = matrix.shape[0]
    rows = np.minimum((np.arange(r1 - r0) + 0.5) * n / (r1 - r0), n - 1).astype(int)
    cols = np.minimum((np.arange(c1 - c0) + 0.5) * n / (c1 - c0), n - 1).astype(int)
    roi = img[r0:r1, c0:c1]
    roi[...] = 245
    roi[matrix[np.ix_(rows, cols)]] = 30
    cv2.setRNGSeed(seed)
    noise = np.empty(img.shape[:2], np.uint8)
    cv2.randu(noise, 0, 6)  # type: ignore[call-overload]
    return cv2.subtract(img, cv2.cvtColor(noise, cv2.COLOR_GRAY2BGR))


def _write(args: tuple[int, str, int, str, int]) -> str:
    index, token, seed, path, dpi = args
    img = _page(index, token, seed)
    tmp = Path(path).with_name("." + Path(path).name + ".part")
    Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).save(tmp, format="JPEG", quality=90, dpi=(dpi, dpi))
    tmp.replace(path)
    return path


def make_deck(folder: Path, tokens: list[str], bases: list[np.ndarray], qr: list[tuple[int, int, int, int]], payload: str,
              *, dpi: int, seed: int, jobs: int) -> list[Path]:
    """Write one JPEG per token into ``folder``; check the painted QR of every base page reads back."""
    folder.mkdir(parents=True, exist_ok=True)
    _init_writer(bases, qr, payload)
    for k in range(min(len(bases), len(tokens))):
        r0, r1, c0, c1 = qr[k]
        pad = (r1 - r0) // 4
        found, _, _ = cv2.QRCodeDetector().detectAndDecode(_page(k, tokens[k], 0)[max(0, r0 - pad):r1 + pad,
                                                                                  max(0, c0 - pad):c1 + pad])
        if found != payload.format(token=tokens[k]):
            raise RuntimeError(f"the painted QR code does not read back ({found!r}); the deck would not be ballots")
    args = [(i, t, seed * 1_000_003 + i, str(folder / f"page-{i + 1:05d}.jpg"), dpi) for i, t in enumerate(tokens)]
    with mp.get_context("fork").Pool(jobs, initializer=_init_writer, initargs=(bases, qr, payload)) as pool:
        paths = [Path(p) for p in pool.imap_unordered(_write, args, chunksize=4)]
    return sorted(paths)


def generate(work: Path, batches: list[int], *, dpi: int, seed: int, jobs: int) -> None:
    """The printed workspace ``work/printed`` and one folder ``work/pages-<n>`` per batch."""
    rng = np.random.default_rng(seed)
    tokens = _tokens(sum(batches), rng)
    printed = work / "printed"
    shutil.rmtree(printed, ignore_errors=True)
    _printed(printed, tokens)
    bases, qr, payload = _renders(printed, dpi, rng)
    start = 0
    for batch in batches:
        folder = work / f"pages-{batch}"
        shutil.rmtree(folder, ignore_errors=True)
        t0 = time.perf_counter()
        make_deck(folder, tokens[start:start + batch], bases, qr, payload, dpi=dpi, seed=seed, jobs=jobs)
        start += batch
        print(f"generated {batch} distinct {dpi}-dpi JPEG pages in {time.perf_counter() - t0:.0f} s", flush=True)


# --- the phases (each in its own process) ---------------------------------------


def _imread(path: str) -> int:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise RuntimeError(f"cannot decode {path}")
    return int(img.shape[0])


def _init_decoder() -> None:
    cv2.setNumThreads(1)


def _reap_fork_server() -> None:
    """Stop the multiprocessing fork server, if one runs, and wait for it.

    ``scan_folder`` starts its workers from a fork server: they are its children,
    not ours, and count in our ``RUSAGE_CHILDREN`` only once the server that
    waited for them has itself been waited for.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if stop is not None:
        stop()


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # kB on Linux


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_phase(phase: str, folder: Path, jobs: int, ws_root: Path | None) -> dict:
    """Measure one phase in this process; return its figures."""
    from scanner.sources import list_files

    paths = [str(p) for p in list_files(folder)]
    by_kind: dict[str, int] = {}
    by_status: dict[str, int] = {}
    if phase == "decode":
        t0 = time.perf_counter()
        if jobs == 1:
            _init_decoder()
            for p in paths:
                _imread(p)
        else:
            pool = mp.get_context("fork").Pool(jobs, initializer=_init_decoder)
            try:
                for _ in pool.imap_unordered(_imread, paths, chunksize=1):
                    pass
                pool.close()
            finally:
                pool.terminate()
                pool.join()  # waited for, so the workers count in RUSAGE_CHILDREN
        elapsed = time.perf_counter() - t0
    else:
        from kiemphieu.session import open_workspace
        from scanner import scan_folder

        assert ws_root is not None
        ws = open_workspace(ws_root)
        t0 = time.perf_counter()
        summary = scan_folder(ws, folder, jobs=jobs)
        elapsed = time.perf_counter() - t0
        _reap_fork_server()
        by_kind, by_status = dict(summary.by_kind), dict(summary.by_status)
    return {"phase": phase, "pages": len(paths), "jobs": jobs, "elapsed_s": elapsed,
            "self_maxrss_mb": _maxrss_mb(resource.RUSAGE_SELF),
            "children_maxrss_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
            "self_cpu_s": _cpu_s(resource.RUSAGE_SELF), "children_cpu_s": _cpu_s(resource.RUSAGE_CHILDREN),
            "by_kind": by_kind, "by_status": by_status}


def _measure(phase: str, folder: Path, jobs: int, batch: int, printed: Path, work: Path) -> Phase:
    ws_root = None
    if phase == "scan":
        ws_root = work / f"ws-{batch}-j{jobs}"
        shutil.rmtree(ws_root, ignore_errors=True)
        shutil.copytree(printed, ws_root)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--folder", str(folder),
           "--jobs", str(jobs)] + (["--ws", str(ws_root)] if ws_root else [])
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return Phase(phase=phase, batch=batch, jobs=jobs, pages=figures["pages"], elapsed_s=figures["elapsed_s"],
                 self_maxrss_mb=figures["self_maxrss_mb"], children_maxrss_mb=figures["children_maxrss_mb"],
                 cpu_s=figures["self_cpu_s"] + figures["children_cpu_s"], by_kind=figures["by_kind"], by_status=figures["by_status"])


# --- report ---------------------------------------------------------------------


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def table(phases: list[Phase]) -> str:
    lines = [
        "| pages | jobs | bare decode s, before / after | scan s | scan pages/s | scan / decode "
        "| in CPU s | peak RSS main MB | peak RSS worker MB | read as ballots |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    decodes: dict[tuple[int, int], list[Phase]] = {}
    for p in phases:
        if p.phase == "decode":
            decodes.setdefault((p.batch, p.jobs), []).append(p)
    for s in (p for p in phases if p.phase == "scan"):
        ds = decodes[(s.batch, s.jobs)]
        wall = sum(d.elapsed_s for d in ds) / len(ds)
        cpu = sum(d.cpu_s for d in ds) / len(ds)
        worker = f"{s.children_maxrss_mb:.0f}" if s.jobs > 1 else "— (in-process)"
        lines.append(
            f"| {s.pages} | {s.jobs} | {' / '.join(f'{d.elapsed_s:.1f}' for d in ds)} | {s.elapsed_s:.1f} "
            f"| {s.pages / s.elapsed_s:.2f} | **{s.elapsed_s / wall:.2f}x** | {s.cpu_s / cpu:.2f}x "
            f"| {s.self_maxrss_mb:.0f} | {worker} | {s.by_kind.get('ballot', 0)} ({s.by_status.get('auto', 0)} auto) |"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=300, help="pages in the batch (default 300)")
    p.add_argument("--dpi", type=int, default=300, help="scan resolution (default 300)")
    p.add_argument("--jobs", default=None, help="comma-separated worker counts (default: 1 and all cores)")
    p.add_argument("--pages-large", action="store_true", help="also a batch 10x larger, at the largest --jobs")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated pages (default 1)")
    p.add_argument("--out", type=Path, help="keep the generated pages here (default a temporary folder)")
    p.add_argument("--json", type=Path, help="write the figures as JSON here")
    p.add_argument("--phase", choices=("generate", "decode", "scan"), help=argparse.SUPPRESS)
    p.add_argument("--batches", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--ws", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.phase == "generate":  # the pages, made by a helper process of the main run
        generate(args.folder, [int(b) for b in args.batches.split(",")], dpi=args.dpi, seed=args.seed,
                 jobs=int(args.jobs))
        return 0
    if args.phase:  # a measured phase, started by the main run
        print(json.dumps(run_phase(args.phase, args.folder, int(args.jobs), args.ws)))
        return 0
    cores = os.cpu_count() or 1
    jobs = sorted({int(j) for j in args.jobs.split(",")}) if args.jobs else sorted({1, cores})
    if args.pages < 1 or not 50 <= args.dpi <= 1200 or min(jobs) < 1:
        print("--pages must be at least 1, --dpi within 50..1200, --jobs at least 1", file=sys.stderr)
        return 2
    command = "bench/speed.py " + shlex.join(argv)
    print("$ .venv/bin/python " + command, flush=True)
    tmp = None if args.out else tempfile.TemporaryDirectory(prefix="kiemphieu-speed-")
    work = Path(args.out) if args.out else Path(tmp.name)  # type: ignore[union-attr]
    batches = [args.pages] + ([10 * args.pages] if args.pages_large else [])
    phases: list[Phase] = []
    try:
        # the pages are made in a process of their own: a process inherits its parent's peak RSS
        # through fork and exec, so the measured phases must start from a lean parent
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--phase", "generate", "--folder", str(work),
                        "--batches", ",".join(map(str, batches)), "--dpi", str(args.dpi), "--seed", str(args.seed),
                        "--jobs", str(max(jobs))], check=True)
        printed = work / "printed"
        for batch in batches:
            folder = work / f"pages-{batch}"
            for j in (jobs if batch == args.pages else [max(jobs)]):
                for phase in ("decode", "scan", "decode"):
                    phases.append(_measure(phase, folder, j, batch, printed, work))
                    p = phases[-1]
                    print(f"  {phase:6s} {batch} pages, {j} job(s): {p.elapsed_s:.1f} s", flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    load = os.getloadavg()
    print()
    print(f"`.venv/bin/python {command}` — {args.dpi} dpi colour JPEG, {_cpu()}, {cores} cores, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    print()
    print(table(phases))
    if args.json:
        args.json.write_text(json.dumps({"schema": "kiemphieu.bench.speed/1", "command": command, "cpus": cores,
                                         "load_average": load, "phases": [asdict(p) for p in phases]}, indent=1))
    wrong = [p for p in phases if p.phase == "scan" and p.by_kind.get("ballot", 0) != p.pages]
    if wrong:
        print("\nwarning: not every page was read as a ballot; the figures do not describe the normal path",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
