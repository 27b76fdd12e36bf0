"""The command line: init + ballots, error exit codes and languages, help on every command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pikepdf
from click.testing import CliRunner, Result
from conftest import EXAMPLE_PERSONS

from kiemphieu.cli import main
from kiemphieu.errors import ExitCode
from kiemphieu.i18n import get_lang
from kiemphieu.layout import load_layout


def _run(*args: str) -> Result:
    return CliRunner(env={"KIEMPHIEU_LANG": None}).invoke(main, list(args))


def _init_args(root: Path, persons: Path) -> list[str]:
    return [
        "init", str(root), "--persons", str(persons), "--organisation", "Sở Tư pháp tỉnh Nghệ An",
        "--summoned", "30", "--present", "28", "--date", "2026-11-22", "--committee", "Hồ Thị Lành",
    ]


def test_init_then_ballots(tmp_path: Path) -> None:
    ws = tmp_path / "hoinghi"
    result = _run(*_init_args(ws, EXAMPLE_PERSONS))
    assert result.exit_code == 0, result.output
    assert "Đã tạo thư mục làm việc" in result.output and "12 người" in result.output
    result = _run("ballots", str(ws), "--copies", "3")
    assert result.exit_code == 0, result.output
    assert "Đã ghi" in result.output and "3 phiếu" in result.output
    layout = load_layout(ws / "layout.json")
    with pikepdf.open(ws / "ballots.pdf") as pdf:
        assert len(pdf.pages) == 3 * layout.pages_per_ballot
    result = _run("--lang", "en", "ballots", str(ws), "--copies", "1", "--no-tokens")
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and "1 ballots" in result.output


def test_bad_persons_list_exit_3_vietnamese_then_english(tmp_path: Path) -> None:
    persons = tmp_path / "ds.csv"
    persons.write_text("STT,Họ và tên,Chức vụ\n1,Lê Văn Hà,Giám đốc\n2,Lê Văn Hà,Giám đốc\n", encoding="utf-8")
    result = _run(*_init_args(tmp_path / "ws", persons))
    assert result.exit_code == ExitCode.BAD_INPUT == 3
    assert "Lỗi: ds.csv, dòng 3: trùng với dòng 2" in result.stderr
    assert not (tmp_path / "ws").exists()
    result = _run("--lang", "en", *_init_args(tmp_path / "ws", persons))
    assert result.exit_code == 3
    assert "Error: ds.csv, line 3: duplicate of line 2" in result.stderr
    assert get_lang() == "en"


def test_wrong_encoding_exit_3(tmp_path: Path) -> None:
    persons = tmp_path / "ds.csv"
    persons.write_bytes("Ho va ten,Chuc vu\nHà Văn Tâm,Chánh Thanh tra\n".encode("cp1258"))
    result = _run(*_init_args(tmp_path / "ws", persons))
    assert result.exit_code == 3 and "dòng 2" in result.stderr and "UTF-8" in result.stderr


def test_workspace_errors_exit_4(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert _run(*_init_args(ws, EXAMPLE_PERSONS)).exit_code == 0
    again = _run(*_init_args(ws, EXAMPLE_PERSONS))
    assert again.exit_code == ExitCode.WORKSPACE and "đã là một thư mục làm việc" in again.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    result = _run("ballots", str(plain), "--copies", "1")
    assert result.exit_code == ExitCode.WORKSPACE and "kiemphieu init" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _run("ballots", str(tmp_path), "--copies", "0").exit_code == ExitCode.USAGE
    assert _run("init", str(tmp_path / "ws")).exit_code == ExitCode.USAGE


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_command_has_help() -> None:
    commands = dict(_commands(main))
    assert {"init", "ballots"} <= set(commands)
    missing = [name for name, cmd in commands.items() if not (cmd.help or "").strip()]
    assert not missing, f"commands without help text: {missing}"
    for name in commands:
        result = _run(*name.split(), "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, name


def test_help_check_would_catch_a_command_without_help() -> None:
    @click.group()
    def group() -> None:
        """A group."""

    @group.command()
    def silent() -> None:
        pass

    assert [n for n, c in _commands(group) if not (c.help or "").strip()] == ["silent"]
