"""A bench script measures the checkout it belongs to, in ``scan_folder``'s worker processes too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"

# a bench script as the real ones start: the checkout first, then its packages, then a pool started the
# way scan_folder starts its workers (forkserver, preloading the pipeline)
PROBE = """
from _checkout import use_this_checkout

ROOT = use_this_checkout()

import multiprocessing as mp


def where(_):
    import scanner
    return scanner.__file__


if __name__ == "__main__":
    import scanner
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["scanner"])
    with context.Pool(1) as pool:
        print(scanner.__file__)
        print(pool.map(where, [0])[0])
"""


def test_a_bench_script_s_workers_import_its_own_checkout_not_the_installed_one(tmp_path: Path) -> None:
    # another checkout, with a scanner of its own, while the environment's editable install is this one
    checkout = tmp_path / "worktree"
    (checkout / "bench").mkdir(parents=True)
    (checkout / "scanner").mkdir()
    (checkout / "scanner" / "__init__.py").write_text("", encoding="utf-8")
    shutil.copy(BENCH / "_checkout.py", checkout / "bench" / "_checkout.py")
    (checkout / "bench" / "probe.py").write_text(PROBE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # run from elsewhere: neither the current folder nor an inherited PYTHONPATH points at the checkout
    done = subprocess.run([sys.executable, str(checkout / "bench" / "probe.py")], cwd=tmp_path.anchor, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    main_file, worker_file = done.stdout.split()
    expected = str(checkout / "scanner" / "__init__.py")
    assert main_file == expected
    assert worker_file == expected
