"""video_utils.engine.trim_window: a VIDEO's trim window (seconds) gives exactly the frames and the sound
ComfyUI's core keeps for it, on real files (B-frames, 16 fps MP4, 29.97 fps Matroska with 1 ms
ticks, a variable-rate clip), compared with core's rule applied to every decoded frame's
timestamp, and with the frames themselves (each frame carries its index)."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from media import write_clip  # noqa: E402
from test_video_io import coded_frames, frame_ids, write_pyav  # noqa: E402

from segue.video_utils.engine.audio_io import AudioClip, read_audio  # noqa: E402
from segue.video_utils.core.errors import PlanError  # noqa: E402
from segue.video_utils.core.probe import probe  # noqa: E402
from segue.video_utils.engine.trim_window import TrimWindow, copy_frames, window_audio, window_frames  # noqa: E402
from segue.video_utils.engine.video_read import read_frames  # noqa: E402


def core_kept(path, start: float, duration: float) -> list[int]:
    """Display-order indices of the frames core's ``VideoFromFile.get_components_internal`` keeps:
    its rule (``int(start / tb) <= pts``, ``pts < int((start + duration) / tb)`` when a duration
    is set) applied to every decoded frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        start_pts, end_pts = int(start / tb), int((start + duration) / tb)
        pts = [frame.pts for frame in container.decode(stream)]
    return [i for i, p in enumerate(pts) if p >= start_pts and not (duration and p >= end_pts)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trim")
    return {
        "mp4_16fps_bframes": write_pyav(folder / "a.mp4", coded_frames(90), fps=16),
        "mkv_2997_1ms": write_pyav(folder / "b.mkv", coded_frames(75), fps=Fraction(30000, 1001)),
        "mp4_2997": write_pyav(folder / "c.mp4", coded_frames(60), fps=Fraction(30000, 1001)),
    }


WINDOWS = [(0.5, 2.0), (1.0, 2.5), (0.0, 1.0), (0.51, 0.49), (0.53125, 0.0), (2.0, 0.0), (0.0, 100.0),
           (1.0 / 3, 1.0 / 3), (0.999, 0.001), (3.3333, 1.1), (0.0333, 0.0334)]


@pytest.mark.parametrize("name", ["mp4_16fps_bframes", "mkv_2997_1ms", "mp4_2997"])
def test_window_frames_are_the_ones_core_keeps(files, name):
    path = files[name]
    count = probe(path).frame_count
    for start, duration in WINDOWS:
        kept = core_kept(path, start, duration)
        if not kept:
            with pytest.raises(PlanError, match="holds no frame"):
                window_frames(path, TrimWindow(start, duration))
            continue
        got = window_frames(path, TrimWindow(start, duration))
        assert list(range(got.first, got.end)) == kept, (name, start, duration)
        assert 0 <= got.first < got.end <= count
    # and the frames read over that range are those frames (the index is painted into each)
    got = window_frames(path, TrimWindow(0.5, 1.0))
    assert frame_ids(read_frames(path, got.first, got.end)) == core_kept(path, 0.5, 1.0)


def test_the_issues_windows_at_16fps(files):
    """Trim Video 0.5 s + 2.0 s and 1.0 s + 2.5 s of a 90-frame 16 fps clip: frames 8..39 and 16..55."""
    path = files["mp4_16fps_bframes"]
    a = window_frames(path, TrimWindow(0.5, 2.0))
    b = window_frames(path, TrimWindow(1.0, 2.5))
    assert (a.first, a.end, b.first, b.end) == (8, 40, 16, 56)


def test_a_variable_rate_clip_is_cut_on_its_real_timestamps(tmp_path):
    times = [0.0, 0.05, 0.1, 0.3, 0.35, 0.6, 0.62, 0.64, 1.0, 1.5, 1.55, 2.0]
    path = write_clip(tmp_path / "vfr.mp4", 64, 48, times=times)
    for start, duration in [(0.3, 0.33), (0.31, 1.0), (0.0, 0.6), (0.64, 0.0)]:
        got = window_frames(path, TrimWindow(start, duration))
        assert list(range(got.first, got.end)) == core_kept(path, start, duration)


def test_a_window_past_the_end_names_the_clip_and_the_fix(files):
    with pytest.raises(PlanError, match=r"a\.mp4.*9 s to the end.*holds no frame.*lower start_time"):
        window_frames(files["mp4_16fps_bframes"], TrimWindow(9.0, 0.0))


def test_window_audio_is_cut_like_core():
    """From the window's start on the sound's clock, int(duration * rate) samples; silence where
    the sound starts after the window does."""
    rate = 1000
    clip = AudioClip(waveform=torch.arange(5000, dtype=torch.float32).view(1, 1, -1), sample_rate=rate)
    cut = window_audio(clip, TrimWindow(0.5, 2.0), audio_start=0.0)
    assert cut.samples == 2000 and cut.waveform[0, 0, 0] == 500 and cut.waveform[0, 0, -1] == 2499
    late = window_audio(clip, TrimWindow(0.5, 1.0), audio_start=0.7)       # sound starts 0.2 s into the window
    assert late.samples == 1000 and torch.all(late.waveform[0, 0, :200] == 0) and late.waveform[0, 0, 200] == 0
    assert late.waveform[0, 0, 201] == 1
    open_ended = window_audio(clip, TrimWindow(4.0, 0.0), audio_start=0.0)
    assert open_ended.samples == 1000
    assert window_audio(None, TrimWindow(1.0, 1.0), 0.0) is None


def test_window_audio_matches_the_files_own_sound(tmp_path):
    """A clip whose sound is a ramp: the cut sound starts at the window's start and lasts its duration."""
    rate, seconds = 16000, 90 / 16
    ramp = np.linspace(0, 0.8, int(rate * seconds), dtype=np.float32)[None] * \
        np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate).astype(np.float32)[None]
    path = write_clip(tmp_path / "ramp.mp4", 64, 48, fps=16, frames=90, audio=(ramp, rate, "mono"))
    window = TrimWindow(1.0, 2.5)
    frames = window_frames(path, window)
    cut = window_audio(read_audio(path), window, frames.audio_start)
    assert cut.samples == int(2.5 * rate)
    rms = lambda w: float(torch.sqrt((w ** 2).mean()))          # noqa: E731
    head = rms(cut.waveform[0, 0, :1600])                        # the first 0.1 s: the ramp at 1.0-1.1 s
    expected = 0.8 * (1.05 / seconds) / np.sqrt(2)
    assert abs(head - expected) < 0.25 * expected, (head, expected)


def test_copy_frames_is_exact_upright_and_keeps_the_sound(tmp_path, files):
    """The copy the by-name nodes read: the window's frames bit for bit (lossless), turned upright
    for a portrait phone clip, and the window's sound under them."""
    src = files["mp4_16fps_bframes"]
    out = tmp_path / "copy.mkv"
    assert copy_frames(src, 8, 40, out, None) == 32
    assert torch.equal(read_frames(out), read_frames(src, 8, 40))
    assert probe(out).frame_count == 32 and probe(out).fps == 16

    portrait = write_clip(tmp_path / "phone.mp4", 64, 48, fps=16, frames=20, rotation=90,
                          audio=(440.0, 16000, "mono"))
    out = tmp_path / "phone_copy.mkv"
    window = TrimWindow(0.25, 0.5)
    frames = window_frames(portrait, window)
    copy_frames(portrait, frames.first, frames.end, out, window_audio(read_audio(portrait), window, frames.audio_start))
    info = probe(out)
    assert (info.stored_width, info.stored_height, info.width, info.height) == (48, 64, 48, 64)
    assert info.orientation.identity and info.frame_count == 8
    assert info.has_audio and abs(info.audio.duration - 0.5) < 0.03


def test_copy_frames_keeps_non_square_pixels(tmp_path):
    src = write_clip(tmp_path / "anamorphic.mp4", 64, 48, fps=16, frames=8, sample_aspect=Fraction(4, 3))
    out = tmp_path / "anamorphic_copy.mkv"
    copy_frames(src, 2, 6, out, None)
    assert probe(out).pixel_aspect == Fraction(4, 3) and probe(out).width == probe(src).width
