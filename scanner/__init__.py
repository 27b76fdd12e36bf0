"""Read scanned ballots: register, identify, score every box, record every page."""

from scanner.run import ScanSummary, scan_folder

__all__ = ["ScanSummary", "scan_folder"]
