"""A reviewable batch without the scanner: pages, rows and boxes written by SQL.

:func:`build_review_batch` prints a workspace (``conftest.make_workspace``),
rasterises ``reference.pdf`` at 152.4 dpi (the straightened 6 px/mm scale,
1260 x 1782 px), draws voters' marks with OpenCV and records what a scanner
would have read — including the doubts a human must settle. The
:class:`Batch` it returns knows the truth: the answer to each review item and
the tally a correct review must give (rule set qd96-2023, crossed name
invalidates the person only).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field

import cv2
import numpy as np
from pdf2image import convert_from_path

from kiemphieu import db
from kiemphieu.layout import CANONICAL_PX_PER_MM, LEVELS, load_layout
from kiemphieu.session import Workspace

LEVEL_SCORE = {"marked": 0.42, "marginal": 0.11, "empty": 0.01}
INK = (110, 45, 25)  # BGR: dark blue ballpoint


@dataclass(frozen=True)
class Answer:
    """What a correct reviewer records for one item: a reading word or a verdict."""

    reading: str
    note: str = ""
    persons: tuple[int, ...] = ()


@dataclass
class Batch:
    ws: Workspace
    page_ids: dict[str, int]
    answers: dict[str, Answer]  # item key -> answer
    extra: dict[str, tuple[Answer, ...]] = field(default_factory=dict)  # item key -> answers recorded first
    expected: dict[int, dict[str, int]] = field(default_factory=dict)  # stt -> counts


@functools.lru_cache(maxsize=4)
def _reference_image(pdf_bytes_hash: str, pdf: str) -> np.ndarray:
    page = convert_from_path(pdf, size=(1260, 1782), first_page=1, last_page=1)[0]
    image = cv2.cvtColor(np.asarray(page.convert("RGB")), cv2.COLOR_RGB2BGR)
    assert image.shape[:2] == (1782, 1260), image.shape
    return image


def reference_image(ws: Workspace) -> np.ndarray:
    """The blank straightened ballot of ``ws`` as a BGR array (rows 1782, cols 1260)."""
    digest = hashlib.sha256(ws.reference_pdf.read_bytes()).hexdigest()
    return _reference_image(digest, str(ws.reference_pdf)).copy()


def _px(v: float) -> int:
    return int(round(v * CANONICAL_PX_PER_MM))


def draw_x(image: np.ndarray, rect: tuple[float, float, float, float], *, colour=INK, thickness: int = 3) -> None:
    """Draw an X inside a box given in mm (x, y, w, h)."""
    x, y, w, h = rect
    x0, y0, x1, y1 = _px(x + 1), _px(y + 1), _px(x + w - 1), _px(y + h - 1)
    cv2.line(image, (x0, y0), (x1, y1), colour, thickness, cv2.LINE_AA)
    cv2.line(image, (x0, y1), (x1, y0), colour, thickness, cv2.LINE_AA)


# truth per page: person -> "high" | "medium" | "low" | "none" | "multiple"
def _truth(seed: int, persons: int) -> dict[int, str]:
    return {p: LEVELS[(p * 7 + seed) % 3] for p in range(1, persons + 1)}


def build_review_batch(ws: Workspace) -> Batch:
    """Record six scanned pages in ``ws`` with a known truth; see the module docstring.

    Pages (source ``scan.pdf``):

    0. token A, every line clear (nothing to review);
    1. token B, line 3 marginal (truly high), line 5 two boxes (truly multiple),
       line 7 faint (machine: none; truly low, an override that needs a note);
    2. token C, flagged for extra writing, which is only a signature (valid, with a note);
    3. token B again: a duplicate scan (duplicate_copy);
    4. an unreadable page (no markers, not straightened): not a ballot;
    5. token D, line 2's printed name crossed out (name_crossed), marked high.
    """
    layout = load_layout(ws.layout_json)
    rows_layout = {r.person: r for r in layout.page(1).rows}
    persons = len(rows_layout)
    conn = db.connect(ws.db_path)
    tokens = sorted(db.issued_tokens(conn))
    assert len(tokens) >= 4
    ws.images_dir.mkdir(exist_ok=True)
    file_sha = "ab" * 32
    conn.execute("INSERT OR IGNORE INTO files(sha256, path, size, pages) VALUES(?, 'scan.pdf', 1000, 6)", (file_sha,))
    page_ids: dict[str, int] = {}
    truths: dict[str, dict[int, str]] = {}

    def add_page(
        name: str,
        index: int,
        *,
        token: str | None,
        truth: dict[int, str] | None,
        machine: dict[int, tuple[str, str | None, tuple[str, ...], dict[str, str]]] | None = None,
        reasons: tuple[str, ...] = (),
        kind: str = "ballot",
        draw: list | None = None,
    ) -> None:
        image = reference_image(ws)
        straightened = truth is not None
        if truth is not None:
            for person, word in truth.items():
                marked = [word] if word in LEVELS else (["high", "low"] if word == "multiple" else [])
                faint = machine is not None and person in machine and "faint" in machine[person][2]
                for level in marked:
                    draw_x(image, rows_layout[person].boxes_mm[level],
                           colour=(190, 190, 190) if faint else INK, thickness=2 if faint else 3)
        for fn in draw or []:
            fn(image)
        if not straightened:
            image = cv2.resize(cv2.rotate(image, cv2.ROTATE_180), (630, 891))
            image = cv2.GaussianBlur(image, (9, 9), 4)
        rel = f"images/{name}.jpg"
        cv2.imwrite(str(ws.root / rel), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        status = "review" if (reasons or kind != "ballot" or any(m[2] for m in (machine or {}).values())) else "auto"
        cur = conn.execute(
            "INSERT INTO pages(file_sha256, page_index, source, kind, status, token, layout_page, reasons, detail,"
            " transform, image) VALUES(?, ?, 'scan.pdf', ?, ?, ?, ?, ?, ?, ?, ?)",
            (file_sha, index, kind, status, token, 1 if straightened else None, json.dumps(list(reasons)),
             "" if straightened else "Không tìm thấy dấu định vị / markers not found",
             json.dumps([[1, 0, 0], [0, 1, 0], [0, 0, 1]]) if straightened else None, rel),
        )
        page_id = int(cur.lastrowid or 0)
        page_ids[name] = page_id
        if truth is None:
            return
        truths[name] = truth
        for person, word in truth.items():
            if machine and person in machine:
                marks, choice, row_reasons, states = machine[person]
            else:
                marks = "one" if word in LEVELS else word
                choice = word if word in LEVELS else None
                row_reasons = ()
                states = {lv: ("marked" if lv == word else "empty") for lv in LEVELS}
            conn.execute(
                "INSERT INTO rows(page_id, person, marks, choice, reasons) VALUES(?, ?, ?, ?, ?)",
                (page_id, person, marks, choice, json.dumps(list(row_reasons))),
            )
            for level in LEVELS:
                state = states.get(level, "empty")
                conn.execute(
                    "INSERT INTO boxes(page_id, person, level, score, faint, state, dx_mm, dy_mm)"
                    " VALUES(?, ?, ?, ?, ?, ?, 0.2, -0.1)",
                    (page_id, person, level, LEVEL_SCORE[state], LEVEL_SCORE[state] + 0.02, state),
                )

    # 0: clear
    add_page("p0", 0, token=tokens[0], truth=_truth(0, persons))
    # 1: three doubtful lines
    t1 = _truth(1, persons)
    t1[3], t1[5], t1[7] = "high", "multiple", "low"
    add_page("p1", 1, token=tokens[1], truth=t1, machine={
        3: ("one", "high", ("marginal",), {"high": "marginal"}),
        5: ("multiple", None, ("multiple",), {"high": "marked", "low": "marked"}),
        7: ("none", None, ("faint",), {"low": "empty"}),
    })
    # 2: a signature flagged as extra writing
    free = layout.page(1).free_mm[-1]

    def signature(image: np.ndarray) -> None:
        x, y = _px(free[0] + 10), _px(free[1] + 25)
        pts = np.array([[x + i * 6, y + int(12 * np.sin(i / 2.0))] for i in range(40)], np.int32)
        cv2.polylines(image, [pts], False, INK, 3, cv2.LINE_AA)

    add_page("p2", 2, token=tokens[2], truth=_truth(2, persons), reasons=("writing",), draw=[signature])
    # 3: the same ballot as page 1 scanned again
    add_page("p3", 3, token=tokens[1], truth=t1, reasons=("duplicate",), machine={
        3: ("one", "high", ("marginal",), {"high": "marginal"}),
        5: ("multiple", None, ("multiple",), {"high": "marked", "low": "marked"}),
        7: ("none", None, ("faint",), {"low": "empty"}),
    })
    # 4: unreadable
    add_page("p4", 4, token=None, truth=None, kind="unreadable", reasons=("no_markers",))
    # 5: a crossed-out name
    t5 = _truth(5, persons)
    t5[2] = "high"
    name_rect = rows_layout[2].name_mm

    def cross(image: np.ndarray) -> None:
        x, y, w, h = name_rect
        cv2.line(image, (_px(x), _px(y + h / 2)), (_px(x + w - 8), _px(y + h / 2 - 1)), INK, 3, cv2.LINE_AA)

    add_page("p5", 5, token=tokens[3], truth=t5, draw=[cross], machine={
        2: ("one", "high", ("name_crossed",), {"high": "marked"}),
    })
    conn.close()

    ids = page_ids
    answers = {
        f"p{ids['p1']}-r3": Answer("high"),
        f"p{ids['p1']}-r5": Answer("multiple"),
        f"p{ids['p1']}-r7": Answer("low", note="dấu mờ, đọc là thấp"),
        f"p{ids['p2']}-b": Answer("valid", note="chỉ là chữ ký"),
        f"p{ids['p3']}-b": Answer("duplicate_copy"),
        f"p{ids['p4']}-b": Answer("not_a_ballot"),
        f"p{ids['p5']}-r2": Answer("high"),
    }
    extra = {f"p{ids['p5']}-r2": (Answer("name_crossed", persons=(2,)),)}
    # the truth tally: pages 0, 1, 2, 5 are collected ballots
    expected: dict[int, dict[str, int]] = {
        p: {"collected": 0, "valid": 0, "invalid": 0, "pending": 0, "high": 0, "medium": 0, "low": 0}
        for p in range(1, persons + 1)
    }
    for name in ("p0", "p1", "p2", "p5"):
        for person, word in truths[name].items():
            c = expected[person]
            c["collected"] += 1
            if word in LEVELS and not (name == "p5" and person == 2):
                c["valid"] += 1
                c[word] += 1
            else:
                c["invalid"] += 1
    return Batch(ws=ws, page_ids=page_ids, answers=answers, extra=extra, expected=expected)


def streak_on(ws: Workspace, pages: int) -> None:
    """A scanner streak through person 4's line on the first ``pages`` straightened ballots of a batch
    (:func:`build_review_batch`): the row's reason, and the page waiting for review."""
    conn = db.connect(ws.db_path)
    ids = [int(r["id"]) for r in conn.execute(
        "SELECT id FROM pages WHERE kind = 'ballot' AND layout_page IS NOT NULL ORDER BY id LIMIT ?", (pages,))]
    assert len(ids) == pages
    with conn:
        for page_id in ids:
            conn.execute("UPDATE rows SET reasons = ? WHERE page_id = ? AND person = 4", (json.dumps(["streak"]), page_id))
            conn.execute("UPDATE pages SET status = 'review' WHERE id = ?", (page_id,))
    conn.close()
