"""Accuracy benchmark: simulate voted, scanned ballots, scan them, score against the truth.

For each profile (``adf``, ``adf-rough``, ``phone``): print ballots in a fresh
workspace, simulate ``--voters`` voters and their scan (:func:`calibration.simulate.simulate`),
read the deck (:func:`scanner.scan_folder`) into a fresh database and score the
database against the simulator's truth (:func:`calibration.evaluate.evaluate`).

Layout of ``--out DIR`` (kept, so a scanner change can be re-evaluated without
re-simulating: run the same command again)::

    DIR/<profile>/printed/      the workspace as printed (never scanned into)
    DIR/<profile>/scans/        the simulated deck
    DIR/<profile>/truth.json    the simulator's truth
    DIR/<profile>/run/          copy of printed/ that the last run scanned into
    DIR/accuracy.json           the summary of the last run

Exit status: 0 when there is no silent error, 1 when there is at least one
(a wrong automatic count, an ambiguous row not sent to review, a crossed name or
written-in text not flagged, a foreign or duplicate ballot counted, a page lost),
2 for bad arguments or a deck in ``--out`` made with other arguments.

Example::

    .venv/bin/python bench/accuracy.py --profile all --voters 100 --seed 1 --jobs 2 --out /tmp/acc
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _checkout import use_this_checkout  # bench/ is the script's folder: always importable

ROOT = use_this_checkout()  # this checkout's code, in the worker processes too

from ballot_templates.render import render_ballots  # noqa: E402
from calibration.evaluate import Evaluation, evaluate  # noqa: E402
from calibration.simulate import PROFILES, simulate  # noqa: E402
from calibration.truth import load_truth  # noqa: E402
from kiemphieu import db  # noqa: E402
from kiemphieu.demo import COMMITTEE, EXAMPLE_PERSONS  # noqa: E402
from kiemphieu.errors import InputError, KiemphieuError  # noqa: E402
from kiemphieu.session import Workspace, init_workspace, open_workspace  # noqa: E402
from scanner import scan_folder  # noqa: E402

SESSION_ID = "BENCHACC01"
#: the most clear rows a profile may send to review (a benchmark target, not a failure)
REVIEW_TARGET = {"adf": 0.01, "adf-rough": 0.01, "phone": 0.03, "field": 0.03}
TOP_MISSES = 12


@dataclass(frozen=True)
class ProfileRun:
    """One profile's deck, scan and score."""

    profile: str
    voters: int
    seed: int
    reused_deck: bool
    simulate_s: float
    scan_s: float
    evaluation: Evaluation


def printed_workspace(root: Path, *, voters: int, persons: Path) -> Workspace:
    ws = init_workspace(
        root, persons, organisation="Sở Giáo dục và Đào tạo Hải Phòng",
        title="Hội nghị lấy phiếu tín nhiệm năm 2026 (đo độ chính xác)", place="Hải Phòng",
        date="2026-11-22", summoned=voters + 6, present=voters + 2, committee=COMMITTEE,
        session_id=SESSION_ID,
    )
    render_ballots(ws, copies=voters + 2)
    return ws


def run_profile(base: Path, profile: str, *, voters: int, seed: int, jobs: int, persons: Path,
                say=print) -> ProfileRun:  # noqa: ANN001
    """Simulate (or reuse) the deck in ``base``, scan it into a fresh copy, evaluate.

    Raises
    ------
    InputError
        ``base`` holds a deck made with another profile, seed or number of voters.
    """
    printed, scans, truth_path, run = base / "printed", base / "scans", base / "truth.json", base / "run"
    reused = truth_path.exists()
    simulate_s = 0.0
    if reused:
        truth = load_truth(truth_path)
        if (truth.profile, truth.seed, truth.voters) != (profile, seed, voters):
            raise InputError(
                f"{base} đã có bộ phiếu khác (hồ sơ {truth.profile}, seed {truth.seed}, {truth.voters} người); "
                "hãy chọn --out khác hoặc xoá thư mục đó.",
                f"{base} holds another deck (profile {truth.profile}, seed {truth.seed}, {truth.voters} voters); "
                "choose another --out or delete that folder.",
            )
        say(f"[{profile}] reusing the deck in {scans} ({len(truth.pages)} pages)")
    else:
        for stale in (printed, scans, run):
            shutil.rmtree(stale, ignore_errors=True)
        t0 = time.perf_counter()
        ws = printed_workspace(printed, voters=voters, persons=persons)
        say(f"[{profile}] simulating {voters} voters ...")
        simulate(ws, scans, voters=voters, profile=profile, seed=seed, truth_path=truth_path, jobs=jobs)
        simulate_s = time.perf_counter() - t0
        truth = load_truth(truth_path)
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(printed, run)
    ws = open_workspace(run)
    say(f"[{profile}] scanning {len(truth.pages)} pages with {jobs} job(s) ...")
    t0 = time.perf_counter()
    scan_folder(ws, scans, jobs=jobs)
    scan_s = time.perf_counter() - t0
    conn = db.connect(ws.db_path)
    try:
        evaluation = evaluate(conn, truth)
    finally:
        conn.close()
    return ProfileRun(profile, voters, seed, reused, simulate_s, scan_s, evaluation)


# --- report --------------------------------------------------------------------

LINES: tuple[tuple[str, str], ...] = (
    ("rows auto-counted wrongly (0)", "wrong_auto_count"),
    ("ambiguous rows not sent to review (0)", "ambiguous_not_reviewed"),
    ("crossed names not flagged (0)", "crossed_not_flagged"),
    ("written-in text not flagged (0)", "writing_not_flagged"),
    ("pages lost (0)", "page_lost"),
    ("foreign ballots counted (0)", "foreign_counted"),
    ("duplicate ballots counted (0)", "duplicate_counted"),
)


def table(runs: list[ProfileRun]) -> str:
    """A Markdown table, one column per profile."""
    head = "| | " + " | ".join(r.profile for r in runs) + " |"
    lines = [head, "|---|" + "---:|" * len(runs)]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("voters", [str(r.voters) for r in runs])
    row("pages", [str(r.evaluation.pages) for r in runs])
    row("rows (clear / ambiguous)", [f"{r.evaluation.rows} ({r.evaluation.clear_rows} / {r.evaluation.ambiguous_rows})"
                                    for r in runs])
    for label, key in LINES:
        row(label, [str(r.evaluation.counts.get(key, 0)) for r in runs])
    row("**silent errors (0)**", [f"**{r.evaluation.silent_errors}**" for r in runs])
    row("clear rows sent to review (target)", [
        f"{r.evaluation.counts.get('clear_row_reviewed', 0)} = {100 * r.evaluation.clear_review_rate:.2f}% "
        f"(≤ {100 * REVIEW_TARGET[r.profile]:.0f}%{'' if r.evaluation.clear_review_rate <= REVIEW_TARGET[r.profile] else ' MISSED'})"
        for r in runs])
    row("… of which a box filled in (policy: it may be a cancelled mark)", [
        str(r.evaluation.counts.get("clear_filled_reviewed", 0)) for r in runs])
    row("two or three marks sent to review", [
        f"{r.evaluation.counts.get('multiple_reviewed', 0)} of "
        f"{r.evaluation.counts.get('multiple_reviewed', 0) + r.evaluation.counts.get('multiple_not_reviewed', 0)}"
        for r in runs])
    row("rows through a scanner streak sent to review (rule)", [
        str(r.evaluation.counts.get("streak_reviewed", 0)) for r in runs])
    row("ballot pages not read as ballots (to review)", [str(r.evaluation.counts.get("ballot_not_read", 0)) for r in runs])
    row("pages flagged without a page-level cause", [str(r.evaluation.counts.get("page_false_flag", 0)) for r in runs])
    row("simulate s / scan s", [f"{'reused' if r.reused_deck else f'{r.simulate_s:.0f}'} / {r.scan_s:.0f}" for r in runs])
    return "\n".join(lines)


def top_misses(run: ProfileRun, n: int = TOP_MISSES) -> list[str]:
    """Silent errors first, then clear rows sent to review, at most ``n`` lines."""
    return [f"{m.category}: {m.source} p{m.page} person {m.person}: {m.detail}" for m in run.evaluation.misses[:n]]


def summary_json(runs: list[ProfileRun], argv: list[str], load: tuple[float, float, float]) -> dict:
    return {
        "schema": "kiemphieu.bench.accuracy/1",
        "command": shlex.join(argv),
        "load_average": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
        "silent_errors": sum(r.evaluation.silent_errors for r in runs),
        "profiles": [
            {
                "profile": r.profile, "voters": r.voters, "seed": r.seed, "reused_deck": r.reused_deck,
                "simulate_s": round(r.simulate_s, 2), "scan_s": round(r.scan_s, 2),
                "pages": r.evaluation.pages, "rows": r.evaluation.rows, "clear_rows": r.evaluation.clear_rows,
                "ambiguous_rows": r.evaluation.ambiguous_rows, "silent_errors": r.evaluation.silent_errors,
                "clear_review_rate": round(r.evaluation.clear_review_rate, 5),
                "review_target": REVIEW_TARGET[r.profile],
                "counts": dict(sorted(r.evaluation.counts.items())),
                "misses": [{"category": m.category, "source": m.source, "page": m.page, "person": m.person,
                            "detail": m.detail} for m in r.evaluation.misses],
            }
            for r in runs
        ],
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=(*PROFILES, "all"), default="all", help="simulation profile (default all)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--voters", type=int, help="voters per profile (default 100)")
    size.add_argument("--pages", type=int, help="instead of --voters: about this many pages over all profiles")
    p.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    p.add_argument("--out", type=Path, help="keep decks and results here (reused when present); default a temporary folder")
    p.add_argument("--persons", type=Path, default=EXAMPLE_PERSONS, help="persons list (default: the bundled example)")
    p.add_argument("--json", type=Path, help="summary JSON (default OUT/accuracy.json, or none without --out)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    profiles = list(PROFILES) if args.profile == "all" else [args.profile]
    if args.pages is not None:
        voters = max(1, args.pages // len(profiles))  # one page per voter with the example list
    else:
        voters = args.voters if args.voters is not None else 100
    if voters < 1 or args.jobs < 1:
        print("--voters/--pages and --jobs must be at least 1", file=sys.stderr)
        return 2
    command = ["bench/accuracy.py", *argv]
    print("$ .venv/bin/python " + shlex.join(command))
    tmp = None if args.out else tempfile.TemporaryDirectory(prefix="kiemphieu-accuracy-")
    out = Path(args.out) if args.out else Path(tmp.name)  # type: ignore[union-attr]
    runs: list[ProfileRun] = []
    try:
        for profile in profiles:
            runs.append(run_profile(out / profile, profile, voters=voters, seed=args.seed, jobs=args.jobs,
                                    persons=args.persons))
    except KiemphieuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if tmp is not None:
            tmp.cleanup()
    load = os.getloadavg()
    print()
    print(table(runs))
    print()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    for r in runs:
        misses = top_misses(r)
        if misses:
            print(f"\nTop misses, {r.profile}:")
            for line in misses:
                print("  " + line)
    doc = summary_json(runs, command, load)
    json_path = args.json or (out / "accuracy.json" if args.out else None)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"\nsummary: {json_path}")
    silent = doc["silent_errors"]
    print(f"\nsilent errors: {silent}" + (" — FAILED" if silent else " — ok"))
    return 1 if silent else 0


if __name__ == "__main__":
    sys.exit(main())
