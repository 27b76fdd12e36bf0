"""The review API over real HTTP: every decision path, the two-person rule, safety."""

from __future__ import annotations

import http.client
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import make_workspace
from review_fixtures import Batch, build_review_batch, streak_on

from kiemphieu import db
from kiemphieu.readings import load_readings
from kiemphieu.review.server import ReviewServer

CLOCK = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.fixture
def batch(tmp_path: Path) -> Batch:
    return build_review_batch(make_workspace(tmp_path / "ws", copies=4))


@pytest.fixture
def server(batch: Batch):
    srv = ReviewServer(batch.ws, clock=lambda: CLOCK).start()
    yield srv
    srv.stop()


class Client:
    """A tiny HTTP client that behaves like the page (cookie, CSRF header, Origin)."""

    def __init__(self, srv: ReviewServer) -> None:
        self.srv = srv
        self.cookie = ""

    def request(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        sent = {"Host": f"127.0.0.1:{self.srv.port}"}
        if self.cookie:
            sent["Cookie"] = self.cookie
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent.update({"Content-Type": "application/json", "X-CSRF-Token": self.srv.csrf,
                         "Origin": f"http://127.0.0.1:{self.srv.port}"})
        sent.update(headers or {})
        conn.request(method, path, body=data, headers={k: v for k, v in sent.items() if v is not None})
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        return response, payload

    def login(self) -> None:
        response, _ = self.request("GET", f"/?token={self.srv.token}")
        assert response.status == 303
        set_cookie = response.getheader("Set-Cookie")
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
        self.cookie = set_cookie.split(";")[0]

    def state(self) -> dict:
        response, payload = self.request("GET", "/api/state")
        assert response.status == 200, payload
        return json.loads(payload)

    def post(self, path: str, body: dict, expect: int = 200) -> dict:
        response, payload = self.request("POST", path, body)
        assert response.status == expect, payload.decode()
        return json.loads(payload)


@pytest.fixture
def client(server: ReviewServer) -> Client:
    c = Client(server)
    c.login()
    return c


def decide(client: Client, batch: Batch, key: str, value: str, *, reviewer: str = "Lan", note: str = "",
           persons: tuple[int, ...] = (), expect: int = 200) -> dict:
    page_id, _, rest = key[1:].partition("-")
    person = None if rest == "b" else int(rest[1:])
    body: dict = {"reviewer": reviewer, "page_id": int(page_id), "person": person, "note": note}
    if person is not None and value != "name_crossed":
        body["reading"] = value
    else:
        body.update(person=None, verdict=value)
        if persons:
            body["persons"] = list(persons)
    return client.post("/api/decisions", body, expect)


def item(state: dict, key: str) -> dict:
    return next(i for i in state["items"] if i["key"] == key)


def test_queue_lists_every_doubt(client: Client, batch: Batch) -> None:
    state = client.state()
    ids = batch.page_ids
    keys = {i["key"] for i in state["items"]}
    assert set(batch.answers) <= keys
    assert f"p{ids['p0']}-b" not in keys and not any(k.startswith(f"p{ids['p0']}-") for k in keys)
    assert (state["done"], state["total"]) == (0, len(keys))
    assert state["final"] is False
    unreadable = item(state, f"p{ids['p4']}-b")
    assert unreadable["options"] == ["not_a_ballot", "not_issued"]  # valid is not offered: nothing was read
    assert item(state, f"p{ids['p3']}-b")["options"][:2] == ["duplicate_copy", "valid"]
    row = item(state, f"p{ids['p1']}-r7")
    assert row["machine"] == "none" and row["reasons"][0]["code"] == "faint"
    assert row["reasons"][0]["vi"] == "Dấu mờ"
    page = next(p for p in state["pages"] if p["page_id"] == ids["p1"])
    box = next(b for b in page["boxes"] if b["person"] == 3 and b["level"] == "high")
    assert box["state"] == "marginal" and box["score"] == pytest.approx(0.11)
    assert box["rect"] == pytest.approx([(141.0 + 0.2) * 6, (96.5 - 0.1) * 6, 48, 42])  # mm * 6, shifted
    raw = next(p for p in state["pages"] if p["page_id"] == ids["p4"])
    assert raw["straightened"] is False and raw["boxes"] == []
    assert state["tally"]["provisional"] is True


@pytest.mark.parametrize("reading", ["high", "medium", "low", "none", "multiple"])
def test_every_row_reading(client: Client, batch: Batch, reading: str) -> None:
    key = f"p{batch.page_ids['p1']}-r3"  # machine: high (marginal)
    note = "" if reading == "high" else "xem kỹ"
    doc = decide(client, batch, key, reading, note=note)
    recorded = doc["decision"]
    assert recorded["before"] == {"marks": "one", "choice": "high"}
    assert recorded["reviewer"] == "Lan" and recorded["decided_at"] == "2026-11-22T09:30:00+00:00"
    it = item(doc["state"], key)
    assert it["done"] and it["standing"] == reading
    conn = db.connect(batch.ws.db_path)
    row = next(r for p in load_readings(conn) if p.page_id == batch.page_ids["p1"] for r in p.rows if r.person == 3)
    machine = conn.execute("SELECT marks, choice FROM rows WHERE page_id = ? AND person = 3",
                           (batch.page_ids["p1"],)).fetchone()
    conn.close()
    assert (row.machine_marks, row.machine_choice) == ("one", "high")
    assert tuple(machine) == ("one", "high")  # the machine's reading is never overwritten
    assert row.choice == (reading if reading in ("high", "medium", "low") else None)


def test_override_without_note_is_refused_and_writes_nothing(client: Client, batch: Batch) -> None:
    key = f"p{batch.page_ids['p1']}-r7"  # machine: none; truly low
    doc = decide(client, batch, key, "low", expect=400)
    assert "ghi chú" in doc["error"]["vi"] and "note" in doc["error"]["en"]
    doc = decide(client, batch, key, "low", note="   ", expect=400)
    conn = db.connect(batch.ws.db_path)
    assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0
    conn.close()
    doc = decide(client, batch, key, "low", note="dấu mờ")
    assert doc["decision"]["note"] == "dấu mờ"
    decide(client, batch, key, "none")  # agreeing with the machine needs no note


def test_ballot_verdicts(client: Client, batch: Batch) -> None:
    ids = batch.page_ids
    # extra writing flagged: confirming needs no note, clearing it needs one
    decide(client, batch, f"p{ids['p2']}-b", "valid", expect=400)
    doc = decide(client, batch, f"p{ids['p2']}-b", "extra_writing")
    assert doc["decision"]["before"] == {"kind": "ballot", "reasons": ["writing"]}
    doc = decide(client, batch, f"p{ids['p2']}-b", "valid", note="chỉ là chữ ký")
    assert doc["decision"]["before"] == {"verdict": "extra_writing"}  # the previous standing decision
    # a verdict the page does not offer
    decide(client, batch, f"p{ids['p4']}-b", "valid", note="x", expect=400)
    decide(client, batch, f"p{ids['p4']}-b", "bogus", note="x", expect=400)
    doc = decide(client, batch, f"p{ids['p4']}-b", "not_issued", note="phiếu giả")
    assert item(doc["state"], f"p{ids['p4']}-b")["standing"] == "not_issued"
    decide(client, batch, f"p{ids['p4']}-b", "not_a_ballot")
    # a duplicate: either copy may be the one counted
    doc = decide(client, batch, f"p{ids['p3']}-b", "duplicate_copy")
    state = doc["state"]
    assert all(item(state, f"p{ids['p3']}-r{n}")["done"] for n in (3, 5, 7))  # moot once left out
    # a crossed-out name: ballot decision naming the person, plus the line's reading
    decide(client, batch, f"p{ids['p5']}-r2", "name_crossed", persons=(99,), expect=400)
    decide(client, batch, f"p{ids['p5']}-r2", "name_crossed", persons=(), expect=400)
    doc = decide(client, batch, f"p{ids['p5']}-r2", "name_crossed", persons=(2,))
    assert item(doc["state"], f"p{ids['p5']}-r2")["crossed"] is True
    decide(client, batch, f"p{ids['p5']}-b", "name_crossed", persons=(2, 4), expect=400)  # 4 not flagged
    doc = decide(client, batch, f"p{ids['p5']}-r2", "high")
    tally = {r["stt"]: r for r in doc["state"]["tally"]["rows"]}
    assert tally[2]["invalid"] >= 1


def test_bad_requests_are_refused_clearly(client: Client, batch: Batch) -> None:
    key = f"p{batch.page_ids['p1']}-r3"
    decide(client, batch, key, "high", reviewer="  ", expect=400)
    decide(client, batch, key, "maybe", expect=400)
    doc = client.post("/api/decisions", {"reviewer": "Lan", "page_id": 9999, "person": 1, "reading": "high"}, 400)
    assert "9999" in doc["error"]["vi"]
    client.post("/api/decisions", {"reviewer": "Lan", "page_id": "1", "person": 1, "reading": "high"}, 400)
    client.post("/api/decisions", {"reviewer": "Lan", "page_id": batch.page_ids["p1"], "person": 42,
                                   "reading": "high"}, 400)
    response, _ = client.request("POST", "/api/decisions", None,
                                 {"Content-Type": "application/json", "X-CSRF-Token": client.srv.csrf})
    assert response.status == 400  # an empty body names no page
    response, _ = client.request("POST", "/api/nothing", {"a": 1})
    assert response.status == 404


def test_undo(client: Client, batch: Batch) -> None:
    key = f"p{batch.page_ids['p1']}-r3"
    first = decide(client, batch, key, "high")["decision"]
    second = decide(client, batch, key, "medium", note="nhìn lại")["decision"]
    doc = client.post("/api/undo", {"reviewer": "Lan"})
    assert doc["decision"]["undoes"] == second["id"]
    assert item(doc["state"], key)["standing"] == "high"
    doc = client.post("/api/undo", {"reviewer": "Lan"})
    assert doc["decision"]["undoes"] == first["id"]
    it = item(doc["state"], key)
    assert it["done"] is False and it["standing"] is None
    client.post("/api/undo", {"reviewer": "Lan"}, 400)  # nothing left to undo
    third = decide(client, batch, key, "high")["decision"]
    client.post("/api/undo", {"reviewer": "Bình", "decision_id": third["id"]}, 400)  # not Bình's
    client.post("/api/undo", {"reviewer": "Lan", "decision_id": first["id"]}, 400)  # already undone
    conn = db.connect(batch.ws.db_path)
    assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 5  # nothing deleted
    conn.close()


def test_two_person_rule(batch: Batch) -> None:
    ws = batch.ws
    ws.save_session(replace(ws.load_session(), two_person_review=True))
    with ReviewServer(ws, clock=lambda: CLOCK) as srv:
        client = Client(srv)
        client.login()
        ids = batch.page_ids
        k1, k2 = f"p{ids['p1']}-r3", f"p{ids['p1']}-r5"
        state = decide(client, batch, k1, "high", reviewer="Lan")["state"]
        assert state["two_person"] and item(state, k1)["done"] is False  # one reviewer is not enough
        decide(client, batch, k1, "high", reviewer="Lan")  # the same reviewer twice is still one
        state = client.state()
        assert item(state, k1)["done"] is False
        state = decide(client, batch, k1, "high", reviewer="Bình")["state"]
        assert item(state, k1)["done"] is True and item(state, k1)["standing"] == "high"
        # a disagreement is listed, and nothing stands
        decide(client, batch, k2, "multiple", reviewer="Lan")
        state = decide(client, batch, k2, "low", reviewer="Bình", note="một ô là vết bẩn")["state"]
        assert state["disagreements"] == [k2]
        it = item(state, k2)
        assert it["done"] is False and it["disagreement"] is True
        assert {(o["reviewer"], o["reading"]) for o in it["opinions"]} == {("Lan", "multiple"), ("Bình", "low")}
        # Bình changes her mind: they agree, the item stands
        state = decide(client, batch, k2, "multiple", reviewer="Bình")["state"]
        assert state["disagreements"] == [] and item(state, k2)["standing"] == "multiple"


def test_final_when_nothing_is_pending(client: Client, batch: Batch) -> None:
    for key, answers in batch.extra.items():
        for a in answers:
            decide(client, batch, key, a.reading, note=a.note, persons=a.persons)
    state = None
    for key, a in batch.answers.items():
        assert client.state()["final"] is False
        state = decide(client, batch, key, a.reading, note=a.note, persons=a.persons)["state"]
    assert state is not None and state["final"] is True and state["done"] == state["total"]
    assert state["tally"]["provisional"] is False
    got = {r["stt"]: {k: r[k] for k in batch.expected[r["stt"]]} for r in state["tally"]["rows"]}
    assert got == batch.expected


# -- safety ------------------------------------------------------------------------


def test_every_request_needs_the_token_or_cookie(server: ReviewServer) -> None:
    anonymous = Client(server)
    for path in ("/", "/api/state", "/static/app.js", "/api/pages/1/image", "/?token=wrong"):
        response, payload = anonymous.request("GET", path)
        assert response.status == 403, path
        assert "kiemphieu review" in json.loads(payload)["error"]["vi"]
    anonymous.cookie = "kp_review=forged"
    assert anonymous.request("GET", "/api/state")[0].status == 403
    assert anonymous.request("POST", "/api/decisions", {"reviewer": "x"})[0].status == 403


def test_page_carries_csrf_and_strict_headers(client: Client) -> None:
    response, payload = client.request("GET", "/")
    assert response.status == 200
    html = payload.decode()
    assert client.srv.csrf in html and "Xem xét" in html
    csp = response.getheader("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert response.getheader("Cache-Control") == "no-store"
    assert "http" not in html.replace("http-equiv", "").replace("http://www.w3.org", "")  # nothing from the web


def test_csrf_origin_and_host_checks(client: Client, batch: Batch) -> None:
    body = {"reviewer": "Lan", "page_id": batch.page_ids["p1"], "person": 3, "reading": "high"}
    assert client.request("POST", "/api/decisions", body, {"X-CSRF-Token": "nope"})[0].status == 403
    assert client.request("POST", "/api/decisions", body, {"X-CSRF-Token": None})[0].status == 403
    assert client.request("POST", "/api/decisions", body, {"Origin": "http://evil.example"})[0].status == 403
    assert client.request("POST", "/api/decisions", body, {"Host": "evil.example"})[0].status == 403
    assert client.request("GET", "/api/state", None, {"Host": f"rebind.example:{client.srv.port}"})[0].status == 403
    assert client.request("POST", "/api/decisions", body, {"Content-Type": "text/plain"})[0].status == 415
    response, _ = client.request("POST", "/api/decisions", None, {
        "Content-Type": "application/json", "X-CSRF-Token": client.srv.csrf, "Content-Length": str(10**6)})
    assert response.status == 413
    conn = db.connect(batch.ws.db_path)
    assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0
    conn.close()
    assert client.request("POST", "/api/decisions", body)[0].status == 200


def test_images_by_page_id_only(client: Client, batch: Batch, tmp_path: Path) -> None:
    ids = batch.page_ids
    response, payload = client.request("GET", f"/api/pages/{ids['p1']}/image")
    assert response.status == 200 and response.getheader("Content-Type") == "image/jpeg"
    assert payload[:2] == b"\xff\xd8"
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8 not for the page")
    conn = db.connect(batch.ws.db_path)
    conn.execute("UPDATE pages SET image = ? WHERE id = ?", ("../secret.jpg", ids["p2"]))
    conn.execute("UPDATE pages SET image = ? WHERE id = ?", (str(secret), ids["p3"]))
    conn.execute("UPDATE pages SET image = ? WHERE id = ?", ("session.toml", ids["p5"]))
    conn.close()
    for name in ("p2", "p3", "p5"):
        assert client.request("GET", f"/api/pages/{ids[name]}/image")[0].status == 404
    for path in ("/api/pages/9999/image", "/api/pages/../../etc/passwd/image", "/static/../server.py",
                 "/static/index.html", "/../session.toml"):
        assert client.request("GET", path)[0].status == 404, path


def test_cli_review_prints_a_tokened_loopback_address(batch: Batch) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "kiemphieu.cli", "review", str(batch.ws.root), "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "KIEMPHIEU_LANG": "vi"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = proc.stdout.readline().strip()
        assert "Trang xem xét phiếu đang chạy" in first
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        port = int(url.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/state")
        assert conn.getresponse().status == 403
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", url.split(str(port), 1)[1])
        response = conn.getresponse()
        assert response.status == 303 and "HttpOnly" in response.getheader("Set-Cookie")
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_cause_at_the_scanner_on_many_pages_is_named_once_with_what_to_do(client: Client, batch: Batch) -> None:
    """Dust on the scanner's glass draws a streak down the same column on every page: the review page says so
    once, with what to do (clean the glass, scan those pages again), as the scan's summary does, from three
    pages on; on two it is left to each page's reason."""
    assert client.state()["causes"] == []
    streak_on(batch.ws, 2)
    assert client.state()["causes"] == []
    streak_on(batch.ws, 3)
    causes = client.state()["causes"]
    assert [(c["code"], c["pages"]) for c in causes] == [("streak", 3)]
    assert "lau kính" in causes[0]["vi"] and "Clean the glass" in causes[0]["en"]
