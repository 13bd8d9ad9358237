"""Frame arithmetic of extending a clip: ``L`` clip frames followed by new frames.

The new frames continue from the clip's last frames, optionally landing on keyframe images
(``--to IMAGE ...``): they are split into *legs*, leg ``j`` ending exactly on keyframe ``j``; with
no keyframe the end is free.  A leg longer than one generation (``max_generation``, 81 frames for
Wan by default) is split into several chained segments of near-equal size, never refused.

Each segment is a chained continuation (``guides.extend_segment_guide``, built on
``continuation_guide``): guide frames ``[0, context_frames)`` are the video's frames just before
the segment (the clip's last frames for segment 0, then the extended video so far; mask 0),
followed by ``new_frames`` generated frames, the last of them the leg's keyframe (mask 0) when the
segment ends a leg.  ``context_frames`` is ``overlap`` flexed by at most 2 so that
``context + new`` is a 4n+1 length; only when the video before is too short for that does the
segment generate up to 3 extra frames after its last new frame instead, dropped (``trim_end``).

Context frames are never written back: the sampler re-creates them, the output keeps the
original frames (the clip passes through, only conformed) and only appends each segment's
``new_frames`` (its file keeps generated frames ``saved_window``).  ``blend`` (default 0)
optionally cross-fades the last ``blend`` frames before each segment into the segment's
re-creation of them, hiding a small jump where the model's version of the context differs from
the original; it modifies those frames (for segment 0, the clip's last frames), so leave it at 0
to keep the clip untouched.

Two timelines (as a travel's).  The clip is OUTPUT frames: ``clip_frames`` is its length once
conformed to ``output_fps`` (the clip's own rate by default; ``conform.conform_video``: rotation
applied, variable-rate clips placed by their real timestamps).  What the sampler sees is
GENERATION frames at ``generation_fps`` (Wan's 16): ``frames``, ``overlap``, ``blend``,
``max_generation`` and every segment number count them, in a timeline where the clip holds
``clip_generation_frames`` frames counted back from its last frame (``clip_source``: the clip
frame nearest each, never a blend) and the new frames follow.  The new frames are retimed to the
output rate: leg ``j`` ends on output frame ``L - 1 + round(E_j * out / gen)`` (``E_j``: new frames
up to the end of leg ``j``, rounded half up), exactly its keyframe, so the output has ``L + F'``
frames, ``F' = round(F * out / gen)``: the extension lasts ``F / gen`` seconds at any output rate
(48 frames = 3 s = 90 frames at 30 fps).  Within a leg the output frames are evenly spaced
(``generation_position``).  ``layout()`` gives the stitch in output frames: the clip, then each
segment's saved frames retimed (``retime_sources``), overlapping by the output frames that fall
in its blend.  At equal rates every number is the single-rate plan's (``F' = F``) and every
position a whole frame.

Picture size: the output has the clip's size as displayed and its frames are only conformed.
Generation runs at the working size (``extend_assembly.extend_format``); the context frames are
scaled to it for the guide and the generated frames back to the output size in the assembly,
both with ``ROUND_TRIP_FIT`` so the two scalings undo each other.
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from functools import cached_property
from fractions import Fraction
from typing import Sequence

from .constants import DEFAULT_OVERLAP
from .errors import PlanError
from .lengths import (DEFAULT_MAX_GENERATION, MAX_GENERATION_FRAMES, MAX_ITEMS, MAX_VIDEO_FRAMES, MIN_WAN_LENGTH,
                      check_rates, fps_text, is_wan_length, round_half_up, wan_length_ceil, whole_number)

MAX_CONTEXT_FLEX = 2
# Clip -> generation size and back: "stretch" is its own inverse (crop both ways would zoom the
# generated frames in relative to the clip); at footage sizes the aspect changes by under 1.5 %.
ROUND_TRIP_FIT = "stretch"


@dataclass(frozen=True)
class ExtendSegment:
    """One generation, in generation frames; the video so far is the clip's
    ``clip_generation_frames`` followed by the earlier segments' new frames."""

    index: int
    leg: int                      # the leg this segment belongs to
    generate_frames: int          # 4n+1 frames handed to the sampler
    context_frames: int           # guide frames [0, context) = video frames [context_start, start_frame)
    new_frames: int               # guide frames [context, context + new) -> video [start_frame, ...)
    start_frame: int              # position of the segment's first new frame (generation timeline)
    trim_end: int                 # generated frames after the last new frame, dropped (0..3)
    end_keyframe: int | None      # keyframe kept at end_anchor_frame (None: free end)
    end_anchor_frame: int | None  # = context + new - 1 when the segment ends a leg on a keyframe
    blend_frames: int             # frames before start_frame cross-faded into the re-created context

    @property
    def context_start(self) -> int:
        return self.start_frame - self.context_frames


@dataclass(frozen=True)
class ExtendPlan:
    clip_frames: int              # output frames of the conformed clip
    new_frames: int               # generated new frames (generation rate)
    overlap: int
    max_generation: int
    blend: int
    leg_frames: list[int]         # generated new frames per leg
    output_leg_frames: list[int]  # the same legs in output frames
    keyframe_frames: list[int]    # output positions of the --to keyframes, in order
    segments: list[ExtendSegment]
    total_frames: int             # output frames: clip_frames + output_new_frames
    generation_fps: Fraction
    output_fps: Fraction
    warnings: list[str] = field(default_factory=list)

    @property
    def output_new_frames(self) -> int:
        return sum(self.output_leg_frames)

    @property
    def clip_generation_frames(self) -> int:
        """Generation-rate frames the clip holds, counted back from its last frame."""
        return clip_generation_frames(self.clip_frames, self.generation_fps, self.output_fps)

    def clip_source(self, position: int) -> int:
        """The clip frame (output index) shown at generation position ``position`` of the clip."""
        back = (self.clip_generation_frames - 1 - position) * self.output_fps / self.generation_fps
        return round_half_up(self.clip_frames - 1 - back)

    def generation_position(self, frame: int) -> Fraction:
        """Generation-timeline position of output frame ``frame`` (exact): the clip end-anchored at
        the output rate, then each leg's output frames evenly over its generated frames."""
        k = frame - (self.clip_frames - 1)
        last = self.clip_generation_frames - 1
        if k <= 0:
            return last + k * self.generation_fps / self.output_fps
        ends, out_ends = self._leg_ends
        j = bisect_left(out_ends, k)
        e0, o0 = (ends[j - 1], out_ends[j - 1]) if j else (0, 0)
        return last + e0 + Fraction((k - o0) * (ends[j] - e0), out_ends[j] - o0)

    @cached_property
    def _leg_ends(self) -> tuple[list[int], list[int]]:
        """Where each leg ends: new frames so far, generated and in output frames."""
        return _cumulative(self.leg_frames), _cumulative(self.output_leg_frames)

    def saved_window(self, index: int) -> tuple[int, int]:
        """Generated frames ``[start, end)`` segment ``index``'s file keeps: its blend and new frames."""
        s = self.segments[index]
        return s.context_frames - s.blend_frames, s.context_frames + s.new_frames

    def layout(self) -> tuple[list[tuple[str, int, int, int]], list[int]]:
        """Stitch pieces ``(kind, index, start, end)`` in output order, each covering output frames
        ``[start, end)`` (kind "clip" with index -1, or "segment": segment ``index``'s saved frames
        retimed, ``retime_sources``), and their overlaps in output frames."""
        pieces = [("clip", -1, 0, self.clip_frames)]
        overlaps = []
        for s in self.segments:
            start, end = self._span(s)
            overlaps.append(pieces[-1][3] - start)
            pieces.append(("segment", s.index, start, end))
        return pieces, overlaps

    def retime_sources(self, index: int) -> list[Fraction]:
        """Source position of each output frame of segment ``index``'s piece, in its saved frames
        preceded, when the segment has no blend, by the video's frame just before it (the clip's
        last frame, or the previous segment's last saved frame): position 0 is that frame."""
        s = self.segments[index]
        start, end = self._span(s)
        origin = s.start_frame - max(s.blend_frames, 1)
        return [self.generation_position(o) - origin for o in range(start, end)]

    def _span(self, s: ExtendSegment) -> tuple[int, int]:
        """Output frames shown from segment ``s``: from its blend (or right after the frame before
        it) to its last new frame."""
        if s.blend_frames:
            start = self._first_output(s.start_frame - s.blend_frames, after=False)
        else:
            start = self._first_output(s.start_frame - 1, after=True)
        return start, self._first_output(s.start_frame + s.new_frames - 1, after=True)

    def _first_output(self, position, after: bool) -> int:
        """The first output frame at (``after``: past) generation position ``position``."""
        lo, hi = 0, self.total_frames
        while lo < hi:
            mid = (lo + hi) // 2
            at = self.generation_position(mid)
            if at > position or (at == position and not after):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def to_dict(self) -> dict:
        pieces, overlaps = self.layout()
        return {
            "clip_frames": self.clip_frames,
            "new_frames": self.new_frames,
            "overlap": self.overlap,
            "max_generation": self.max_generation,
            "blend": self.blend,
            "leg_frames": list(self.leg_frames),
            "output_leg_frames": list(self.output_leg_frames),
            "keyframe_frames": list(self.keyframe_frames),
            "segments": [asdict(s) for s in self.segments],
            "total_frames": self.total_frames,
            "generation_fps": fps_text(self.generation_fps),
            "output_fps": fps_text(self.output_fps),
            "clip_generation_frames": self.clip_generation_frames,
            "layout": {"pieces": [list(p) for p in pieces], "overlaps": overlaps},
            "warnings": list(self.warnings),
        }


def clip_generation_frames(clip_frames: int, generation_fps, output_fps) -> int:
    """Frames of a ``clip_frames``-frame clip at ``output_fps`` sampled at ``generation_fps``,
    ending on its last frame (the clip itself at equal rates)."""
    return math.floor(Fraction(clip_frames - 1) * Fraction(generation_fps) / Fraction(output_fps)) + 1


def _cumulative(values: Sequence[int]) -> list[int]:
    out, total = [], 0
    for v in values:
        total += v
        out.append(total)
    return out


def plan_extend(
    clip_frames: int,
    frames: int | Sequence[int],
    overlap: int = DEFAULT_OVERLAP,
    keyframe_count: int = 0,
    max_generation: int = DEFAULT_MAX_GENERATION,
    blend: int = 0,
    *,
    generation_fps=None,
    output_fps=None,
) -> ExtendPlan:
    """Plan ``clip_frames`` clip frames (at ``output_fps``) followed by new frames.

    ``frames``: an int is the total of new frames (split evenly over the ``keyframe_count`` legs,
    earlier legs taking the remainder); a list gives each leg, ``keyframe_count`` entries (every
    leg ends on its keyframe) or ``keyframe_count + 1`` (a free leg after the last keyframe).
    ``overlap`` is the context taken from the video before each segment; ``max_generation`` the
    longest single generation (4n+1 or not; every segment is at most that long).  These count
    generation frames; ``generation_fps`` (default 16) and ``output_fps`` (default: the generation
    rate) set the two timelines.
    """
    gen, out = check_rates(generation_fps, output_fps)
    clip = whole_number(clip_frames, "clip_frames", 1, MAX_VIDEO_FRAMES,
                        fix="the clip needs at least 1 frame to continue from")
    count = whole_number(keyframe_count, "keyframe_count", 0, MAX_ITEMS)
    context = whole_number(overlap, "overlap", 1, MAX_GENERATION_FRAMES,
                           fix="use at least 1 context frame from the clip")
    longest = whole_number(max_generation, "max_generation", MIN_WAN_LENGTH, MAX_GENERATION_FRAMES)
    fade = whole_number(blend, "blend", 0, MAX_GENERATION_FRAMES)
    legs = _legs(frames, count)
    total_new = sum(legs)
    out_legs = _output_legs(legs, out / gen)
    if clip + sum(out_legs) > MAX_VIDEO_FRAMES:
        raise PlanError(
            f"clip_frames + frames = {clip + sum(out_legs)}, above the limit of {MAX_VIDEO_FRAMES}: extend less"
        )
    clip_gen = clip_generation_frames(clip, gen, out)
    if context > clip_gen:
        at = "" if gen == out else f" at {fps_text(gen)} fps ({clip} at {fps_text(out)} fps)"
        raise PlanError(f"overlap={context} but the clip has only {clip_gen} frames{at}: use an overlap of at most "
                        f"{clip_gen}")
    if context + 1 > longest:
        raise PlanError(
            f"max_generation={longest} leaves no room for new frames after overlap={context}: raise max_generation "
            f"or lower overlap"
        )
    if fade > context:
        raise PlanError(f"blend={fade} must not exceed overlap={context}: lower blend")

    segments: list[ExtendSegment] = []
    start = clip_gen
    for leg, n_leg in enumerate(legs):
        on_keyframe = leg < count
        sizes, shapes = _split_leg(n_leg, context, start, longest, leg, on_keyframe)
        for k, (n, (c, trim)) in enumerate(zip(sizes, shapes)):
            ends_on_keyframe = k == len(sizes) - 1 and on_keyframe
            previous = segments[-1].new_frames if segments else clip_gen
            segments.append(ExtendSegment(
                index=len(segments),
                leg=leg,
                generate_frames=c + n + trim,
                context_frames=c,
                new_frames=n,
                start_frame=start,
                trim_end=trim,
                end_keyframe=leg if ends_on_keyframe else None,
                end_anchor_frame=c + n - 1 if ends_on_keyframe else None,
                blend_frames=min(fade, c, previous),
            ))
            start += n
    warnings = []
    if any(s.blend_frames < fade for s in segments):
        warnings.append(f"blend={fade} was lowered where a segment's context or the frames before it are shorter")
    return ExtendPlan(
        clip_frames=clip, new_frames=total_new, overlap=context, max_generation=longest, blend=fade,
        leg_frames=legs, output_leg_frames=out_legs,
        keyframe_frames=[clip - 1 + e for e in _cumulative(out_legs)[:count]], segments=segments,
        total_frames=clip + sum(out_legs), generation_fps=gen, output_fps=out, warnings=warnings,
    )


def _output_legs(legs: list[int], ratio: Fraction) -> list[int]:
    """Output frames of each leg: the rounded output position of its end minus the previous one's."""
    ends = [round_half_up(e * ratio) for e in _cumulative(legs)]
    out = [b - a for a, b in zip([0] + ends, ends)]
    for j, n in enumerate(out):
        if n < 1:
            need = math.ceil(1 / ratio)
            raise PlanError(f"leg {j} ({legs[j]} frames at the generation rate) lasts less than one output frame at "
                            f"this frame rate: give it at least {need} frames")
    return out


def _legs(frames, count: int) -> list[int]:
    if isinstance(frames, bool):
        raise PlanError(f"frames={frames!r} must be a whole number of new frames or a list, one per leg")
    if isinstance(frames, numbers.Real):
        total = whole_number(frames, "frames", 1, MAX_VIDEO_FRAMES, fix="extend by at least 1 frame")
        legs = max(count, 1)
        if count and total < count * (MIN_WAN_LENGTH - 1):
            raise PlanError(
                f"frames={total} cannot reach {count} keyframes: each leg needs at least {MIN_WAN_LENGTH - 1} "
                f"frames, so use frames >= {count * (MIN_WAN_LENGTH - 1)}"
            )
        base, extra = divmod(total, legs)
        return [base + (1 if j < extra else 0) for j in range(legs)]
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Sequence):
        raise PlanError(f"frames={frames!r} must be a whole number of new frames or a list, one per leg")
    items = list(frames)
    allowed = (count, count + 1) if count else (1,)
    if len(items) not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise PlanError(
            f"frames has {len(items)} values but {count} keyframe{'s' if count != 1 else ''} make {want} legs: "
            f"give one value per leg (the last may be a free leg after the last keyframe) or one total"
        )
    legs = []
    for j, value in enumerate(items):
        minimum = MIN_WAN_LENGTH - 1 if j < count else 1
        legs.append(whole_number(value, f"frames[{j}]", minimum, MAX_VIDEO_FRAMES,
                                 fix=f"a leg {'to a keyframe ' if j < count else ''}needs at least {minimum} frames"))
    return legs


def _split_leg(n_leg: int, context: int, start: int, longest: int, leg: int, on_keyframe: bool):
    """Near-equal segment sizes of one leg and each segment's ``(context, trim_end)``."""
    first = max(1, -(-n_leg // max(longest - context + MAX_CONTEXT_FLEX, 1)))
    for m in range(first, min(first + 16, n_leg) + 1):
        sizes = [n_leg // m + (1 if k < n_leg % m else 0) for k in range(m)]
        if on_keyframe and sizes[-1] < 2:
            break       # a keyframe segment must generate something besides its keyframe
        shapes, position = [], start
        for n in sizes:
            shape = _segment_shape(n, context, position, longest)
            if shape is None:
                break
            shapes.append(shape)
            position += n
        else:
            return sizes, shapes
    raise PlanError(
        f"leg {leg} ({n_leg} frames) cannot be split into generations of at most max_generation={longest} "
        f"frames with overlap={context}: raise max_generation or lower overlap"
    )


def _segment_shape(new: int, context: int, available: int, longest: int) -> tuple[int, int] | None:
    """``(context_frames, trim_end)`` for ``new`` new frames after ``available`` frames, or None."""
    options = [c for c in range(max(1, context - MAX_CONTEXT_FLEX), min(context + MAX_CONTEXT_FLEX, available) + 1)
               if is_wan_length(c + new) and c + new <= longest]
    if options:
        return min(options, key=lambda c: (abs(c - context), -c)), 0
    c = min(context, available)
    trim = wan_length_ceil(c + new) - (c + new)
    return (c, trim) if c + new + trim <= longest else None
