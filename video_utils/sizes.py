"""Frame-size policy: Wan needs width and height in multiples of 16.

Sizes are never rejected: any size is brought to the nearest valid one (1280x718 -> 1280x720).
Pure arithmetic; the pixel work lives in ``resize.py``.
"""

from __future__ import annotations

from .errors import PlanError
from .lengths import WAN_SPATIAL_MULTIPLE

FIT_MODES = ("crop", "stretch")
DEFAULT_FIT = "crop"   # centre-crop to the target aspect, then resize: no distortion (as WanVaceToVideo)


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


def check_fit(fit: str) -> str:
    if fit not in FIT_MODES:
        raise PlanError(f"fit={fit!r} is not a fit mode: use one of {', '.join(FIT_MODES)}")
    return fit
