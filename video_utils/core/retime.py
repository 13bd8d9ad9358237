"""Time maps between frame rates: which source frame(s) every output frame shows.

Two jobs, one idea (a frame is a picture *at a time*; a change of rate keeps the times):

* **Conforming footage** to the output rate (``source_frame_map``, ``cfr_frame_map``): output
  frame k shows what was on screen at ``k / out_fps``, the source frame with the latest
  presentation time at or before it. Duration is kept (5 s at 24 fps -> 150 frames at 30 fps),
  frames repeat when the rate goes up and are dropped when it goes down, no pixels are made, and
  variable-frame-rate clips use their real timestamps, so their pictures stay in step with their
  sound.
* **Retiming generated frames** between the generation rate (Wan: 16 fps) and the output rate
  (``retime_indices``, ``retime_weights``; the pixels: ``engine.retimer.Retimer``), and
  output-rate context frames back to the generation rate for a guide. Here frames are samples at instants, so "nearest"
  picks the closest frame in time and "blend" mixes the two neighbours linearly by time.
  ``anchor="end"`` lines the last frames up instead of the first ones, as context taken from
  the end of a clip needs (its last frame must stay the clip's last frame).

How many output frames: footage gets ``output_frame_count`` (floor of duration x rate, at least
one: never past its source, short of it by less than a frame, so it stays as long as its sound);
generated frames get ``lengths.retime_count`` (the planners' rule, first and last frames kept).
A caller with its own count (the planners decide frame counts) passes ``count``.

All exact ``Fraction`` arithmetic without torch: the orchestrator plans frame counts with these
maps.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from fractions import Fraction
from typing import Sequence

from .errors import PlanError
from .lengths import as_fps
from .probe import frame_times, probe


# Real timestamps are rounded to their time base; this much (seconds) early still counts as "on
# screen at t". Callers pass the time base's tick when they know it.
DEFAULT_TOLERANCE = Fraction(1, 1_000_000)


def _rate(value, name: str) -> Fraction:
    return as_fps(value, name)  # exact; 29.97 means 30000/1001


def _count(value, name: str) -> int:
    if value is None or int(value) < 1:
        raise PlanError(f"{name}={value} is not a frame count: give at least 1 frame")
    return int(value)


def output_frame_count(duration, out_fps) -> int:
    """Frames at ``out_fps`` that cover ``duration`` seconds: floor(duration x rate), at least 1."""
    duration = Fraction(duration)
    if duration <= 0:
        raise PlanError(f"duration={float(duration)} s cannot be conformed: a clip needs at least one frame")
    return max(1, math.floor(duration * _rate(out_fps, "out_fps")))


def cfr_frame_map(frame_count: int, src_fps, out_fps, count: int | None = None) -> list[int]:
    """Source index shown by each output frame, for a constant-rate source (exact, no rounding).

    Source frame i is shown from ``i / src_fps``: output frame k shows floor(k x src / out).
    Equal rates give every frame once. ``count`` defaults to ``output_frame_count``.
    """
    n = _count(frame_count, "frame_count")
    src, out = _rate(src_fps, "src_fps"), _rate(out_fps, "out_fps")
    count = output_frame_count(Fraction(n) / src, out) if count is None else _count(count, "count")
    ratio = src / out
    return [min(n - 1, math.floor(k * ratio)) for k in range(count)]


def source_frame_map(times: Sequence[Fraction], duration, out_fps, count: int | None = None,
                     tolerance=DEFAULT_TOLERANCE) -> list[int]:
    """Source index shown by each output frame, from real presentation times (any source).

    ``times``: each frame's presentation time, ascending, seconds from the first frame (as
    ``probe.frame_times`` gives); ``duration``: seconds the source covers. Output frame k shows
    the last frame with ``time <= k / out_fps + tolerance``.
    """
    if not times:
        raise PlanError("a clip with no frames cannot be conformed: it needs at least one frame")
    out = _rate(out_fps, "out_fps")
    count = output_frame_count(duration, out) if count is None else _count(count, "count")
    tol = Fraction(tolerance)
    last = len(times) - 1
    return [max(0, min(last, bisect_right(times, Fraction(k) / out + tol) - 1)) for k in range(count)]


# --------------------------------------------------------------------------------------------
# Footage files


def conformed_frame_count(path, out_fps=None) -> int:
    """Frames a video file has once conformed to ``out_fps`` (default: its own rate)."""
    info = probe(path)
    if out_fps is None or Fraction(out_fps) == info.fps and not info.variable_rate:
        return info.frame_count
    return output_frame_count(info.duration, out_fps)


def conform_frame_map(path, out_fps=None, count: int | None = None) -> list[int]:
    """Source frame index shown by each conformed output frame of a video file.

    Constant-rate files use ``cfr_frame_map`` (exact); variable-rate ones their real
    timestamps (``source_frame_map``). ``out_fps=None``: the file's own (average) rate.
    """
    info = probe(path)
    rate = info.fps if out_fps is None else _rate(out_fps, "out_fps")
    count = conformed_frame_count(path, rate) if count is None else _count(count, "count")
    if not info.variable_rate:
        return cfr_frame_map(info.frame_count, info.fps, rate, count)
    return source_frame_map(frame_times(path), info.duration, rate, count)
