"""Commands: scan (read a scanner's output folder into the workspace)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kiemphieu.errors import ExitCode
from kiemphieu.i18n import tr

COMMANDS: list[click.Command] = []


def _handled(func: Callable[..., Any]) -> Callable[..., Any]:
    from kiemphieu.cli import handle_errors

    return handle_errors(func)


def reason_text(code: str) -> str:
    from kiemphieu.readings import REASON_TEXT

    vi, en = REASON_TEXT.get(code, (code, code))
    return tr(vi, en)


def print_summary(summary: Any) -> None:
    """The scan summary, in the committee's language: counts, then every page that needs attention."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    s = summary
    console.print(tr(
        f"[bold]Đã đọc {s.pages_read} trang mới[/bold] ({s.pages_known} trang đã có từ trước) trong {s.files} tệp, "
        f"{s.elapsed_s:.1f} giây.",
        f"[bold]Read {s.pages_read} new pages[/bold] ({s.pages_known} already recorded) in {s.files} files, "
        f"{s.elapsed_s:.1f} s.",
    ))
    labels = {
        "auto": tr("tự động", "automatic"), "review": tr("chờ xem xét", "waiting for review"),
        "reviewed": tr("đã xem xét", "reviewed"), "rejected": tr("bị loại, cần xử lý", "rejected, needs attention"),
    }
    kinds = {
        "ballot": tr("phiếu", "ballot"), "blank": tr("trang trắng", "blank"), "unreadable": tr("không đọc được", "unreadable"),
        "not_issued": tr("không do ban kiểm phiếu phát ra", "not issued"), "rejected": tr("tệp hỏng", "damaged file"),
    }
    console.print("  " + ", ".join(f"{labels.get(k, k)}: {v}" for k, v in sorted(s.by_status.items())))
    console.print("  " + ", ".join(f"{kinds.get(k, k)}: {v}" for k, v in sorted(s.by_kind.items())))
    for rel, first in s.identical_files:
        console.print(tr(
            f"  [yellow]{rel}[/yellow] giống hệt tệp {first} đã đọc: không đếm lần nữa.",
            f"  [yellow]{rel}[/yellow] is identical to {first}, already read: not counted again.",
        ))
    if s.problems:
        table = Table(title=tr("Các trang cần ban kiểm phiếu xem", "Pages the committee must look at"))
        table.add_column(tr("Tệp", "File"))
        table.add_column(tr("Trang", "Page"), justify="right")
        table.add_column(tr("Trạng thái", "Status"))
        table.add_column(tr("Lý do", "Reasons"))
        for p in s.problems[:200]:
            codes = [r for r in p.reasons if not (r == "file_error" and len(p.reasons) > 1)]
            why = "; ".join(dict.fromkeys(reason_text(r) for r in codes))
            if p.status == "rejected" and p.detail and tr("vi", "en") == "en":
                why = f"{why} — {p.detail}"
            table.add_row(p.source, str(p.page), labels.get(p.status, p.status), why)
        console.print(table)
        if len(s.problems) > 200:
            console.print(tr(f"... và {len(s.problems) - 200} trang khác.", f"... and {len(s.problems) - 200} more."))
    from kiemphieu.readings import cause_text

    for code, n in s.scanner_causes.items():  # one cause on many pages: mend it at the scanner
        text = tr(*cause_text(code))
        console.print(tr(f"[bold yellow]Trên {n} trang:[/bold yellow] {text}.", f"[bold yellow]On {n} pages:[/bold yellow] {text}."))


@click.command()
@click.argument("workspace", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("scans", type=click.Path(file_okay=False, path_type=Path))
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("--watch", is_flag=True, help="Keep going as the scanner adds files (Ctrl-C to stop).")
@click.option("--idle-timeout", type=float, default=None, help="With --watch: stop after this many seconds without a new file.")
@click.option("--debug", "debug_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write overlay images (markers, boxes, scores) of every page into this folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def scan(workspace: Path, scans: Path, jobs: int | None, watch: bool, idle_timeout: float | None,
         debug_dir: Path | None, quiet: bool) -> None:
    """Read a scanner's output folder (JPEG, PNG, TIFF, BMP, WebP, HEIC, PDF) into the workspace.

    Exit code 0: every page was read and counted automatically; 1: some pages wait
    for review or were rejected (see the list).
    """
    _scan(workspace, scans, jobs, watch, idle_timeout, debug_dir, quiet)


@_handled
def _scan(workspace: Path, scans: Path, jobs: int | None, watch: bool, idle_timeout: float | None,
          debug_dir: Path | None, quiet: bool) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from kiemphieu.session import open_workspace
    from scanner.run import scan_folder, watch_folder

    ws = open_workspace(workspace)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} {task.fields[flagged]}"), TimeRemainingColumn())
    with Progress(*columns, disable=quiet, transient=True) as bar:
        task = bar.add_task(tr("Đang đọc", "Reading"), total=None, rate="", flagged="")
        import time

        start = time.perf_counter()

        def progress(done: int, total: int, flagged: int) -> None:
            elapsed = max(time.perf_counter() - start, 1e-6)
            bar.update(task, completed=done, total=total,
                       rate=tr(f"{done / elapsed:.1f} trang/giây", f"{done / elapsed:.1f} pages/s"),
                       flagged=tr(f"· {flagged} cần xem", f"· {flagged} flagged"))

        options: dict[str, Any] = dict(jobs=jobs, debug_dir=debug_dir, progress=progress)
        if watch:
            click.echo(tr(f"Đang chờ tệp mới trong {scans} (Ctrl-C để dừng)...",
                          f"Waiting for new files in {scans} (Ctrl-C to stop)..."))
            summaries = watch_folder(ws, scans, idle_timeout_s=idle_timeout, on_batch=print_summary, **options)
            attention = any(s.needs_attention for s in summaries)
        else:
            summary = scan_folder(ws, scans, **options)
            bar.stop()
            print_summary(summary)
            attention = summary.needs_attention
    if attention:
        click.echo(tr("Có trang cần ban kiểm phiếu xem: chạy 'kiemphieu review'.",
                      "Some pages need the committee's attention: run 'kiemphieu review'."))
        sys.exit(int(ExitCode.NEEDS_ATTENTION))


@click.command()
@click.argument("workspace", type=click.Path(file_okay=False, path_type=Path), default="demo-workspace")
@click.option("--persons", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Persons list to use (default: the bundled example).")
@click.option("--voters", type=click.IntRange(min=1, max=500), default=50, show_default=True)
@click.option("--profile", type=click.Choice(["adf", "adf-rough", "phone"]), default="adf", show_default=True)
@click.option("--replace", is_flag=True, help="Replace an earlier demo workspace in the same folder.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
def demo(workspace: Path, persons: Path | None, voters: int, profile: str, replace: bool, jobs: int | None) -> None:
    """Run the whole job on the bundled example: print, simulate voters, scan, tally."""
    _demo(workspace, persons, voters, profile, replace, jobs)


@_handled
def _demo(workspace: Path, persons: Path | None, voters: int, profile: str, replace: bool, jobs: int | None) -> None:
    from kiemphieu.demo import EXAMPLE_PERSONS, run_demo

    run_demo(workspace, persons=persons or EXAMPLE_PERSONS, voters=voters, profile=profile, replace=replace,
             jobs=jobs, say=click.echo)


COMMANDS.extend([scan, demo])
