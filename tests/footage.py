"""Real-footage fixtures for the issue-8 tests: clips as users bring them (1080p camera, 16 fps
Wan output, 720p at 24 fps, a portrait phone clip stored landscape with a rotation flag), with
and without sound (a distinct tone per clip, so each clip's sound can be found in the result),
and the checks those tests share."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import media
from segue.video_utils.engine.audio_io import read_audio
from segue.video_utils.engine.conform import conform_video
from segue.video_utils.core.join_plan import JoinPlan
from segue.video_utils.engine.video_read import read_frames

# name, stored width, height, fps, frames, rotation, tone (Hz, sample rate, layout) or None
CLIPS = (
    ("camera_1080p30.mp4", 1920, 1080, Fraction(30), 30, None, (440.0, 48_000, "stereo")),
    ("wan_350_16fps.mp4", 350, 350, Fraction(16), 24, None, None),
    ("hd_720p24.mp4", 1280, 720, Fraction(24), 24, None, (880.0, 44_100, "mono")),
    ("phone_portrait.mp4", 640, 360, Fraction(24), 24, 90, (660.0, 48_000, "stereo")),
)


def write_footage(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, w, h, fps, frames, rotation, audio in CLIPS:
        paths.append(media.write_clip(folder / name, w, h, fps, frames, rotation=rotation, audio=audio, crf=14))
    return paths


def check_sound_under_pictures(out: Path, plan: JoinPlan) -> None:
    """Each clip's tone plays in the middle of its kept pictures; a clip without sound is silent."""
    clip = read_audio(out)
    assert clip is not None, "the result has no sound"
    samples = clip.waveform[0].mean(0).numpy()
    rate = clip.sample_rate
    for span in plan.clips:
        tone = CLIPS[span.index][6]
        length = span.keep_end - span.keep_start
        middle = (span.start_frame + length / 2) / plan.output_fps
        window = samples[int((middle - Fraction(1, 8)) * rate): int((middle + Fraction(1, 8)) * rate)]
        if tone is None:
            assert media.rms(window) < 0.01, f"clip {span.index} has no sound but plays {media.rms(window):.3f} RMS"
        else:
            got = media.dominant_frequency(window, rate)
            assert abs(got - tone[0]) < 15, f"clip {span.index}: heard {got:.0f} Hz under its pictures, not {tone[0]}"


def check_untouched_frames(out: Path, clips: list[Path], plan: JoinPlan, size: tuple[int, int], fit: str = "crop"):
    """Kept source frames away from the blends equal the conformed source (PSNR >= 30 dB)."""
    frames = read_frames(out)
    for span in plan.clips:
        blend_in = plan.joins[span.index - 1].blend_frames if span.index else 0
        blend_out = plan.joins[span.index].blend_frames if span.index < len(plan.joins) else 0
        k = span.keep_start + blend_in + max(0, (span.keep_end - span.keep_start - blend_in - blend_out) // 2)
        [source] = list(conform_video(clips[span.index], size[0], size[1], fps=plan.output_fps, fit=fit,
                                      start=k, end=k + 1))
        got = frames[span.start_frame + (k - span.keep_start)]
        assert media.psnr(got.numpy(), source[0].numpy()) >= 30, f"clip {span.index} frame {k}"


def audio_seconds(path: Path) -> float:
    clip = read_audio(path)
    return clip.waveform.shape[-1] / clip.sample_rate


def video_seconds(path: Path) -> float:
    from segue.video_utils.core.probe import probe

    info = probe(path)
    return float(info.frame_count / info.fps)

