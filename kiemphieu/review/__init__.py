"""Human review of doubtful ballots: decisions, audit log and the local web page."""

from kiemphieu.review.audit import AuditReport, verify_audit
from kiemphieu.review.decisions import RecordedDecision, record_decision, row_after, undo_decision
from kiemphieu.review.queue import ReviewItem, ReviewState, review_state
from kiemphieu.review.server import ReviewServer

__all__ = [
    "AuditReport",
    "RecordedDecision",
    "ReviewItem",
    "ReviewServer",
    "ReviewState",
    "record_decision",
    "review_state",
    "row_after",
    "undo_decision",
    "verify_audit",
]
