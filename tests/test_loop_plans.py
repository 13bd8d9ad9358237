"""Seamless loops: travel (closing segment) and join (closing transition) frame plans (property-based)."""

import pytest
from hypothesis import given, settings, strategies as st

from segue.video_utils.core.errors import PlanError
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.lengths import is_wan_length
from segue.video_utils.core.travel_plan import plan_travel


@st.composite
def loop_travels(draw, min_overlap=1):
    n = draw(st.integers(2, 12))
    frames = draw(st.lists(st.integers(8, 100), min_size=n, max_size=n))
    overlaps = [draw(st.integers(min_overlap, min(frames[i], frames[i + 1]) - 1 - 2)) for i in range(n - 1)]
    mode = draw(st.sampled_from(["chained", "independent"]))
    seam = draw(st.one_of(st.none(), st.integers(1, 6)))
    return n, frames, overlaps, mode, seam


def timeline(plan):
    """Output position -> list of (segment, generated frame) that land there (cross-fades: two)."""
    cover = {}
    for s in plan.segments:
        for g in range(s.trim_start, s.generate_frames - s.trim_end):
            cover.setdefault(s.start_frame + g - s.trim_start, []).append((s.index, g))
    return cover


def test_worked_example_three_keyframes_48():
    plan = plan_travel(3, 48, 8, loop=True, exact_keyframes=True)
    assert plan.total_frames == 144 and plan.keyframe_frames == [0, 48, 96]
    assert len(plan.segments) == 3 and plan.loop
    closing = plan.segments[-1]
    assert closing.end_keyframe == 0 and closing.overlap_with_next == 0
    assert closing.start_frame + closing.kept_frames == 144, "the video ends right before keyframe 0 comes back"
    assert 144 not in timeline(plan)
    loose = plan_travel(3, 48, 8, loop=True)
    assert loose.total_frames == 144 and loose.max_keyframe_error <= 2


@settings(max_examples=300, deadline=None)
@given(loop_travels(), st.booleans())
def test_loop_length_keyframes_and_seam(case, exact):
    n, frames, overlaps, mode, seam = case
    if exact:
        overlaps = [max(o, 3) for o in overlaps]
    plan = plan_travel(n, frames, overlaps, mode, exact, loop=True, loop_overlap=seam)
    assert plan.total_frames == sum(frames), "a loop is exactly the requested period"
    assert len(plan.segments) == n and len(plan.overlaps) == n - 1
    assert all(is_wan_length(s.generate_frames) for s in plan.segments)
    assert len(plan.keyframe_frames) == n and plan.keyframe_frames[0] == 0
    if exact:
        assert plan.keyframe_frames == plan.requested_keyframe_frames
    assert plan.max_keyframe_error <= 2
    assert sum(s.kept_frames for s in plan.segments) - sum(plan.overlaps) == plan.total_frames

    closing, first = plan.segments[-1], plan.segments[0]
    e = plan.loop_overlap
    assert closing.trim_end == closing.end_context_frames == e >= 1
    assert closing.end_anchor_frame == closing.generate_frames - e and closing.end_keyframe == 0
    # the trimmed seam frames re-create video frames 0..e-1, which segment 0 shows unblended
    limit = first.kept_frames - first.overlap_with_next
    requested = overlaps[-1] if seam is None else seam
    assert 1 <= e <= limit
    if 3 <= requested <= limit - 2:
        assert abs(e - requested) <= 2, "the seam flexes by at most 2 when segment 0 has room"
    assert closing.start_frame + closing.kept_frames == plan.total_frames
    assert 0 in plan.dependencies(n - 1)
    if mode == "chained":
        assert n - 2 in plan.dependencies(n - 1)
    else:
        assert plan.dependencies(n - 1) == (0,)

    cover = timeline(plan)
    assert sorted(cover) == list(range(plan.total_frames)), "every frame once, nothing past the period"
    for pos, sources in cover.items():
        assert len(sources) in (1, 2)
    for s in plan.segments[1:]:
        k = plan.keyframe_frames[s.index]
        assert cover[k] == [(s.index - 1, plan.segments[s.index - 1].generate_frames - 1),
                            (s.index, s.overlap_from_previous - 1)]


@settings(max_examples=100, deadline=None)
@given(st.integers(4, 200), st.booleans(), st.sampled_from(["chained", "independent"]))
def test_one_image_loop(frames, exact, mode):
    plan = plan_travel(1, frames, 8, mode, exact, loop=True)
    (seg,) = plan.segments
    assert seg.end_keyframe == 0 and seg.end_anchor_frame == seg.generate_frames - 1
    assert seg.trim_end == 1 and seg.end_context_frames == 0, "closes on the image itself, not repeated"
    assert plan.total_frames == seg.kept_frames == seg.generate_frames - seg.trim_start - 1
    assert plan.total_frames == frames if exact else abs(plan.total_frames - frames) <= 2
    assert plan.dependencies(0) == ()


def test_loop_errors_name_the_input():
    with pytest.raises(PlanError, match="loop_overlap=4 is only used with loop=True"):
        plan_travel(3, 48, 8, loop_overlap=4)
    with pytest.raises(PlanError, match="loop_overlap=0 is too small"):
        plan_travel(3, 48, 8, loop=True, loop_overlap=0)
    with pytest.raises(PlanError, match="one-image loop"):
        plan_travel(1, 48, 8, loop=True, loop_overlap=5)
    with pytest.raises(PlanError, match="segment_frames has 2 values .* 3 segments"):
        plan_travel(3, [48, 48], 8, loop=True)
    with pytest.raises(PlanError, match="loop='yes' must be true or false"):
        plan_travel(3, 48, 8, loop="yes")


# ----------------------------------------------------------------------------------------------
# join loops


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_join_loop_layout(data):
    n = data.draw(st.integers(1, 5))
    context = data.draw(st.integers(1, 10))
    gap = data.draw(st.integers(0, 30))
    replace = data.draw(st.booleans())
    lengths = data.draw(st.lists(st.integers(4 * context + 2 * max(gap, 20) + 12, 200), min_size=n, max_size=n))
    per_join = data.draw(st.lists(st.fixed_dictionaries({}, optional={
        "gap": st.integers(0, 20), "replace": st.booleans(), "blend": st.integers(0, context)}), max_size=n))
    plan = plan_join(lengths, context, gap, replace, per_join=per_join, loop=True)
    assert plan.loop and len(plan.joins) == n
    assert [plan.clip_pair(j) for j in range(n)] == [(j, (j + 1) % n) for j in range(n)]
    gaps_inserted = sum(j.gap_frames for j in plan.joins if not j.replace)
    assert plan.total_frames == sum(lengths) + gaps_inserted
    assert plan.clips[0].start_frame == 0 and plan.clips[0].keep_start == plan.joins[-1].trim_from_b
    last = plan.joins[-1]
    assert last.transition_start + last.transition_frames - last.context_frames_b == plan.total_frames
    # every output frame is covered exactly once by kept clip frames or a gap, wrapping at the seam
    cover = [0] * plan.total_frames
    for span in plan.clips:
        for i in range(span.keep_end - span.keep_start):
            cover[(span.start_frame + i) % plan.total_frames] += 1
    for j in plan.joins:
        for t in range(j.context_frames_a, j.transition_frames - j.context_frames_b):
            cover[(j.transition_start + t) % plan.total_frames] += 1
    assert cover == [1] * plan.total_frames
    for j in plan.joins:
        a, b = plan.clips[j.clip_a], plan.clips[j.clip_b]
        assert j.context_a_start == a.keep_end - j.context_frames_a
        assert j.context_b_start == b.keep_start
        assert is_wan_length(j.generation_frames)


def test_join_loop_single_clip_and_errors():
    plan = plan_join([100], 8, 21, loop=True)
    (j,) = plan.joins
    assert (j.clip_a, j.clip_b) == (0, 0) and plan.total_frames == 100 + j.gap_frames
    replace = plan_join([100], 8, 21, replace=True, loop=True)
    assert replace.total_frames == 100 and replace.clips[0].keep_start == replace.joins[0].trim_from_b
    with pytest.raises(PlanError, match="a looping join needs at least 1 clip"):
        plan_join([], loop=True)
    with pytest.raises(PlanError, match="joining needs at least 2 clips"):
        plan_join([100])
    with pytest.raises(PlanError, match="clip 0 has 30 frames but its joins need at least"):
        plan_join([30], 8, 21, replace=True, loop=True)
    shrunk = plan_join([30], 8, 21, replace=True, loop=True, allow_shrink=True)
    assert shrunk.warnings and shrunk.total_frames == 30
    with pytest.raises(PlanError, match="per_join_settings has 3 entries but there are only 2 joins"):
        plan_join([50, 50], per_join=[{}, {}, {}], loop=True)
    assert len(plan_join([50, 50], 4, 9, per_join=[{}, {"gap": 5}], loop=True).joins) == 2


@pytest.mark.parametrize("mode", ["chained", "independent"])
def test_travel_loop_stitches_without_a_repeat_or_a_jump(mode):
    """Simulate a sampler that reproduces kept guide frames: the closing segment's dropped seam
    frames are then exactly the video's first frames, so the loop continues without a seam."""
    import torch

    from segue.video_utils.engine.guides import travel_segment_guide
    from reference import stitch_segments

    plan = plan_travel(3, [20, 24, 20], 6, mode, loop=True)
    g = torch.Generator().manual_seed(11)
    kf = torch.rand(3, 16, 16, 3, generator=g)
    saved, generated = {}, {}
    order = sorted(range(3), key=lambda i: (len(plan.dependencies(i)), i))
    assert order[-1] == 2 or mode == "independent"
    for i in order:
        deps = plan.dependencies(i)
        assert all(d in saved for d in deps), "dependencies come first"
        guide, mask = travel_segment_guide(plan, i, kf, previous_output=saved.get(i - 1), first_output=saved.get(0))
        noise = torch.rand(guide.shape, generator=g)
        frames = torch.where(mask[..., None] == 0, guide, noise)
        generated[i] = frames
        s = plan.segments[i]
        saved[i] = frames[s.trim_start: s.generate_frames - s.trim_end]
        assert saved[i].shape[0] == s.kept_frames
    video = stitch_segments([saved[i] for i in range(3)], plan.overlaps)
    assert video.shape[0] == plan.total_frames == 64
    closing = plan.segments[2]
    e = closing.end_context_frames
    assert torch.equal(generated[2][closing.generate_frames - e:], video[:e]), "the seam runs into frame 0"
    assert torch.equal(video[-1], generated[2][closing.generate_frames - e - 1])
    assert torch.equal(video[0], kf[0]) and not torch.equal(video[-1], kf[0]), "keyframe 0 appears once"
