"""The ``kiemphieu`` command: a thin skin over the library.

Only this module turns exceptions into sentences and exit codes.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kiemphieu.errors import ExitCode, KiemphieuError
from kiemphieu.i18n import set_lang, tr

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn a :class:`KiemphieuError` into its sentence on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KiemphieuError as exc:
            click.echo(tr("Lỗi: ", "Error: ") + str(exc), err=True)
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo(tr("Đã dừng theo yêu cầu.", "Interrupted."), err=True)
            sys.exit(int(ExitCode.INTERRUPTED))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--lang",
    type=click.Choice(["vi", "en"]),
    envvar="KIEMPHIEU_LANG",
    default="vi",
    show_default=True,
    help="Language of messages and reports (tiếng Việt / English).",
)
def main(lang: str) -> None:
    """kiemphieu — in, quét và kiểm phiếu tín nhiệm.

    Print, scan and count confidence-vote ballots: init → ballots → scan →
    review → tally.
    """
    set_lang(lang)


@main.command()
@click.argument("workspace", type=click.Path(file_okay=False, path_type=Path))
@click.option("--persons", "persons_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV (UTF-8) or XLSX list with columns 'Họ và tên' and 'Chức vụ'.")
@click.option("--organisation", default="", help="Organisation (cơ quan, đơn vị).")
@click.option("--title", default="Hội nghị lấy phiếu tín nhiệm", show_default=True, help="Conference title.")
@click.option("--place", default="", help="Place of the conference.")
@click.option("--date", "date_", default="", help="Date of the conference (YYYY-MM-DD).")
@click.option("--summoned", type=click.IntRange(min=1), required=True, help="Number of persons summoned.")
@click.option("--present", type=click.IntRange(min=0), default=None, help="Number present (may be entered later).")
@click.option("--rule-set", type=click.Choice(["qd96-2023", "qd262-2014"]), default="qd96-2023", show_default=True)
@click.option("--crossed-name", type=click.Choice(["person", "ballot"]), default="person", show_default=True,
              help="What a crossed-out printed name invalidates.")
@click.option("--committee", multiple=True, help="A counting committee member (repeat for each).")
@handle_errors
def init(workspace: Path, persons_file: Path, organisation: str, title: str, place: str, date_: str,
         summoned: int, present: int | None, rule_set: str, crossed_name: str, committee: tuple[str, ...]) -> None:
    """Create a workspace for one conference from a persons list."""
    from kiemphieu.session import init_workspace

    ws = init_workspace(
        workspace, persons_file, organisation=organisation, title=title, place=place, date=date_,
        summoned=summoned, present=present, rule_set=rule_set, crossed_name_invalidates=crossed_name,
        committee=committee,
    )
    session = ws.load_session()
    click.echo(tr(
        f"Đã tạo thư mục làm việc {workspace} với {len(session.persons)} người được lấy phiếu.",
        f"Created workspace {workspace} with {len(session.persons)} persons.",
    ))


@main.command()
@click.argument("workspace", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--copies", type=click.IntRange(min=1), required=True, help="Number of ballots to print.")
@click.option("--no-tokens", is_flag=True, help="Print ballots without a ballot token (no duplicate detection).")
@handle_errors
def ballots(workspace: Path, copies: int, no_tokens: bool) -> None:
    """Write ballots.pdf (A4, print-ready) and layout.json."""
    from ballot_templates.render import render_ballots
    from kiemphieu.session import open_workspace

    run = render_ballots(open_workspace(workspace), copies=copies, tokens=not no_tokens)
    click.echo(tr(
        f"Đã ghi {run.pdf} ({run.copies} phiếu, {run.pages_per_ballot} trang mỗi phiếu) và {run.layout}.",
        f"Wrote {run.pdf} ({run.copies} ballots, {run.pages_per_ballot} pages each) and {run.layout}.",
    ))


def _register() -> None:
    """Commands of each stage live in their own module, registered here."""
    from kiemphieu import cli_review, cli_scan, cli_simulate, cli_tally

    for module in (cli_scan, cli_simulate, cli_tally, cli_review):
        for command in module.COMMANDS:
            main.add_command(command)


_register()

if __name__ == "__main__":
    main()
