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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

from .errors import PlanError
from .lengths import MIN_WAN_LENGTH, is_wan_length, wan_length_nearest

MODES = ("chained", "independent")
MAX_OVERLAP_FLEX = 2


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
    end_anchor_frame: int         # guide frame that shows keyframe i+1 (always the last)
    context_frames: int           # leading guide frames copied from the previous segment (chained)


@dataclass(frozen=True)
class TravelPlan:
    mode: str
    exact_keyframes: bool
    segment_frames: list[int]     # requested keyframe distances, one per segment
    overlaps: list[int]           # overlaps actually used, one per boundary (after any flex)
    segments: list[TravelSegment]
    total_frames: int
    keyframe_frames: list[int]
    requested_keyframe_frames: list[int]
    warnings: list[str] = field(default_factory=list)

    @property
    def max_keyframe_error(self) -> int:
        return max(abs(a - b) for a, b in zip(self.keyframe_frames, self.requested_keyframe_frames))

    def to_dict(self) -> dict:
        """The JSON contract of ``segue plan travel --json``."""
        return {
            "mode": self.mode,
            "exact_keyframes": self.exact_keyframes,
            "segments": [asdict(s) for s in self.segments],
            "total_frames": self.total_frames,
            "keyframe_frames": list(self.keyframe_frames),
            "requested_keyframe_frames": list(self.requested_keyframe_frames),
            "max_keyframe_error": self.max_keyframe_error,
            "warnings": list(self.warnings),
        }


def expand_per_item(values: int | Sequence[int], count: int, name: str, what: str) -> list[int]:
    """A scalar or 1-element list broadcasts to ``count`` entries; otherwise exactly ``count``."""
    if isinstance(values, bool):
        raise PlanError(f"{name}={values!r} must be an integer or a list of integers")
    if isinstance(values, int):
        return [values] * count
    items = list(values)
    if len(items) == 1:
        return items * count
    if len(items) != count:
        raise PlanError(
            f"{name} has {len(items)} values {items} but there {'is' if count == 1 else 'are'} "
            f"{count} {what}: give one value (used for all) or exactly {count}"
        )
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int):
            raise PlanError(f"{name} contains {v!r}: every entry must be a whole number of frames")
    return items


def plan_travel(
    keyframe_count: int,
    segment_frames: int | Sequence[int],
    overlap: int | Sequence[int],
    mode: str = "chained",
    exact_keyframes: bool = False,
) -> TravelPlan:
    """Plan a travel through ``keyframe_count`` keyframes.

    ``segment_frames`` is the distance in frames between successive keyframes (the seeds'
    ``segment_frames_expanded``); ``overlap`` the frames cross-faded at each boundary.
    """
    if mode not in MODES:
        raise PlanError(f"mode={mode!r} is not a travel mode: use one of {', '.join(MODES)}")
    if keyframe_count < 2:
        raise PlanError(
            f"a travel needs at least 2 keyframe images, got {keyframe_count}: add an end image"
        )
    n_segments = keyframe_count - 1
    frames = expand_per_item(segment_frames, n_segments, "segment_frames", "segments")
    overlaps = expand_per_item(overlap, n_segments - 1, "overlap", "boundaries") if n_segments > 1 else []
    if n_segments == 1 and not isinstance(overlap, int) and len(list(overlap)) > 1:
        raise PlanError(f"overlap={list(overlap)} given but a 2-keyframe travel has no boundary: give one value")
    _validate(frames, overlaps, exact_keyframes)

    requested = [0]
    for f in frames:
        requested.append(requested[-1] + f)

    warnings: list[str] = []
    used_overlaps = list(overlaps)
    lengths: list[int] = []
    positions = [0]
    trim0 = 0
    for i in range(n_segments):
        prev_overlap = used_overlaps[i - 1] if i else 0
        # Frames from the first used frame of this segment to keyframe i+1 inclusive.
        ideal = requested[i + 1] - positions[i] + (prev_overlap if i else 1)
        if is_wan_length(ideal):
            length = ideal
        elif exact_keyframes and i == 0:
            # No overlap to flex before keyframe 0: generate a short lead-in and trim it.
            length = ideal + (1 - ideal) % 4
            trim0 = length - ideal
        elif exact_keyframes:
            flex = _overlap_flex(ideal, prev_overlap, frames, i)
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
        next_overlap = used_overlaps[i] if i < n_segments - 1 else 0
        trim = trim0 if i == 0 else 0
        if i:
            start = positions[i] - prev_overlap + 1
        if prev_overlap + next_overlap > length - trim:
            raise PlanError(
                f"segment {i} has {length - trim} frames but its overlaps need {prev_overlap} + "
                f"{next_overlap}: lower overlap at boundaries {i - 1}/{i} or raise segment_frames[{i}]"
            )
        segments.append(TravelSegment(
            index=i,
            generate_frames=length,
            overlap_from_previous=prev_overlap,
            overlap_with_next=next_overlap,
            start_frame=start,
            trim_start=trim,
            start_anchor_frame=trim if i == 0 else prev_overlap - 1,
            end_anchor_frame=length - 1,
            context_frames=prev_overlap if (i and mode == "chained") else 0,
        ))
    for i, length in enumerate(lengths):
        if length > 129:
            warnings.append(
                f"segment {i} generates {length} frames; Wan models are trained on up to 81 and "
                f"quality drops beyond about 129: use more keyframes or shorter segments"
            )
    return TravelPlan(
        mode=mode,
        exact_keyframes=exact_keyframes,
        segment_frames=frames,
        overlaps=used_overlaps,
        segments=segments,
        total_frames=positions[-1] + 1,
        keyframe_frames=positions,
        requested_keyframe_frames=requested,
        warnings=warnings,
    )


def _validate(frames: list[int], overlaps: list[int], exact_keyframes: bool) -> None:
    for i, f in enumerate(frames):
        if f < MIN_WAN_LENGTH - 1:
            raise PlanError(
                f"segment_frames[{i}]={f} is too short: a segment needs at least "
                f"{MIN_WAN_LENGTH - 1} frames between its keyframes"
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


def _overlap_flex(ideal: int, overlap: int, frames: list[int], i: int) -> int:
    """Smallest change (|flex| <= 2) to the previous overlap that makes ``ideal`` a 4n+1 length."""
    up = (1 - ideal) % 4             # 0..3 frames more overlap
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
