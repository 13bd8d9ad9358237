"""The CPU preview generator (Wan stand-in) and a whole travel rendered with it."""

from __future__ import annotations

import pytest
import torch

from segue.video_utils.core.errors import PlanError
from segue.video_utils.engine.guides import join_contexts, join_transition_guide, travel_segment_guide
from reference import assemble_join, plan_segment_trims, stitch_segments
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.engine.preview_generator import preview_generate
from segue.video_utils.core.travel_plan import plan_travel

H, W = 48, 64


def guide_with(frames: dict[int, torch.Tensor], length: int, h: int = H, w: int = W):
    guide = torch.full((length, h, w, 3), 0.5)
    mask = torch.ones(length, h, w)
    for k, frame in frames.items():
        guide[k] = frame
        mask[k] = 0
    return guide, mask


def blob(cx: float, h: int = 64, w: int = 96, sigma: float = 8.0) -> torch.Tensor:
    x, y = torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32)
    g = torch.exp(-((x[None, :] - cx) ** 2 + (y[:, None] - h / 2) ** 2) / (2 * sigma ** 2))
    return (0.1 + 0.8 * g)[..., None].expand(h, w, 3).contiguous()


def centroid_x(frame: torch.Tensor) -> float:
    weight = (frame[..., 0] - 0.1).clamp(min=0).sum(0)
    return float((weight * torch.arange(frame.shape[1])).sum() / weight.sum())


@pytest.mark.parametrize("method", ["flow", "blend"])
def test_kept_frames_exact_and_flat_colours_move_monotonically(method):
    g = torch.Generator().manual_seed(0)
    noisy = torch.rand(H, W, 3, generator=g)
    red, blue = torch.tensor([0.9, 0.1, 0.2]).expand(H, W, 3), torch.tensor([0.1, 0.3, 0.8]).expand(H, W, 3)
    guide, mask = guide_with({0: noisy, 3: red, 13: blue}, 17)
    out = preview_generate(guide, mask, method)
    assert out.shape == guide.shape and out.dtype == torch.float32
    for k in (0, 3, 13):
        assert torch.equal(out[k], guide[k]), f"kept frame {k} changed"
    run = out[3:14, 0, 0]                      # red -> blue, frames 4..12 generated
    diffs = run[1:] - run[:-1]
    assert torch.all(diffs[:, 0] < 0) and torch.all(diffs[:, 2] > 0), "must move from red toward blue"
    assert torch.allclose(out[8], (red + blue) / 2, atol=1e-5), "midpoint of a flat-colour morph"
    for k in range(14, 17):                    # no kept frame after: hold the last kept one
        assert torch.equal(out[k], blue)
    assert not torch.equal(out[1], guide[1])


def test_leading_run_holds_next_kept_frame_and_input_untouched():
    a = torch.rand(H, W, 3)
    guide, mask = guide_with({4: a}, 5)
    before = guide.clone()
    out = preview_generate(guide, mask, "flow")
    assert all(torch.equal(out[k], a) for k in range(5))
    assert torch.equal(guide, before)


def test_flow_moves_content_instead_of_ghosting():
    guide, mask = guide_with({0: blob(30), 8: blob(46)}, 9, 64, 96)
    flow = preview_generate(guide, mask, "flow")
    blend = preview_generate(guide, mask, "blend")
    mid_flow, mid_blend = flow[4], blend[4]
    assert centroid_x(mid_flow) == pytest.approx(38, abs=1.5)
    assert float(mid_flow.max()) > 0.85, "the blob keeps its brightness while it moves"
    assert float(mid_blend.max()) < float(mid_flow.max()) - 0.1, "a dissolve dims it (ghosting)"
    xs = [centroid_x(f) for f in flow]
    assert all(b > a for a, b in zip(xs, xs[1:]))


def test_partial_masks_and_errors():
    guide, mask = guide_with({0: torch.zeros(H, W, 3), 4: torch.ones(H, W, 3)}, 5)
    mask[2] = 0.3                              # mean < 0.5 counts as kept
    guide[2] = 0.25
    out = preview_generate(guide, mask, "blend")
    assert torch.equal(out[2], guide[2])
    assert torch.allclose(out[1], torch.full((H, W, 3), 0.125))
    with pytest.raises(PlanError, match="keeps no frame"):
        preview_generate(torch.full((5, H, W, 3), 0.5), torch.ones(5, H, W))
    with pytest.raises(PlanError, match="does not match"):
        preview_generate(guide, mask[:4])
    with pytest.raises(PlanError, match="method='wan'"):
        preview_generate(guide, mask, "wan")


def test_progress_counts_generated_frames():
    guide, mask = guide_with({0: torch.zeros(H, W, 3), 6: torch.ones(H, W, 3)}, 9)
    seen = []
    preview_generate(guide, mask, "flow", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (7, 7) and [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("mode", ["chained", "independent"])
def test_preview_travel_end_to_end_lands_keyframes_exactly(mode):
    """Guides -> preview generator -> stitch: the whole travel pipeline without a GPU."""
    plan = plan_travel(4, [22, 26, 20], 6, mode, exact_keyframes=True)
    g = torch.Generator().manual_seed(1)
    keyframes = torch.rand(4, 16, 32, 3, generator=g)
    trims, overlaps = plan_segment_trims(plan)
    segments, previous = [], None
    for i, seg in enumerate(plan.segments):
        guide, mask = travel_segment_guide(plan, i, keyframes, previous_output=previous)
        frames = preview_generate(guide, mask, "flow")
        assert frames.shape[0] == seg.generate_frames
        if seg.context_frames:
            assert torch.equal(frames[: seg.context_frames], previous[-seg.context_frames:])
        previous = frames[trims[i]:]
        segments.append(previous)
    video = stitch_segments(segments, overlaps)     # sharpen > 0 would sharpen the keyframe frames too
    assert video.shape[0] == plan.total_frames
    for i, f in enumerate(plan.keyframe_frames):
        assert torch.equal(video[f], keyframes[i]), f"keyframe {i} is not exactly at frame {f}"


def test_preview_join_end_to_end():
    plan = plan_join([30, 26, 34], context=4, gap=9, replace=True)
    g = torch.Generator().manual_seed(2)
    clips = [torch.rand(n, 16, 32, 3, generator=g) for n in plan.clip_frames]
    transitions = []
    for spec in plan.joins:
        a, b = join_contexts(spec, clips[spec.index], clips[spec.index + 1])
        guide, mask = join_transition_guide(spec, a, b, bridging=True)
        transitions.append(preview_generate(guide, mask, "blend"))
    video = assemble_join(clips, transitions, plan)
    assert video.shape[0] == plan.total_frames == sum(plan.clip_frames)
    # with contexts reproduced exactly by the generator, the context regions equal the clips
    span = plan.clips[1]
    assert torch.equal(video[span.start_frame: span.start_frame + span.keep_end - span.keep_start],
                       clips[1][span.keep_start: span.keep_end])
