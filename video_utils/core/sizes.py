"""Frame-size policy: Wan needs width and height in multiples of 16.

Sizes are never rejected: any size is brought to the nearest valid one (1280x718 -> 1280x720).
Pure arithmetic, no torch (the orchestrator plans sizes too); the pixel work lives in
``conform.py``.

Two sizes per video since real footage is not generated at its own size:

* the **output size**, what the delivered video has: any size, by default the first clip's as
  displayed (``output_size``), so footage comes out the size it went in;
* the **working size**, what Wan generates at: multiples of 16, about a given area (832x480 by
  default, what Wan 2.1/2.2 are trained on) and the output's aspect (``working_size``), so the
  generated frames scale to the output size without visible distortion or much cropping.
"""

from __future__ import annotations

import math
from typing import Sequence

from .constants import CONFORM_FIT_MODES
from .errors import PlanError
from .lengths import WAN_SPATIAL_MULTIPLE

WORKING_AREA = 832 * 480
# Working size choice: aspect error (log ratio) costs 4x an area error, and more than 1% of
# aspect error is allowed only when no size has less (then the least wins). 1% is invisible
# once the frames are scaled to the output with "crop" (under 1% of a side cut off).
_AREA_WEIGHT = 0.25
_MAX_ASPECT_ERROR = 0.01


def nearest_multiple(value: int, multiple: int = WAN_SPATIAL_MULTIPLE) -> int:
    """Nearest positive multiple (ties round up)."""
    return max(multiple, ((value + multiple // 2) // multiple) * multiple)


def wan_size(width: int, height: int) -> tuple[int, int]:
    """The valid Wan size nearest to ``width`` x ``height``."""
    if width < 1 or height < 1:
        raise PlanError(f"size {width}x{height} is not a picture size: both sides must be at least 1 pixel")
    return nearest_multiple(width), nearest_multiple(height)


def parse_size(text: str) -> tuple[int, int]:
    """``"832x480"`` -> ``(832, 480)``, already brought to a valid Wan size."""
    try:
        w, h = (int(part) for part in text.lower().replace(" ", "").split("x"))
    except ValueError:
        raise PlanError(f"size {text!r} is not WIDTHxHEIGHT: write it like 832x480") from None
    return wan_size(w, h)


def check_fit(fit: str, modes: tuple[str, ...] = CONFORM_FIT_MODES) -> str:
    if fit not in modes:
        raise PlanError(f"fit={fit!r} is not a fit mode: use one of {', '.join(modes)}")
    return fit


def output_size(displayed: Sequence[tuple[int, int]], size: tuple[int, int] | None = None) -> tuple[int, int]:
    """The delivered video's size: ``size`` when given (width, height > 0), else the first
    input's size as displayed (``probe.MediaInfo.width/height``: rotation and pixel aspect
    applied). Not snapped to 16: only the working size is."""
    if size is not None and any(size):
        width, height = int(size[0]), int(size[1])
        if width < 1 or height < 1:
            raise PlanError(f"size {width}x{height} is not a picture size: give both sides (or neither, "
                            f"for the first clip's size)")
        return width, height
    if not displayed:
        raise PlanError("no inputs were given to take the output size from: give at least one clip or image")
    width, height = (int(v) for v in displayed[0])
    if width < 1 or height < 1:
        raise PlanError(f"size {width}x{height} is not a picture size: both sides must be at least 1 pixel")
    return width, height


def generation_size(width: int, height: int, area: int = WORKING_AREA) -> tuple[int, int]:
    """Where a travel generates for pictures of ``width`` x ``height``: their own size snapped to
    multiples of 16 when it is no bigger than about ``area`` (Wan's training size), else the
    working size at their aspect (a 4000x3000 photo generates at 736x544, not 4000x3008)."""
    if width * height <= area * 1.1:
        return wan_size(width, height)
    return working_size(width, height, area)


def even_size(width: int, height: int) -> tuple[int, int]:
    """``width`` x ``height`` rounded down to even numbers (H.264 in yuv420p halves the chroma
    planes; odd sizes cannot be encoded), at least 2x2."""
    return max(2, int(width) // 2 * 2), max(2, int(height) // 2 * 2)


def working_size(width: int, height: int, area: int = WORKING_AREA,
                 multiple: int = WAN_SPATIAL_MULTIPLE) -> tuple[int, int]:
    """The generation size for an output of ``width`` x ``height``: multiples of ``multiple``,
    about ``area`` pixels, as close to the output's aspect as those allow.

    1920x1080 and 1280x720 -> 848x480 (aspect off by 0.6%), 1080x1920 -> 480x848,
    350x350 -> 640x640, 640x480 -> 720x544, 832x480 -> 832x480. An output smaller than ``area``
    still gets about ``area``: Wan works best near its training size, and the frames are scaled
    to the output afterwards.
    """
    if width < 1 or height < 1:
        raise PlanError(f"size {width}x{height} is not a picture size: both sides must be at least 1 pixel")
    if area < multiple * multiple:
        raise PlanError(f"working area {area} is smaller than one {multiple}x{multiple} block: use about 832*480")
    aspect = width / height
    ideal_h = math.sqrt(area / aspect)
    best = None
    for rows in range(max(1, int(ideal_h * 0.5) // multiple), int(ideal_h * 2) // multiple + 2):
        h = rows * multiple
        w = nearest_multiple(round(h * aspect), multiple)
        aspect_error = abs(math.log(w / h / aspect))
        cost = aspect_error + abs(math.log(w * h / area)) * _AREA_WEIGHT
        key = (aspect_error > _MAX_ASPECT_ERROR, aspect_error if aspect_error > _MAX_ASPECT_ERROR else cost)
        if best is None or key < best[0]:
            best = (key, (w, h))
    return best[1]
