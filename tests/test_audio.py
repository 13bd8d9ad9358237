"""audio.py: every clip's sound under its own pictures, silence for clips without, one format,
exact length, muxed by VideoWriter."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import media  # noqa: E402

from segue.video_utils.core.sound_timeline import AudioSpan, join_timeline, soundtrack_timeline
from segue.video_utils.engine.sound import assemble_soundtrack, fit_soundtrack
from segue.video_utils.engine.audio_io import AudioClip, read_audio  # noqa: E402
from segue.video_utils.core.errors import PlanError  # noqa: E402
from segue.video_utils.core.probe import probe  # noqa: E402
from segue.video_utils.engine.video_write import VideoWriter  # noqa: E402

RATE = 48_000


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    return {
        "a": media.write_clip(d / "a.mp4", 64, 48, 30, 30, audio=(440, 48_000, "stereo")),   # 1 s, 440 Hz
        "b": media.write_clip(d / "b.mp4", 64, 48, 16, 16, audio=(660, 44_100, "mono")),     # 1 s, 660 Hz
        "silent": media.write_clip(d / "c.mp4", 64, 48, 24, 24),                             # 1 s, no sound
        "d": media.write_clip(d / "d.mkv", 64, 48, 24, 24, audio=(1000, 48_000, "stereo")),  # 1 s, 1 kHz
    }


def window(clip: AudioClip, start: float, end: float, channel: int = 0) -> np.ndarray:
    return clip.waveform[0, channel, round(start * clip.sample_rate):round(end * clip.sample_rate)].numpy()


def test_insert_join_plays_every_clip_under_its_own_pictures(clips):
    sources = [clips["a"], clips["b"], clips["silent"], clips["d"]]
    durations = [probe(p).duration for p in sources]
    spans = join_timeline([float(d) for d in durations], [(0.0, 1.0)] * 4, [0.5, 0.5, 0.5])
    video = 4 * 1.0 + 3 * 0.5
    clip = assemble_soundtrack(sources, spans, video)
    assert (clip.sample_rate, clip.channels, clip.samples) == (RATE, 2, round(video * RATE))
    # clip k plays at [1.5 k, 1.5 k + 1): its own tone, never another clip's
    for start, freq in ((0.0, 440), (1.5, 660), (4.5, 1000)):
        for channel in (0, 1):  # the mono clip is in both channels
            part = window(clip, start + 0.05, start + 0.95, channel)
            assert abs(media.dominant_frequency(part, RATE) - freq) < 3
            assert media.rms(part) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # full level, mono too
    assert media.rms(window(clip, 3.0 + 0.01, 4.0 - 0.01)) == 0  # the clip without sound: silence
    # the gap between 660 Hz and the silent clip: 660 Hz fading out, nothing else
    gap = window(clip, 2.5, 3.0)
    assert abs(media.dominant_frequency(gap, RATE) - 660) < 5
    assert media.rms(gap[:2400]) > 3 * media.rms(gap[-2400:])
    # the gap between 440 and 660 Hz: a cross-fade from one to the other
    first, last = window(clip, 1.0, 1.1), window(clip, 1.4, 1.5)
    assert abs(media.dominant_frequency(first, RATE) - 440) < 15
    assert abs(media.dominant_frequency(last, RATE) - 660) < 15


def test_silent_gaps(clips):
    spans = join_timeline([1.0, 1.0], [(0.0, 1.0), (0.0, 1.0)], [0.5], gap_audio="silence")
    clip = assemble_soundtrack([clips["a"], clips["d"]], spans, 2.5)
    assert media.rms(window(clip, 1.0, 1.5)) == 0
    assert abs(media.dominant_frequency(window(clip, 1.5, 2.5), RATE) - 1000) < 3


def test_replace_join_cuts_the_sound_with_its_frames(clips):
    # replace: 0.25 s cut from a's tail and b's head, a 0.5 s transition in their place
    kept = [(0.0, 0.75), (0.25, 1.0)]
    cut = assemble_soundtrack([clips["a"], clips["d"]], join_timeline([1.0, 1.0], kept, [0.5], gap_audio="cut"), 2.0)
    # a's removed quarter second plays under the first half of the transition, d's under the second
    assert abs(media.dominant_frequency(window(cut, 0.76, 0.99), RATE) - 440) < 10
    assert abs(media.dominant_frequency(window(cut, 1.01, 1.24), RATE) - 1000) < 10
    assert media.rms(window(cut, 0.78, 0.97)) == pytest.approx(0.354, rel=0.1)  # in step, not faded
    fade = assemble_soundtrack([clips["a"], clips["d"]], join_timeline([1.0, 1.0], kept, [0.5]), 2.0)
    middle = window(fade, 0.95, 1.05)
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    bins = np.fft.rfftfreq(middle.size, 1 / RATE)
    level = {f: spectrum[np.argmin(abs(bins - f))] for f in (440, 1000)}
    assert level[440] > 0.2 * spectrum.max() and level[1000] > 0.2 * spectrum.max()  # both, mid-fade
    # the kept parts are untouched by the fade
    assert media.rms(window(fade, 0.1, 0.7)) == pytest.approx(0.354, rel=0.05)
    assert media.rms(window(fade, 1.3, 1.9)) == pytest.approx(0.354, rel=0.05)


def test_sound_stays_in_sync_with_the_pictures(tmp_path):
    """A click at 0.6 s of a clip kept from 0.2 s, placed at 1.0 s of the output, is at 1.4 s."""
    samples = np.zeros((2, RATE), np.float32)
    samples[:, round(0.6 * RATE)] = 0.9
    clip_path = media.write_clip(tmp_path / "click.mp4", 64, 48, 25, 25, audio=(samples, RATE, "stereo"))
    spans = [AudioSpan(0, 0.2, 1.0, 1.0)]
    out = assemble_soundtrack([clip_path], spans, 2.0)
    peak = int(np.argmax(np.abs(out.waveform[0, 0].numpy())))
    assert abs(peak / RATE - 1.4) < 0.002, peak / RATE


def test_in_memory_audio_is_resampled(clips):
    tone = torch.from_numpy(media.tone(330, 1.0, 44_100, 1))[None]
    clip = assemble_soundtrack([AudioClip(waveform=tone, sample_rate=44_100), None], [AudioSpan(0, 0, 1, 0.5),
                                                                                     AudioSpan(1, 0, 1, 1.5)], 2.5)
    assert clip.samples == 2.5 * RATE and clip.channels == 2
    assert abs(media.dominant_frequency(window(clip, 0.6, 1.4), RATE) - 330) < 3
    assert media.rms(window(clip, 0, 0.5)) == 0 and media.rms(window(clip, 1.5, 2.5)) == 0
    mono = assemble_soundtrack([clips["a"]], [AudioSpan(0, 0, 1, 0)], 1, layout="mono", sample_rate=16_000)
    assert (mono.channels, mono.sample_rate, mono.samples) == (1, 16_000, 16_000)


def test_soundtrack_is_trimmed_or_padded_to_the_video(tmp_path):
    long = media.write_sound(tmp_path / "long.wav", 220, 2.0)
    short = media.write_sound(tmp_path / "short.wav", 220, 1.0, rate=22_050, layout="stereo")
    trimmed = fit_soundtrack(long, 1.5, fade_out=0.5)
    assert trimmed.samples == round(1.5 * RATE)
    assert media.rms(window(trimmed, 0.1, 0.9)) > 10 * media.rms(window(trimmed, 1.45, 1.5))  # faded out
    padded = fit_soundtrack(short, 1.5)
    assert padded.samples == round(1.5 * RATE)
    assert abs(media.dominant_frequency(window(padded, 0.1, 0.9), RATE) - 220) < 3
    assert media.rms(window(padded, 1.01, 1.5)) == 0
    assert soundtrack_timeline(2.0, offset=1.0) == [AudioSpan(0, 1.0, 3.0, 0.0, 0.0, 0.0)]


def test_muxed_soundtrack_lasts_as_long_as_the_video(tmp_path, clips):
    fps, frames = 24, 60  # 2.5 s
    spans = join_timeline([1.0, 1.0], [(0.0, 1.0), (0.0, 1.0)], [0.5])
    audio = assemble_soundtrack([clips["a"], clips["b"]], spans, frames / fps)
    out = tmp_path / "joined.mp4"
    with VideoWriter(out, fps, 64, 48, codec="h264", preset="ultrafast", audio=audio) as writer:
        writer.write(torch.rand(frames, 48, 64, 3))
    info = probe(out)
    assert info.frame_count == frames and info.audio is not None
    assert abs(info.audio.duration - frames / fps) <= 1 / fps
    back = read_audio(out)
    assert abs(back.samples / back.sample_rate - frames / fps) <= 1 / fps
    assert abs(media.dominant_frequency(back.waveform[0, 0, 2 * RATE - 20_000:2 * RATE + 20_000].numpy(),
                                        back.sample_rate) - 660) < 5


def test_timeline_shapes_and_errors():
    spans = join_timeline([2.0, 3.0], [(0.0, 1.5), (1.0, 3.0)], [1.0], gap_audio="cut")
    # a continues in step into the gap with its removed 0.5 s, b starts 1 s early in step
    assert spans == [AudioSpan(0, 0.0, 2.0, 0.0, 0.005, 0.005), AudioSpan(1, 0.0, 3.0, 1.5, 0.005, 0.005)]
    fade = join_timeline([2.0, 3.0], [(0.0, 1.5), (1.0, 3.0)], [1.0])
    # a slides back 0.5 s to cover the whole 1 s gap; b has a full second before its kept start
    assert fade == [AudioSpan(0, 0.0, 1.5, 0.0, 0.005, 0.005), AudioSpan(0, 1.0, 2.0, 1.5, 0.005, 1.0),
                    AudioSpan(1, 0.0, 3.0, 1.5, 1.0, 0.005)]
    assert [s.to_dict()["out_start"] for s in fade] == [0.0, 1.5, 1.5]
    with pytest.raises(PlanError, match="gap_audio"):
        join_timeline([1.0], [(0.0, 1.0)], [], gap_audio="music")
    with pytest.raises(PlanError, match="one gap per join"):
        join_timeline([1.0, 1.0], [(0.0, 1.0), (0.0, 1.0)], [])
    with pytest.raises(PlanError, match="clip 1's kept range"):
        join_timeline([1.0, 1.0], [(0.0, 1.0), (0.5, 1.5)], [0.1])
    with pytest.raises(PlanError, match="names source 3"):
        assemble_soundtrack([None], [AudioSpan(3, 0, 1, 0)], 1.0)
    with pytest.raises(PlanError, match="does not exist"):
        assemble_soundtrack(["/nonexistent/x.mp4"], [AudioSpan(0, 0, 1, 0)], 1.0)
