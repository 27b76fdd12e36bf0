"""The checkout a bench script belongs to is the one it measures, in its worker processes too.

A bench script is run as ``python bench/NAME.py`` from anywhere, often from a git worktree while the
virtual environment's editable install points at another checkout. Putting this checkout first on
``sys.path`` is enough for the script's own process. It is not enough for ``scan_folder``'s workers: they
start from a fresh forkserver (or spawn) interpreter that does not inherit ``sys.path``: it finds
``scanner`` in its current folder, or else through the editable install. So a bench run from outside a
worktree's folder silently measured the other checkout's code in its workers. ``PYTHONPATH`` is inherited
by every child interpreter.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def use_this_checkout() -> Path:
    """Make this checkout's packages the ones imported, here and in every process started from here;
    returns the checkout's root."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(ROOT)]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *inherited])
    return ROOT
