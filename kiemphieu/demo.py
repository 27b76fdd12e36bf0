"""The demonstration run: the whole job on the bundled example, in under a minute.

init → ballots → simulate 50 voters and their scan → scan → provisional tally,
the list of ballots waiting for review, the tally CSV, and how to open the review page.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from kiemphieu.errors import WorkspaceError
from kiemphieu.i18n import tr
from kiemphieu.session import Workspace, init_workspace, with_counts

EXAMPLE_PERSONS = Path(__file__).resolve().parent / "data" / "example_persons.csv"
COMMITTEE = ("Nguyễn Thị Lan", "Trần Văn Bình", "Lê Thị Hoa")


@dataclass(frozen=True)
class DemoRun:
    workspace: Workspace
    scans: Path
    truth: Path
    tally_csv: Path
    results_csv: Path


def run_demo(root: Path, *, persons: Path = EXAMPLE_PERSONS, voters: int = 50, profile: str = "adf",
             seed: int = 2026, jobs: int | None = None, replace: bool = False, say=print) -> DemoRun:  # noqa: ANN001
    """Run every stage on the example; ``say`` receives one line per step."""
    from ballot_templates.render import render_ballots
    from calibration.simulate import simulate
    from kiemphieu import reports, tally
    from kiemphieu.export import results_csv_bytes
    from scanner import scan_folder

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        if not (replace and (root / "session.toml").exists()):
            raise WorkspaceError(
                f"{root} đã có nội dung; chọn thư mục khác (hoặc --replace để làm lại bản trình diễn).",
                f"{root} is not empty; choose another folder (or --replace to redo the demo).",
            )
        shutil.rmtree(root)
    say(tr("1/5 Tạo thư mục làm việc từ danh sách mẫu...", "1/5 Creating the workspace from the example list..."))
    ws = init_workspace(
        root, persons, organisation="Sở Giáo dục và Đào tạo Hải Phòng",
        title="Hội nghị lấy phiếu tín nhiệm năm 2026 (trình diễn)", place="Hải Phòng", date="2026-11-22",
        summoned=voters + 6, present=voters + 2, committee=COMMITTEE,
    )
    say(tr(f"2/5 In {voters + 2} phiếu: {ws.ballots_pdf}", f"2/5 Printing {voters + 2} ballots: {ws.ballots_pdf}"))
    render_ballots(ws, copies=voters + 2)
    ws.save_session(with_counts(ws.load_session(), issued=voters + 2))
    scans = root / "scans"
    truth = root / "scans-truth.json"
    say(tr(f"3/5 Mô phỏng {voters} người ghi phiếu và máy quét ({profile}): {scans}",
           f"3/5 Simulating {voters} voters and the scanner ({profile}): {scans}"))
    simulate(ws, scans, voters=voters, profile=profile, seed=seed, truth_path=truth, jobs=jobs or 2)
    say(tr("4/5 Đọc các trang quét...", "4/5 Reading the scanned pages..."))
    summary = scan_folder(ws, scans, jobs=jobs)
    from kiemphieu.cli_scan import print_summary

    print_summary(summary)
    say(tr("5/5 Kết quả tạm tính:", "5/5 Provisional result:"))
    result = tally.tally_workspace(ws)
    reports.render_terminal(result)
    tally_csv = root / "tally.csv"
    results_csv = root / "results.csv"
    reports.write_outputs({tally_csv: reports.tally_csv_bytes(result), results_csv: results_csv_bytes(ws)})
    say(tr(f"Đã ghi {tally_csv} và {results_csv}.", f"Wrote {tally_csv} and {results_csv}."))
    say(tr(
        f"Mở trang xem xét các phiếu cần kiểm tra:  kiemphieu review {root}",
        f"Open the review page for the doubtful ballots:  kiemphieu review {root}",
    ))
    minutes = root / "bienban.pdf"
    say(tr(
        f"Xem xét xong, nhập số phiếu đếm được trong thùng phiếu (ở đây mỗi người ghi phiếu bỏ một phiếu: {voters}) "
        f"và lập kết quả chính thức cùng biên bản:  kiemphieu tally {root} --counted {voters} --final --minutes {minutes}",
        f"Once reviewed, enter the number counted in the ballot box (here each voter cast one ballot: {voters}) and "
        f"make the final result and the minutes:  kiemphieu tally {root} --counted {voters} --final --minutes {minutes}",
    ))
    return DemoRun(ws, scans, truth, tally_csv, results_csv)
