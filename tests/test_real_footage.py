"""Real footage in, real footage out, on the local path (issue 8): a 1080p 30 fps camera clip, a
350x350 16 fps clip, a 720p 24 fps clip and a portrait phone clip (rotation flag), with and
without sound, joined at the first clip's size and rate; a travel delivered at 30 fps with a
soundtrack.  Durations add up, each clip's sound plays under its own pictures, untouched frames
are the sources'."""

from __future__ import annotations

from fractions import Fraction

import cv2
import pytest

import footage
import media
from segue.orchestration.runs import ClipRef, GeneratorConfig, JoinRun, TravelRun
from segue.orchestration.server.local import render_locally
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.lengths import retime_count
from segue.video_utils.core.output_format import output_format
from segue.video_utils.core.probe import probe
from segue.video_utils.core.retime import conformed_frame_count

BLEND = GeneratorConfig.from_name("preview", preview_method="blend")


def local_join(clips, out, **settings):
    """A join rendered on this machine (its step prompts run in-process): (the video, its plan)."""
    run = JoinRun(clips=[ClipRef(str(p)) for p in clips], generator=BLEND, preset="ultrafast", out=str(out), **settings)
    plan = run.validate()
    return render_locally(run, plan), plan


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return footage.write_footage(tmp_path_factory.mktemp("footage"))


def test_probe_sees_the_footage_as_displayed(clips):
    infos = [probe(p) for p in clips]
    assert [(i.width, i.height) for i in infos] == [(1920, 1080), (350, 350), (1280, 720), (360, 640)]
    assert [i.fps for i in infos] == [30, 16, 24, 24]
    assert [i.has_audio for i in infos] == [True, False, True, True]


@pytest.mark.parametrize("replace", [False, True])
def test_mixed_footage_joins_with_durations_sound_and_pictures_kept(clips, tmp_path, replace):
    fmt = output_format(clips[0])
    assert (fmt.width, fmt.height, fmt.fps, fmt.work_width, fmt.work_height) == (1920, 1080, 30, 848, 480)
    counts = [conformed_frame_count(p, fmt.fps) for p in clips]
    assert counts == [30, 45, 30, 30]                       # each clip keeps its duration at 30 fps
    out, plan = local_join(clips, tmp_path / "joined.mp4", context=6, gap=11, replace=replace, crf=14)
    assert plan == plan_join(counts, 6, 11, replace, generation_fps=16, output_fps=fmt.fps)
    info = probe(out)
    assert (info.frame_count, info.fps, info.width, info.height) == (plan.total_frames, 30, 1920, 1080)
    seconds = Fraction(sum(counts), 30) + (0 if replace else sum(Fraction(j.gap_frames, 30) for j in plan.joins))
    assert info.duration == seconds == plan.duration
    assert abs(footage.audio_seconds(out) - float(seconds)) <= 1 / 30
    footage.check_sound_under_pictures(out, plan)
    footage.check_untouched_frames(out, clips, plan, (1920, 1080))


def test_pad_fit_and_an_explicit_output_size(clips, tmp_path):
    out, plan = local_join(clips[2:], tmp_path / "pad.mp4", context=4, gap=9, fps=24, width=640, height=360,
                           fit="pad", crf=14)
    assert plan == plan_join([conformed_frame_count(p, 24) for p in clips[2:]], 4, 9, False, generation_fps=16,
                             output_fps=24)
    info = probe(out)
    assert (info.width, info.height, info.fps, info.frame_count) == (640, 360, 24, plan.total_frames)
    footage.check_untouched_frames(out, clips[2:], plan, (640, 360), fit="pad")


def test_travel_delivered_at_another_rate_and_size_with_a_soundtrack(tmp_path):
    photos = []
    for i in range(2):
        path = tmp_path / f"photo{i}.png"
        cv2.imwrite(str(path), media.picture(i * 7, 1920, 1080)[..., ::-1])
        photos.append(path)
    sound = media.write_sound(tmp_path / "music.wav", 523.0, 10.0)
    run = TravelRun(images=[str(p) for p in photos], segment_frames=32, overlap=8, width=848, height=480, fps=30,
                    out_width=1280, out_height=720, soundtrack=str(sound), generator=BLEND, preset="ultrafast",
                    out=str(tmp_path / "travel.mp4"))
    plan = run.validate()
    out = render_locally(run, plan)
    info = probe(out)
    assert (info.width, info.height, info.fps) == (1280, 720, 30)
    assert info.frame_count == retime_count(plan.total_frames, 16, 30)
    assert abs(footage.audio_seconds(out) - footage.video_seconds(out)) <= 1 / 30
