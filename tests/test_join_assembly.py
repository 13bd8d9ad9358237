"""Join assembly: frame-exact against the plan, in memory, streamed and from files; loop seams."""

from __future__ import annotations

import pytest
import torch

from reference import assemble_join, assemble_join_stream, crossfade
from segue.video_utils.core.errors import PlanError
from segue.video_utils.engine.join_assembly import assemble_join_files
from segue.video_utils.core.join_plan import plan_join


def numbered(base: int, frames: int, h: int = 2, w: int = 2) -> torch.Tensor:
    """Frame k is flat at (base + k) / 1000, so every output frame names its source frame."""
    values = (base + torch.arange(frames, dtype=torch.float32)) / 1000
    return values.view(-1, 1, 1, 1).expand(-1, h, w, 3).contiguous()


def make_inputs(plan, h=2, w=2):
    clips = [numbered(100 * k, n, h, w) for k, n in enumerate(plan.clip_frames)]
    transitions = [numbered(500 + 100 * j, spec.transition_frames, h, w) for j, spec in enumerate(plan.joins)]
    return clips, transitions


def reference(plan, clips, transitions, curve="cosine"):
    """The documented layout, frame by frame, from the plan's own positions (a loop wraps around
    the end: position ``total`` is frame 0 again)."""
    total = plan.total_frames
    out = [None] * total
    for k, span in enumerate(plan.clips):
        for i in range(span.keep_end - span.keep_start):
            assert out[(span.start_frame + i) % total] is None
            out[(span.start_frame + i) % total] = clips[k][span.keep_start + i]
    for j, spec in enumerate(plan.joins):
        ts, T, b = spec.transition_start, spec.transition_frames, spec.blend_frames
        ca, cb = spec.context_frames_a, spec.context_frames_b
        for t in range(ca, T - cb):                      # gap: the transition's own frames
            assert out[(ts + t) % total] is None
            out[(ts + t) % total] = transitions[j][t]
        if b:
            a_region = range(ts + ca - b, ts + ca)
            a_frames = torch.stack([out[x] for x in a_region])
            blended = crossfade(a_frames, transitions[j][ca - b: ca], curve)
            for i, x in enumerate(a_region):
                out[x] = blended[i]
            b_region = [x % total for x in range(ts + T - cb, ts + T - cb + b)]
            b_frames = torch.stack([out[x] for x in b_region])
            blended = crossfade(transitions[j][T - cb: T - cb + b], b_frames, curve)
            for i, x in enumerate(b_region):
                out[x] = blended[i]
    assert all(f is not None for f in out), "the plan leaves a hole"
    return torch.stack(out)


PLANS = [
    dict(clip_frames=[40, 40], context=4, gap=9),
    dict(clip_frames=[40, 40], context=4, gap=9, replace=True),
    dict(clip_frames=[60, 50, 70], context=6, gap=11, blend=3),
    dict(clip_frames=[60, 50, 70], context=6, gap=11, replace=True),
    dict(clip_frames=[60, 50, 70, 55], context=6, gap=11,
         per_join=[{"blend": 2}, {"context": 4, "gap": 5, "blend": 0}, {"replace": True}]),
    dict(clip_frames=[60, 50, 70, 55], context=5, gap=20, replace=True,
         per_join=[{"replace": False}, {"context": 8, "gap": 3}, {"blend": 1}]),
]


@pytest.mark.parametrize("kw", PLANS)
def test_assembly_is_frame_exact_against_the_plan(kw):
    plan = plan_join(**kw)
    clips, transitions = make_inputs(plan)
    out = assemble_join(clips, transitions, plan)
    assert out.shape[0] == plan.total_frames
    if all(j.replace for j in plan.joins):
        assert out.shape[0] == sum(plan.clip_frames)
    if not any(j.replace for j in plan.joins):
        assert out.shape[0] == sum(plan.clip_frames) + sum(j.gap_frames for j in plan.joins)
    assert torch.equal(out, reference(plan, clips, transitions))


def test_frames_outside_blends_name_their_source():
    plan = plan_join([40, 40], context=4, gap=9, replace=True, blend=2)
    clips, transitions = make_inputs(plan)
    out = assemble_join(clips, transitions, plan)
    ids = [round(float(f[0, 0, 0]) * 1000) for f in out]
    # A keeps 0..35 (4 removed), blends its frames 34,35 into transition frames 2,3
    assert ids[:34] == list(range(0, 34))
    assert ids[36:45] == list(range(504, 513)), "gap = transition frames 4..12"
    # transition frames 13,14 blend into B frames 5,6; then B's own frames 7..39
    assert ids[47:] == list(range(107, 140))
    assert out.shape[0] == 80
    assert torch.equal(out[35], transitions[0][3]), "last A-side blend frame is fully the transition"
    assert torch.equal(out[46], clips[1][6]), "last B-side blend frame is fully B"


@pytest.mark.parametrize("kw", [PLANS[1], PLANS[4]])
def test_stream_equals_in_memory(kw):
    plan = plan_join(**kw)
    clips, transitions = make_inputs(plan, 8, 8)
    expected = assemble_join(clips, transitions, plan, sharpen=0.3)

    def chunks(frames, size=5):
        return lambda: iter(frames.split(size))

    got = []
    n = assemble_join_stream([chunks(c) for c in clips], [chunks(t, 3) for t in transitions], plan,
                             lambda f: got.append(f.clone()), sharpen=0.3)
    assert n == plan.total_frames
    assert torch.equal(torch.cat(got), expected)


def test_short_transition_names_the_join():
    plan = plan_join([60, 50, 70], context=6, gap=11)
    clips, transitions = make_inputs(plan)
    short = list(transitions)
    short[1] = transitions[1][:-4]
    with pytest.raises(PlanError, match=f"transition of join 1 has {plan.joins[1].transition_frames - 4} frames "
                                        f"but the plan needs {plan.joins[1].transition_frames}"):
        assemble_join(clips, short, plan)
    with pytest.raises(PlanError, match="transition of join 1 has"):
        assemble_join_stream(clips, short, plan, lambda f: None)
    with pytest.raises(PlanError, match="1 transitions given but the plan has 2 joins"):
        assemble_join(clips, transitions[:1], plan)
    with pytest.raises(PlanError, match="clip 2 has 69 frames but the join plan was made for 70"):
        assemble_join(clips[:2] + [clips[2][:-1]], transitions, plan)
    with pytest.raises(PlanError, match="clip 2 has 71 frames"):
        assemble_join_stream(clips[:2] + [torch.cat([clips[2], clips[2][:1]])], transitions, plan, lambda f: None)


def lossless_inputs(tmp_path, plan, seed: int):
    """Random clips and transitions of ``plan`` written as lossless files: (transitions, clip
    paths, transition paths, the clips and transitions as decoded from the files)."""
    from segue.video_utils.core.constants import LOSSLESS_SUFFIX
    from segue.video_utils.engine.video_read import read_frames
    from segue.video_utils.engine.video_write import LOSSLESS_CODEC, write_video

    g = torch.Generator().manual_seed(seed)
    clips = [torch.rand(n, 16, 32, 3, generator=g) for n in plan.clip_frames]
    transitions = [torch.rand(j.transition_frames, 16, 32, 3, generator=g) for j in plan.joins]
    clip_paths, transition_paths = [], []
    for name, frames, paths in [(f"clip{k}", c, clip_paths) for k, c in enumerate(clips)] + \
                               [(f"tr{j}", t, transition_paths) for j, t in enumerate(transitions)]:
        path = tmp_path / f"{name}{LOSSLESS_SUFFIX}"
        write_video(path, frames, 16, codec=LOSSLESS_CODEC)
        paths.append(path)
    return (transitions, clip_paths, transition_paths, [read_frames(p) for p in clip_paths],
            [read_frames(p) for p in transition_paths])


def test_files_are_identical_to_in_memory(tmp_path):
    from segue.video_utils.core.constants import LOSSLESS_SUFFIX
    from segue.video_utils.engine.video_read import read_frames
    from segue.video_utils.engine.video_write import LOSSLESS_CODEC, write_video

    plan = plan_join([30, 26, 34], context=4, gap=9, per_join=[{"replace": True, "blend": 2}])
    transitions, clip_paths, transition_paths, decoded_clips, decoded_transitions = lossless_inputs(tmp_path, plan, 5)
    expected = assemble_join(decoded_clips, decoded_transitions, plan, sharpen=0.3)
    memory_path = tmp_path / f"memory{LOSSLESS_SUFFIX}"
    write_video(memory_path, expected, 16, codec=LOSSLESS_CODEC)

    out_path = tmp_path / f"joined{LOSSLESS_SUFFIX}"
    n = assemble_join_files(clip_paths, transition_paths, plan, out_path, sharpen=0.3,
                            codec=LOSSLESS_CODEC, chunk=4)
    assert n == plan.total_frames
    assert torch.equal(read_frames(out_path), read_frames(memory_path))

    bad = tmp_path / f"short{LOSSLESS_SUFFIX}"
    write_video(bad, transitions[1][:-4], 16, codec=LOSSLESS_CODEC)
    with pytest.raises(PlanError, match="transition of join 1 .*short.* has 13 frames but the plan generates 17"):
        assemble_join_files(clip_paths, [transition_paths[0], bad], plan, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


LOOPS = [
    dict(clip_frames=[40], context=4, gap=9, loop=True),
    dict(clip_frames=[40], context=4, gap=9, replace=True, blend=2, loop=True),
    dict(clip_frames=[60, 50, 70], context=6, gap=11, loop=True),
    dict(clip_frames=[60, 50, 70], context=6, gap=11, replace=True, loop=True,
         per_join=[{"blend": 2}, {"replace": False}, {"blend": 0}]),
    dict(clip_frames=[60, 50], context=5, gap=20, replace=True, loop=True, per_join=[{}, {"blend": 3}]),
]


@pytest.mark.parametrize("kw", LOOPS)
def test_loop_seam_is_assembled_around_the_end(kw):
    plan = plan_join(**kw)
    clips, transitions = make_inputs(plan)
    out = assemble_join(clips, transitions, plan)
    assert out.shape[0] == plan.total_frames
    assert torch.equal(out, reference(plan, clips, transitions))
    closing = plan.joins[-1]
    T, cb, b = closing.transition_frames, closing.context_frames_b, closing.blend_frames
    first = plan.clips[0]
    # the video ends on the closing transition's frame right before its B context ...
    assert torch.equal(out[-1], transitions[-1][T - cb - 1])
    # ... and starts where that B context begins: the transition fading into clip 0's head
    if b:
        assert torch.equal(out[0], crossfade(transitions[-1][T - cb: T - cb + b], clips[0][first.keep_start:
                                             first.keep_start + b])[0])
        assert torch.equal(out[b - 1], clips[0][first.keep_start + b - 1]), "last blend frame is fully clip 0"
    else:
        assert torch.equal(out[0], clips[0][first.keep_start])
    # no frame repeats: every unblended output frame names a distinct source frame
    ids = [round(float(f[0, 0, 0]) * 1000) for f in out]
    blended = set()
    for j in plan.joins:
        a_side = j.transition_start + j.context_frames_a - j.blend_frames
        b_side = j.transition_start + j.transition_frames - j.context_frames_b
        blended |= {(side + i) % plan.total_frames for side in (a_side, b_side) for i in range(j.blend_frames)}
    plain = [ids[x] for x in range(plan.total_frames) if x not in blended]
    assert len(plain) == len(set(plain))


@pytest.mark.parametrize("kw", [LOOPS[1], LOOPS[3]])
def test_loop_stream_equals_in_memory_and_needs_reopenable_sources(kw):
    plan = plan_join(**kw)
    clips, transitions = make_inputs(plan, 8, 8)
    expected = assemble_join(clips, transitions, plan)

    def chunks(frames, size=5):
        return lambda: iter(frames.split(size))

    got = []
    n = assemble_join_stream([chunks(c) for c in clips], [chunks(t, 3) for t in transitions], plan,
                             lambda f: got.append(f.clone()))
    assert n == plan.total_frames
    assert torch.equal(torch.cat(got), expected)
    with pytest.raises(PlanError, match="loop transition .* is read twice"):
        assemble_join_stream(clips, transitions[:-1] + [iter(transitions[-1].split(4))], plan, lambda f: None)


def test_loop_files_are_identical_to_in_memory(tmp_path):
    from segue.video_utils.core.constants import LOSSLESS_SUFFIX
    from segue.video_utils.engine.video_read import read_frames
    from segue.video_utils.engine.video_write import LOSSLESS_CODEC, write_video

    plan = plan_join([30, 26], context=4, gap=9, replace=True, blend=2, loop=True)
    _, clip_paths, transition_paths, decoded_clips, decoded_transitions = lossless_inputs(tmp_path, plan, 7)
    expected = assemble_join(decoded_clips, decoded_transitions, plan)
    assert torch.equal(expected, reference(plan, decoded_clips, decoded_transitions))
    memory_path = tmp_path / f"memory{LOSSLESS_SUFFIX}"
    write_video(memory_path, expected, 16, codec=LOSSLESS_CODEC)

    out_path = tmp_path / f"loop{LOSSLESS_SUFFIX}"
    n = assemble_join_files(clip_paths, transition_paths, plan, out_path, codec=LOSSLESS_CODEC, chunk=4)
    assert n == plan.total_frames == 56
    written = read_frames(out_path)
    assert torch.equal(written, read_frames(memory_path))
    # played in a loop the seam continues the closing transition into clip 0 (no repeat, no jump)
    closing = plan.joins[-1]
    b_start = closing.transition_frames - closing.context_frames_b
    assert torch.equal(written[-1], decoded_transitions[-1][b_start - 1])
    assert torch.equal(written[closing.blend_frames - 1],
                       decoded_clips[0][plan.clips[0].keep_start + closing.blend_frames - 1])


def test_two_rate_plan_assembles_retimed_transitions_in_output_frames():
    plan = plan_join([60, 50], context=6, gap=11, replace=True, output_fps=24)
    j = plan.joins[0]
    assert j.generation_frames < j.transition_frames
    clips, transitions = make_inputs(plan)
    out = assemble_join(clips, transitions, plan)
    assert out.shape[0] == plan.total_frames == 110
    assert torch.equal(out, reference(plan, clips, transitions))
    generated = numbered(500, j.generation_frames)
    with pytest.raises(PlanError, match=f"generate it with length {j.generation_frames} at the generation rate, "
                                        f"then retime it to {j.transition_frames}"):
        assemble_join(clips, [generated], plan)


@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
def test_transitions_reach_the_output_size_with_the_runs_fit(tmp_path, fit):
    """Transitions generated at a working size of another aspect (3:2 for a 4:3 output) are
    cropped, padded or stretched as the user's ``fit`` says, like the clips, never always stretched."""
    from segue.video_utils.engine.conform import conform_frames
    from segue.video_utils.core.constants import LOSSLESS_SUFFIX
    from segue.video_utils.engine.video_read import read_frames
    from segue.video_utils.engine.video_write import LOSSLESS_CODEC, write_video

    plan = plan_join([20, 20], context=4, gap=9)
    g = torch.Generator().manual_seed(7)
    clip_paths, transition_paths = [], []
    for k, n in enumerate(plan.clip_frames):
        clip_paths.append(tmp_path / f"clip{k}{LOSSLESS_SUFFIX}")
        write_video(clip_paths[-1], torch.rand(n, 24, 32, 3, generator=g), 16, codec=LOSSLESS_CODEC)
    ramp = torch.linspace(0.1, 0.9, 24).view(1, 1, 24, 1).expand(plan.joins[0].generation_frames, 16, 24, 3)
    transition_paths.append(tmp_path / f"tr0{LOSSLESS_SUFFIX}")
    write_video(transition_paths[-1], ramp.contiguous(), 16, codec=LOSSLESS_CODEC)
    out_path = tmp_path / f"joined{LOSSLESS_SUFFIX}"
    assemble_join_files(clip_paths, transition_paths, plan, out_path, size=(32, 24), fit=fit, codec=LOSSLESS_CODEC)
    spec = plan.joins[0]
    gap = read_frames(out_path)[spec.transition_start + spec.context_frames_a]   # the transition's own frame
    expected = conform_frames(read_frames(transition_paths[0])[:1], 32, 24, fit)[0]
    assert torch.allclose(gap, expected, atol=1.5 / 255)
    assert (gap[0].max() < 0.01) == (fit == "pad")          # pad: bars above and below
    others = {f: conform_frames(read_frames(transition_paths[0])[:1], 32, 24, f)[0] for f in ("crop", "stretch")}
    assert not torch.allclose(others["crop"], others["stretch"], atol=2 / 255)


@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
def test_a_travel_is_delivered_at_another_shape_with_its_fit(tmp_path, fit):
    from segue.video_utils.engine.conform import conform_frames
    from segue.video_utils.core.constants import LOSSLESS_SUFFIX
    from segue.video_utils.core.step_settings import TravelDelivery as Output
    from segue.video_utils.engine.delivery import deliver_segments
    from segue.video_utils.engine.video_read import read_frames
    from segue.video_utils.engine.video_write import LOSSLESS_CODEC, write_video

    ramp = torch.linspace(0.1, 0.9, 24).view(1, 1, 24, 1).expand(9, 16, 24, 3).contiguous()
    paths = [tmp_path / f"seg{k}{LOSSLESS_SUFFIX}" for k in range(2)]
    for p in paths:
        write_video(p, ramp, 16, codec=LOSSLESS_CODEC)
    out_path = tmp_path / "travel.mkv"
    n = deliver_segments(paths, [2], out_path, fps=16, output=Output(width=32, height=24, fit=fit),
                         preset="ultrafast", crf=0)
    assert n == 16
    frame = read_frames(out_path)[8]
    expected = conform_frames(read_frames(paths[0])[:1], 32, 24, fit)[0]
    assert (frame - expected).abs().mean() < 4 / 255
    assert (frame[0].max() < 0.05) == (fit == "pad")
    with pytest.raises(PlanError, match="fit"):
        deliver_segments(paths, [2], tmp_path / "x.mp4", fps=16, output=Output(width=32, height=24, fit="zoom"))
