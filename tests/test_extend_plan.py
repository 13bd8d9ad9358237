"""Extending a clip: L + F frames exactly, keyframes where promised, long legs split (property-based),
and the stitch layout leaves the clip untouched."""

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

from segue.video_utils.core.errors import PlanError
from segue.video_utils.core.extend_plan import plan_extend
from segue.video_utils.core.lengths import is_wan_length, round_half_up
from reference import stitch_segments
from segue.video_utils.engine.stitch import stitch_length


@st.composite
def extensions(draw):
    count = draw(st.integers(0, 4))
    overlap = draw(st.integers(1, 16))
    clip = draw(st.integers(overlap, 300))
    longest = draw(st.sampled_from([33, 49, 81, 97]).filter(lambda m: m > overlap + 12))
    if draw(st.booleans()):
        frames = draw(st.integers(max(4 * count, 1), 400))
    else:
        legs = count + draw(st.integers(0, 1)) if count else 1
        frames = [draw(st.integers(4 if j < count else 1, 250)) for j in range(legs)]
    blend = draw(st.integers(0, overlap))
    return clip, frames, overlap, count, longest, blend


@settings(max_examples=400, deadline=None)
@given(extensions())
def test_extension_arithmetic(case):
    clip, frames, overlap, count, longest, blend = case
    plan = plan_extend(clip, frames, overlap, count, longest, blend)
    total_new = frames if isinstance(frames, int) else sum(frames)
    assert plan.total_frames == clip + total_new and plan.new_frames == total_new
    assert sum(plan.leg_frames) == total_new
    if isinstance(frames, int) and count:
        assert max(plan.leg_frames) - min(plan.leg_frames) <= 1
    position = clip
    for s in plan.segments:
        assert s.start_frame == position, "segments append contiguously after the clip"
        assert is_wan_length(s.generate_frames) and s.generate_frames <= longest
        assert s.generate_frames == s.context_frames + s.new_frames + s.trim_end
        assert 0 <= s.trim_end <= 3 and s.new_frames >= 1
        assert 1 <= s.context_frames <= s.start_frame, "context comes from frames that exist"
        if s.trim_end == 0:
            assert abs(s.context_frames - overlap) <= 2
        else:
            assert s.context_frames == min(overlap, s.start_frame)
        assert 0 <= s.blend_frames <= min(blend, s.context_frames)
        position += s.new_frames
    assert position == plan.total_frames
    # keyframe j is the last new frame of leg j, exactly where promised
    ends = []
    acc = clip - 1
    for leg in plan.leg_frames:
        acc += leg
        ends.append(acc)
    assert plan.keyframe_frames == ends[:count]
    for j in range(count):
        last = [s for s in plan.segments if s.leg == j][-1]
        assert last.end_keyframe == j and last.end_anchor_frame == last.context_frames + last.new_frames - 1
        assert last.start_frame + last.new_frames - 1 == plan.keyframe_frames[j]
        assert all(s.end_keyframe is None for s in plan.segments if s.leg == j and s is not last)
    assert all(s.end_keyframe is None for s in plan.segments if s.leg >= count)
    pieces, overlaps = plan.layout()
    assert pieces[0] == ("clip", -1, 0, clip)
    assert stitch_length([e - b for _, _, b, e in pieces], overlaps) == plan.total_frames


@settings(max_examples=100, deadline=None)
@given(extensions(), st.sampled_from([Fraction(8), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                                      Fraction(60)]))
def test_extension_at_another_output_rate(case, rate):
    """Segments planned at 16 fps on the clip's 16 fps frames; the new frames retimed to ``rate``,
    each keyframe on a whole output frame, every output frame shown from frames that exist."""
    clip, frames, overlap, count, longest, blend = case
    clip = max(clip, math.ceil((overlap - 1) * rate / 16) + 1)       # enough clip for the context at 16 fps
    try:
        plan = plan_extend(clip, frames, overlap, count, longest, blend, output_fps=rate)
    except PlanError as e:
        assume("lasts less than one output frame" not in str(e))
        raise
    gen_clip = plan.clip_generation_frames
    assert gen_clip >= overlap and plan.segments[0].start_frame == gen_clip
    assert plan.total_frames == clip + sum(plan.output_leg_frames)
    assert plan.output_new_frames == round_half_up(plan.new_frames * rate / 16)
    ends = [gen_clip - 1 + sum(plan.leg_frames[:j + 1]) for j in range(count)]
    assert [plan.generation_position(k) for k in plan.keyframe_frames] == ends
    pieces, overlaps = plan.layout()
    assert pieces[0] == ("clip", -1, 0, clip) and pieces[-1][3] == plan.total_frames
    assert stitch_length([e - b for _, _, b, e in pieces], overlaps) == plan.total_frames
    for (_, i, b, e), blended in zip(pieces[1:], overlaps):
        s = plan.segments[i]
        positions = plan.retime_sources(i)
        saved = s.blend_frames + s.new_frames + (0 if s.blend_frames else 1)   # + the frame before it
        assert len(positions) == e - b and positions == sorted(positions)
        assert all(0 <= p <= saved - 1 for p in positions)
        if s is [t for t in plan.segments if t.leg == s.leg][-1]:
            assert positions[-1] == saved - 1, "a leg's last output frame is its last generated frame"
        inside = [o for o in range(plan.total_frames)      # output frames shown in the blend frames
                  if s.start_frame - s.blend_frames <= plan.generation_position(o) <= s.start_frame - 1]
        assert blended == (len(inside) if s.blend_frames else 0)
    assert all(0 <= plan.clip_source(g) < clip for g in range(gen_clip - overlap, gen_clip))


def test_long_extension_is_split_not_refused():
    plan = plan_extend(100, 200, 8)
    assert len(plan.segments) == 3 and all(s.generate_frames <= 81 for s in plan.segments)
    assert [s.new_frames for s in plan.segments] == [67, 67, 66] and plan.total_frames == 300
    assert plan.keyframe_frames == [] and all(s.end_keyframe is None for s in plan.segments)
    to = plan_extend(100, [40, 250], 8, keyframe_count=2)
    assert to.keyframe_frames == [139, 389] and to.total_frames == 390
    assert [s.leg for s in to.segments] == [0, 1, 1, 1, 1]


def test_short_clip_falls_back_to_trimmed_frames_after_the_end():
    plan = plan_extend(2, 5, 2)                  # 2 + 5 = 7 is not 4n+1 and the clip has no 3rd frame
    (seg,) = plan.segments
    assert (seg.context_frames, seg.new_frames, seg.trim_end, seg.generate_frames) == (2, 5, 2, 9)
    with_key = plan_extend(1, 6, 1, keyframe_count=1)
    (seg,) = with_key.segments
    assert seg.end_anchor_frame == 6 and seg.generate_frames == 9 and seg.trim_end == 2


def test_layout_keeps_the_clip_bit_for_bit():
    plan = plan_extend(20, [12, 30], 6, keyframe_count=1, max_generation=33)
    g = torch.Generator().manual_seed(3)
    clip = torch.rand(20, 2, 2, 3, generator=g)
    generated = [torch.rand(s.generate_frames, 2, 2, 3, generator=g) for s in plan.segments]
    pieces, overlaps = plan.layout()
    parts = [clip if kind == "clip" else generated[i][slice(*plan.saved_window(i))] for kind, i, _, _ in pieces]
    out = stitch_segments(parts, overlaps)
    assert out.shape[0] == plan.total_frames == 62
    assert torch.equal(out[:20], clip), "the clip's own frames pass through unchanged"
    for s in plan.segments:
        assert torch.equal(out[s.start_frame: s.start_frame + s.new_frames],
                           generated[s.index][s.context_frames: s.context_frames + s.new_frames])

    blended = plan_extend(20, [12, 30], 6, keyframe_count=1, max_generation=33, blend=3)
    pieces, overlaps = blended.layout()
    parts = [clip if kind == "clip" else generated[i][slice(*blended.saved_window(i))] for kind, i, _, _ in pieces]
    out = stitch_segments(parts, overlaps)
    assert out.shape[0] == 62 and overlaps == [3] * len(blended.segments)
    assert torch.equal(out[:17], clip[:17]) and not torch.equal(out[17:20], clip[17:20])
    first = blended.segments[0]
    assert torch.equal(out[19], generated[0][first.context_frames - 1]), "the blend ends fully generated"


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(clip_frames=100, frames=100000000), "frames=100000000 is above the limit of 1000000"),
    (dict(clip_frames=999999, frames=10), "clip_frames + frames = 1000009, above the limit"),
    (dict(clip_frames=0, frames=10), "clip_frames=0 is too small"),
    (dict(clip_frames=100, frames=0), "frames=0 is too small: extend by at least 1 frame"),
    (dict(clip_frames=100, frames=float("nan")), "frames=nan must be a finite"),
    (dict(clip_frames=100, frames=True), "frames=True must be a whole number"),
    (dict(clip_frames=100, frames=10, overlap=True), "overlap=True must be a whole number"),
    (dict(clip_frames=5, frames=10, overlap=8), "overlap=8 but the clip has only 5 frames"),
    (dict(clip_frames=100, frames=10, overlap=0), "overlap=0 is too small"),
    (dict(clip_frames=100, frames=[10, 10], keyframe_count=0), "frames has 2 values but 0 keyframes make 1 legs"),
    (dict(clip_frames=100, frames=[10, 10, 10, 10], keyframe_count=2), "make 2 or 3 legs"),
    (dict(clip_frames=100, frames=[10, 3], keyframe_count=2), "frames[1]=3 is too small: a leg to a keyframe"),
    (dict(clip_frames=100, frames=6, keyframe_count=2), "frames=6 cannot reach 2 keyframes"),
    (dict(clip_frames=100, frames=10, max_generation=3), "max_generation=3 is too small"),
    (dict(clip_frames=100, frames=10, max_generation=5000), "max_generation=5000 is above the limit of 1025"),
    (dict(clip_frames=100, frames=10, overlap=8, max_generation=8), "leaves no room for new frames"),
    (dict(clip_frames=100, frames=10, overlap=4, blend=5), "blend=5 must not exceed overlap=4"),
    (dict(clip_frames=100, frames="10"), "frames='10' must be a whole number"),
])
def test_bad_input_names_input_value_and_fix(kwargs, fragment):
    with pytest.raises(PlanError) as err:
        plan_extend(**kwargs)
    assert fragment in str(err.value)


def test_to_dict_is_json_ready():
    import json

    plan = plan_extend(50, [20, 9], 8, keyframe_count=1, blend=2)
    doc = json.loads(json.dumps(plan.to_dict()))
    assert doc["total_frames"] == 79 and doc["keyframe_frames"] == [69]
    assert doc["layout"]["pieces"][0] == ["clip", -1, 0, 50] and doc["layout"]["overlaps"] == [2, 2]
