"""Extending real phone footage on the local path: a portrait clip stored landscape with a
rotation flag, at 30 fps (constant, and variable-rate), with sound, through ``segue extend``.

The clip goes through the conform stage the joins use: it comes out upright at its size as
displayed and its own rate, its frames equal the conformed source, its sound plays under its
pictures (48 kHz stereo) and the extension is silent, the sound as long as the video.  ``--frames
F`` counts frames at Wan's 16 fps: the output gets ``F' = round(F * fps / 16)`` new frames (the
same seconds), the last one exactly on the ``--to`` image."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch

import footage
import media
from segue.orchestration.cli import main
from segue.orchestration.runs.models import ClipRef, ExtendRun
from segue.video_utils.engine.audio_io import read_audio
from segue.video_utils.engine.conform import conform_video
from segue.video_utils.core.extend_plan import plan_extend
from segue.video_utils.core.lengths import round_half_up
from segue.video_utils.core.probe import probe
from segue.video_utils.engine.video_read import read_frames

TONE = 660.0


def phone_clip(path, times=None):
    """A portrait phone clip: stored 640x360, shown 360x640 (90 degrees), 30 frames at 30 fps
    (or at ``times``), a 660 Hz stereo tone as long as the pictures."""
    return media.write_clip(path, 640, 360, 30, 30, times=times, rotation=90, audio=(TONE, 48_000, "stereo"),
                            crf=14)


def extend(clip, out, *args) -> None:
    assert main(["extend", str(clip), *args, "--method", "blend", "--crf", "14", "--preset", "ultrafast",
                 "--out", str(out)]) == 0


def check_clip_part(out, clip, clip_frames: int) -> torch.Tensor:
    """The output's first ``clip_frames`` frames are the conformed source (PSNR >= 30 dB); returns
    the output's frames."""
    info = probe(clip)
    frames = read_frames(out)
    source = torch.cat(list(conform_video(clip, info.width, info.height, fps=info.fps)))
    assert source.shape[0] == clip_frames
    worst = min(media.psnr(frames[i].numpy(), source[i].numpy()) for i in range(clip_frames))
    assert worst >= 30, f"a clip frame differs from the conformed source: {worst:.1f} dB"
    return frames


def check_sound(out, clip_seconds: float) -> None:
    """The clip's tone under its pictures, silence under the new frames, as long as the video."""
    assert abs(footage.audio_seconds(out) - footage.video_seconds(out)) <= 1 / 30
    sound = read_audio(out)
    assert (sound.sample_rate, sound.channels) == (48_000, 2)
    samples, rate = sound.waveform[0].mean(0).numpy(), sound.sample_rate
    under = samples[int(0.1 * rate): int((clip_seconds - 0.1) * rate)]
    assert abs(media.dominant_frequency(under, rate) - TONE) < 15 and media.rms(under) > 0.1
    assert media.rms(samples[int((clip_seconds + 0.05) * rate):]) < 1e-3


def test_portrait_phone_clip_at_30_fps_extends_upright_with_its_sound(tmp_path):
    clip = phone_clip(tmp_path / "phone.mp4")
    out = tmp_path / "extended.mp4"
    extend(clip, out, "--frames", "32", "--overlap", "8")
    info = probe(out)
    new = round_half_up(Fraction(32 * 30, 16))                  # 32 frames at 16 fps = 2 s = 60 frames at 30 fps
    assert (info.width, info.height, info.fps, info.frame_count) == (360, 640, 30, 30 + new) == (360, 640, 30, 90)
    assert info.rotation == 0                                    # upright pixels, no flag left to apply
    frames = check_clip_part(out, clip, 30)
    upright = np.rot90(media.picture(0, 640, 360), 1) / 255     # what a player shows for the stored frame 0
    assert media.psnr(frames[0].numpy(), upright) >= 30
    assert torch.allclose(frames[0, 5, 5], torch.tensor([0.0, 1.0, 0.0]), atol=0.15)   # stored top right: green
    check_sound(out, 1.0)


def test_variable_rate_phone_clip_lands_on_the_keyframe(tmp_path):
    """Timestamps 2-8 ms off the 30 fps grid; the extension ends exactly on the --to image."""
    jitter = [0, 0.004, -0.006, 0.008, -0.002, 0.006]
    times = [i / 30 + jitter[i % len(jitter)] for i in range(30)]
    times[0] = 0.0
    clip = phone_clip(tmp_path / "vfr.mp4", times)
    assert probe(clip).variable_rate
    target = tmp_path / "target.png"
    image = np.zeros((640, 360, 3), np.uint8)
    image[:] = (30, 60, 230)
    cv2.imwrite(str(target), image[..., ::-1])
    out = tmp_path / "extended.mp4"
    extend(clip, out, "--frames", "24", "--overlap", "6", "--to", str(target))
    run = ExtendRun(clip=ClipRef(str(clip)), frames=24, overlap=6, keyframes=[str(target)])
    plan = run.plan()
    rate = probe(clip).fps
    assert plan.output_fps == rate and plan.clip_frames == run.clip_frames
    assert plan.total_frames == plan.clip_frames + round_half_up(24 * rate / 16)
    assert plan.keyframe_frames == [plan.total_frames - 1]
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (360, 640, plan.total_frames)
    assert info.duration == Fraction(plan.total_frames) / info.fps
    frames = check_clip_part(out, clip, plan.clip_frames)
    assert np.abs(frames[-1].mean((0, 1)).numpy() * 255 - [30, 60, 230]).max() < 12
    check_sound(out, float(plan.clip_frames / rate))


@pytest.mark.parametrize("rate", [Fraction(30000, 1001), Fraction(60), Fraction(24)])
def test_footage_rates_in_the_plan_and_the_segments_files(rate):
    """The plan behind the checks above at phone and film rates: the segments are generated at 16 fps
    from the clip's frames nearest their times, the keyframes land on whole output frames."""
    plan = plan_extend(90, [40, 30, 11], 8, keyframe_count=2, output_fps=rate)
    assert plan.clip_generation_frames == 89 * 16 // rate + 1
    assert plan.output_leg_frames == [round_half_up(40 * rate / 16), round_half_up(70 * rate / 16)
                                      - round_half_up(40 * rate / 16),
                                      round_half_up(81 * rate / 16) - round_half_up(70 * rate / 16)]
    gen_last = plan.clip_generation_frames - 1
    for frame, at in zip(plan.keyframe_frames, (40, 70)):
        assert plan.generation_position(frame) == gen_last + at  # exactly the keyframe's generated frame
    assert plan.clip_source(gen_last) == 89 and plan.generation_position(89) == gen_last


def test_segment_context_is_the_conformed_clip_at_16_fps(tmp_path):
    """Segment 0 continues the upright clip: each guide context frame is the conformed clip's frame
    nearest its 16 fps time (never a blend), scaled to the generation size; made and saved at 16 fps."""
    from segue.video_utils.engine.conform import conform_frames
    from segue.video_utils.core.extend_plan import ROUND_TRIP_FIT
    from segue.video_utils.engine.steps import ExtendStep

    clip = phone_clip(tmp_path / "phone.mp4")
    plan = ExtendRun(clip=ClipRef(str(clip)), frames=40, overlap=8).plan()
    step = ExtendStep(plan, 0, str(clip))
    assert (step.width, step.height, step.fps) == (368, 640, 16)
    c = plan.segments[0].context_frames
    gen = plan.clip_generation_frames
    picks = [plan.clip_source(g) for g in range(gen - c, gen)]
    assert picks[-1] == 29 and picks == sorted(set(picks))       # the clip's last frame, then back in time
    conformed = torch.cat(list(conform_video(clip, 360, 640, fps=30)))
    guide, _ = step.guide()
    assert torch.equal(guide[:c], conform_frames(conformed[picks], 368, 640, ROUND_TRIP_FIT))
