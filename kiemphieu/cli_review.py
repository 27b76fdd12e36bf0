"""Commands: review, audit."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kiemphieu.i18n import tr


def _handled(func: Callable[..., Any]) -> Callable[..., Any]:
    """Apply :func:`kiemphieu.cli.handle_errors` lazily (the CLI module imports this one)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from kiemphieu.cli import handle_errors

        return handle_errors(func)(*args, **kwargs)

    return wrapper


def _display_available() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@click.command()
@click.argument("workspace", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Only loopback is safe; anything else shows the page to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="Port (0: a free port).")
@click.option("--no-browser", is_flag=True, help="Do not open a web browser.")
@click.option("--reviewer", default="", help="Reviewer name offered in the page.")
@_handled
def review(workspace: Path, host: str, port: int, no_browser: bool, reviewer: str) -> None:
    """Review doubtful ballots in the browser (local web page, Ctrl-C to stop)."""
    from kiemphieu.review.server import ReviewServer, is_loopback
    from kiemphieu.session import open_workspace

    ws = open_workspace(workspace)
    if not is_loopback(host):
        click.echo(tr(
            f"CẢNH BÁO: trang xem xét mở cho mạng ({host}). Ảnh phiếu và kết quả có thể bị người khác xem; "
            "chỉ dùng trên mạng tin cậy.",
            f"WARNING: the review page is open to the network ({host}). Ballot images and results may be seen "
            "by others; use only on a trusted network.",
        ), err=True)
    server = ReviewServer(ws, host=host, port=port, reviewer=reviewer)
    click.echo(tr("Trang xem xét phiếu đang chạy. Mở địa chỉ sau trong trình duyệt:",
                  "The review page is running. Open this address in a browser:"))
    click.echo(f"  {server.url}")
    click.echo(tr("Địa chỉ có mã truy cập dùng một lần; đừng chia sẻ. Nhấn Ctrl-C để dừng.",
                  "The address carries a one-time access token; do not share it. Press Ctrl-C to stop."))
    sys.stdout.flush()
    if not no_browser and _display_available():
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo(tr("Đã dừng trang xem xét.", "Review page stopped."))
    finally:
        server.stop()


@click.command()
@click.argument("workspace", type=click.Path(file_okay=False, exists=True, path_type=Path))
@_handled
def audit(workspace: Path) -> None:
    """Verify the review audit log (hash chain and every decision)."""
    from kiemphieu import db
    from kiemphieu.review.audit import verify_audit
    from kiemphieu.session import open_workspace

    ws = open_workspace(workspace)
    conn = db.connect(ws.db_path)
    try:
        report = verify_audit(conn)
    finally:
        conn.close()
    click.echo(tr(
        f"Nhật ký kiểm tra hợp lệ: {report.entries} mục. Mã cuối chuỗi (ghi vào biên bản): {report.head}",
        f"Audit log OK: {report.entries} entries. Chain head (write it in the minutes): {report.head}",
    ))


COMMANDS: list[click.Command] = [review, audit]
