"""Scanner thresholds: one validated object, overridable per workspace."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kiemphieu.errors import InputError
from scanner.settings import SETTINGS_FILE, ScanSettings, load_settings


def test_defaults_are_valid() -> None:
    assert load_settings(None) == ScanSettings()


def test_workspace_file_overrides_and_round_trips(tmp_path: Path) -> None:
    changed = replace(ScanSettings(), mark_ink=0.03, detect_max_side=1200)
    (tmp_path / SETTINGS_FILE).write_text(changed.to_toml(), encoding="utf-8")
    assert load_settings(tmp_path) == changed


@pytest.mark.parametrize(
    "text",
    [
        "mark_ink = 0.001\nempty_ink = 0.01\n",  # marked below empty
        "trace_darkness = 0.5\n",  # trace darker than ink
        "bitonal_share = 1.5\n",  # a share over 1
        "pure_black = 128\n",  # pure black not under the dark pixels' level
        "thresholded_dark = 300\n",  # over 8 bits
        "streak_dark = 1.0\n",  # a streak no darker than the paper
        "streak_max_share = 0\n",
        "grid_tilt_cover = 1.2\n",  # a share over 1
        "grid_tilt_width_px = 0.5\n",  # thinner than the one pixel a column a line has
        "grid_tilt_rms_px = 0\n",
        "outside_speck_mm = 0\n",
        "outside_rule_mm = -0.5\n",
        "fold_max_tilt_deg = -1\n",
        "no_such_threshold = 1\n",
        "mark_ink = [\n",
    ],
)
def test_bad_files_are_refused_with_a_sentence(tmp_path: Path, text: str) -> None:
    (tmp_path / SETTINGS_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_settings(tmp_path)
    assert SETTINGS_FILE in str(info.value)
