"""The local review web server (standard library only).

Security model
--------------
* Bound to 127.0.0.1 by default; the ``Host`` header must then name a loopback
  address with the server's port (no DNS rebinding).
* The printed URL carries a random one-time access token. The first request
  with it receives an HttpOnly, SameSite=Strict session cookie and is redirected
  to a clean URL; every request without the cookie (or the token) gets 403.
* State-changing requests are POST with a JSON body, an ``X-CSRF-Token`` header
  equal to a per-server secret delivered in the page, and an ``Origin`` (when
  the browser sends one) equal to the server's own.
* Images are served by page id only, from files inside the workspace.
* The page loads nothing from the network (a strict Content-Security-Policy).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import secrets
import threading
from dataclasses import asdict
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kiemphieu import db
from kiemphieu.errors import KiemphieuError
from kiemphieu.i18n import get_lang
from kiemphieu.layout import Layout, load_layout
from kiemphieu.review.decisions import Clock, record_decision, row_after, undo_decision, utc_now
from kiemphieu.review.queue import review_state
from kiemphieu.session import Workspace, open_workspace

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
COOKIE = "kp_review"
MAX_BODY = 64 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
IMAGE_PATH = re.compile(r"^/api/pages/(\d{1,12})/image$")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    review: ReviewServer


class ReviewServer:
    """The review page and its JSON API for one workspace.

    Parameters
    ----------
    ws
        The workspace (its ``session.toml`` and database must exist).
    host, port
        Where to listen; port 0 picks a free port.
    reviewer
        A reviewer name offered in the page (it may still be changed there).
    clock
        Returns the current time, for the decision timestamps (tests inject one).
    """

    def __init__(
        self,
        ws: Workspace,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reviewer: str = "",
        clock: Clock = utc_now,
    ) -> None:
        self.ws = open_workspace(ws.root)
        self.session = self.ws.load_session()
        self.layout: Layout | None = load_layout(self.ws.layout_json) if self.ws.layout_json.exists() else None
        db.connect(self.ws.db_path).close()
        self.reviewer = reviewer
        self.clock = clock
        self.token = secrets.token_urlsafe(24)
        self.csrf = secrets.token_urlsafe(32)
        self._cookie = secrets.token_urlsafe(32)
        self._write_lock = threading.Lock()
        self._httpd = _HttpServer((host, port), _Handler)
        self._httpd.review = self
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread: threading.Thread | None = None

    # -- addresses ---------------------------------------------------------
    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def base(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The address to open, with the one-time access token."""
        return f"{self.base}/?token={self.token}"

    def allowed_host(self, header: str | None) -> bool:
        if not header:
            return False
        if not self.loopback:
            return True  # widened on purpose; the token still guards every request
        name, _, port = header.rpartition(":")
        return port == str(self.port) and is_loopback(name)

    def allowed_origin(self, origin: str) -> bool:
        parts = urlsplit(origin)
        return parts.scheme == "http" and self.allowed_host(parts.netloc)

    def has_token(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(str(value), self.token)

    def has_cookie(self, header: str | None) -> bool:
        if not header:
            return False
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except Exception:
            return False
        morsel = jar.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value, self._cookie)

    @property
    def cookie_header(self) -> str:
        return f"{COOKIE}={self._cookie}; HttpOnly; SameSite=Strict; Path=/"

    # -- life cycle --------------------------------------------------------
    def start(self) -> ReviewServer:
        """Serve in a background thread (for tests); returns self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="kiemphieu-review", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API -----------------------------------------------------------
    def state(self) -> dict[str, Any]:
        conn = db.connect(self.ws.db_path)
        try:
            return asdict(review_state(conn, self.session, self.layout))
        finally:
            conn.close()

    def decide(self, body: dict[str, Any]) -> dict[str, Any]:
        page_id = _int(body.get("page_id"), "page_id")
        person = None if body.get("person") is None else _int(body.get("person"), "person")
        if person is not None:
            after = row_after(str(body.get("reading")))
        else:
            after = {"verdict": str(body.get("verdict"))}
            if body.get("persons") is not None:
                after["persons"] = sorted({_int(p, "persons") for p in body.get("persons") or []})
        with self._write_lock:
            conn = db.connect(self.ws.db_path)
            try:
                recorded = record_decision(
                    conn, page_id=page_id, person=person, reviewer=str(body.get("reviewer") or ""),
                    after=after, note=str(body.get("note") or ""),
                    two_person=self.session.two_person_review, clock=self.clock,
                )
            finally:
                conn.close()
        return {"decision": asdict(recorded), "state": self.state()}

    def undo(self, body: dict[str, Any]) -> dict[str, Any]:
        target = body.get("decision_id")
        with self._write_lock:
            conn = db.connect(self.ws.db_path)
            try:
                recorded = undo_decision(
                    conn, reviewer=str(body.get("reviewer") or ""),
                    decision_id=None if target is None else _int(target, "decision_id"),
                    note=str(body.get("note") or ""), clock=self.clock,
                )
            finally:
                conn.close()
        return {"decision": asdict(recorded), "state": self.state()}

    def image_path(self, page_id: int) -> Path | None:
        conn = db.connect(self.ws.db_path)
        try:
            row = conn.execute("SELECT image FROM pages WHERE id = ?", (page_id,)).fetchone()
        finally:
            conn.close()
        if row is None or not row["image"]:
            return None
        root = self.ws.root.resolve()
        path = (root / str(row["image"])).resolve()
        if not path.is_relative_to(root) or path.suffix.lower() not in IMAGE_TYPES or not path.is_file():
            return None
        return path

    def index_html(self) -> bytes:
        text = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        text = text.replace("{{CSRF}}", self.csrf).replace("{{LANG}}", get_lang())
        return text.replace("{{REVIEWER}}", _attr(self.reviewer)).encode("utf-8")


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _int(value: object, name: str) -> int:
    from kiemphieu.errors import InputError

    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"Trường '{name}' phải là số nguyên.", f"Field '{name}' must be an integer.")
    return value


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "kiemphieu-review"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # requests carry the access token: never write them to a log

    # -- responses -----------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Security-Policy", CSP)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: object) -> None:
        self._send(status, json.dumps(doc, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, vi: str, en: str, reason: str = "error") -> None:
        self._json(status, {"error": {"vi": vi, "en": en, "reason": reason}})

    def _forbidden(self) -> None:
        self._error(
            HTTPStatus.FORBIDDEN,
            "Không có quyền truy cập. Hãy mở đúng địa chỉ (có mã truy cập) mà lệnh 'kiemphieu review' đã in ra.",
            "Access denied. Open the exact address (with its access token) printed by 'kiemphieu review'.",
            "forbidden",
        )

    # -- access --------------------------------------------------------------
    def _authorised(self, query: dict[str, list[str]]) -> bool:
        review = self.server.review
        if not review.allowed_host(self.headers.get("Host")):
            return False
        return review.has_cookie(self.headers.get("Cookie")) or review.has_token(
            (query.get("token") or [""])[0]
        )

    # -- GET -----------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        review = self.server.review
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if not self._authorised(query):
            self._forbidden()
            return
        path = parts.path
        try:
            if path == "/" and review.has_token((query.get("token") or [""])[0]):
                # swap the token in the address for a cookie, and drop it from the address bar
                self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "/", "Set-Cookie": review.cookie_header})
            elif path == "/":
                self._send(HTTPStatus.OK, review.index_html(), "text/html; charset=utf-8")
            elif path.startswith("/static/") and path[len("/static/"):] in STATIC_FILES:
                name = path[len("/static/"):]
                self._send(HTTPStatus.OK, (STATIC_DIR / name).read_bytes(), STATIC_FILES[name])
            elif path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
            elif path == "/api/state":
                self._json(HTTPStatus.OK, review.state())
            elif (match := IMAGE_PATH.match(path)) is not None:
                image = review.image_path(int(match.group(1)))
                if image is None:
                    self._error(HTTPStatus.NOT_FOUND, "Trang này không có ảnh.", "This page has no image.", "no_image")
                else:
                    self._send(HTTPStatus.OK, image.read_bytes(), IMAGE_TYPES[image.suffix.lower()])
            else:
                self._error(HTTPStatus.NOT_FOUND, "Không có trang này.", "Not found.", "not_found")
        except KiemphieuError as exc:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, exc.vi, exc.en, exc.reason)

    do_HEAD = do_GET

    # -- POST ----------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802
        review = self.server.review
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Yêu cầu quá lớn.", "Request too large.", "too_large")
            return
        raw = self.rfile.read(length) if length > 0 else b""
        if not self._authorised(parse_qs(parts.query)):
            self._forbidden()
            return
        origin = self.headers.get("Origin")
        csrf = self.headers.get("X-CSRF-Token") or ""
        if (origin is not None and not review.allowed_origin(origin)) or not hmac.compare_digest(csrf, review.csrf):
            self._error(
                HTTPStatus.FORBIDDEN, "Yêu cầu bị từ chối (kiểm tra CSRF).", "Request refused (CSRF check).", "csrf"
            )
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            self._error(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Cần dữ liệu JSON.", "A JSON body is required.", "content_type"
            )
            return
        try:
            body = json.loads(raw.decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._error(HTTPStatus.BAD_REQUEST, "Dữ liệu JSON hỏng.", "Malformed JSON.", "bad_json")
            return
        if not isinstance(body, dict):
            self._error(HTTPStatus.BAD_REQUEST, "Dữ liệu JSON hỏng.", "Malformed JSON.", "bad_json")
            return
        try:
            if parts.path == "/api/decisions":
                self._json(HTTPStatus.OK, review.decide(body))
            elif parts.path == "/api/undo":
                self._json(HTTPStatus.OK, review.undo(body))
            else:
                self._error(HTTPStatus.NOT_FOUND, "Không có trang này.", "Not found.", "not_found")
        except KiemphieuError as exc:
            self._error(HTTPStatus.BAD_REQUEST, exc.vi, exc.en, exc.reason)
