"""Read a simulator truth file (``kiemphieu.truth/1``) into typed records.

The format is documented in :mod:`calibration.simulate`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiemphieu.errors import InputError

TRUTH_SCHEMA = "kiemphieu.truth/1"
EXPECTS = ("one", "none", "multiple", "review")
KINDS = ("ballot", "blank", "foreign", "duplicate")


@dataclass(frozen=True)
class RowTruth:
    """What a row should read: ``expect`` one|none|multiple|review, ``choice`` for one."""

    person: int
    expect: str
    choice: str | None
    styles: dict[str, str]


@dataclass(frozen=True)
class PageTruth:
    source: str
    page: int  # 1-based page within the file
    kind: str  # ballot | blank | foreign | duplicate
    token: str | None
    session_id: str | None
    layout_page: int | None
    voter: int | None
    rows: tuple[RowTruth, ...]
    crossed: tuple[int, ...]
    writing: bool
    signature: bool
    scan: dict[str, Any]
    back_writing: bool = False  # a blank back written on, or the ballot page scanned right before one

    def row(self, person: int) -> RowTruth:
        for r in self.rows:
            if r.person == person:
                return r
        raise KeyError(person)


@dataclass(frozen=True)
class Truth:
    session_id: str
    profile: str
    seed: int
    voters: int
    pages_per_ballot: int
    files: tuple[str, ...]
    pages: tuple[PageTruth, ...]

    def ballots(self) -> tuple[PageTruth, ...]:
        """Pages of genuine, first-seen ballots (kind ``ballot``)."""
        return tuple(p for p in self.pages if p.kind == "ballot")

    def page_at(self, source: str, page: int) -> PageTruth:
        for p in self.pages:
            if p.source == source and p.page == page:
                return p
        raise KeyError((source, page))


def load_truth(path: Path) -> Truth:
    """Read a truth file; raise :class:`InputError` naming what is wrong with it."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Không tìm thấy tệp đáp án {path}.", f"Truth file not found: {path}.") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: JSON hỏng ({exc}).", f"{path}: invalid JSON ({exc}).") from None
    if not isinstance(doc, dict) or doc.get("schema") != TRUTH_SCHEMA:
        raise InputError(f"{path}: không phải {TRUTH_SCHEMA}.", f"{path}: not a {TRUTH_SCHEMA} document.")
    try:
        pages = []
        for p in doc["pages"]:
            if p["kind"] not in KINDS:
                raise ValueError(f"kind {p['kind']!r}")
            rows = []
            for person, r in sorted(p["rows"].items(), key=lambda kv: int(kv[0])):
                if r["expect"] not in EXPECTS:
                    raise ValueError(f"expect {r['expect']!r}")
                rows.append(RowTruth(int(person), str(r["expect"]), r["choice"], dict(r["styles"])))
            pages.append(
                PageTruth(
                    source=str(p["source"]),
                    page=int(p["page"]),
                    kind=str(p["kind"]),
                    token=p["token"],
                    session_id=p.get("session_id"),
                    layout_page=None if p["layout_page"] is None else int(p["layout_page"]),
                    voter=p.get("voter"),
                    rows=tuple(rows),
                    crossed=tuple(int(c) for c in p["crossed"]),
                    writing=bool(p["writing"]),
                    signature=bool(p["signature"]),
                    scan=dict(p["scan"]),
                    back_writing=bool(p.get("back_writing", False)),
                )
            )
        return Truth(
            session_id=str(doc["session_id"]),
            profile=str(doc["profile"]),
            seed=int(doc["seed"]),
            voters=int(doc.get("voters", 0)),
            pages_per_ballot=int(doc.get("pages_per_ballot", 1)),
            files=tuple(str(f["name"]) for f in doc.get("files", [])),
            pages=tuple(pages),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: thiếu hoặc sai trường {exc}.", f"{path}: missing or wrong field {exc}.") from None
