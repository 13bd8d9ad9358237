"""Join planning: insert/replace arithmetic, per-join overrides, too-short clips, two frame rates,
bad input (property-based)."""

from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from segue.video_utils.core.errors import PlanError
from segue.video_utils.core.join_plan import plan_join
from reference import transition_length
from segue.video_utils.core.transition_timeline import transition_lengths
from segue.video_utils.core.lengths import as_fps, is_wan_length, round_half_up, wan_length_ceil, wan_length_floor


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
        "gap": st.integers(0, 20), "replace": st.booleans(), "blend": st.integers(0, context)}),
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


def test_a_blend_longer_than_its_context_is_refused_not_capped():
    """The planner refuses the blend (it used to shorten it silently), naming where it came from."""
    with pytest.raises(PlanError, match=r"^blend=10 is longer than context=8 \(join 0\).*at most 8"):
        plan_join([100, 100], 8, 53, blend=10)
    with pytest.raises(PlanError, match=r"per_join_settings\[1\]\.blend=9 is longer than context=8 \(join 1\)"):
        plan_join([100, 100, 100], 8, 53, per_join=[{}, {"blend": 9}])
    with pytest.raises(PlanError, match=r"^blend=6 is longer than per_join_settings\[0\]\.context=4"):
        plan_join([100, 100], 8, 53, blend=6, per_join=[{"context": 4}])
    assert plan_join([100, 100], 8, 53, blend=8).joins[0].blend_frames == 8
    shrunk = plan_join([12, 100], 8, 53, replace=True, blend=8, allow_shrink=True)   # asked for: shrinks with it
    assert shrunk.warnings and shrunk.joins[0].blend_frames == shrunk.joins[0].context_frames_a < 8


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


# ----------------------------------------------------------------------------------------------
# two frame rates (generation vs output) and input validation

RATES = [Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(60), Fraction(24000, 1001),
         Fraction(12), Fraction(50)]


def test_one_rate_transition_is_the_original_rule():
    """The original's rule, written out: floor to 4n+1 if the gap can absorb it, else grow."""
    for c in range(1, 40):
        for g in range(0, 120):
            desired = 2 * c + g
            floor = wan_length_floor(desired)
            total = floor if desired - floor <= g and floor >= 5 else max(wan_length_ceil(desired), 5)
            for gen in (16, 24, Fraction(30000, 1001)):
                t = transition_lengths(c, g, gen, gen)
                assert (t.frames, t.gap, t.generation_frames, t.context_generation, t.gap_generation) == \
                       (total, total - 2 * c, total, c, total - 2 * c)
            assert transition_length(c, g) == (total, total - 2 * c)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 30), st.integers(0, 150), st.sampled_from(RATES))
def test_transition_in_both_timelines(context, gap, out):
    gen = Fraction(16)
    t = transition_lengths(context, gap, gen, out)
    assert is_wan_length(t.generation_frames) and t.generation_frames >= 5
    assert t.frames == round_half_up((t.generation_frames - 1) * out / gen) + 1, "T_out is fixed by T_gen"
    assert t.frames == 2 * context + t.gap and t.gap >= 0
    assert t.generation_frames == 2 * t.context_generation + t.gap_generation and t.gap_generation >= 0
    if t.gap <= gap:   # the gap absorbed the rounding: the largest fitting 4n+1 was taken
        bigger = t.generation_frames + 4
        assert round_half_up((bigger - 1) * out / gen) + 1 > 2 * context + gap
    # durations agree within one output frame
    assert abs(Fraction(t.frames - 1) / out - Fraction(t.generation_frames - 1) / gen) <= Fraction(1, 2) / out


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_rate_plans_keep_the_layout_and_read_inside_the_contexts(data):
    n = data.draw(st.integers(2, 5))
    context = data.draw(st.integers(1, 12))
    gap = data.draw(st.integers(0, 40))
    replace = data.draw(st.booleans())
    out = data.draw(st.sampled_from(RATES))
    loop = data.draw(st.booleans())
    lengths = data.draw(st.lists(st.integers(4 * context + 2 * gap + 12, 200), min_size=n, max_size=n))
    plan = plan_join(lengths, context, gap, replace, loop=loop, output_fps=out)
    assert plan.output_fps == out and plan.generation_fps == 16
    gaps_inserted = sum(j.gap_frames for j in plan.joins if not j.replace)
    assert plan.total_frames == sum(lengths) + gaps_inserted
    for j in plan.joins:
        t = transition_lengths(j.context_frames_a, gap, 16, out)
        assert (j.transition_frames, j.generation_frames, j.context_gen_a) == (t.frames, t.generation_frames,
                                                                              t.context_generation)
        a, b = j.context_a_sources(), j.context_b_sources()
        assert len(a) == j.context_gen_a and len(b) == j.context_gen_b
        assert a[0] == j.context_a_start and b[-1] == j.context_b_start + j.context_frames_b - 1, "ends align"
        assert all(j.context_a_start <= p <= j.context_a_start + j.context_frames_a - 1 for p in a)
        assert all(j.context_b_start <= p <= j.context_b_start + j.context_frames_b - 1 for p in b)
        assert a == sorted(a) and b == sorted(b)
        sources = j.retime_sources()
        assert len(sources) == j.transition_frames and sources[0] == 0 and sources[-1] == j.generation_frames - 1
    doc = plan.to_dict()
    assert doc["output_fps"] == str(out) and doc["generation_fps"] == "16"
    assert doc["seconds"] == round(float(plan.total_frames / out), 6)
    first = doc["joins"][0]
    assert first["generation_frames"] == plan.joins[0].generation_frames
    assert first["seconds"]["transition"] == round(float(plan.joins[0].transition_frames / out), 6)
    assert first["seconds"]["generation"] == round(float(plan.joins[0].generation_frames / 16), 6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(40, 150), min_size=2, max_size=5), st.integers(1, 10), st.integers(0, 40),
       st.booleans(), st.sampled_from([16, 24, Fraction(30000, 1001), 60]))
def test_equal_rates_reproduce_the_single_rate_plan(lengths, context, gap, replace, fps):
    base = plan_join(lengths, context, gap, replace, allow_shrink=True)
    same = plan_join(lengths, context, gap, replace, allow_shrink=True, generation_fps=fps, output_fps=fps)
    assert same.joins == base.joins and same.clips == base.clips and same.total_frames == base.total_frames
    for j in same.joins:
        assert j.generation_frames == j.transition_frames and j.gap_gen_frames == j.gap_frames
        assert j.context_a_sources() == list(range(j.context_a_start, j.context_a_start + j.context_frames_a))


def test_worked_example_at_ntsc():
    plan = plan_join([300, 300], 8, 53, replace=True, output_fps=as_fps(29.97))
    j = plan.joins[0]
    assert plan.output_fps == Fraction(30000, 1001)
    assert (j.transition_frames, j.gap_frames, j.generation_frames, j.context_gen_a, j.gap_gen_frames) == \
           (68, 52, 37, 4, 29)
    assert plan.total_frames == 600


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(clip_frames=[100, 100], context=float("nan")), "context=nan must be a finite whole number"),
    (dict(clip_frames=[100, 100], context=True), "context=True must be a whole number"),
    (dict(clip_frames=[100, 100], gap=100000000), "gap=100000000 is above the limit of 1025"),
    (dict(clip_frames=[100, 100], context=20, gap=1000), "join 0 would generate 1037 frames"),
    (dict(clip_frames=[100, 100000000]), "clip_frames[1]=100000000 is above the limit"),
    (dict(clip_frames=[100, 2.5]), "clip_frames[1]=2.5 must be a whole number"),
    (dict(clip_frames="100"), "clip_frames='100' must be a list"),
    (dict(clip_frames=[100, 100], replace="false"), "replace='false' must be true or false"),
    (dict(clip_frames=[100, 100], per_join=[{"context": "8"}]), "per_join_settings[0].context='8' must be a whole"),
    (dict(clip_frames=[100, 100], per_join=[{"replace": 2}]), "per_join_settings[0].replace=2 must be true"),
    (dict(clip_frames=[100, 100], per_join=[{}, {}]), "per_join_settings has 2 entries but there are only 1 joins"),
    (dict(clip_frames=[100, 100], per_join={"1": {"gap": 5}}), "entry for join 1 but there are only 1 joins"),
    (dict(clip_frames=[100, 100], per_join={"x": {}}), "key 'x' is not a join index"),
    (dict(clip_frames=[100, 100], per_join=[7]), "per_join_settings[0]=7 must be an object"),
    (dict(clip_frames=[100, 100], per_join="gap=3"), "must be a list"),
    (dict(clip_frames=[100, 100], clip_names=["a"]), "clip_names has 1 names for 2 clips"),
    (dict(clip_frames=[100, 100], output_fps=float("inf")), "output_fps=inf must be a finite frame rate"),
    (dict(clip_frames=[100, 100], output_fps=-24), "output_fps=-24 must be a positive frame rate"),
    (dict(clip_frames=[100, 100], output_fps=400), "differ by more than 16x"),
    (dict(clip_frames=[100, 100], generation_fps="fast"), "generation_fps='fast' is not a frame rate"),
])
def test_bad_join_input_names_input_value_and_fix(kwargs, fragment):
    with pytest.raises(PlanError) as err:
        plan_join(**kwargs)
    assert fragment in str(err.value)


def test_per_join_mapping_by_index():
    plan = plan_join([60, 60, 60], 4, 9, per_join={1: {"gap": 5}, "0": {"replace": True}})
    assert plan.joins[0].replace and not plan.joins[1].replace
    assert plan.joins[1].gap_frames == transition_length(4, 5)[1]
    assert plan_join([60, 60, 60], 4, 9, per_join=[None, {"gap": 5}]).joins == \
        plan_join([60, 60, 60], 4, 9, per_join=[{}, {"gap": 5}]).joins, "null = no override"
