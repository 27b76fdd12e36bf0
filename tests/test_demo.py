"""The demo runs the whole job end to end on the bundled example."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from kiemphieu.cli import main
from kiemphieu.demo import EXAMPLE_PERSONS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "example_persons.csv"


def test_packaged_example_is_the_fixture() -> None:
    assert EXAMPLE_PERSONS.read_bytes() == FIXTURE.read_bytes()


def test_demo_runs_every_stage(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", str(root), "--voters", "6", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    for name in ("session.toml", "ballots.pdf", "layout.json", "kiemphieu.sqlite", "tally.csv", "results.csv"):
        assert (root / name).is_file(), name
    assert "kiemphieu review" in result.output
    # the last step it shows: the ballot box's count, one ballot per voter, which agrees with the scans
    assert f"kiemphieu tally {root} --counted 6 --final --minutes" in result.output
    counted = CliRunner().invoke(main, ["tally", str(root), "--counted", "6"])
    assert counted.exit_code == 0 and "trong thùng phiếu" not in counted.output, counted.output
    assert (root / "tally.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    lines = (root / "results.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "source,page,ballot,person,marks,choice,valid,reasons,status"
    # every scanned file appears in the results: nothing lost
    scanned = {p.relative_to(root / "scans").as_posix() for p in (root / "scans").rglob("*") if p.is_file()}
    assert scanned == {line.split(",")[0] for line in lines[1:]}


def test_demo_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(main, ["demo", str(tmp_path), "--voters", "2"])
    assert result.exit_code == 4
    assert (tmp_path / "x.txt").read_text(encoding="utf-8") == "keep me"
