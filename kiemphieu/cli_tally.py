"""Commands: tally, summary, export (the results export)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _handled(func: F) -> F:
    """Wrap with :func:`kiemphieu.cli.handle_errors`, imported lazily (no import cycle)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from kiemphieu.cli import handle_errors

        return handle_errors(func)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


_out_path = click.Path(dir_okay=False, writable=True, path_type=Path)


@click.command()
@click.argument("workspace", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--issued", type=click.IntRange(min=0), default=None,
              help="Ballots issued (số phiếu phát ra); saved to session.toml.")
@click.option("--present", type=click.IntRange(min=0), default=None,
              help="Persons present (số người có mặt); saved to session.toml.")
@click.option("--counted", type=click.IntRange(min=0), default=None,
              help="Ballots the committee counted in the ballot box by hand (số phiếu đếm được trong thùng "
                   "phiếu); saved to session.toml and checked against the ballots scanned.")
@click.option("--csv", "csv_path", type=_out_path, default=None, help="Write the table as CSV (UTF-8 with BOM).")
@click.option("--xlsx", "xlsx_path", type=_out_path, default=None, help="Write the table as a formatted XLSX.")
@click.option("--minutes", "minutes_path", type=_out_path, default=None,
              help="Write the counting minutes (biên bản kiểm phiếu) as PDF.")
@click.option("--results", "results_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="An existing results export whose SHA-256 the minutes print.")
@click.option("--final", is_flag=True,
              help="Refuse unless every page is reviewed, the quorum is met, collected <= issued and the "
                   "ballots counted in the box are entered and equal to those scanned.")
@_handled
def tally(workspace: Path, issued: int | None, present: int | None, counted: int | None, csv_path: Path | None,
          xlsx_path: Path | None, minutes_path: Path | None, results_path: Path | None, final: bool) -> None:
    """Count the ballots and show the result per person; write CSV, XLSX and the minutes."""
    from kiemphieu.export import results_csv_bytes, sha256_hex
    from kiemphieu.minutes import minutes_pdf_bytes
    from kiemphieu.reports import render_terminal, tally_csv_bytes, tally_xlsx_bytes, write_outputs
    from kiemphieu.session import open_workspace, with_counts
    from kiemphieu.tally import require_final, tally_workspace

    ws = open_workspace(workspace)
    if issued is not None or present is not None or counted is not None:
        ws.save_session(with_counts(ws.load_session(), present=present, issued=issued, counted=counted))
    result = tally_workspace(ws)
    render_terminal(result)
    if final:
        require_final(result)
    outputs: dict[Path, bytes] = {}
    if csv_path:
        outputs[csv_path] = tally_csv_bytes(result)
    if xlsx_path:
        outputs[xlsx_path] = tally_xlsx_bytes(result)
    if minutes_path:
        results = results_path.read_bytes() if results_path else results_csv_bytes(ws)
        outputs[minutes_path] = minutes_pdf_bytes(result, results_sha256=sha256_hex(results))
    write_outputs(outputs)
    for path in outputs:
        click.echo(tr_written(path))


def tr_written(path: Path) -> str:
    from kiemphieu.i18n import tr

    return tr(f"Đã ghi {path}.", f"Wrote {path}.")


@click.command()
@click.argument("workspaces", nargs=-1, required=True,
                type=click.Path(file_okay=False, exists=True, path_type=Path))
@_handled
def summary(workspaces: tuple[Path, ...]) -> None:
    """Show each person's results from up to 2 places side by side."""
    from kiemphieu.reports import render_summary, summarise
    from kiemphieu.session import open_workspace
    from kiemphieu.tally import tally_workspace

    render_summary(summarise([tally_workspace(open_workspace(w)) for w in workspaces]))


@click.command()
@click.argument("workspace", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--results", "results_path", type=_out_path, required=True,
              help="Write one row per (scanned page, person) as plain UTF-8 CSV.")
@_handled
def export(workspace: Path, results_path: Path) -> None:
    """Write the results export (results.csv) and print its SHA-256."""
    from kiemphieu.export import results_csv_bytes, sha256_hex
    from kiemphieu.i18n import tr
    from kiemphieu.reports import write_outputs
    from kiemphieu.session import open_workspace

    data = results_csv_bytes(open_workspace(workspace))
    write_outputs({results_path: data})
    click.echo(tr(f"Đã ghi {results_path} (SHA-256 {sha256_hex(data)}).",
                  f"Wrote {results_path} (SHA-256 {sha256_hex(data)})."))


COMMANDS: list[click.Command] = [tally, summary, export]
