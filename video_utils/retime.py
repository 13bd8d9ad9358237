"""Time maps between frame rates: which source frame(s) every output frame shows.

Two jobs, one idea (a frame is a picture *at a time*; a change of rate keeps the times):

* **Conforming footage** to the output rate (``source_frame_map``, ``cfr_frame_map``): output
  frame k shows what was on screen at ``k / out_fps``, the source frame with the latest
  presentation time at or before it. Duration is kept (5 s at 24 fps -> 150 frames at 30 fps),
  frames repeat when the rate goes up and are dropped when it goes down, no pixels are made, and
  variable-frame-rate clips use their real timestamps, so their pictures stay in step with their
  sound.
* **Retiming generated frames** between the generation rate (Wan: 16 fps) and the output rate
  (``retime_indices``, ``retime_weights``, ``Retimer`` / ``retime_frames``), and output-rate context frames
  back to the generation rate for a guide. Here frames are samples at instants, so "nearest"
  picks the closest frame in time and "blend" mixes the two neighbours linearly by time.
  ``anchor="end"`` lines the last frames up instead of the first ones, as context taken from
  the end of a clip needs (its last frame must stay the clip's last frame).

How many output frames: footage gets ``output_frame_count`` (floor of duration x rate, at least
one: never past its source, short of it by less than a frame, so it stays as long as its sound);
generated frames get ``lengths.retime_count`` (the planners' rule, first and last frames kept).
A caller with its own count (the planners decide frame counts) passes ``count``.

Everything but ``Retimer`` / ``retime_frames`` is exact ``Fraction`` arithmetic without torch, because the
orchestrator plans frame counts with these maps and must never import torch.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from fractions import Fraction
from typing import Sequence

from .errors import PlanError
from .lengths import as_fps, retime_count, retime_source, round_half_up

RETIME_MODES = ("nearest", "blend")
ANCHORS = ("start", "end")

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


def _positions(n: int, in_fps, out_fps, count: int | None, anchor: str) -> list[Fraction]:
    """Fractional source position of every output frame (frames as samples at instants).

    The count and the start-anchored positions are ``lengths.retime_count`` / ``retime_source``
    (the planners' rule: first and last frames are kept); ``anchor="end"`` mirrors them.
    """
    n = _count(n, "frames")
    src, out = _rate(in_fps, "in_fps"), _rate(out_fps, "out_fps")
    if anchor not in ANCHORS:
        raise PlanError(f"anchor={anchor!r} is not an anchor: use one of {', '.join(ANCHORS)}")
    count = retime_count(n, src, out) if count is None else _count(count, "count")
    if anchor == "start":
        return [retime_source(k, n, src, out) for k in range(count)]
    ratio = src / out
    return [max(Fraction(0), (n - 1) - (count - 1 - k) * ratio) for k in range(count)]


def retime_indices(frames: int, in_fps, out_fps, count: int | None = None, anchor: str = "start") -> list[int]:
    """"nearest": the source frame closest in time to each output frame (ties: the later one)."""
    return [round_half_up(x) for x in _positions(frames, in_fps, out_fps, count, anchor)]


def retime_weights(frames: int, in_fps, out_fps, count: int | None = None,
                   anchor: str = "start") -> list[tuple[int, int, float]]:
    """"blend": per output frame ``(i, j, w)`` = ``(1 - w) * frame[i] + w * frame[j]``, j = i + 1."""
    result = []
    for x in _positions(frames, in_fps, out_fps, count, anchor):
        i = math.floor(x)
        w = x - i
        result.append((i, min(i + 1, frames - 1), float(w)) if w else (i, i, 0.0))
    return result


class Retimer:
    """Retime a stream of frames as it arrives: output frame k shows source position
    ``positions[k]`` (in source frames, non-decreasing).  ``nearest`` picks the closest frame
    (halves up), ``blend`` mixes the two neighbours linearly.  Positions past the last frame show
    the last frame, or with ``loop`` lie between the last frame and frame 0 again (a loop's period).
    ``push`` chunks [n,H,W,3] in order, then ``close``; ``emit`` receives output chunks of up to
    ``chunk`` frames.  Memory: two source frames and one output chunk.  Deterministic (fixed
    weights, one ``lerp`` per output frame).
    """

    def __init__(self, positions: Sequence[Fraction], emit, mode: str = "blend", *, loop: bool = False,
                 chunk: int = 16):
        import torch  # here only: the maps above must stay importable without torch

        if mode not in RETIME_MODES:
            raise PlanError(f"mode={mode!r} is not a retime mode: use one of {', '.join(RETIME_MODES)}")
        self.torch, self.mode, self.emit, self.loop, self.chunk = torch, mode, emit, loop, chunk
        self.positions = [Fraction(p) for p in positions]
        self.k = 0                            # next output frame
        self.seen = 0                         # source frames received
        self.frames: dict[int, object] = {}   # the source frames still needed
        self.first = None                     # frame 0, for a loop's wrap
        self.out: list = []

    def _sources(self, k: int) -> tuple[int, int, float]:
        x = self.positions[k]
        if self.mode == "nearest":
            return round_half_up(x), round_half_up(x), 0.0
        i = math.floor(x)
        return (i, i + 1, float(x - i)) if x != i else (i, i, 0.0)

    def _get(self, i: int, last: int | None):
        """Source frame ``i``, or None until it has arrived (``last``: the final index, once known)."""
        if i in self.frames:
            return self.frames[i]
        if last is None or i <= last:
            return None
        return self.first if self.loop else self.frames[last]

    def _drain(self, last: int | None) -> None:
        while self.k < len(self.positions):
            i, j, w = self._sources(self.k)
            a, b = self._get(i, last), self._get(j, last)
            if a is None or b is None:
                return                              # wait for more source frames
            self.out.append(a if w == 0.0 else self.torch.lerp(a, b, w))
            self.k += 1
            if len(self.out) == self.chunk:
                self._flush()
            keep = self._sources(self.k)[0] if self.k < len(self.positions) else self.seen
            for index in [n for n in self.frames if n < keep]:
                del self.frames[index]

    def _flush(self) -> None:
        if self.out:
            self.emit(self.torch.stack(self.out))
            self.out = []

    def push(self, chunk) -> None:
        for frame in chunk:
            frame = frame.to(self.torch.float32, copy=True)
            if self.seen == 0:
                self.first = frame
            self.frames[self.seen] = frame
            self.seen += 1
            self._drain(None)

    def close(self) -> int:
        """Emit what is left; returns the frames emitted in all."""
        if self.seen == 0:
            raise PlanError("nothing to retime: the source gave no frames")
        self._drain(self.seen - 1)
        self._flush()
        if self.k != len(self.positions):
            raise PlanError(f"retiming stopped at output frame {self.k} of {len(self.positions)}: the source has "
                            f"only {self.seen} frames")
        return self.k


def retime_frames(frames, in_fps, out_fps, count: int | None = None, mode: str = "nearest",
                  anchor: str = "start"):
    """A batch [N,H,W,3] at ``in_fps`` as [count,H,W,3] at ``out_fps``, covering the same span."""
    import torch

    if not isinstance(frames, torch.Tensor) or frames.dim() != 4:
        shape = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
        raise PlanError(f"frames {shape} are not an IMAGE batch: expected [frames, height, width, channels]")
    if not frames.is_floating_point():
        frames = frames.float().div_(255)
    parts: list = []
    retimer = Retimer(_positions(int(frames.shape[0]), in_fps, out_fps, count, anchor), parts.append, mode)
    retimer.push(frames)
    retimer.close()
    return torch.cat(parts)


# --------------------------------------------------------------------------------------------
# Footage files (``probe`` is imported inside: it brings PyAV, which pure planning does not need)


def conformed_frame_count(path, out_fps=None) -> int:
    """Frames a video file has once conformed to ``out_fps`` (default: its own rate)."""
    from .probe import probe

    info = probe(path)
    if out_fps is None or Fraction(out_fps) == info.fps and not info.variable_rate:
        return info.frame_count
    return output_frame_count(info.duration, out_fps)


def conform_frame_map(path, out_fps=None, count: int | None = None) -> list[int]:
    """Source frame index shown by each conformed output frame of a video file.

    Constant-rate files use ``cfr_frame_map`` (exact); variable-rate ones their real
    timestamps (``source_frame_map``). ``out_fps=None``: the file's own (average) rate.
    """
    from .probe import frame_times, probe

    info = probe(path)
    rate = info.fps if out_fps is None else _rate(out_fps, "out_fps")
    count = conformed_frame_count(path, rate) if count is None else _count(count, "count")
    if not info.variable_rate:
        return cfr_frame_map(info.frame_count, info.fps, rate, count)
    return source_frame_map(frame_times(path), info.duration, rate, count)
