"""Guide/mask layouts frame by frame, against the plans and the WanVaceToVideo contract."""

from __future__ import annotations

import pytest
import torch

from segue.video_utils.core.errors import PlanError
from reference import guide_summary
from segue.video_utils.engine.guides import (OverlapAdjust, continuation_guide, extend_segment_guide, join_contexts,
                                             join_transition_guide, travel_segment_guide)
from segue.video_utils.core.extend_plan import plan_extend
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.travel_plan import plan_travel

H, W = 16, 32


def flat(values, h=H, w=W) -> torch.Tensor:
    """[N,h,w,3] frames; frame k is flat at values[k] (distinct, recognisable colours)."""
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, h, w, 3).contiguous()


def keyframes(n: int) -> torch.Tensor:
    """Keyframe i has a distinct colour per channel so swapped anchors cannot pass."""
    frames = torch.empty(n, H, W, 3)
    for i in range(n):
        frames[i] = torch.tensor([0.1 + 0.2 * i, 0.9 - 0.2 * i, 0.05 * (i + 1)])
    return frames


def numbered_clip(clip_id: int, frames: int) -> torch.Tensor:
    """Frame k of clip c is flat at (100*c + k) / 1000: every frame is identifiable."""
    return flat([(100 * clip_id + k) / 1000 for k in range(frames)])


def frame_ids(frames: torch.Tensor, clip_id: int) -> list[int]:
    return [round(float(f.mean()) * 1000) - 100 * clip_id for f in frames]


def assert_grey_generate(guide, mask, frames):
    for f in frames:
        assert torch.all(guide[f] == 0.5), f"guide frame {f} is not exactly 0.5 grey"
        assert torch.all(mask[f] == 1.0), f"mask frame {f} is not 1 (generate)"


def assert_kept(guide, mask, frame, expected):
    assert torch.equal(guide[frame], expected), f"guide frame {frame} is not the expected image"
    assert torch.all(mask[frame] == 0.0), f"mask frame {frame} is not 0 (keep)"


def vace_streams(guide, mask):
    """WanVaceToVideo's split (comfy_extras/nodes_wan.py): inactive = known, reactive = control."""
    c = guide - 0.5
    m = mask[..., None]
    return c * (1 - m) + 0.5, c * m + 0.5


def test_segment0_anchors_and_shapes():
    plan = plan_travel(3, [80, 80], 10, "chained")
    kf = keyframes(3)
    guide, mask = travel_segment_guide(plan, 0, kf)
    assert guide.shape == (81, H, W, 3) and mask.shape == (81, H, W)
    assert guide.dtype == mask.dtype == torch.float32
    assert_kept(guide, mask, 0, kf[0])
    assert_kept(guide, mask, 80, kf[1])
    assert_grey_generate(guide, mask, range(1, 80))
    assert guide_summary(mask) == "1K 79. 1K"


def test_segment0_exact_keyframes_lead_in_is_generated_grey():
    plan = plan_travel(3, [78, 80], 10, "chained", exact_keyframes=True)
    seg = plan.segments[0]
    assert seg.trim_start == 2 and seg.start_anchor_frame == 2
    kf = keyframes(3)
    guide, mask = travel_segment_guide(plan, 0, kf)
    assert_grey_generate(guide, mask, [0, 1])
    assert_kept(guide, mask, 2, kf[0])
    assert_kept(guide, mask, 80, kf[1])
    assert guide_summary(mask, expand=True) == ".." + "K" + "." * 77 + "K"


def test_chained_segment_context_is_previous_tail_with_adjustments_only_there():
    plan = plan_travel(3, [80, 80], 10, "chained")
    seg = plan.segments[1]
    assert seg.context_frames == 10
    kf = keyframes(3)
    previous = torch.rand(81, H, W, 3)
    guide, mask = travel_segment_guide(plan, 1, kf, previous_output=previous)
    assert guide.shape[0] == seg.generate_frames == 89
    for k in range(10):
        assert_kept(guide, mask, k, previous[71 + k])
    assert_grey_generate(guide, mask, range(10, 88))
    assert_kept(guide, mask, 88, kf[2])
    assert guide_summary(mask) == "10K 78. 1K"

    adjust = OverlapAdjust(strength=0.8, desaturate=0.25, darken=0.1)
    adjusted, mask2 = travel_segment_guide(plan, 1, kf, previous_output=previous, adjust=adjust)
    tail = previous[-10:]
    expected = 0.8 * tail + 0.2 * 0.5                                  # toward grey
    luma = (expected * torch.tensor([0.299, 0.587, 0.114])).sum(-1, keepdim=True)
    expected = 0.75 * expected + 0.25 * luma                           # desaturate
    expected = (expected * 0.9).clamp(0, 1)                            # darken
    assert torch.allclose(adjusted[:10], expected, atol=1e-6)
    assert not torch.allclose(adjusted[:10], tail)
    assert torch.equal(adjusted[10:], guide[10:]), "adjustments must touch the context frames only"
    assert torch.equal(mask2, mask)
    assert torch.equal(previous[-10:], tail), "the caller's frames must not be modified"


def test_chained_segment_takes_the_tail_of_a_longer_output():
    plan = plan_travel(4, [80, 80, 80], 8, "chained")
    kf = keyframes(4)
    seg2_previous = flat([k / 200 for k in range(plan.segments[1].generate_frames)])
    guide, _ = travel_segment_guide(plan, 2, kf, previous_output=seg2_previous)
    n = plan.segments[2].context_frames
    assert torch.equal(guide[:n], seg2_previous[-n:])
    assert torch.equal(guide[-1], kf[3])


def test_chained_segment_needs_previous_output():
    plan = plan_travel(3, [80, 80], 10, "chained")
    with pytest.raises(PlanError, match="previous_output"):
        travel_segment_guide(plan, 1, keyframes(3))
    with pytest.raises(PlanError, match="previous_output has 4 frames"):
        travel_segment_guide(plan, 1, keyframes(3), previous_output=torch.rand(4, H, W, 3))
    with pytest.raises(PlanError, match="previous_output is 48x16"):
        travel_segment_guide(plan, 1, keyframes(3), previous_output=torch.rand(81, 16, 48, 3))


def test_independent_segments_anchor_on_their_own_keyframes():
    plan = plan_travel(4, [80, 80, 80], 10, "independent")
    kf = keyframes(4)
    for i, seg in enumerate(plan.segments):
        # previous_output is ignored for segments without context frames
        guide, mask = travel_segment_guide(plan, i, kf, previous_output=torch.rand(3, H, W, 3))
        a = seg.start_anchor_frame
        assert a == (0 if i == 0 else plan.overlaps[i - 1] - 1)
        assert_kept(guide, mask, a, kf[i])
        assert_kept(guide, mask, seg.generate_frames - 1, kf[i + 1])
        assert_grey_generate(guide, mask, [f for f in range(seg.generate_frames) if f not in (a, seg.generate_frames - 1)])
        if i:
            assert guide_summary(mask).startswith(f"{a}. 1K")
            assert not torch.equal(guide[a], kf[0]), "bug 6.3: independent segments must not reuse keyframe 0"


def test_vace_reactive_stream_is_neutral_and_inactive_holds_known_pixels():
    plan = plan_travel(3, [40, 40], 8, "chained")
    kf = keyframes(3)
    guide, mask = travel_segment_guide(plan, 1, kf, previous_output=torch.rand(41, H, W, 3))
    inactive, reactive = vace_streams(guide, mask)
    assert torch.all(reactive == 0.5), "generate frames must carry exact 0.5 grey into the reactive stream"
    kept = mask[:, 0, 0] == 0
    assert torch.equal(inactive[kept], guide[kept])


def test_travel_guide_input_errors():
    plan = plan_travel(3, [80, 80], 10, "chained")
    with pytest.raises(PlanError, match="keyframes has 2 images"):
        travel_segment_guide(plan, 0, keyframes(2))
    with pytest.raises(PlanError, match="keyframes is 30x16, not a multiple of 16"):
        travel_segment_guide(plan, 0, torch.rand(3, 16, 30, 3))
    with pytest.raises(PlanError, match="IMAGE batch"):
        travel_segment_guide(plan, 0, torch.rand(3, 16, 32))
    with pytest.raises(PlanError, match="segment index=2"):
        travel_segment_guide(plan, 2, keyframes(3))


def test_overlap_adjust_validation_and_neutral():
    frames = torch.rand(2, H, W, 3)
    assert torch.equal(OverlapAdjust().apply(frames), frames)
    assert torch.all(OverlapAdjust(strength=0.0).apply(frames) == 0.5)
    grey = OverlapAdjust(desaturate=1.0).apply(frames)
    assert torch.allclose(grey[..., 0], grey[..., 1]) and torch.allclose(grey[..., 1], grey[..., 2])
    assert torch.all(OverlapAdjust(darken=-1.0).apply(frames) <= 1.0)
    for bad in (dict(strength=1.5), dict(desaturate=-0.1), dict(darken=2.0)):
        with pytest.raises(PlanError):
            OverlapAdjust(**bad)


def test_continuation_guide():
    tail = flat([0.1, 0.2, 0.3, 0.4, 0.5])
    end = keyframes(1)[0]
    guide, mask = continuation_guide(tail, end, 33)
    assert guide.shape == (33, H, W, 3)
    for k in range(5):
        assert_kept(guide, mask, k, tail[k])
    assert_grey_generate(guide, mask, range(5, 32))
    assert_kept(guide, mask, 32, end)
    assert guide_summary(mask) == "5K 27. 1K"

    guide, mask = continuation_guide(tail, None, 9)
    assert guide_summary(mask) == "5K 4."
    assert_grey_generate(guide, mask, range(5, 9))

    with pytest.raises(PlanError, match="4n\\+1"):
        continuation_guide(tail, end, 32)
    with pytest.raises(PlanError, match="nothing to generate"):
        continuation_guide(tail, end, 5)
    with pytest.raises(PlanError, match="end_keyframe is 16x16"):
        continuation_guide(tail, torch.rand(16, 16, 3), 33)


@pytest.mark.parametrize("replace", [False, True])
def test_join_guide_contexts_come_from_the_right_source_frames(replace):
    plan = plan_join([40, 40], context=4, gap=9, replace=replace)
    spec = plan.joins[0]
    assert spec.transition_frames == 17 and spec.gap_frames == 9
    clip_a, clip_b = numbered_clip(1, 40), numbered_clip(2, 40)
    context_a, context_b = join_contexts(spec, clip_a, clip_b)
    if replace:
        # 4 frames removed from A's tail, 5 from B's head; contexts lie right outside them
        assert frame_ids(context_a, 1) == [32, 33, 34, 35]
        assert frame_ids(context_b, 2) == [5, 6, 7, 8]
    else:
        assert frame_ids(context_a, 1) == [36, 37, 38, 39]
        assert frame_ids(context_b, 2) == [0, 1, 2, 3]
    guide, mask = join_transition_guide(spec, context_a, context_b)
    assert guide.shape == (17, H, W, 3) and mask.shape == (17, H, W)
    for k in range(4):
        assert_kept(guide, mask, k, context_a[k])
        assert_kept(guide, mask, 13 + k, context_b[k])
    assert_grey_generate(guide, mask, range(4, 13))
    assert guide_summary(mask) == "4K 9. 4K"


def test_join_bridging_frames():
    plan = plan_join([40, 40], context=4, gap=9)
    spec = plan.joins[0]
    a, b = join_contexts(spec, numbered_clip(1, 40), numbered_clip(2, 40))
    guide, mask = join_transition_guide(spec, a, b, bridging=True)
    # gap indices 3 and 6 -> guide frames 4+3 and 4+6
    assert_kept(guide, mask, 7, a[-1])
    assert_kept(guide, mask, 10, b[0])
    assert guide_summary(mask, expand=True) == "KKKK...K..K..KKKK"
    assert_grey_generate(guide, mask, [4, 5, 6, 8, 9, 11, 12])

    small = plan_join([40, 40], context=4, gap=1).joins[0]    # T = 9, gap 1: too short to bridge
    assert small.gap_frames == 1
    a, b = join_contexts(small, numbered_clip(1, 40), numbered_clip(2, 40))
    _, mask = join_transition_guide(small, a, b, bridging=True)
    assert guide_summary(mask) == "4K 1. 4K"


def test_join_guide_errors():
    plan = plan_join([40, 40], context=4, gap=9, replace=True)
    spec = plan.joins[0]
    with pytest.raises(PlanError, match="clip_a of join 0 has 30 frames"):
        join_contexts(spec, numbered_clip(1, 30), numbered_clip(2, 40))
    a, b = join_contexts(spec, numbered_clip(1, 40), numbered_clip(2, 40))
    with pytest.raises(PlanError, match="context_b of join 0 has 3 frames"):
        join_transition_guide(spec, a, b[:3])
    with pytest.raises(PlanError, match="context_b is 16x16"):
        join_transition_guide(spec, a, torch.rand(4, 16, 16, 3))


def test_guide_summary_partial_and_empty():
    mask = torch.ones(5, 2, 2)
    mask[0] = 0
    mask[1, 0] = 0          # mean 0.5 -> generate
    mask[2, :, :] = 0.4     # mean < 0.5 -> kept
    assert guide_summary(mask, expand=True) == "K.K.."
    assert guide_summary(mask) == "1K 1. 1K 2."
    assert guide_summary(torch.ones(0, 2, 2)) == ""


# ----------------------------------------------------------------------------------------------
# one image, loops, extension, two frame rates


def test_one_image_travel_guide_leaves_the_end_free():
    plan = plan_travel(1, 48, 8)
    kf = keyframes(1)
    guide, mask = travel_segment_guide(plan, 0, kf)
    assert guide.shape[0] == 49
    assert_kept(guide, mask, 0, kf[0])
    assert_grey_generate(guide, mask, range(1, 49))
    assert guide_summary(mask) == "1K 48."


def test_one_image_loop_guide_closes_on_the_image():
    plan = plan_travel(1, 48, 8, loop=True)
    kf = keyframes(1)
    guide, mask = travel_segment_guide(plan, 0, kf)
    assert_kept(guide, mask, 0, kf[0])
    assert_kept(guide, mask, 48, kf[0])
    assert_grey_generate(guide, mask, range(1, 48))
    assert plan.segments[0].trim_end == 1


@pytest.mark.parametrize("mode", ["chained", "independent"])
def test_loop_closing_segment_runs_into_segment_zero(mode):
    plan = plan_travel(3, [40, 40, 40], 8, mode, loop=True, loop_overlap=6)
    closing = plan.segments[2]
    e = closing.end_context_frames
    assert e == plan.loop_overlap and abs(e - 6) <= 2
    kf = keyframes(3)
    first = flat([(300 + k) / 1000 for k in range(plan.segments[0].kept_frames)])
    previous = flat([(200 + k) / 1000 for k in range(plan.segments[1].kept_frames)])
    adjust = OverlapAdjust(strength=0.5)
    guide, mask = travel_segment_guide(plan, 2, kf, previous_output=previous, adjust=adjust, first_output=first)
    G = closing.generate_frames
    for k in range(e):
        assert_kept(guide, mask, G - e + k, first[k])      # unadjusted: must match video frame k exactly
    if mode == "chained":
        c = closing.context_frames
        assert torch.allclose(guide[:c], adjust.apply(previous[-c:])) and torch.all(mask[:c] == 0)
        assert_grey_generate(guide, mask, range(c, G - e))
    else:
        a = closing.start_anchor_frame
        assert_kept(guide, mask, a, kf[2])
        assert_grey_generate(guide, mask, [f for f in range(G - e) if f != a])
    with pytest.raises(PlanError, match="closes the loop and needs first_output"):
        travel_segment_guide(plan, 2, kf, previous_output=previous)
    with pytest.raises(PlanError, match="first_output has 2 frames"):
        travel_segment_guide(plan, 2, kf, previous_output=previous, first_output=first[:2])


def test_loop_with_a_single_seam_frame_may_use_keyframe_zero():
    plan = plan_travel(2, [40, 41], 8, "independent", loop=True, loop_overlap=1)
    closing = plan.segments[1]
    assert closing.end_context_frames == 1 == closing.trim_end
    guide, mask = travel_segment_guide(plan, 1, keyframes(2))
    assert_kept(guide, mask, closing.generate_frames - 1, keyframes(2)[0])
    assert_kept(guide, mask, closing.start_anchor_frame, keyframes(2)[1])
    a = closing.start_anchor_frame
    assert guide_summary(mask) == f"{a}. 1K {closing.generate_frames - a - 2}. 1K"


def test_extension_guides():
    plan = plan_extend(30, [20, 90], 6, keyframe_count=1, max_generation=49)
    clip = numbered_clip(1, 30)
    kf = keyframes(1)
    s0 = plan.segments[0]
    guide, mask = extend_segment_guide(plan, 0, clip, kf)
    c = s0.context_frames
    assert guide.shape[0] == s0.generate_frames
    assert frame_ids(guide[:c], 1) == list(range(30 - c, 30)) and torch.all(mask[:c] == 0)
    assert_kept(guide, mask, s0.end_anchor_frame, kf[0])
    assert_grey_generate(guide, mask, [f for f in range(c, s0.generate_frames) if f != s0.end_anchor_frame])
    later = plan.segments[2]
    so_far = numbered_clip(2, later.start_frame)
    guide, mask = extend_segment_guide(plan, 2, so_far)
    assert frame_ids(guide[:later.context_frames], 2) == list(range(later.start_frame - later.context_frames,
                                                                    later.start_frame))
    assert_grey_generate(guide, mask, range(later.context_frames, later.generate_frames))
    with pytest.raises(PlanError, match="ends on keyframe 0: pass the keyframes"):
        extend_segment_guide(plan, 0, clip)
    with pytest.raises(PlanError, match="video_tail has 3 frames"):
        extend_segment_guide(plan, 0, clip[:3], kf)


def test_extension_guide_with_trailing_trimmed_frames():
    plan = plan_extend(1, 6, 1, keyframe_count=1)
    (seg,) = plan.segments
    kf = keyframes(1)
    guide, mask = extend_segment_guide(plan, 0, numbered_clip(1, 1), kf)
    assert guide_summary(mask, expand=True) == "K.....K.."
    assert_kept(guide, mask, 6, kf[0])
    assert_grey_generate(guide, mask, [1, 2, 3, 4, 5, 7, 8])


def test_join_guide_at_two_rates_samples_the_contexts_nearest():
    plan = plan_join([60, 60], context=8, gap=21, replace=True, output_fps=30)
    spec = plan.joins[0]
    assert spec.generation_frames != spec.transition_frames
    clip_a, clip_b = numbered_clip(1, 60), numbered_clip(2, 60)
    a, b = join_contexts(spec, clip_a, clip_b)
    assert a.shape[0] == spec.context_gen_a and b.shape[0] == spec.context_gen_b
    assert frame_ids(a, 1) == [round(float(p) + 1e-9) for p in spec.context_a_sources()]
    assert frame_ids(b, 2) == [round(float(p) + 1e-9) for p in spec.context_b_sources()]
    assert frame_ids(a, 1)[0] == spec.context_a_start
    assert frame_ids(b, 2)[-1] == spec.context_b_start + spec.context_frames_b - 1
    guide, mask = join_transition_guide(spec, a, b)
    ca, gap = spec.context_gen_a, spec.gap_gen_frames
    assert guide.shape[0] == spec.generation_frames == ca + gap + spec.context_gen_b
    assert guide_summary(mask) == f"{ca}K {gap}. {spec.context_gen_b}K"
    assert_grey_generate(guide, mask, range(ca, ca + gap))
    with pytest.raises(PlanError, match=f"context_a of join 0 has 8 frames but the plan uses {ca}"):
        join_transition_guide(spec, clip_a[:8], b)


def test_loop_join_guide_reads_the_last_clip_and_clip_zero():
    plan = plan_join([40, 40], context=4, gap=9, loop=True)
    spec = plan.joins[1]
    assert plan.clip_pair(1) == (1, 0)
    a, b = join_contexts(spec, numbered_clip(2, 40), numbered_clip(1, 40))
    assert frame_ids(a, 2) == [36, 37, 38, 39] and frame_ids(b, 1) == [0, 1, 2, 3]
