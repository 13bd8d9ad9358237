"""Checking and expanding a travel's inputs before ``plan_travel`` does any arithmetic.

Inputs come from node widgets, plan files and the CLI, so a per-segment value may be one number
or a list, and anything else (a string, ``True``, a wrong count, an overlap as long as its
segment) is refused here with a ``PlanError`` that names the input and the fix.  Keeping this
apart leaves ``plan_travel`` with only well-formed numbers to place on the timeline.
"""

from __future__ import annotations

import numbers
from typing import Sequence

from .errors import PlanError
from .lengths import MAX_SEGMENT_FRAMES, MAX_VIDEO_FRAMES, MIN_WAN_LENGTH, whole_number
from .travel_fit import MAX_OVERLAP_FLEX


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


def boundary_overlaps(overlap: int | Sequence[int], n_boundaries: int, count: int) -> list[int]:
    """One overlap per stitch boundary; with a single segment there is none, but ``overlap`` must
    still be a number (or a list of at most one) so a typo is not silently ignored."""
    if n_boundaries:
        return expand_per_item(overlap, n_boundaries, "overlap", "boundaries")
    if isinstance(overlap, Sequence) and not isinstance(overlap, (str, bytes)) and len(overlap) > 1:
        raise PlanError(f"overlap={list(overlap)} given but a {count}-keyframe travel has no boundary: "
                        f"give one value")
    if not (isinstance(overlap, Sequence) and len(overlap) == 0):
        expand_per_item(overlap, 1, "overlap", "boundaries")
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
