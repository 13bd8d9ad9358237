"""Travel planning invariants: 4n+1 lengths, totals, keyframe positions, one image, two frame rates,
bad input (property-based)."""

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from segue.video_utils.core.errors import PlanError
from segue.video_utils.core.lengths import (as_fps, is_wan_length, retime_count, retime_index, retime_source,
                                            round_half_up, wan_length_ceil, wan_length_floor, wan_length_nearest,
                                            whole_number)
from segue.video_utils.core.travel_plan import plan_travel


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
    (dict(keyframe_count=0, segment_frames=81, overlap=8), "keyframe_count=0 is too small: a travel needs at least 1"),
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


# ----------------------------------------------------------------------------------------------
# one image, two frame rates, input validation


@settings(max_examples=200, deadline=None)
@given(st.integers(4, 300), st.booleans(), st.sampled_from(["chained", "independent"]))
def test_one_image_gives_frames_plus_one_with_a_free_end(frames, exact, mode):
    plan = plan_travel(1, frames, 8, mode, exact)
    (seg,) = plan.segments
    assert is_wan_length(seg.generate_frames)
    assert seg.end_anchor_frame is None and seg.end_keyframe is None, "the last frame is generated"
    assert seg.start_anchor_frame == seg.trim_start and seg.context_frames == 0
    assert plan.keyframe_frames == [0] and plan.overlaps == []
    assert plan.total_frames == seg.kept_frames
    if exact:
        assert plan.total_frames == frames + 1 and seg.trim_start <= 3
    else:
        assert abs(plan.total_frames - (frames + 1)) <= 2 and seg.trim_start == 0
    # the same arithmetic as a two-keyframe travel, minus the end anchor
    two = plan_travel(2, frames, 8, mode, exact).segments[0]
    assert (two.generate_frames, two.trim_start) == (seg.generate_frames, seg.trim_start)


RATES = [Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(60), Fraction(12)]


@settings(max_examples=200, deadline=None)
@given(travels(), st.sampled_from(RATES), st.booleans())
def test_output_rate_only_adds_the_output_timeline(case, out, loop):
    n, frames, overlaps, mode = case
    if loop:
        frames = frames + [frames[-1]]
        overlaps = overlaps + [min(frames[-2], frames[-1]) // 2] if n > 1 else overlaps
    base = plan_travel(n, frames, overlaps, mode, loop=loop)
    plan = plan_travel(n, frames, overlaps, mode, loop=loop, generation_fps=16, output_fps=out)
    assert plan.segments == base.segments and plan.total_frames == base.total_frames
    assert plan.keyframe_frames == base.keyframe_frames and plan.overlaps == base.overlaps
    assert base.output_total_frames == base.total_frames and base.output_keyframe_frames == base.keyframe_frames
    assert plan.output_keyframe_frames == [round_half_up(f * out / 16) for f in plan.keyframe_frames]
    if loop:
        assert plan.output_total_frames == round_half_up(plan.total_frames * out / 16)
    else:
        assert plan.output_total_frames == plan.output_keyframe_frames[-1] + 1, "last keyframe = last frame"
    assert all(k < plan.output_total_frames for k in plan.output_keyframe_frames)
    doc = plan.to_dict()
    assert doc["output_fps"] == str(out) and doc["generation_fps"] == "16"
    assert doc["output_total_frames"] == plan.output_total_frames
    assert doc["seconds"] == round(plan.total_frames / 16, 6)


def test_equal_rates_change_nothing():
    for fps in (16, 24, "30000/1001", 29.97):
        plan = plan_travel(4, [40, 33, 50], 8, generation_fps=fps, output_fps=fps)
        base = plan_travel(4, [40, 33, 50], 8)
        assert plan.segments == base.segments and plan.output_keyframe_frames == base.keyframe_frames
        assert plan.output_total_frames == base.total_frames


def test_rate_parsing_and_retiming():
    assert as_fps(29.97) == as_fps("29.97") == as_fps("30000/1001") == Fraction(30000, 1001)
    assert as_fps(23.976) == Fraction(24000, 1001) and as_fps(59.94) == Fraction(60000, 1001)
    assert as_fps(25) == 25 and as_fps(12.5) == Fraction(25, 2) and as_fps(Fraction(48, 2)) == 24
    assert retime_count(161, 16, 24) == 241 and retime_count(144, 16, 24, loop=True) == 216
    assert retime_count(100, 24, 24) == 100 == retime_count(100, 24, 24, loop=True)
    assert retime_index(80, 16, 24) == 120 and retime_index(1, 16, 24) == 2   # 1.5 rounds half up
    assert retime_source(3, 161, 16, 24) == 2 and retime_source(241, 161, 16, 24) == 160
    assert retime_source(216, 144, 16, 24, loop=True) == 0
    for bad in (True, 0, -5, float("nan"), "abc", None, 5000):
        with pytest.raises(PlanError):
            as_fps(bad)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(keyframe_count=3, segment_frames=100000000, overlap=8),
     "segment_frames=100000000 is above the limit of 1024"),
    (dict(keyframe_count=3, segment_frames=[81, 100000000], overlap=8), "segment_frames[1]=100000000 is above"),
    (dict(keyframe_count=100000000, segment_frames=81, overlap=8), "keyframe_count=100000000 is above the limit"),
    (dict(keyframe_count=3, segment_frames=float("nan"), overlap=8), "segment_frames=nan must be a finite"),
    (dict(keyframe_count=3, segment_frames=float("inf"), overlap=8), "segment_frames=inf must be a finite"),
    (dict(keyframe_count=3, segment_frames=80.5, overlap=8), "segment_frames=80.5 must be a whole number"),
    (dict(keyframe_count=3, segment_frames=81, overlap=True), "overlap=True must be an integer"),
    (dict(keyframe_count=3, segment_frames=[81, True], overlap=8), "segment_frames contains True"),
    (dict(keyframe_count=True, segment_frames=81, overlap=8), "keyframe_count=True must be a whole number"),
    (dict(keyframe_count=3, segment_frames="81", overlap=8), "segment_frames='81' must be an integer or a list"),
    (dict(keyframe_count=3, segment_frames=81, overlap=-4), "overlap[0]=-4 is too small"),
    (dict(keyframe_count=3, segment_frames=81, overlap=8, exact_keyframes="no"), "exact_keyframes='no' must be true"),
    (dict(keyframe_count=3, segment_frames=81, overlap=8, output_fps=0), "output_fps=0 must be a positive"),
    (dict(keyframe_count=2000, segment_frames=1000, overlap=8), "add up to 1999000 frames, above the limit"),
    (dict(keyframe_count=3, segment_frames=1024, overlap=8), "generate 1033 frames, above the limit of 1025"),
    (dict(keyframe_count=1, segment_frames=81, overlap=[8, 8]), "1-keyframe travel has no boundary"),
])
def test_bad_numbers_are_refused_before_planning(kwargs, fragment):
    with pytest.raises(PlanError) as err:
        plan_travel(**kwargs)
    assert fragment in str(err.value)


def test_whole_floats_and_limits_are_accepted():
    longest = plan_travel(2, 1024, 8)
    assert longest.segments[0].generate_frames == 1025 and "quality drops" in longest.warnings[0]
    assert plan_travel(3, 81.0, 8.0).to_dict() == plan_travel(3, 81, 8).to_dict()
    assert whole_number(5, "x") == 5
    with pytest.raises(PlanError, match="x=3 is too small: use at least 4"):
        whole_number(3, "x", 4)
