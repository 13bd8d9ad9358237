"""Travel planning invariants: 4n+1 lengths, totals, keyframe positions (property-based)."""

import pytest
from hypothesis import given, settings, strategies as st

from segue.video_utils.errors import PlanError
from segue.video_utils.lengths import is_wan_length, wan_length_ceil, wan_length_floor, wan_length_nearest
from segue.video_utils.travel_plan import plan_travel


@st.composite
def travels(draw, min_overlap=1):
    n = draw(st.integers(2, 36))
    frames = draw(st.lists(st.integers(8, 120), min_size=n - 1, max_size=n - 1))
    overlaps = [draw(st.integers(min_overlap, min(frames[i], frames[i + 1]) - 1 - 2)) for i in range(n - 2)]
    mode = draw(st.sampled_from(["chained", "independent"]))
    return n, frames, overlaps, mode


def _stitched_total(plan):
    return sum(s.generate_frames for s in plan.segments) - sum(plan.overlaps) - plan.segments[0].trim_start


def test_length_policy():
    assert [wan_length_floor(x) for x in (1, 4, 5, 80, 81, 84)] == [1, 1, 5, 77, 81, 81]
    assert [wan_length_ceil(x) for x in (1, 2, 5, 80, 82)] == [1, 5, 5, 81, 85]
    assert wan_length_nearest(82) == 81 and wan_length_nearest(84) == 85 and wan_length_nearest(83) == 85


def test_worked_example_beats_original():
    # Original: 3 images, 81 frames, overlap 10 -> keyframes at 0, 80, 159 (requested 0, 81, 162).
    plan = plan_travel(3, 81, 10)
    assert plan.requested_keyframe_frames == [0, 81, 162]
    assert plan.max_keyframe_error <= 2
    assert plan.segments[1].context_frames == 10
    assert plan.total_frames == plan.keyframe_frames[-1] + 1 == _stitched_total(plan)


@settings(max_examples=300, deadline=None)
@given(travels())
def test_keyframes_within_two_frames_and_totals(case):
    n, frames, overlaps, mode = case
    plan = plan_travel(n, frames, overlaps, mode)
    assert len(plan.segments) == n - 1
    assert all(is_wan_length(s.generate_frames) for s in plan.segments)
    assert plan.max_keyframe_error <= 2
    assert plan.total_frames == _stitched_total(plan) == plan.keyframe_frames[-1] + 1
    assert plan.overlaps == overlaps
    for s in plan.segments:
        # keyframe i+1 is the last generated frame and the last frame of the next overlap
        assert s.end_anchor_frame == s.generate_frames - 1
        assert s.start_frame + (s.generate_frames - s.trim_start) - 1 == plan.keyframe_frames[s.index + 1]
        assert s.overlap_from_previous + s.overlap_with_next <= s.generate_frames - s.trim_start
    for a, b in zip(plan.segments, plan.segments[1:]):
        assert b.start_frame == a.start_frame + (a.generate_frames - a.trim_start) - a.overlap_with_next


@settings(max_examples=300, deadline=None)
@given(travels(min_overlap=3))
def test_exact_keyframes_land_exactly(case):
    n, frames, overlaps, mode = case
    plan = plan_travel(n, frames, overlaps, mode, exact_keyframes=True)
    assert plan.keyframe_frames == plan.requested_keyframe_frames
    assert plan.total_frames == sum(frames) + 1 == _stitched_total(plan)
    assert all(is_wan_length(s.generate_frames) for s in plan.segments)
    assert all(abs(u - o) <= 2 for u, o in zip(plan.overlaps, overlaps))
    assert 0 <= plan.segments[0].trim_start <= 3


def test_thirty_segments_drift_bounded_where_original_accumulates():
    frames = [83] * 30   # 83 is far from 4n: the original lost 2 frames per segment
    plan = plan_travel(31, frames, 10)
    assert plan.max_keyframe_error <= 2
    original_drift = sum(f - wan_length_floor(f) for f in frames)
    assert original_drift >= 30 * 2


def test_independent_segments_anchor_their_own_keyframes():
    plan = plan_travel(4, 40, 8, "independent")
    for s in plan.segments[1:]:
        assert s.context_frames == 0
        assert s.start_anchor_frame == s.overlap_from_previous - 1


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(keyframe_count=1, segment_frames=81, overlap=8), "at least 2 keyframe"),
    (dict(keyframe_count=3, segment_frames=[81, 81, 81], overlap=8), "segment_frames has 3 values"),
    (dict(keyframe_count=3, segment_frames=81, overlap=81), "overlap[0]=81"),
    (dict(keyframe_count=3, segment_frames=81, overlap=0), "overlap[0]=0"),
    (dict(keyframe_count=3, segment_frames=2, overlap=1), "segment_frames[0]=2"),
    (dict(keyframe_count=3, segment_frames=81, overlap=8, mode="zigzag"), "mode='zigzag'"),
    (dict(keyframe_count=3, segment_frames=81, overlap=2, exact_keyframes=True), "at least 3"),
])
def test_bad_input_names_the_input(kwargs, fragment):
    with pytest.raises(PlanError) as err:
        plan_travel(**kwargs)
    assert fragment in str(err.value)
