"""The one owner of Wan's frame-length policy, the input limits and the frame-rate arithmetic.

Wan's VAE groups frames causally: latent 0 is frame 0 and every further latent holds 4 frames, so a
video decodes to ``4n+1`` frames.  ``WanVaceToVideo`` silently floors any other length (80 -> 77),
which is how peer packs lose frames.  Every length that reaches a Wan sampler goes through here.

Two timelines.  Wan generates at a *generation* rate (16 fps by default); real clips and the
delivered video use an *output* rate (24, 25, 30000/1001, 60 ...).  Rates are exact ``Fraction``s
(``as_fps(29.97) == Fraction(30000, 1001)``) so no plan depends on float rounding.  Frame ``k`` of
a timeline sits at ``k / fps`` seconds; converting a position rounds half up (``retime_index``).

Input limits.  Planners validate every number with ``whole_number`` before they loop or
allocate anything, so ``frames=100000000`` (or NaN, ``True``, ``-3``) is a ``PlanError`` naming
the input, the value and the limit, never an attempt.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

from .constants import GENERATION_FPS
from .errors import PlanError

WAN_TEMPORAL_STRIDE = 4
WAN_SPATIAL_MULTIPLE = 16
MIN_WAN_LENGTH = 5

# Wan 2.1/2.2 are trained on 81-frame clips: the default longest single generation when a plan may
# split the work (extend); travel segments only warn above WARN_GENERATION_FRAMES.
DEFAULT_MAX_GENERATION = 81
WARN_GENERATION_FRAMES = 129
# Hard limits: far beyond any useful Wan job, small enough that nothing explodes before refusing.
MAX_GENERATION_FRAMES = 1025          # one sampler call (a guide of this length is ~5 GB at 832x480)
MAX_SEGMENT_FRAMES = 1024             # requested distance between keyframes / one leg
MAX_VIDEO_FRAMES = 1_000_000          # a whole plan or one input clip (~11.5 h at 24 fps)
MAX_ITEMS = 10_000                    # keyframes, clips, joins
MAX_FPS = Fraction(1000)
MAX_RATE_RATIO = 16                   # output/generation (either way) beyond this is refused
# Frames one generation step holds at once: its guide (RGB + mask, float32) and the generated
# frames (RGB, float32) = 28 bytes per pixel and frame.  A step above the limit is refused before
# anything is read or allocated: a size typo must not take the machine down.  (81 frames at
# 1280x720 need 2 GiB; 1025 frames at 832x480 11 GiB.)
BYTES_PER_PIXEL_FRAME = 28
MAX_STEP_MEMORY = 32 * 2 ** 30
# Smallest side generated: 2 latent cells of Wan's 16-pixel grid; below it nothing recognisable
# is made (an 8x8 keyframe is a mistake, not a picture to travel through).
MIN_GENERATION_SIDE = 32


def is_wan_length(frames: int) -> bool:
    """True when ``frames`` has the form 4n+1 (1, 5, 9, ... 81 ...)."""
    return frames >= 1 and (frames - 1) % WAN_TEMPORAL_STRIDE == 0


def wan_length_floor(frames: int) -> int:
    """Largest 4n+1 not above ``frames`` (what ``WanVaceToVideo`` decodes for ``frames``)."""
    if frames < 1:
        raise ValueError(f"a Wan length needs at least 1 frame, got {frames}")
    return ((frames - 1) // WAN_TEMPORAL_STRIDE) * WAN_TEMPORAL_STRIDE + 1


def wan_length_ceil(frames: int) -> int:
    """Smallest 4n+1 not below ``frames``."""
    floor = wan_length_floor(max(frames, 1))
    return floor if floor >= frames else floor + WAN_TEMPORAL_STRIDE


def wan_length_nearest(frames: int) -> int:
    """Nearest 4n+1; a tie (exactly 2 away from both) goes up so no requested frame is lost."""
    floor, ceil = wan_length_floor(max(frames, 1)), wan_length_ceil(frames)
    return floor if frames - floor < ceil - frames else ceil


# ---------------------------------------------------------------------------------------------
# Input validation


def whole_number(value, name: str, minimum: int | None = 0, maximum: int = MAX_VIDEO_FRAMES, fix: str = "") -> int:
    """``value`` as an int in ``minimum..maximum`` or a ``PlanError`` naming ``name`` and the value.

    Accepts ints and whole floats (``81.0`` from JSON); refuses bools, NaN/inf, fractions, strings.
    ``fix`` replaces the default advice for a value below ``minimum``; ``minimum=None`` leaves the
    lower bound to the caller (which then words its own message).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PlanError(f"{name}={value!r} must be a whole number (got {type(value).__name__})")
    if isinstance(value, float) and not math.isfinite(value):
        raise PlanError(f"{name}={value!r} must be a finite whole number")
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif float(value).is_integer():
        number = int(value)
    else:
        raise PlanError(
            f"{name}={value!r} must be a whole number of frames: use {math.floor(value)} or {math.ceil(value)}"
        )
    if minimum is not None and number < minimum:
        raise PlanError(f"{name}={number} is too small: {fix or f'use at least {minimum}'}")
    if number > maximum:
        raise PlanError(f"{name}={number} is above the limit of {maximum}: use at most {maximum}")
    return number


def item_index(index, count: int, name: str, items: str) -> int:
    """``index`` as one of ``count`` items, or a ``PlanError``: ``{name}={index} is out of range:
    {items} 0..{count - 1}`` (``items`` says what makes them, e.g. "4 keyframes make segments")."""
    if not 0 <= index < count:
        raise PlanError(f"{name}={index} is out of range: {items} 0..{count - 1}")
    return int(index)


def check_step_memory(width: int, height: int, frames, what: str, *, generated: bool = True,
                      fix: str = "use a smaller size or shorter segments") -> None:
    """The one check of a generation step's frame memory, before anything is read or allocated:
    refuse ``frames`` frames at ``width`` x ``height`` that would need more than
    ``MAX_STEP_MEMORY`` (``BYTES_PER_PIXEL_FRAME`` per pixel and frame) and, for a size the model
    makes (``generated``), a size below ``MIN_GENERATION_SIDE``.  ``frames`` is one step's count,
    or every step's (the longest is checked and named ``what index``)."""
    if not isinstance(frames, numbers.Integral):
        frames = list(frames)
        index = max(range(len(frames)), key=lambda i: frames[i])
        what, frames = f"{what} {index}", frames[index]
    if generated:
        check_generation_size(width, height, what)
    need = int(width) * int(height) * int(frames) * BYTES_PER_PIXEL_FRAME
    if need > MAX_STEP_MEMORY:
        raise PlanError(f"{what}: {frames} frames at {width}x{height} need {need / 2 ** 30:.1f} GiB of frame "
                        f"memory, above the limit of {MAX_STEP_MEMORY / 2 ** 30:.0f} GiB: {fix}")


def check_generation_size(width: int, height: int, what: str) -> None:
    """Refuse generating at a size with a side below ``MIN_GENERATION_SIDE``."""
    if min(int(width), int(height)) < MIN_GENERATION_SIDE:
        raise PlanError(f"{what} would be generated at {width}x{height}, too small to generate: use images or a "
                        f"working size of at least {MIN_GENERATION_SIDE}x{MIN_GENERATION_SIDE} (Wan is trained "
                        f"at about 832x480)")


def flag(value, name: str) -> bool:
    """A boolean input: ``True``/``False`` (or 0/1); anything else (``"false"``, 2) is refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    raise PlanError(f"{name}={value!r} must be true or false")


# ---------------------------------------------------------------------------------------------
# Frame rates


def as_fps(value, name: str = "fps") -> Fraction:
    """An exact frame rate: ints, Fractions, ``"30000/1001"``, or decimals (NTSC decimals such as
    23.976, 29.97, 59.94 snap to ``N*1000/1001``; others are taken as written, e.g. 12.5 = 25/2)."""
    if isinstance(value, bool):
        raise PlanError(f"{name}={value!r} must be a frame rate such as 16, 24, 30000/1001")
    if isinstance(value, str):
        text = value.strip()
        try:
            rate = Fraction(text) if "/" in text else _decimal_rate(float(text), name)
        except (ValueError, ZeroDivisionError):
            raise PlanError(f"{name}={value!r} is not a frame rate: write it like 24, 29.97 or 30000/1001") from None
    elif isinstance(value, (Fraction, numbers.Integral)):
        rate = Fraction(value)
    elif isinstance(value, numbers.Real):
        rate = _decimal_rate(float(value), name)
    else:
        raise PlanError(f"{name}={value!r} must be a frame rate such as 16, 24, 30000/1001")
    if not 0 < rate <= MAX_FPS:
        raise PlanError(f"{name}={value!r} must be a positive frame rate up to {MAX_FPS}")
    return rate


def _decimal_rate(value: float, name: str) -> Fraction:
    if not math.isfinite(value):
        raise PlanError(f"{name}={value!r} must be a finite frame rate")
    if value <= 0:
        raise PlanError(f"{name}={value!r} must be a positive frame rate")
    ntsc = round(value * 1.001)
    if not value.is_integer() and abs(value - ntsc / 1.001) < 0.0015:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(repr(value)).limit_denominator(1001)


def check_rates(generation_fps, output_fps) -> tuple[Fraction, Fraction]:
    """``(gen, out)`` as Fractions; ``output_fps=None`` means the generation rate."""
    gen = as_fps(GENERATION_FPS if generation_fps is None else generation_fps, "generation_fps")
    out = gen if output_fps is None else as_fps(output_fps, "output_fps")
    if out / gen > MAX_RATE_RATIO or gen / out > MAX_RATE_RATIO:
        raise PlanError(
            f"output_fps={fps_text(out)} and generation_fps={fps_text(gen)} differ by more than {MAX_RATE_RATIO}x: "
            f"use rates closer together"
        )
    return gen, out


def fps_text(rate: Fraction) -> str:
    """``"16"``, ``"25/2"``, ``"30000/1001"``: exact and JSON-friendly."""
    return str(Fraction(rate))


def round_half_up(value: Fraction) -> int:
    """Nearest integer, halves up (Python's ``round`` goes to even, which would make plans wobble)."""
    return math.floor(Fraction(value) + Fraction(1, 2))


def retime_index(frame: int, src_fps, dst_fps) -> int:
    """Where frame ``frame`` of a ``src_fps`` timeline lands on a ``dst_fps`` timeline (same time,
    rounded half up): how a travel's keyframe positions move to the output rate."""
    return round_half_up(Fraction(frame) * Fraction(dst_fps) / Fraction(src_fps))


def retime_count(frames: int, src_fps, dst_fps, loop: bool = False) -> int:
    """Frames a ``frames``-frame video has once retimed from ``src_fps`` to ``dst_fps``.

    A plain video keeps its first and last frames: ``retime_index(frames - 1) + 1`` (so a travel's
    last keyframe stays the last frame).  A loop keeps its period: ``round(frames * dst/src)``
    (frame ``frames`` is frame 0 again).  Equal rates give ``frames``.
    """
    if frames <= 0:
        return 0
    if loop:
        return max(1, round_half_up(Fraction(frames) * Fraction(dst_fps) / Fraction(src_fps)))
    return retime_index(frames - 1, src_fps, dst_fps) + 1


def retime_source(index: int, frames: int, src_fps, dst_fps, loop: bool = False) -> Fraction:
    """Exact source position (in ``src_fps`` frames) shown by output frame ``index`` of a retimed
    video: ``index * src/dst``, clamped to the last frame (plain) or wrapped (loop).  The pixel
    side picks the nearest frame (``round_half_up``) or interpolates between its neighbours."""
    position = Fraction(index) * Fraction(src_fps) / Fraction(dst_fps)
    if loop:
        return position % frames
    return min(position, Fraction(frames - 1))
