"""Frame arithmetic of a travel between keyframe images.

Both modes share one timeline.  Segment ``i`` runs from keyframe ``i`` to keyframe ``i+1`` and is
generated with ``generate_frames`` (4n+1) frames whose last frame is keyframe ``i+1``.  Segment
``i+1`` overlaps the last ``overlap`` frames of segment ``i``; the stitch cross-fades that region so
that its last frame (alpha = 1) is keyframe ``i+1``.  In *chained* mode the overlap frames are the
previous segment's own output (kept by the mask, so motion continues); in *independent* mode they
are generated as a lead-in toward the shared keyframe, so every segment can run in parallel.

Keyframe ``i`` is *requested* at ``sum(segment_frames[:i])``.  The original system floored every
chained length to 4n+1 and drifted by up to 3 frames per segment, accumulating.  Here each
segment's length is chosen from where the previous keyframe actually landed (error feedback), so
every keyframe lands within 2 frames of its request for any number of segments.  With
``exact_keyframes`` each overlap flexes by at most 2 frames (and segment 0 gets a short lead-in
that is trimmed away) so every keyframe lands exactly.

One image (``keyframe_count=1``): one segment of ``segment_frames + 1`` frames that starts on the
image and ends free (``end_anchor_frame is None``): the last frame is generated, not anchored.

Seamless loop (``loop=True``): one more, *closing* segment runs from the last keyframe back to
keyframe 0, and the video is ``sum(segment_frames)`` frames long exactly (3 keyframes x 48 ->
144 frames, keyframes at 0, 48, 96; frame 144 would be keyframe 0 again and is not in the video).
The closing segment's guide ends with the first ``loop_overlap`` frames of segment 0's *saved*
output (video frames ``0..e-1``, mask 0; ``end_context_frames``), the way a join's B context is
kept, so its motion runs into frame 0 without a jump.  Those re-created frames are then dropped
(``trim_end``): the closing segment is saved without them, so the stitch is the plain linear
stitch of ``plan.overlaps`` and nothing repeats at the seam.  ``loop_overlap`` (default: the last
overlap) flexes as needed to make the closing length 4n+1 (by at most 2 when segment 0 has the
frames, never beyond segment 0's frames before its own cross-fade; only when segment 0 is too short
for any fitting seam does the closing segment's previous overlap flex by up to 2 instead), which is
why a loop's total is always exact.
Order: the closing segment reads segment 0 in both modes (``plan.dependencies(i)``), so it runs
last in chained mode (after segment n-2) and after segment 0 in independent mode.  A one-image
loop has no segment 0 to read: its single segment is guided by the image at both ends and saved
without its last frame (``trim_end=1``).

Two frame rates.  Segments are generated and stitched at ``generation_fps``; the stitched video
is retimed to ``output_fps`` at the end (``lengths.retime_count`` / ``retime_source``), so keyframe
``k`` lands at output frame ``round(keyframe_frames[k] * out/gen)`` (``output_keyframe_frames``).
Equal rates (the default) change nothing.

Inputs are checked and expanded before any arithmetic (a per-segment value may be one number or
a list; a string, ``True``, a wrong count or an overlap as long as its segment is refused naming
the input and the fix), so ``plan_travel`` places only well-formed numbers; the overlap and seam
flexes that make a length 4n+1 are bounded by ``MAX_OVERLAP_FLEX`` so a cross-fade never moves
more than a couple of frames from what was asked, which is also why ``exact_keyframes`` needs
overlaps of at least ``1 + MAX_OVERLAP_FLEX``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
import numbers
from typing import Sequence

from .constants import DEFAULT_TRAVEL_MODE, TRAVEL_MODES
from .errors import PlanError
from .lengths import (GENERATION_FPS, MAX_GENERATION_FRAMES, MAX_ITEMS, MAX_SEGMENT_FRAMES, MAX_VIDEO_FRAMES,
                      MIN_WAN_LENGTH, WARN_GENERATION_FRAMES, check_rates, flag, fps_text, is_wan_length,
                      retime_count, retime_index, wan_length_ceil, wan_length_nearest, whole_number)



@dataclass(frozen=True)
class TravelSegment:
    """One generated leg, with every number a guide builder or stitch needs."""

    index: int
    generate_frames: int          # 4n+1 frames handed to the sampler
    overlap_from_previous: int    # leading frames cross-faded with the previous segment
    overlap_with_next: int        # trailing frames cross-faded with the next segment
    start_frame: int              # final-video position of the first frame kept (after trim_start)
    trim_start: int               # leading generated frames dropped (segment 0 lead-in only)
    start_anchor_frame: int       # guide frame that shows (or, chained, continues into) keyframe i
    end_anchor_frame: int | None  # guide frame that shows the end keyframe; None = free end (one image)
    context_frames: int           # leading guide frames copied from the previous segment (chained)
    trim_end: int = 0             # trailing generated frames dropped (loop closing segment only)
    end_context_frames: int = 0   # trailing guide frames copied from segment 0's saved output (loop)
    end_keyframe: int | None = None  # keyframe shown at end_anchor_frame ((i+1) % count); None = free

    @property
    def kept_frames(self) -> int:
        """Frames this segment contributes before overlaps: what its saved file holds."""
        return self.generate_frames - self.trim_start - self.trim_end


@dataclass(frozen=True)
class TravelPlan:
    mode: str
    exact_keyframes: bool
    segment_frames: list[int]     # requested keyframe distances, one per segment
    overlaps: list[int]           # overlaps actually used, one per stitch boundary (after any flex)
    segments: list[TravelSegment]
    total_frames: int             # generation-rate frames of the stitched video (a loop: its period)
    keyframe_frames: list[int]
    requested_keyframe_frames: list[int]
    warnings: list[str] = field(default_factory=list)
    loop: bool = False
    loop_overlap: int = 0         # seam frames actually used (= closing segment's end_context_frames)
    generation_fps: Fraction = GENERATION_FPS
    output_fps: Fraction = GENERATION_FPS

    @property
    def max_keyframe_error(self) -> int:
        return max(abs(a - b) for a, b in zip(self.keyframe_frames, self.requested_keyframe_frames))

    @property
    def keyframe_count(self) -> int:
        return len(self.keyframe_frames)

    @property
    def output_total_frames(self) -> int:
        """Frames of the delivered video at ``output_fps`` (after retiming the stitch)."""
        return retime_count(self.total_frames, self.generation_fps, self.output_fps, self.loop)

    @property
    def output_keyframe_frames(self) -> list[int]:
        return [retime_index(f, self.generation_fps, self.output_fps) for f in self.keyframe_frames]

    @property
    def duration(self) -> Fraction:
        """Exact seconds of the stitched video (a loop: one period)."""
        return Fraction(self.total_frames) / self.generation_fps

    def dependencies(self, index: int) -> tuple[int, ...]:
        """Segments whose saved output segment ``index``'s guide reads (generate those first)."""
        seg = self.segments[index]
        deps = set()
        if seg.context_frames:
            deps.add(index - 1)
        if seg.end_context_frames:
            deps.add(0)
        return tuple(sorted(deps))

    def to_dict(self) -> dict:
        """The JSON contract of ``segue plan travel --json``."""
        return {
            "mode": self.mode,
            "exact_keyframes": self.exact_keyframes,
            "loop": self.loop,
            "loop_overlap": self.loop_overlap,
            "segments": [asdict(s) for s in self.segments],
            "total_frames": self.total_frames,
            "keyframe_frames": list(self.keyframe_frames),
            "requested_keyframe_frames": list(self.requested_keyframe_frames),
            "max_keyframe_error": self.max_keyframe_error,
            "generation_fps": fps_text(self.generation_fps),
            "output_fps": fps_text(self.output_fps),
            "output_total_frames": self.output_total_frames,
            "output_keyframe_frames": self.output_keyframe_frames,
            "seconds": round(float(self.duration), 6),
            "keyframe_seconds": [round(float(f / self.generation_fps), 6) for f in self.keyframe_frames],
            "warnings": list(self.warnings),
        }


def segment_count(keyframe_count: int, loop: bool = False) -> int:
    """Segments of a travel: one per keyframe pair, one for a single image (a free end), one more
    back to the first keyframe for a loop."""
    return keyframe_count if loop else max(keyframe_count - 1, 1)


def plan_travel(
    keyframe_count: int,
    segment_frames: int | Sequence[int],
    overlap: int | Sequence[int],
    mode: str = DEFAULT_TRAVEL_MODE,
    exact_keyframes: bool = False,
    *,
    loop: bool = False,
    loop_overlap: int | None = None,
    generation_fps=None,
    output_fps=None,
) -> TravelPlan:
    """Plan a travel through ``keyframe_count`` keyframes.

    ``segment_frames`` is the distance in frames between successive keyframes (the seeds'
    ``segment_frames_expanded``); ``overlap`` the frames cross-faded at each boundary.  One
    keyframe: one segment with a free end.  ``loop``: one more segment back to keyframe 0 (so
    ``segment_frames`` has one entry per keyframe); ``loop_overlap`` the seam's context frames.
    ``generation_fps`` (default 16) / ``output_fps`` (default = generation) only add the output
    timeline; every generation-rate number is the same for any rates.
    """
    if not isinstance(mode, str) or mode not in TRAVEL_MODES:
        raise PlanError(f"mode={mode!r} is not a travel mode: use one of {', '.join(TRAVEL_MODES)}")
    count = whole_number(keyframe_count, "keyframe_count", 1, MAX_ITEMS,
                         fix="a travel needs at least 1 keyframe image: add an image")
    exact = flag(exact_keyframes, "exact_keyframes")
    loop = flag(loop, "loop")
    gen, out = check_rates(generation_fps, output_fps)
    n_segments = segment_count(count, loop)
    frames = expand_per_item(segment_frames, n_segments, "segment_frames", "segments")
    n_boundaries = n_segments - 1
    overlaps = boundary_overlaps(overlap, n_segments, single=f"a {count}-keyframe travel")
    check_travel_frames(frames, overlaps, exact)
    seam = seam_request(loop, loop_overlap, count, overlaps)

    requested = [0]
    for f in frames:
        requested.append(requested[-1] + f)

    warnings: list[str] = []
    used_overlaps = list(overlaps)
    lengths: list[int] = []
    positions = [0]
    trim0 = 0
    seam_used = 0
    closing = n_segments - 1 if loop and count >= 2 else None
    for i in range(n_segments):
        prev_overlap = used_overlaps[i - 1] if i else 0
        if i == closing:
            # From the first used frame to keyframe 0 (again) inclusive, plus the seam context.
            base = requested[i + 1] - positions[i] + prev_overlap - 1
            # Segment 0's frames before its cross-fade; with 2 keyframes that cross-fade is the
            # closing segment's own previous overlap, so a flex of it moves the limit too.
            head = lengths[0] - trim0 - used_overlaps[0]
            seam_used, flex = seam_flex(base, seam, lambda f: head - (f if i == 1 else 0), prev_overlap,
                                         min(frames[i - 1], frames[i]))
            used_overlaps[i - 1] = prev_overlap + flex
            lengths.append(base + flex + seam_used)
            positions.append(requested[i + 1])
            continue
        # Frames from the first used frame of this segment to keyframe i+1 inclusive.
        ideal = requested[i + 1] - positions[i] + (prev_overlap if i else 1)
        if is_wan_length(ideal):
            length = ideal
        elif exact and i == 0:
            # No overlap to flex before keyframe 0: generate a short lead-in and trim it.
            length = wan_length_ceil(ideal)
            trim0 = length - ideal
        elif exact:
            flex = overlap_flex(ideal, prev_overlap, frames, i)
            used_overlaps[i - 1] = prev_overlap + flex
            length = ideal + flex
        else:
            length = wan_length_nearest(ideal)
        lengths.append(length)
        if i == 0:
            positions.append(length - 1 - trim0)
        else:
            positions.append(positions[i] + length - used_overlaps[i - 1])

    segments = []
    start = 0
    for i, length in enumerate(lengths):
        prev_overlap = used_overlaps[i - 1] if i else 0
        next_overlap = used_overlaps[i] if i < n_boundaries else 0
        trim = trim0 if i == 0 else 0
        trim_end = seam_used if i == closing else (1 if loop and count == 1 else 0)
        free_end = not loop and count == 1
        if i:
            start = positions[i] - prev_overlap + 1
        if prev_overlap + next_overlap > length - trim - trim_end:
            raise PlanError(
                f"segment {i} has {length - trim - trim_end} frames but its overlaps need {prev_overlap} + "
                f"{next_overlap}: lower overlap at boundaries {i - 1}/{i} or raise segment_frames[{i}]"
            )
        if length > MAX_GENERATION_FRAMES:
            raise PlanError(
                f"segment_frames[{i}]={frames[i]} makes segment {i} generate {length} frames, above the limit of "
                f"{MAX_GENERATION_FRAMES}: use more keyframes or shorter segments"
            )
        segments.append(TravelSegment(
            index=i,
            generate_frames=length,
            overlap_from_previous=prev_overlap,
            overlap_with_next=next_overlap,
            start_frame=start,
            trim_start=trim,
            start_anchor_frame=trim if i == 0 else prev_overlap - 1,
            end_anchor_frame=None if free_end else (length - seam_used if i == closing else length - 1),
            context_frames=prev_overlap if (i and mode == "chained") else 0,
            trim_end=trim_end,
            end_context_frames=seam_used if i == closing else 0,
            end_keyframe=None if free_end else (i + 1) % count,
        ))
    for i, length in enumerate(lengths):
        if length > WARN_GENERATION_FRAMES:
            warnings.append(
                f"segment {i} generates {length} frames; Wan models are trained on up to 81 and "
                f"quality drops beyond about {WARN_GENERATION_FRAMES}: use more keyframes or shorter segments"
            )
    if loop:
        total, keyframe_positions = positions[-1], positions[:-1]
    else:
        total, keyframe_positions = positions[-1] + 1, positions[:count]
    return TravelPlan(
        mode=mode,
        exact_keyframes=exact,
        segment_frames=frames,
        overlaps=used_overlaps,
        segments=segments,
        total_frames=total,
        keyframe_frames=keyframe_positions,
        requested_keyframe_frames=requested[:count],
        warnings=warnings,
        loop=loop,
        loop_overlap=seam_used,
        generation_fps=gen,
        output_fps=out,
    )


# --- the inputs, checked and expanded ----------------------------------------------------------

def expand_per_item(values: int | Sequence[int], count: int, name: str, what: str) -> list[int]:
    """A scalar or 1-element list broadcasts to ``count`` entries; otherwise exactly ``count``.

    Entries must be whole numbers within ``MAX_SEGMENT_FRAMES`` (minimums are the caller's)."""
    if isinstance(values, bool):
        raise PlanError(f"{name}={values!r} must be an integer or a list of integers")
    if isinstance(values, numbers.Real):
        return [_entry(values, name)] * count
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise PlanError(f"{name}={values!r} must be an integer or a list of integers")
    items = list(values)
    if len(items) == 1:
        return [_entry(items[0], f"{name}[0]", name)] * count
    if len(items) != count:
        raise PlanError(
            f"{name} has {len(items)} values {items[:12]}{' ...' if len(items) > 12 else ''} but there "
            f"{'is' if count == 1 else 'are'} {count} {what}: give one value (used for all) or exactly {count}"
        )
    return [_entry(v, f"{name}[{i}]", name) for i, v in enumerate(items)]


def _entry(value, label: str, name: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PlanError(f"{name or label} contains {value!r}: every entry must be a whole number of frames")
    return whole_number(value, label, None, MAX_SEGMENT_FRAMES)


def boundary_overlaps(overlap, segments: int, name: str = "overlap", single: str = "a single segment") -> list[int]:
    """One overlap per stitch boundary of ``segments`` segments: one value for all, or exactly one
    per boundary (the travel planner and the stitch nodes).  With a single segment there is none,
    but ``overlap`` must still be one value so a typo is not silently ignored (``single`` names
    that case in the message)."""
    boundaries = segments - 1
    items = list(overlap) if isinstance(overlap, Sequence) and not isinstance(overlap, (str, bytes)) else None
    if items is not None and len(items) > 1 and len(items) != boundaries:
        if not boundaries:
            raise PlanError(f"{name}={items} given but {single} has no boundary: give one value")
        raise PlanError(f"{name}={items} has {len(items)} values but {segments} segments have {boundaries} "
                        f"boundaries: give one value for all or exactly {boundaries}")
    if boundaries:
        return expand_per_item(overlap, boundaries, name, "boundaries")
    if items != []:
        expand_per_item(overlap, 1, name, "boundaries")
    return []


def check_travel_frames(frames: list[int], overlaps: list[int], exact_keyframes: bool) -> None:
    """Ranges of the expanded segment lengths and overlaps (each overlap against its neighbours)."""
    for i, f in enumerate(frames):
        if f < MIN_WAN_LENGTH - 1:
            raise PlanError(
                f"segment_frames[{i}]={f} is too short: a segment needs at least "
                f"{MIN_WAN_LENGTH - 1} frames between its keyframes"
            )
    if sum(frames) > MAX_VIDEO_FRAMES:
        raise PlanError(
            f"segment_frames add up to {sum(frames)} frames, above the limit of {MAX_VIDEO_FRAMES}: "
            f"plan a shorter travel"
        )
    min_overlap = 1 + MAX_OVERLAP_FLEX if exact_keyframes else 1
    for i, o in enumerate(overlaps):
        if o < min_overlap:
            extra = " with exact_keyframes (it may flex by 2)" if exact_keyframes else " (1 = hard cut at the keyframe)"
            raise PlanError(f"overlap[{i}]={o} is too small: use at least {min_overlap}{extra}")
        shorter = min(frames[i], frames[i + 1])
        if o >= shorter:
            raise PlanError(
                f"overlap[{i}]={o} must be smaller than the segments on both sides "
                f"(segment_frames {frames[i]} and {frames[i + 1]}): use an overlap below {shorter}"
            )


def seam_request(loop: bool, loop_overlap, count: int, overlaps: list[int]) -> int:
    """The requested seam context of a loop (validated), 0 when there is none."""
    if not loop:
        if loop_overlap is not None:
            raise PlanError(f"loop_overlap={loop_overlap!r} is only used with loop=True: turn loop on or drop it")
        return 0
    if count == 1:
        if loop_overlap is not None and whole_number(loop_overlap, "loop_overlap", 1, MAX_SEGMENT_FRAMES) != 1:
            raise PlanError(
                f"loop_overlap={loop_overlap!r} cannot be used: a one-image loop has no earlier segment to run "
                f"into, it closes on the image itself; leave loop_overlap unset (or 1)"
            )
        return 1
    requested = overlaps[-1] if loop_overlap is None else loop_overlap
    return whole_number(requested, "loop_overlap", 1, MAX_SEGMENT_FRAMES,
                        fix="use at least 1 (1 = the closing segment ends on keyframe 0 alone)")


# --- fitting a segment to 4n+1 by flexing an overlap or the loop seam -----------------------------

MAX_OVERLAP_FLEX = 2


def seam_flex(base: int, seam: int, seam_limit, overlap: int, overlap_limit: int) -> tuple[int, int]:
    """``(e, flex)``: seam frames ``e`` nearest ``seam`` (ties: more) within ``1..seam_limit(flex)``
    (segment 0's frames before its own cross-fade) such that ``base + flex + e`` is a 4n+1 length.
    ``flex`` (a change to the closing segment's previous overlap, |flex| <= 2) stays 0 unless
    segment 0 is too short to offer a fitting ``e``."""
    for flex in sorted(range(-MAX_OVERLAP_FLEX, MAX_OVERLAP_FLEX + 1), key=lambda f: (abs(f), -f)):
        if flex and not 1 <= overlap + flex < overlap_limit:
            continue
        limit = seam_limit(flex)
        options = [e for e in range(max(1, seam - 3), min(limit, seam + 3) + 1) if is_wan_length(base + flex + e)]
        if not options and limit >= 1:
            options = [e for e in range(max(1, limit - 3), limit + 1) if is_wan_length(base + flex + e)]
        if options:
            return min(options, key=lambda e: (abs(e - seam), -e)), flex
    raise PlanError(
        f"loop_overlap={seam}: the closing segment needs up to {seam + 3} of segment 0's frames as seam "
        f"context but segment 0 shows only {max(seam_limit(0), 0)} before its overlap: raise segment_frames[0] "
        f"or lower overlap[0]"
    )


def overlap_flex(ideal: int, overlap: int, frames: list[int], i: int) -> int:
    """Smallest change (|flex| <= 2) to the previous overlap that makes ``ideal`` a 4n+1 length."""
    up = wan_length_ceil(ideal) - ideal   # 0..3 frames more overlap
    candidates = [up, up - 4]        # one of them is within +-2
    candidates.sort(key=lambda f: (abs(f), -f))
    limit = min(frames[i - 1], frames[i])
    for flex in candidates:
        if abs(flex) <= MAX_OVERLAP_FLEX and 1 <= overlap + flex < limit:
            return flex
    raise PlanError(
        f"exact_keyframes cannot flex overlap[{i - 1}]={overlap} by at most {MAX_OVERLAP_FLEX} frames "
        f"within 1..{limit - 1}: change overlap[{i - 1}] or segment_frames, or turn exact_keyframes off"
    )
