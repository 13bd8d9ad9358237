"""Cross-fade kernel and the in-memory / streamed stitch."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segue.video_utils.core.constants import MAX_SHARPEN
from reference import crossfade, plan_segment_trims, stitch_segments
from segue.video_utils.engine.crossfade import crossfade_weights
from segue.video_utils.core.errors import PlanError
from segue.video_utils.engine.stitch import stitch_length, stitch_segment_files, stitch_stream
from segue.video_utils.core.travel_plan import plan_travel


def flat(value: float, n: int = 1, h: int = 4, w: int = 4) -> torch.Tensor:
    return torch.full((n, h, w, 3), float(value))


def chunked(frames: torch.Tensor, size: int):
    """A source that yields chunks and (like a decoder) reuses one buffer for every chunk."""
    def source():
        buf = torch.empty((size, *frames.shape[1:]))
        for i in range(0, frames.shape[0], size):
            part = frames[i: i + size]
            buf[: part.shape[0]].copy_(part)
            yield buf[: part.shape[0]]
            buf.fill_(float("nan"))           # anything held as a view would be poisoned
    return source


def streamed(segments, overlaps, chunk=3, known=False, **kw) -> torch.Tensor:
    """Stream-stitch chunked sources; ``known`` passes their lengths (the path real callers take)."""
    out = []
    if known:
        kw["lengths"] = [s.shape[0] for s in segments]
    n = stitch_stream([chunked(s, chunk) for s in segments], overlaps, lambda f: out.append(f.clone()), **kw)
    result = torch.cat(out) if out else torch.empty(0)
    assert n == result.shape[0]
    return result


# ---- cross-fade kernel --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 5, 10, 33])
def test_cosine_weights(n):
    w = crossfade_weights(n)
    assert w.shape == (n,) and w.dtype == torch.float32
    assert w[-1] == 1.0, "the last overlap frame is fully the later segment"
    assert w[0] == pytest.approx((1 - math.cos(math.pi / n)) / 2, abs=1e-7)
    assert w[0] > 0 or n == 1
    assert torch.all(w[1:] > w[:-1])
    assert float(w.sum()) == pytest.approx((n + 1) / 2, abs=1e-5)
    for k in range(n - 1):      # symmetric around the middle of the fade
        assert float(w[k] + w[n - 2 - k]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("n", [1, 4, 9])
def test_linear_weights(n):
    w = crossfade_weights(n, "linear")
    assert torch.allclose(w, torch.arange(1, n + 1, dtype=torch.float32) / n)
    assert w[-1] == 1.0
    assert float(w.sum()) == pytest.approx((n + 1) / 2, abs=1e-5)


def test_weights_errors_and_empty():
    assert crossfade_weights(0).shape == (0,)
    with pytest.raises(PlanError, match="curve='smooth'"):
        crossfade_weights(4, "smooth")


@pytest.mark.parametrize("curve", ["cosine", "linear"])
def test_crossfade_flat_colours(curve):
    a, b = flat(0.2, 6), flat(0.8, 6)
    out = crossfade(a, b, curve)
    alpha = crossfade_weights(6, curve)
    assert torch.allclose(out[:, 0, 0, 0], 0.2 + 0.6 * alpha, atol=1e-6)
    assert torch.equal(out[-1], b[-1])
    assert torch.equal(a, flat(0.2, 6)), "inputs are not modified"


def test_crossfade_in_place_output_and_sharpen():
    a = torch.zeros(5, 32, 32, 3)
    b = torch.zeros(5, 32, 32, 3)
    b[:, :, 16:] = 0.6                                  # a vertical edge
    plain = crossfade(a, b, sharpen=0.0)
    target = torch.empty(5, 32, 32, 3)
    result = crossfade(a, b, sharpen=0.0, out=target)
    assert result.data_ptr() == target.data_ptr() and torch.equal(target, plain)
    sharp = crossfade(a, b, sharpen=0.3)
    # unsharp mask: overshoot next to the edge, growing toward the end of the fade
    overshoot = (sharp[:, :, 17:20] - plain[:, :, 17:20]).amax(dim=(1, 2, 3))
    assert torch.all(overshoot[1:] > overshoot[:-1]) and overshoot[-1] > 0.01
    assert torch.allclose(sharp[:, :, 29:], plain[:, :, 29:], atol=1e-6), "flat areas stay as they are"
    flat_sharp = crossfade(flat(0.3, 4, 16, 16), flat(0.7, 4, 16, 16), sharpen=0.5)
    assert torch.allclose(flat_sharp, crossfade(flat(0.3, 4, 16, 16), flat(0.7, 4, 16, 16)), atol=1e-6)
    hot = crossfade(torch.zeros(3, 16, 16, 3), torch.where(torch.arange(16)[None, :, None, None] < 8, 0.0, 1.0)
                    .expand(3, 16, 16, 3).contiguous(), sharpen=MAX_SHARPEN)
    assert float(hot.min()) >= 0.0 and float(hot.max()) <= 1.0


@pytest.mark.parametrize("curve", ["cosine", "linear"])
def test_crossfade_of_frames_in_range_stays_in_range_without_clipping(curve):
    """The unsharpened blend is not clipped: lerp must not round out of 0..1 (extremes included)."""
    g = torch.Generator().manual_seed(5)
    edges = torch.tensor([0.0, 1.0, 1e-30, 1.0 - 2 ** -24, 2 ** -24, 0.5])
    a = torch.cat([torch.rand(40_000, generator=g), edges.repeat_interleave(6), edges.repeat(6)])
    b = torch.cat([torch.rand(40_000, generator=g), edges.repeat(6), edges.repeat_interleave(6)])
    a, b = a.view(1, -1, 1, 1).expand(33, -1, 3, 3).contiguous(), b.view(1, -1, 1, 1).expand(33, -1, 3, 3).contiguous()
    out = crossfade(a, b, curve)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.all(out >= torch.minimum(a, b)) and torch.all(out <= torch.maximum(a, b))
    wild = crossfade(flat(-0.5, 5), flat(1.5, 5), curve)
    assert float(wild.min()) < 0 and float(wild.max()) > 1, "out-of-range input passes through unclipped"


def test_crossfade_shape_mismatch():
    with pytest.raises(PlanError, match="same size"):
        crossfade(flat(0, 3), flat(1, 4))
    with pytest.raises(PlanError, match="sharpen"):
        crossfade(flat(0, 3), flat(1, 3), sharpen=-1)


# ---- in-memory stitch ---------------------------------------------------------------------------

def test_stitch_layout_and_untouched_frames():
    segs = [torch.rand(20, 4, 4, 3), torch.rand(30, 4, 4, 3), torch.rand(25, 4, 4, 3)]
    out = stitch_segments(segs, [5, 7])
    assert out.shape == (20 + 30 + 25 - 12, 4, 4, 3)
    assert torch.equal(out[:15], segs[0][:15])
    assert torch.equal(out[20:38], segs[1][5:23])
    assert torch.equal(out[45:], segs[2][7:])
    assert torch.equal(out[15:20], crossfade(segs[0][15:], segs[1][:5]))
    assert torch.equal(out[38:45], crossfade(segs[1][23:], segs[2][:7]))
    assert torch.equal(out[19], segs[1][4]), "last overlap frame is the next segment's own"


def test_stitch_zero_and_one_overlap_are_cuts():
    segs = [flat(0.1, 5), flat(0.5, 6), flat(0.9, 4)]
    out = stitch_segments(segs, [0, 1])
    assert out.shape[0] == 14
    assert out[:, 0, 0, 0].tolist() == pytest.approx([0.1] * 5 + [0.5] * 5 + [0.9] * 4)


def test_stitch_progress_and_single_segment():
    seen = []
    seg = torch.rand(7, 4, 4, 3)
    out = stitch_segments([seg], [], progress=lambda d, t: seen.append((d, t)))
    assert torch.equal(out, seg) and seen == [(7, 7)]


def test_stitch_validation_errors():
    segs = [torch.rand(10, 4, 4, 3), torch.rand(10, 4, 4, 3), torch.rand(10, 4, 4, 3)]
    with pytest.raises(PlanError, match="overlaps has 1 values"):
        stitch_segments(segs, [2])
    with pytest.raises(PlanError, match="overlaps\\[1\\]=-1"):
        stitch_segments(segs, [2, -1])
    with pytest.raises(PlanError, match="segment 1 has 10 frames but its overlaps need 6 \\+ 5"):
        stitch_segments(segs, [6, 5])
    with pytest.raises(PlanError, match="segment 0 has 10 frames"):
        stitch_segments(segs, [11, 0])
    with pytest.raises(PlanError, match="segment 2 is 8x4"):
        stitch_segments(segs[:2] + [torch.rand(10, 4, 8, 3)], [2, 2])
    with pytest.raises(PlanError, match="dtype torch.uint8"):
        stitch_segments([torch.zeros(4, 4, 4, 3, dtype=torch.uint8)], [])
    with pytest.raises(PlanError, match="nothing to stitch"):
        stitch_length([], [])


# ---- streamed stitch ----------------------------------------------------------------------------

@pytest.mark.parametrize("known", [False, True])
@pytest.mark.parametrize("sharpen", [0.0, 0.3])
def test_stream_equals_in_memory(sharpen, known):
    segs = [torch.rand(n, 24, 24, 3) for n in (17, 21, 9, 30)]
    overlaps = [6, 4, 5]
    expected = stitch_segments(segs, overlaps, sharpen=sharpen)
    for chunk in (1, 4, 5, 16, 100):
        got = streamed(segs, overlaps, chunk=chunk, known=known, sharpen=sharpen)
        assert torch.equal(got, expected), f"chunk {chunk}"


def test_stream_equals_in_memory_on_big_frames_whatever_the_chunking():
    """Frames big enough for multi-threaded, vectorised kernels; overlaps cut across chunks."""
    g = torch.Generator().manual_seed(1)
    segs = [torch.rand(n, 96, 160, 3, generator=g, dtype=torch.float64).float() for n in (13, 15, 12)]
    overlaps = [7, 5]
    expected = stitch_segments(segs, overlaps)
    assert torch.equal(expected[6:13], crossfade(segs[0][6:], segs[1][:7]))
    for chunk in (2, 3, 7):
        assert torch.equal(streamed(segs, overlaps, chunk=chunk, known=True), expected), f"chunk {chunk}"


def test_stream_accepts_tensors_and_reports_progress():
    segs = [torch.rand(10, 4, 4, 3), torch.rand(12, 4, 4, 3)]
    seen, out = [], []
    n = stitch_stream(segs, [3], out.append, lengths=[10, 12], progress=lambda d, t: seen.append((d, t)))
    assert n == 19 and torch.equal(torch.cat(out), stitch_segments(segs, [3]))
    assert seen[-1] == (19, 19) and all(t == 19 for _, t in seen)


def test_stream_errors():
    segs = [torch.rand(10, 4, 4, 3), torch.rand(4, 4, 4, 3), torch.rand(10, 4, 4, 3)]
    with pytest.raises(PlanError, match="segment 1 has 4 frames but its overlaps need 3 \\+ 3"):
        stitch_stream([chunked(s, 3) for s in segs], [3, 3], lambda f: None)
    with pytest.raises(PlanError, match="segment 2 yielded 10 frames but 11 were expected"):
        stitch_stream([chunked(s, 3) for s in segs], [1, 1], lambda f: None, lengths=[10, 4, 11])
    sent = []
    with pytest.raises(PlanError, match="segment 1 has 4 frames but its overlaps need 3 \\+ 3"):
        stitch_stream(segs, [3, 3], sent.append, lengths=[10, 4, 10])
    assert sent == [], "known lengths are validated before anything reaches the sink"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_stitch_property(data):
    n = data.draw(st.integers(1, 5), label="segments")
    lengths = data.draw(st.lists(st.integers(1, 14), min_size=n, max_size=n), label="lengths")
    overlaps = []
    for i in range(n - 1):
        room_a = lengths[i] - (overlaps[i - 1] if i else 0)
        overlaps.append(data.draw(st.integers(0, min(room_a, lengths[i + 1])), label=f"overlap{i}"))
    chunk = data.draw(st.integers(1, 6), label="chunk")
    curve = data.draw(st.sampled_from(["cosine", "linear"]), label="curve")
    # frame k of segment i is flat at a unique value, so every output frame is traceable
    segs = [torch.stack([flat((i * 16 + k) / 100, 1, 2, 2)[0] for k in range(L)]) for i, L in enumerate(lengths)]
    out = stitch_segments(segs, overlaps, curve)
    assert out.shape[0] == sum(lengths) - sum(overlaps) == stitch_length(lengths, overlaps)
    assert torch.equal(streamed(segs, overlaps, chunk, curve=curve), out)
    assert torch.equal(streamed(segs, overlaps, chunk, known=True, curve=curve), out)
    pos = 0
    for i, seg in enumerate(segs):
        head = overlaps[i - 1] if i else 0
        tail = overlaps[i] if i < n - 1 else 0
        if head:
            assert torch.equal(out[pos + head - 1], seg[head - 1])
        pos += head
        body = seg.shape[0] - head - tail
        assert torch.equal(out[pos: pos + body], seg[head: head + body])
        pos += body
    assert pos == out.shape[0]


# ---- travel timeline ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["chained", "independent"])
@pytest.mark.parametrize("exact", [False, True])
def test_travel_stitch_puts_keyframes_where_the_plan_says(mode, exact):
    plan = plan_travel(4, [38, 44, 40], 8, mode, exact)
    trims, overlaps = plan_segment_trims(plan)
    assert overlaps == plan.overlaps and trims[1:] == [0] * (len(trims) - 1)
    keys = [0.1, 0.4, 0.7, 0.95]
    segs = []
    for i, seg in enumerate(plan.segments):
        frames = torch.full((seg.generate_frames, 2, 2, 3), 0.5)
        frames[seg.start_anchor_frame] = keys[i]
        frames[-1] = keys[i + 1]
        segs.append(frames[seg.trim_start:])
    out = stitch_segments(segs, overlaps)
    assert out.shape[0] == plan.total_frames
    for i, f in enumerate(plan.keyframe_frames):
        assert torch.all(out[f] == keys[i]), f"keyframe {i} not at frame {f}"


# ---- files: streamed == in-memory, bit-exact ----------------------------------------------------

def test_file_stitch_is_bit_identical_to_in_memory(tmp_path):
    from segue.video_utils.core.constants import LOSSLESS_SUFFIX
    from segue.video_utils.engine.video_read import read_frames
    from segue.video_utils.engine.video_write import LOSSLESS_CODEC, write_video

    g = torch.Generator().manual_seed(3)
    lengths, overlaps = [21, 17, 25], [5, 6]
    paths = []
    for i, n in enumerate(lengths):
        base = torch.rand(1, 32, 48, 3, generator=g)
        motion = torch.linspace(0, 0.3, n).view(n, 1, 1, 1)
        path = tmp_path / f"seg{i}{LOSSLESS_SUFFIX}"
        write_video(path, (base + motion) % 1.0, 16, codec=LOSSLESS_CODEC)
        paths.append(path)
    decoded = [read_frames(p) for p in paths]
    assert [d.shape[0] for d in decoded] == lengths
    trim = 2
    expected = stitch_segments([decoded[0][trim:]] + decoded[1:], overlaps, sharpen=0.3)
    out_path = tmp_path / f"stitched{LOSSLESS_SUFFIX}"
    seen = []
    n = stitch_segment_files(paths, overlaps, out_path, fps=16, trim_start=trim, sharpen=0.3,
                             codec=LOSSLESS_CODEC, chunk=4, progress=lambda d, t: seen.append((d, t)))
    assert n == expected.shape[0] == sum(lengths) - trim - sum(overlaps)
    assert seen[-1] == (n, n)
    # encode the in-memory result through the same lossless writer: both files must decode equal
    memory_path = tmp_path / f"memory{LOSSLESS_SUFFIX}"
    write_video(memory_path, expected, 16, codec=LOSSLESS_CODEC)
    got, want = read_frames(out_path), read_frames(memory_path)
    assert got.shape == want.shape and torch.equal(got, want)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"seg{i}{LOSSLESS_SUFFIX}" for i in range(3)] + [out_path.name, memory_path.name]
    ), "no temporary files left behind"


def test_file_stitch_uses_the_stored_size_of_rotated_files(tmp_path):
    """Files with a display matrix decode at their stored size: the stitch is written at that size."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import media

    from segue.video_utils.core.probe import probe

    paths = [media.write_clip(tmp_path / f"r{i}.mp4", 48, 32, 16, 8, rotation=90) for i in range(2)]
    assert (probe(paths[0]).width, probe(paths[0]).height) == (32, 48)    # displayed portrait
    out_path = tmp_path / "out.mp4"
    assert stitch_segment_files(paths, [2], out_path, fps=16, preset="ultrafast") == 14
    assert probe(out_path).stored_size == (48, 32)


def test_file_stitch_size_mismatch_names_the_file(tmp_path):
    from segue.video_utils.core.constants import LOSSLESS_SUFFIX
    from segue.video_utils.engine.video_write import LOSSLESS_CODEC, write_video

    a, b = tmp_path / f"a{LOSSLESS_SUFFIX}", tmp_path / f"b{LOSSLESS_SUFFIX}"
    write_video(a, torch.rand(5, 16, 16, 3), 16, codec=LOSSLESS_CODEC)
    write_video(b, torch.rand(5, 16, 32, 3), 16, codec=LOSSLESS_CODEC)
    with pytest.raises(PlanError, match="b" + LOSSLESS_SUFFIX.replace(".", "\\.") + " is 32x16"):
        stitch_segment_files([a, b], [2], tmp_path / "out.mp4", fps=16)
    assert not (tmp_path / "out.mp4").exists()
