"""Exit codes and the exception hierarchy.

The library raises these; only the command line turns them into a sentence and
an exit code. Each error carries a Vietnamese and an English message that tell
the user what went wrong and what to do next.
"""

from __future__ import annotations

from enum import IntEnum

from kiemphieu.i18n import tr


class ExitCode(IntEnum):
    OK = 0
    NEEDS_ATTENTION = 1  # the run finished, but some pages need review or were rejected
    USAGE = 2  # click's own code for wrong arguments
    BAD_INPUT = 3  # a persons list, session file or argument that cannot be used
    WORKSPACE = 4  # workspace missing, already present, or inconsistent
    PENDING_REVIEW = 5  # --final asked while ballots still wait for review
    NO_QUORUM = 6  # fewer than 2/3 of those summoned were present
    AUDIT_BROKEN = 7  # the review log's hash chain does not verify
    MISSING_DEPENDENCY = 8  # tesseract, poppler or chromium is not installed
    INTERNAL = 10
    INTERRUPTED = 130


class KiemphieuError(Exception):
    """Base of every error kiemphieu raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL
    reason: str = "error"

    def __init__(self, vi: str, en: str | None = None) -> None:
        self.vi = vi
        self.en = en if en is not None else vi
        super().__init__(self.en)

    def __str__(self) -> str:
        return tr(self.vi, self.en)


class InputError(KiemphieuError):
    """A file or value given by the user cannot be used (names the line)."""

    exit_code = ExitCode.BAD_INPUT
    reason = "bad_input"


class WorkspaceError(KiemphieuError):
    exit_code = ExitCode.WORKSPACE
    reason = "workspace"


class LayoutError(KiemphieuError):
    """The ballot cannot be laid out (for instance a name too long to print)."""

    exit_code = ExitCode.BAD_INPUT
    reason = "layout"


class PendingReviewError(KiemphieuError):
    exit_code = ExitCode.PENDING_REVIEW
    reason = "pending_review"


class NoQuorumError(KiemphieuError):
    exit_code = ExitCode.NO_QUORUM
    reason = "no_quorum"


class AuditError(KiemphieuError):
    exit_code = ExitCode.AUDIT_BROKEN
    reason = "audit_broken"


class MissingDependencyError(KiemphieuError):
    exit_code = ExitCode.MISSING_DEPENDENCY
    reason = "missing_dependency"
