"""Frame arithmetic of extending a clip: ``L`` clip frames followed by ``F`` new frames.

The new frames continue from the clip's last frames, optionally landing on keyframe images
(``--to IMAGE ...``): they are split into *legs*, leg ``j`` ending exactly on keyframe ``j``
(output frame ``L - 1 + sum(leg_frames[:j+1])``); with no keyframe the end is free.  A leg longer
than one generation (``max_generation``, 81 frames for Wan by default) is split into several
chained segments of near-equal size, never refused.  The output has ``L + F`` frames exactly.

Each segment is a chained continuation (``guides.extend_segment_guide``, built on
``continuation_guide``): guide frames ``[0, context_frames)`` are the video's frames just before
the segment (the clip's last frames for segment 0, then the extended video so far; mask 0),
followed by ``new_frames`` generated frames, the last of them the leg's keyframe (mask 0) when the
segment ends a leg.  ``context_frames`` is ``overlap`` flexed by at most 2 so that
``context + new`` is a 4n+1 length; only when the video before is too short for that does the
segment generate up to 3 extra frames after its last new frame instead, dropped (``trim_end``).

Context frames are never written back: the sampler re-creates them, the output keeps the
original frames (the clip passes through bit for bit) and only appends each segment's
``new_frames``.  ``blend`` (default 0) optionally cross-fades the last ``blend`` frames before each
segment into the segment's re-creation of them, hiding a small jump where the model's version of
the context differs from the original; it modifies those frames (for segment 0, the clip's last
``blend`` frames), so leave it at 0 to keep the clip untouched.  ``ExtendPlan.layout()`` gives the
pieces and overlaps for ``stitch.stitch_segments`` / ``stitch_stream``: the clip, then generated
frames ``[context - blend, context + new)`` of each segment, overlapping by ``blend``.

Single frame rate: the clip's frames are the context as they are, so conform the clip to the
generation rate first (or accept its rate as the generation rate).

Single picture size: the output has the clip's size and the clip's frames are never resized.
Generation runs at ``sizes.generation_size(clip)`` (multiples of 16, about 832x480 at most); when that differs from the clip,
the context frames are scaled to it for the guide and the generated frames scaled back to the
clip's size in the assembly, both with ``ROUND_TRIP_FIT`` so the two scalings undo each other.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field
from typing import Sequence

from .errors import PlanError
from .lengths import (
    DEFAULT_MAX_GENERATION,
    MAX_GENERATION_FRAMES,
    MAX_ITEMS,
    MAX_VIDEO_FRAMES,
    MIN_WAN_LENGTH,
    is_wan_length,
    whole_number,
)

MAX_CONTEXT_FLEX = 2
# Clip -> generation size and back: "stretch" is its own inverse (crop both ways would zoom the
# generated frames in relative to the clip); at footage sizes the aspect changes by under 1.5 %.
ROUND_TRIP_FIT = "stretch"


@dataclass(frozen=True)
class ExtendSegment:
    index: int
    leg: int                      # the leg this segment belongs to
    generate_frames: int          # 4n+1 frames handed to the sampler
    context_frames: int           # guide frames [0, context) = output frames [context_start, start_frame)
    new_frames: int               # guide frames [context, context + new) -> output [start_frame, ...)
    start_frame: int              # output position of the segment's first new frame
    trim_end: int                 # generated frames after the last new frame, dropped (0..3)
    end_keyframe: int | None      # keyframe kept at end_anchor_frame (None: free end)
    end_anchor_frame: int | None  # = context + new - 1 when the segment ends a leg on a keyframe
    blend_frames: int             # frames before start_frame cross-faded into the re-created context

    @property
    def context_start(self) -> int:
        return self.start_frame - self.context_frames


@dataclass(frozen=True)
class ExtendPlan:
    clip_frames: int
    new_frames: int
    overlap: int
    max_generation: int
    blend: int
    leg_frames: list[int]
    keyframe_frames: list[int]    # output positions of the --to keyframes, in order
    segments: list[ExtendSegment]
    total_frames: int
    warnings: list[str] = field(default_factory=list)

    def layout(self) -> tuple[list[tuple[str, int, int, int]], list[int]]:
        """Stitch pieces ``(kind, index, start, end)`` in output order (kind "clip" with index -1,
        or "segment": generated frames ``[start, end)`` of segment ``index``) and their overlaps."""
        pieces = [("clip", -1, 0, self.clip_frames)]
        overlaps = []
        for s in self.segments:
            pieces.append(("segment", s.index, s.context_frames - s.blend_frames, s.context_frames + s.new_frames))
            overlaps.append(s.blend_frames)
        return pieces, overlaps

    def to_dict(self) -> dict:
        pieces, overlaps = self.layout()
        return {
            "clip_frames": self.clip_frames,
            "new_frames": self.new_frames,
            "overlap": self.overlap,
            "max_generation": self.max_generation,
            "blend": self.blend,
            "leg_frames": list(self.leg_frames),
            "keyframe_frames": list(self.keyframe_frames),
            "segments": [asdict(s) for s in self.segments],
            "total_frames": self.total_frames,
            "layout": {"pieces": [list(p) for p in pieces], "overlaps": overlaps},
            "warnings": list(self.warnings),
        }


def plan_extend(
    clip_frames: int,
    frames: int | Sequence[int],
    overlap: int = 8,
    keyframe_count: int = 0,
    max_generation: int = DEFAULT_MAX_GENERATION,
    blend: int = 0,
) -> ExtendPlan:
    """Plan ``clip_frames`` clip frames followed by new frames.

    ``frames``: an int is the total of new frames (split evenly over the ``keyframe_count`` legs,
    earlier legs taking the remainder); a list gives each leg, ``keyframe_count`` entries (every
    leg ends on its keyframe) or ``keyframe_count + 1`` (a free leg after the last keyframe).
    ``overlap`` is the context taken from the video before each segment; ``max_generation`` the
    longest single generation (4n+1 or not; every segment is at most that long).
    """
    clip = whole_number(clip_frames, "clip_frames", 1, MAX_VIDEO_FRAMES,
                        fix="the clip needs at least 1 frame to continue from")
    count = whole_number(keyframe_count, "keyframe_count", 0, MAX_ITEMS)
    context = whole_number(overlap, "overlap", 1, MAX_GENERATION_FRAMES,
                           fix="use at least 1 context frame from the clip")
    longest = whole_number(max_generation, "max_generation", MIN_WAN_LENGTH, MAX_GENERATION_FRAMES)
    fade = whole_number(blend, "blend", 0, MAX_GENERATION_FRAMES)
    legs = _legs(frames, count)
    total_new = sum(legs)
    if clip + total_new > MAX_VIDEO_FRAMES:
        raise PlanError(
            f"clip_frames + frames = {clip + total_new}, above the limit of {MAX_VIDEO_FRAMES}: extend less"
        )
    if context > clip:
        raise PlanError(f"overlap={context} but the clip has only {clip} frames: use an overlap of at most {clip}")
    if context + 1 > longest:
        raise PlanError(
            f"max_generation={longest} leaves no room for new frames after overlap={context}: raise max_generation "
            f"or lower overlap"
        )
    if fade > context:
        raise PlanError(f"blend={fade} must not exceed overlap={context}: lower blend")

    segments: list[ExtendSegment] = []
    keyframe_frames: list[int] = []
    start = clip
    for leg, n_leg in enumerate(legs):
        on_keyframe = leg < count
        sizes, shapes = _split_leg(n_leg, context, start, longest, leg, on_keyframe)
        for k, (n, (c, trim)) in enumerate(zip(sizes, shapes)):
            last = k == len(sizes) - 1
            ends_on_keyframe = last and on_keyframe
            previous = segments[-1].new_frames if segments else clip
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
        if on_keyframe:
            keyframe_frames.append(start - 1)
    warnings = []
    if any(s.blend_frames < fade for s in segments):
        warnings.append(f"blend={fade} was lowered where a segment's context or the frames before it are shorter")
    return ExtendPlan(
        clip_frames=clip, new_frames=total_new, overlap=context, max_generation=longest, blend=fade,
        leg_frames=legs, keyframe_frames=keyframe_frames, segments=segments, total_frames=start,
        warnings=warnings,
    )


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
    trim = (1 - (c + new)) % 4
    return (c, trim) if c + new + trim <= longest else None
