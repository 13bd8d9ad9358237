"""video_read, video_write and audio_io on tiny real videos written with PyAV: exact ranges, exact
rates, no drift, atomicity."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from segue.video_utils.core import atomic
from segue.video_utils.engine import audio_io, video_read as vr, video_write as vw
from segue.video_utils.core.constants import LOSSLESS_SUFFIX
from segue.video_utils.core.errors import PlanError
from segue.video_utils.core.lengths import as_fps
from segue.video_utils.core.probe import probe

W, H = 64, 48
BITS = 8  # frame index coded as 8 black/white 8x8 blocks along the top


def coded_frames(count: int, width: int = W, height: int = H, seed: int = 0) -> np.ndarray:
    """uint8 [T,H,W,3]: a smooth background, a moving bar, and the frame index in binary blocks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.empty((count, height, width, 3), np.uint8)
    tint = rng.integers(60, 160, 3)
    for t in range(count):
        frame = np.stack([tint[c] + 40 * np.sin(xx / 9 + t / 5 + c) * np.cos(yy / 7) for c in range(3)], -1)
        bar = (t * 3) % (width - 4)
        frame[16:, bar:bar + 3] = 235
        for b in range(BITS):
            frame[0:8, 8 * b:8 * b + 8] = 230 if (t >> b) & 1 else 25
        frames[t] = np.clip(frame, 0, 255)
    return frames


def frame_ids(frames: torch.Tensor) -> list[int]:
    blocks = frames[:, 2:6, :8 * BITS, :].mean(dim=(1, 3)).reshape(frames.shape[0], BITS, 8).mean(-1)
    return [int(sum(1 << b for b in range(BITS) if row[b] > 0.5)) for row in blocks]


def write_pyav(path, frames: np.ndarray, fps=Fraction(30000, 1001), codec="libx264", gop=8, options=None,
               colorspace=Colorspace.ITU709, color_range=ColorRange.MPEG, pix_fmt="yuv420p"):
    """A 'foreign' file written with plain PyAV: B-frames, short GOP, chosen colour tags."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        stream.options = {"g": str(gop), "bf": "2", "crf": "10", "x264-params": "chromaloc=1", **(options or {})}
        avcol = {Colorspace.ITU709: 1, Colorspace.ITU601: 6}[colorspace]
        stream.codec_context.colorspace = avcol
        stream.codec_context.color_range = int(color_range)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format=pix_fmt, dst_colorspace=colorspace, dst_color_range=color_range,
                interpolation=Interpolation.BICUBIC | Interpolation.ACCURATE_RND)
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def foreign_mp4(tmp_path_factory):
    return write_pyav(tmp_path_factory.mktemp("v") / "bframes.mp4", coded_frames(40))


@pytest.fixture(scope="module")
def foreign_mkv(tmp_path_factory):
    return write_pyav(tmp_path_factory.mktemp("v") / "bframes.mkv", coded_frames(40))


@pytest.fixture
def always_seek(monkeypatch):
    """Make every start > 0 go through a seek, so tiny files exercise the seek path."""
    monkeypatch.setattr(vr, "_SEQUENTIAL_READ_LIMIT", 0)


# -- probing -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["foreign_mp4", "foreign_mkv"])
def test_probe_foreign_files(name, request):
    info = probe(request.getfixturevalue(name))
    assert (info.width, info.height, info.frame_count) == (W, H, 40)
    assert info.fps == Fraction(30000, 1001)
    assert info.codec == "h264" and not info.has_audio


@pytest.mark.parametrize("suffix,codec", [(".mp4", "h264"), (".mkv", "h264"), (LOSSLESS_SUFFIX, vw.LOSSLESS_CODEC),
                                          (".avi", vw.LOSSLESS_CODEC)])
@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(16), 29.97, 12.5, Fraction(60000, 1001)])
def test_frame_rate_and_count_survive_a_round_trip(tmp_path, suffix, codec, fps):
    path = vw.write_video(tmp_path / f"v{suffix}", coded_frames(13), fps, codec=codec)
    info = probe(path)
    assert info.fps == as_fps(fps)
    assert isinstance(info.fps, Fraction)
    assert info.frame_count == 13
    assert frame_ids(vr.read_frames(path)) == list(range(13))


def test_probe_missing_file_names_the_path(tmp_path):
    with pytest.raises(PlanError, match="nope.mp4"):
        probe(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(PlanError, match="bad.mp4"):
        vr.read_frames(bad)


# -- frame-exact reading --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["foreign_mp4", "foreign_mkv"])
def test_ranges_are_frame_exact_with_bframes_and_seeks(name, request, always_seek):
    path = request.getfixturevalue(name)
    full = vr.read_frames(path)
    assert full.dtype == torch.float32 and full.shape == (40, H, W, 3)
    assert frame_ids(full) == list(range(40))
    for start, end in [(0, 5), (7, 8), (8, 9), (9, 17), (15, 16), (23, 40), (39, 40), (5, 5)]:
        part = vr.read_frames(path, start, end)
        assert frame_ids(part) == list(range(start, end)), (start, end)
        assert torch.equal(part, full[start:end])


def test_sequential_and_seek_paths_agree(foreign_mp4):
    assert torch.equal(vr.read_frames(foreign_mp4, 20, 30), vr.read_frames(foreign_mp4)[20:30])


def test_range_outside_the_file_is_a_clear_error(foreign_mp4):
    for start, end in [(-1, 3), (5, 4), (0, 41)]:
        with pytest.raises(PlanError, match="40 frames"):
            vr.read_frames(foreign_mp4, start, end)


def test_iter_frames_chunks_bounded_and_exact(foreign_mp4, always_seek):
    chunks = list(vr.iter_frames(foreign_mp4, 3, 38, chunk=8))
    assert [c.shape[0] for c in chunks] == [8, 8, 8, 8, 3]
    assert frame_ids(torch.cat(chunks)) == list(range(3, 38))
    assert list(vr.iter_frames(foreign_mp4, 4, 4)) == []


def test_read_last_frames_matches_tail_without_decoding_from_start(tmp_path):
    path = write_pyav(tmp_path / "long.mp4", coded_frames(120, 48, 32), gop=10)
    full = vr.read_frames(path)
    for count in (1, 5, 10, 11):
        before = vr.decoded_frame_count()
        tail = vr.read_last_frames(path, count)
        decoded = vr.decoded_frame_count() - before
        assert torch.equal(tail, full[-count:])
        assert decoded <= count + 2 * 10 + 3, f"decoded {decoded} frames for the last {count}"
    assert torch.equal(vr.read_last_frames(path, 500), full)  # shorter file: all of it
    assert vr.read_last_frames(path, 0).shape == (0, 32, 48, 3)


@pytest.mark.parametrize("name", ["foreign_mp4", "foreign_mkv"])
def test_read_last_frames_foreign(name, request):
    path = request.getfixturevalue(name)
    assert frame_ids(vr.read_last_frames(path, 6)) == list(range(34, 40))


# -- colour accuracy ------------------------------------------------------------------------


def test_lossless_round_trip_is_bit_exact(tmp_path):
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (12, 30, 42, 3), dtype=np.uint8)  # incompressible, odd-ish size
    for suffix in (LOSSLESS_SUFFIX, ".avi"):
        for frames in (noise, torch.from_numpy(noise).float() / 255):
            path = vw.write_video(tmp_path / f"l{suffix}", frames, 16, codec=vw.LOSSLESS_CODEC)
            back = vr.read_frames(path)
            assert torch.equal(back, torch.from_numpy(noise).float() / 255), suffix
            assert torch.equal(vr.read_last_frames(path, 3), back[-3:])


def test_h264_round_trip_close_and_no_drift_over_generations(tmp_path):
    original = torch.from_numpy(coded_frames(9, 96, 64)).float() / 255
    current, path = original, tmp_path / "gen.mp4"
    for generation in range(1, 6):
        vw.write_video(path, current, 16, crf=19, preset="veryfast")
        current = vr.read_frames(path)
        diff = (current - original) * 255
        if generation == 1:
            assert diff.abs().mean() < 3.0
        assert abs(diff.mean()) < 1.0, f"generation {generation}: mean shift {diff.mean():.2f} levels"
    assert diff.abs().mean() < 4.5  # error grows slowly (codec), not by a level per generation


def test_colour_conversion_error_does_not_accumulate(tmp_path):
    """With the codec itself lossless (crf 0), only yuv<->rgb conversion is left: it must settle,
    not grow (a chroma-siting mismatch shifts chroma half a pixel per generation)."""
    original = torch.from_numpy(coded_frames(6, 96, 64)).float() / 255
    current, errors = original, []
    for _ in range(5):
        path = vw.write_video(tmp_path / "c.mp4", current, 16, crf=0, preset="ultrafast")
        current = vr.read_frames(path)
        errors.append(float(((current - original) * 255).abs().mean()))
    assert errors[0] < 1.0 and errors[-1] - errors[0] < 0.3, errors


def test_default_conversion_would_drift(tmp_path):
    """Guards the test above: the plain PyAV path darkens, ours does not."""
    original = coded_frames(9, 96, 64)
    current = original
    for _ in range(5):
        path = write_pyav(tmp_path / "plain.mp4", current)
        with av.open(str(path)) as c:
            current = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert (current.astype(float) - original).mean() < -1.5


@pytest.mark.parametrize("colorspace,color_range", [(Colorspace.ITU601, ColorRange.MPEG), (Colorspace.ITU709, ColorRange.MPEG),
                                                    (Colorspace.ITU709, ColorRange.JPEG)])
def test_reader_honours_matrix_and_range_tags(tmp_path, colorspace, color_range):
    colour = np.array([200, 60, 40], np.uint8)  # saturated: 601 and 709 decode it very differently
    frames = np.broadcast_to(colour, (3, 32, 32, 3)).copy()
    path = write_pyav(tmp_path / "tagged.mp4", frames, colorspace=colorspace, color_range=color_range)
    back = vr.read_frames(path)[1] * 255
    assert (back - torch.from_numpy(colour).float()).abs().max() <= 3


# -- writing ---------------------------------------------------------------------------------


def test_writer_accepts_uint8_single_frames_and_chunks(tmp_path):
    frames = coded_frames(10)
    path = tmp_path / "w.mp4"
    with vw.VideoWriter(path, 16, W, H, preset="ultrafast") as writer:
        writer.write(frames[0])  # one [H,W,3] uint8 frame
        writer.write(torch.from_numpy(frames[1:4]).float() / 255)
        writer.write(torch.from_numpy(frames[4:10]).half() / 255)
        assert writer.frames_written == 10
    assert frame_ids(vr.read_frames(path)) == list(range(10))


def test_writer_output_is_tagged_bt709_limited(tmp_path):
    path = vw.write_video(tmp_path / "t.mp4", coded_frames(3), 16)
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    assert (frame.format.name, frame.colorspace, frame.color_range) == ("yuv420p", 1, 1)


def test_odd_size_h264_is_padded_to_even(tmp_path):
    frames = coded_frames(4, 63, 47)
    path = vw.write_video(tmp_path / "odd.mp4", frames, 16)
    info = probe(path)
    assert (info.width, info.height) == (64, 48)
    back = vr.read_frames(path)
    assert frame_ids(back) == [0, 1, 2, 3]
    assert ((back[:, :47, :63] * 255 - torch.from_numpy(frames).float()).abs().mean()) < 3


def test_writer_rejects_wrong_shapes_and_empty_videos(tmp_path):
    with pytest.raises(PlanError, match="64x48"):
        with vw.VideoWriter(tmp_path / "x.mp4", 16, W, H) as writer:
            writer.write(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(PlanError, match="no frames"):
        with vw.VideoWriter(tmp_path / "x.mp4", 16, W, H):
            pass
    with pytest.raises(PlanError, match="codec"):
        vw.VideoWriter(tmp_path / "x.mp4", 16, W, H, codec="prores")
    assert list(tmp_path.iterdir()) == []


def test_exception_mid_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with vw.VideoWriter(target, 16, W, H) as writer:
            writer.write(coded_frames(5))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []

    vw.write_video(target, coded_frames(3), 16)
    old = target.read_bytes()

    def chunks():
        yield coded_frames(4)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vw.write_video(target, chunks(), 16)
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_writer_without_with_close_and_abort(tmp_path):
    writer = vw.VideoWriter(tmp_path / "a.avi", 16, W, H, codec=vw.LOSSLESS_CODEC)
    writer.write(coded_frames(2))
    assert not (tmp_path / "a.avi").exists()  # only the hidden temporary so far
    assert writer.close() == tmp_path / "a.avi" and writer.close() == tmp_path / "a.avi"
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(coded_frames(1))
    assert probe(tmp_path / "a.avi").frame_count == 2

    aborted = vw.VideoWriter(tmp_path / "b.mp4", 16, W, H)
    aborted.write(coded_frames(2))
    aborted.abort()
    with pytest.raises(RuntimeError, match="aborted"):
        aborted.close()
    assert [p.name for p in tmp_path.iterdir()] == ["a.avi"]


def test_writer_writes_through_the_atomic_helper(tmp_path):
    """While open, the only file is atomic.py's hidden temporary (same folder, same suffix, so
    the muxer picks the container by it); closing renames it onto the target."""
    target = tmp_path / "sub" / "w.mkv"
    writer = vw.VideoWriter(target, 16, W, H, codec=vw.LOSSLESS_CODEC)
    writer.write(coded_frames(2))
    (tmp,) = target.parent.iterdir()
    assert atomic.is_temp_name(tmp.name) and tmp.suffix == ".mkv" and not target.exists()
    writer.close()
    assert [p.name for p in target.parent.iterdir()] == ["w.mkv"]
    assert probe(target).frame_count == 2


# -- audio -----------------------------------------------------------------------------------


def sine_clip(seconds: float, rate: int = 44100) -> audio_io.AudioClip:
    t = np.arange(int(seconds * rate)) / rate
    wave = np.stack([0.5 * np.sin(2 * np.pi * (220 * t + 300 * t * t)), 0.3 * np.sin(2 * np.pi * 660 * t)])
    return audio_io.AudioClip(torch.from_numpy(wave.astype(np.float32))[None], rate)


@pytest.mark.parametrize("suffix,codec,tolerance", [(".mp4", "h264", 0.05), (".avi", vw.LOSSLESS_CODEC, 1e-4),
                                                    (LOSSLESS_SUFFIX, vw.LOSSLESS_CODEC, 1e-7)])   # float PCM: exact
def test_audio_round_trip_trimmed_to_video(tmp_path, suffix, codec, tolerance):
    clip = sine_clip(1.6)
    path = vw.write_video(tmp_path / f"a{suffix}", coded_frames(16), 16, codec=codec, audio=clip)  # 1.0 s of video
    assert probe(path).has_audio
    back = audio_io.read_audio(path)
    assert back.sample_rate == 44100 and back.waveform.shape[:2] == (1, 2)
    assert abs(back.waveform.shape[-1] - 44100) <= 1024
    n = 40000
    err = (back.waveform[0, :, :n] - clip.waveform[0, :, :n]).abs().mean()
    assert err < tolerance
    assert frame_ids(vr.read_frames(path)) == list(range(16))


def test_audio_clip_comfy_layout_and_no_audio(foreign_mp4):
    clip = sine_clip(0.1)
    d = clip.as_comfy()
    assert set(d) == {"waveform", "sample_rate"} and d["waveform"].shape[:2] == (1, 2)
    again = audio_io.AudioClip.from_comfy(d)
    assert again.sample_rate == 44100 and torch.equal(again.waveform, clip.waveform)
    assert audio_io.read_audio(foreign_mp4) is None


def test_read_audio_from_an_audio_only_file(tmp_path):
    clip = sine_clip(0.5, rate=22050)
    with av.open(str(tmp_path / "s.wav"), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=22050)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(clip.waveform[0].numpy(), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 22050, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    back = audio_io.read_audio(tmp_path / "s.wav")
    assert back.sample_rate == 22050 and back.waveform.shape == clip.waveform.shape
    assert (back.waveform - clip.waveform).abs().max() < 1e-4
