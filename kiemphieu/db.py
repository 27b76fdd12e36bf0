"""The workspace's SQLite database: schema and small helpers.

Machine readings (``pages``, ``boxes``, ``rows``) are written once by the
scanner and never changed by review: human decisions live in ``decisions``,
beside them, and every decision is chained in ``audit_log``.
Issued ballot tokens are kept as an unordered set (a ``WITHOUT ROWID`` table
ordered by the token itself), so no ballot can be traced to a print position.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS issued_tokens(
    token TEXT PRIMARY KEY
) WITHOUT ROWID;

-- one row per input file seen by 'scan' (keyed by content, not by name)
CREATE TABLE IF NOT EXISTS files(
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,             -- relative to the scanned folder
    size INTEGER NOT NULL,
    pages INTEGER NOT NULL          -- pages found in the file (1 for a rejected file)
) WITHOUT ROWID;

-- every input path seen by 'scan' and the content it had
CREATE TABLE IF NOT EXISTS sources(
    path TEXT PRIMARY KEY,          -- absolute path of the input file
    sha256 TEXT NOT NULL,
    rel TEXT NOT NULL               -- path relative to the scanned folder
) WITHOUT ROWID;

-- one row per page read, whatever became of it
CREATE TABLE IF NOT EXISTS pages(
    id INTEGER PRIMARY KEY,
    file_sha256 TEXT NOT NULL,
    page_index INTEGER NOT NULL,    -- 0-based within the file
    source TEXT NOT NULL,           -- file path relative to the scanned folder
    kind TEXT NOT NULL,             -- ballot | blank | unreadable | not_issued | rejected
    status TEXT NOT NULL,           -- auto | review | reviewed | rejected
    token TEXT,                     -- ballot token from the QR code
    layout_page INTEGER,            -- page of the ballot layout (1-based)
    reasons TEXT NOT NULL DEFAULT '[]',   -- JSON list of page-level reason codes
    detail TEXT NOT NULL DEFAULT '',      -- a human sentence for rejected/unreadable pages
    transform TEXT,                 -- JSON 3x3 homography, image pixels (x, y) -> page mm
    image TEXT,                     -- straightened image for review, relative to the workspace
    timings TEXT NOT NULL DEFAULT '{}',
    UNIQUE(file_sha256, page_index)
);
CREATE INDEX IF NOT EXISTS pages_token ON pages(token, layout_page);

CREATE TABLE IF NOT EXISTS boxes(
    page_id INTEGER NOT NULL REFERENCES pages(id),
    person INTEGER NOT NULL,
    level TEXT NOT NULL,            -- high | medium | low
    score REAL NOT NULL,            -- share of the box interior covered by ink (pencil or darker), 0..1
    faint REAL NOT NULL,            -- share covered by any trace of ink (faint pencil included)
    span_mm REAL NOT NULL DEFAULT 0,  -- longest extent of one stroke or trace in the box
    state TEXT NOT NULL,            -- marked | marginal | empty
    dx_mm REAL NOT NULL DEFAULT 0,  -- local refinement of the box position
    dy_mm REAL NOT NULL DEFAULT 0,
    PRIMARY KEY(page_id, person, level)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rows(
    page_id INTEGER NOT NULL REFERENCES pages(id),
    person INTEGER NOT NULL,
    marks TEXT NOT NULL,            -- none | one | multiple
    choice TEXT,                    -- high | medium | low, or NULL
    reasons TEXT NOT NULL DEFAULT '[]',   -- JSON list of row-level review reason codes
    PRIMARY KEY(page_id, person)
) WITHOUT ROWID;

-- human decisions, append-only, stored beside the machine reading
CREATE TABLE IF NOT EXISTS decisions(
    id INTEGER PRIMARY KEY,
    page_id INTEGER NOT NULL REFERENCES pages(id),
    person INTEGER,                 -- NULL for a ballot-level decision
    reviewer TEXT NOT NULL,
    decided_at TEXT NOT NULL,       -- ISO 8601, UTC
    before TEXT NOT NULL,           -- JSON: what stood before
    after TEXT NOT NULL,            -- JSON: the decision
    note TEXT NOT NULL DEFAULT '',
    undoes INTEGER REFERENCES decisions(id)   -- set when this entry withdraws an earlier one
);

CREATE TABLE IF NOT EXISTS audit_log(
    seq INTEGER PRIMARY KEY,
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    entry TEXT NOT NULL,            -- canonical JSON of the decision
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL              -- sha256(prev_hash || entry)
);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create if needed) the workspace database."""
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA)
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),)
    )
    return conn


def get_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return default if row is None else str(row["value"])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))


def add_tokens(conn: sqlite3.Connection, tokens: Iterable[str]) -> None:
    conn.executemany("INSERT OR IGNORE INTO issued_tokens(token) VALUES(?)", ((t,) for t in tokens))


def is_issued(conn: sqlite3.Connection, token: str) -> bool:
    return conn.execute("SELECT 1 FROM issued_tokens WHERE token = ?", (token,)).fetchone() is not None


def issued_tokens(conn: sqlite3.Connection) -> frozenset[str]:
    return frozenset(r[0] for r in conn.execute("SELECT token FROM issued_tokens"))


def dumps(value: object) -> str:
    """Canonical JSON used in the database."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
