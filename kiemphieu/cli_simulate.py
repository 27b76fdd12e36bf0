"""Commands: simulate (synthetic voters and scanners)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kiemphieu.i18n import tr


def _handle(func: Any) -> Any:
    """Apply :func:`kiemphieu.cli.handle_errors` lazily (avoids a circular import)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from kiemphieu.cli import handle_errors

        return handle_errors(func)(*args, **kwargs)

    return wrapper


@click.command("simulate")
@click.argument("workspace", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--voters", type=click.IntRange(min=1), required=True, help="Number of voters (one ballot each).")
@click.option("--profile", type=click.Choice(["adf", "adf-rough", "phone", "field"]), default="adf", show_default=True,
              help="Office scanner, rough scanner conditions, phone photos, or held-out field conditions "
                   "(bent sheets, lens distortion, bitonal and grey scans, other pens and marks).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Empty folder for the scan files.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed: same seed, same files.")
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Truth JSON (default: <OUT>-truth.json beside the scan folder).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@_handle
def simulate_command(workspace: Path, voters: int, profile: str, out_dir: Path, seed: int,
                     truth_path: Path | None, jobs: int) -> None:
    """Write synthetic voted, scanned ballots with known truth (tests, demo, rehearsal)."""
    from calibration.simulate import simulate
    from kiemphieu.session import open_workspace

    result = simulate(open_workspace(workspace), out_dir, voters=voters, profile=profile, seed=seed,
                      truth_path=truth_path, jobs=jobs)
    click.echo(tr(
        f"Đã ghi {len(result.files)} tệp ảnh quét ({result.pages} trang, {voters} người ghi phiếu, "
        f"hồ sơ {profile}) vào {result.out_dir}.",
        f"Wrote {len(result.files)} scan files ({result.pages} pages, {voters} voters, "
        f"profile {profile}) to {result.out_dir}.",
    ))
    click.echo(tr(f"Tệp đáp án: {result.truth_path}", f"Truth file: {result.truth_path}"))


COMMANDS: list[click.Command] = [simulate_command]
