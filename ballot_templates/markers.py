"""Alignment markers: ArUco 4x4 markers, one distinct id per corner.

Distinct ids tell the corners apart, so the page's orientation (0/90/180/270
degrees, or any angle) follows from which marker is where, and an upside-down
page can never be read as upright.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

DICTIONARY = cv2.aruco.DICT_4X4_50
CELLS = 6  # 4x4 data bits and a one-cell black border


@cache
def dictionary() -> cv2.aruco.Dictionary:
    return cv2.aruco.getPredefinedDictionary(DICTIONARY)


def marker_bits(marker_id: int) -> np.ndarray:
    """The marker as a ``(6, 6)`` boolean array, True where the cell is black."""
    image = cv2.aruco.generateImageMarker(dictionary(), marker_id, CELLS)
    return image < 128
