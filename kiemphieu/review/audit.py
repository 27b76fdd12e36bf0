"""The append-only audit log of review decisions: a sha256 hash chain.

Every decision row is written together with one ``audit_log`` entry in the same
transaction. The entry is the canonical JSON (:func:`kiemphieu.db.dumps`) of the
whole decision row, with ``before`` and ``after`` exactly as stored (JSON text),
and ``hash = sha256(prev_hash + entry)``; the first ``prev_hash`` is 64 zeros.

:func:`verify_audit` recomputes the chain and checks every decision row against
its entry, so that a hand edit of the database (a changed, deleted or inserted
decision, or a changed log entry) is found and the first broken entry named.
A chain alone cannot see the removal of its own last entries together with
their decisions: :class:`AuditReport` therefore gives the head hash, which the
committee writes into the counting minutes.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from typing import Any

from kiemphieu.db import dumps
from kiemphieu.errors import AuditError

GENESIS = "0" * 64
ENTRY_FIELDS = ("id", "page_id", "person", "reviewer", "decided_at", "before", "after", "note", "undoes")


@dataclass(frozen=True)
class AuditReport:
    """A verified audit log.

    Attributes
    ----------
    entries : int
        Number of entries in the chain (one per decision).
    head : str
        The hash of the last entry (64 zeros for an empty log).
    """

    entries: int
    head: str


def entry_text(decision: sqlite3.Row | dict[str, Any]) -> str:
    """The canonical audit entry of one decision row."""
    return dumps({name: decision[name] for name in ENTRY_FIELDS})


def chain_hash(prev_hash: str, entry: str) -> str:
    """``sha256(prev_hash + entry)`` as lowercase hex."""
    return hashlib.sha256((prev_hash + entry).encode("utf-8")).hexdigest()


def append_entry(conn: sqlite3.Connection, decision_id: int) -> str:
    """Append the entry of decision ``decision_id`` to the chain; return its hash.

    Must run inside the transaction that inserted the decision.
    """
    row = conn.execute(f"SELECT {', '.join(ENTRY_FIELDS)} FROM decisions WHERE id = ?", (decision_id,)).fetchone()
    if row is None:  # a programming error, not a user's
        raise AuditError(
            f"Không có quyết định số {decision_id} để ghi nhật ký.", f"No decision {decision_id} to log."
        )
    last = conn.execute("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev = str(last["hash"]) if last is not None else GENESIS
    entry = entry_text(row)
    digest = chain_hash(prev, entry)
    conn.execute(
        "INSERT INTO audit_log(decision_id, entry, prev_hash, hash) VALUES(?, ?, ?, ?)",
        (decision_id, entry, prev, digest),
    )
    return digest


def _broken(seq: int, decision_id: int | None, vi: str, en: str) -> AuditError:
    which_vi = f"mục số {seq}" + (f" (quyết định số {decision_id})" if decision_id is not None else "")
    which_en = f"entry {seq}" + (f" (decision {decision_id})" if decision_id is not None else "")
    return AuditError(
        f"Nhật ký kiểm tra bị hỏng tại {which_vi}: {vi}. Cơ sở dữ liệu có thể đã bị sửa bằng tay.",
        f"The audit log is broken at {which_en}: {en}. The database may have been edited by hand.",
    )


def verify_audit(conn: sqlite3.Connection) -> AuditReport:
    """Recompute the hash chain and compare every decision with its entry.

    Raises
    ------
    AuditError
        Naming the first broken entry: a hash or link that does not verify, an
        entry whose decision was changed or deleted, entries out of order, or a
        decision that has no entry.
    """
    decisions = {
        int(r["id"]): r
        for r in conn.execute(f"SELECT {', '.join(ENTRY_FIELDS)} FROM decisions ORDER BY id")
    }
    prev = GENESIS
    seen: set[int] = set()
    last_decision = 0
    expected_seq = 1
    count = 0
    for log in conn.execute("SELECT seq, decision_id, entry, prev_hash, hash FROM audit_log ORDER BY seq"):
        seq, decision_id = int(log["seq"]), int(log["decision_id"])
        if seq != expected_seq:
            raise _broken(
                expected_seq, None, f"thiếu mục (mục tiếp theo là số {seq})", f"entry missing (next is {seq})"
            )
        if log["prev_hash"] != prev:
            raise _broken(seq, decision_id, "không nối với mục trước", "does not link to the previous entry")
        if chain_hash(prev, str(log["entry"])) != log["hash"]:
            raise _broken(seq, decision_id, "mã băm không khớp nội dung", "hash does not match its content")
        decision = decisions.get(decision_id)
        if decision is None:
            raise _broken(seq, decision_id, "quyết định đã bị xoá", "the decision was deleted")
        if entry_text(decision) != log["entry"]:
            raise _broken(
                seq, decision_id, "quyết định đã bị sửa sau khi ghi", "the decision was changed after it was logged"
            )
        if decision_id in seen or decision_id <= last_decision:
            raise _broken(seq, decision_id, "thứ tự các mục bị đảo", "entries are out of order")
        seen.add(decision_id)
        last_decision = decision_id
        prev = str(log["hash"])
        expected_seq += 1
        count += 1
    missing = sorted(set(decisions) - seen)
    if missing:
        raise AuditError(
            f"Quyết định số {missing[0]} không có trong nhật ký kiểm tra: nó đã được thêm bằng tay.",
            f"Decision {missing[0]} has no audit log entry: it was added by hand.",
        )
    return AuditReport(entries=count, head=prev)
