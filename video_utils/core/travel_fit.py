"""Fitting a travel segment to a 4n+1 length by flexing an overlap or the loop seam.

A keyframe lands exactly only when the frames from the previous keyframe to it make a 4n+1
generation; ``plan_travel`` asks these solvers for the smallest change that does.  The change is
bounded by ``MAX_OVERLAP_FLEX`` so a cross-fade never moves more than a couple of frames from what
was asked, which is also why ``exact_keyframes`` needs overlaps of at least ``1 + MAX_OVERLAP_FLEX``
(``travel_inputs.check_travel_frames``).
"""

from __future__ import annotations

from .errors import PlanError
from .lengths import is_wan_length

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
