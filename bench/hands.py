"""Hands benchmark: ballots voted by another hand than the simulator's, scanned by its scanner.

The accuracy decks (``bench/accuracy.py``) are voted with the simulator's strokes, and the
scanner's thresholds were fitted on them. Here every mark, every crossed-out name and every
mark cancelled by going over it is drawn by another pen (:mod:`calibration.hands`: its own
stroke shapes, widths and inks, never used to fit a threshold), then goes through the
simulator's printer, seal, folds and scanner or camera (``--profile``), is scanned into a
fresh copy of a printed workspace, and is scored with :func:`calibration.evaluate.evaluate`,
as the accuracy decks are. It also counts the
crossed names not flagged by the way they were crossed out and the ink, the cancelled marks
not sent to review by the way they were cancelled and the ink, and the clear rows sent to
review by their reasons.

``--cancels b``: the marks are cancelled in the ways of set B, written blind to the scanner on
2026-11-24 (a spiral scrubbed over the mark, a zigzag, lines striking it out, the box blacked out
with short strokes, a mesh), instead of set A (the default: back and forth, loops, a cross-hatch,
blotted), which was looked at when the scanner's rule for a box gone over was chosen.
``--steady``: each voter keeps one mark shape on their page instead of a new shape per mark (the
same rows, levels, crossed names and inks as without it for a seed; only the shapes differ).
Both are recorded in ``hands.json``.

Exit status: 0 without silent errors, 1 with any, 2 for bad arguments.

Example::

    .venv/bin/python bench/hands.py --profile adf-rough --pages 250 --seed 3 --jobs 2 --out /tmp/bx/hands
    .venv/bin/python bench/hands.py --profile adf-rough --pages 250 --seed 3 --cancels b --steady --out /tmp/bx/hands-b
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

from _checkout import use_this_checkout  # bench/ is the script's folder: always importable

ROOT = use_this_checkout()  # this checkout's code, in the worker processes too

from accuracy import printed_workspace  # noqa: E402

from calibration.evaluate import evaluate  # noqa: E402
from calibration.hands import hand_deck  # noqa: E402
from kiemphieu import db  # noqa: E402
from kiemphieu.demo import EXAMPLE_PERSONS  # noqa: E402
from kiemphieu.session import open_workspace  # noqa: E402
from scanner import scan_folder  # noqa: E402


def run(out: Path, *, profile: str, pages: int, seed: int, jobs: int, persons: Path, cancels: str = "a",
        steady: bool = False) -> int:
    if out.exists():
        shutil.rmtree(out)
    ws = printed_workspace(out / "printed", voters=pages, persons=persons)
    shutil.copytree(out / "printed", out / "run")
    voters = "steady voters" if steady else "a shape per mark"
    print(f"drawing {pages} pages voted by another hand ({profile}, {voters}, cancelled marks of set {cancels})"
          " ...", flush=True)
    truth, plans = hand_deck(ws, out / "scans", profile=profile, pages=pages, seed=seed, cancels=cancels,
                             steady=steady)
    print(f"scanning with {jobs} job(s) ...", flush=True)
    scan_folder(open_workspace(out / "run"), out / "scans", jobs=jobs)
    conn = db.connect(out / "run" / "kiemphieu.sqlite")
    try:
        ev = evaluate(conn, truth)
    finally:
        conn.close()
    crossings = {(name, person): style for name, plan in plans.items() for person, style in plan["crossed"]}
    inks = {name: plan["ink"] for name, plan in plans.items()}
    missed_crossings = Counter(f"{crossings[(m.source, m.person)]} in {inks[m.source]}" for m in ev.misses
                               if m.category == "crossed_not_flagged" and (m.source, m.person) in crossings)
    cancelled = {(name, person): f"{how} in {plan['ink']}" for name, plan in plans.items()
                 for person, _, _, how, _ in plan["cancelled"]}
    missed_cancels = Counter(cancelled[(m.source, m.person)] for m in ev.misses
                             if m.category == "ambiguous_not_reviewed" and (m.source, m.person) in cancelled)
    reasons = Counter(m.detail[m.detail.rfind(" [") + 1 :] for m in ev.misses if m.category == "clear_row_reviewed")
    print("\n".join(line for line in ev.report().splitlines() if not line.lstrip().startswith("MISS")))
    print(f"crossed names: {len(crossings)}, not flagged: {sum(missed_crossings.values())} {dict(missed_crossings)}")
    print(f"cancelled marks: {len(cancelled)}, not sent to review: {sum(missed_cancels.values())} {dict(missed_cancels)}")
    print("clear rows to review by reasons:", ", ".join(f"{k} {v}" for k, v in reasons.most_common(8)))
    for m in ev.misses:
        if m.category in ev.SILENT:
            print(f"  SILENT {m.category}: {m.source} person {m.person}: {m.detail}")
    summary = {"profile": profile, "pages": pages, "seed": seed, "cancels": cancels, "steady": steady,
               "silent_errors": ev.silent_errors, "counts": dict(ev.counts), "clear_rows": ev.clear_rows,
               "crossed_names": len(crossings), "crossed_missed": dict(missed_crossings), "cancelled_marks": len(cancelled),
               "cancelled_missed": dict(missed_cancels)}
    (out / "hands.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 1 if ev.silent_errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="working folder (emptied first)")
    parser.add_argument("--profile", choices=("adf", "adf-rough", "phone"), default="adf")
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--persons", type=Path, default=EXAMPLE_PERSONS, help="persons list (default: the bundled example)")
    parser.add_argument("--cancels", choices=("a", "b"), default="a",
                        help="the set of ways marks are cancelled: a (default), or b, written blind to the scanner")
    parser.add_argument("--steady", action="store_true", help="each voter keeps one mark shape on their page")
    args = parser.parse_args(argv)
    if args.pages < 1 or not args.persons.is_file():
        parser.print_usage()
        print("--pages >= 1 and --persons an existing persons file")
        return 2
    return run(args.out, profile=args.profile, pages=args.pages, seed=args.seed, jobs=args.jobs, persons=args.persons,
               cancels=args.cancels, steady=args.steady)


if __name__ == "__main__":
    sys.exit(main())
