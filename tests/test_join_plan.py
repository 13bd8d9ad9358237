"""Join planning: insert/replace arithmetic, per-join overrides, too-short clips (property-based)."""

import pytest
from hypothesis import given, settings, strategies as st

from segue.video_utils.errors import PlanError
from segue.video_utils.join_plan import plan_join, transition_length
from segue.video_utils.lengths import is_wan_length


def test_worked_examples_from_the_spec():
    insert = plan_join([100, 100, 100], 8, 53, replace=False)
    assert insert.total_frames == 406
    replace = plan_join([100, 100, 100], 8, 53, replace=True)
    assert replace.total_frames == 300
    j = replace.joins[0]
    assert (j.transition_frames, j.gap_frames, j.trim_from_a, j.trim_from_b) == (69, 53, 26, 27)
    assert (j.context_a_start, j.context_b_start) == (66, 27)
    small = plan_join([100, 100], 8, 12, replace=True).joins[0]
    assert (small.transition_frames, small.gap_frames, small.trim_from_a, small.trim_from_b) == (25, 9, 4, 5)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_totals_and_layout(data):
    n = data.draw(st.integers(2, 6))
    context = data.draw(st.integers(1, 12))
    gap = data.draw(st.integers(0, 40))
    replace = data.draw(st.booleans())
    lengths = data.draw(st.lists(st.integers(2 * context + max(gap, 20) + 8, 200), min_size=n, max_size=n))
    per_join = data.draw(st.lists(st.fixed_dictionaries({}, optional={
        "gap": st.integers(0, 20), "replace": st.booleans(), "blend": st.integers(0, 12)}),
        max_size=n - 1))
    plan = plan_join(lengths, context, gap, replace, per_join=per_join)
    gaps_inserted = sum(j.gap_frames for j in plan.joins if not j.replace)
    assert plan.total_frames == sum(lengths) + gaps_inserted
    for j in plan.joins:
        assert is_wan_length(j.transition_frames)
        assert j.transition_frames == j.context_frames_a + j.gap_frames + j.context_frames_b
        assert j.trim_from_a + j.trim_from_b == (j.gap_frames if j.replace else 0)
        assert 0 <= j.blend_frames <= j.context_frames_a
    # the timeline tiles exactly: each transition starts c frames before its clip A's kept end
    for j, a, b in zip(plan.joins, plan.clips, plan.clips[1:]):
        assert j.transition_start == a.start_frame + (a.keep_end - a.keep_start) - j.context_frames_a
        assert b.start_frame == j.transition_start + j.transition_frames - j.context_frames_b
        assert j.context_a_start == a.keep_end - j.context_frames_a
        assert j.context_b_start == b.keep_start
    last = plan.clips[-1]
    assert plan.total_frames == last.start_frame + last.keep_end - last.keep_start


def test_gap_absorbs_rounding_or_grows_when_too_small():
    assert transition_length(8, 53) == (69, 53)
    assert transition_length(8, 12) == (25, 9)
    total, gap = transition_length(4, 0)   # 8 frames of context alone is not 4n+1
    assert is_wan_length(total) and gap >= 0 and total == 8 + gap


def test_too_short_clip_is_named_with_its_length_and_minimum():
    with pytest.raises(PlanError) as err:
        plan_join([100, 30, 100], 8, 53, replace=True, clip_names=["a.mp4", "b.mp4", "c.mp4"])
    msg = str(err.value)
    assert "b.mp4 has 30 frames" in msg and "at least 69" in msg


def test_allow_shrink_fits_and_warns():
    plan = plan_join([100, 30, 100], 8, 53, replace=True, allow_shrink=True)
    assert plan.total_frames == 230
    assert plan.warnings and "clip 1" in plan.warnings[0]
    middle = plan.clips[1]
    assert middle.keep_end - middle.keep_start >= 0


def test_per_join_unknown_key_rejected():
    with pytest.raises(PlanError, match="unknown keys"):
        plan_join([50, 50], per_join=[{"gpa": 3}])
