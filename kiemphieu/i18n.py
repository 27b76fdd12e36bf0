"""Language selection for everything a committee reads.

Vietnamese is the default; English is available with ``--lang en`` or the
environment variable ``KIEMPHIEU_LANG=en``. Texts are written inline as
``tr("tiếng Việt", "English")`` so that the two versions stay side by side.
"""

from __future__ import annotations

import os
from typing import Literal

Lang = Literal["vi", "en"]
_current: list[Lang] = ["en" if os.environ.get("KIEMPHIEU_LANG", "vi") == "en" else "vi"]


def set_lang(lang: str) -> None:
    """Select the language of messages: ``"vi"`` or ``"en"``."""
    if lang not in ("vi", "en"):
        raise ValueError(f"unknown language {lang!r}; use 'vi' or 'en'")
    _current[0] = "en" if lang == "en" else "vi"


def get_lang() -> Lang:
    return _current[0]


def tr(vi: str, en: str) -> str:
    """Return the Vietnamese or English text, whichever is selected."""
    return vi if _current[0] == "vi" else en
