"""Extending a clip: ExtendStep guides read from real files, the streamed assembly and the
local renderer (clip + F new frames, the clip untouched, its audio kept, long extensions split,
keyframes landed on), and the graph the one-node SegueExtendClip expands into."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
import torch

import media

from segue.orchestration.runs import ClipRef, ExtendRun
from segue.orchestration.server.local import render_locally

from segue.video_utils.core.step_settings import EncodeSettings, ExtendStepSettings
from segue.video_utils.core.chains import SaveTo, Sources, Texts, extend_graph
from segue.video_utils.engine.audio_io import AudioClip, read_audio
from segue.video_utils.engine.conform import conform_frames
from segue.video_utils.core.errors import PlanError
from segue.video_utils.engine.extend_assembly import assemble_extend_files, extend_soundtrack
from segue.video_utils.engine.postprocess import finish_frames
from segue.video_utils.engine.preview_generator import preview_generate
from segue.video_utils.core.extend_plan import plan_extend
from segue.video_utils.core.sizes import generation_size
from segue.video_utils.engine.guides import OverlapAdjust, kept_frames
from segue.video_utils.core.step_settings import PostSettings
from segue.video_utils.core.probe import probe
from segue.video_utils.core.prompt_graph import Graph
from segue.video_utils.core.recipe import Recipe
from segue.video_utils.engine.steps import ExtendStep
from segue.video_utils.engine.video_read import read_frames
from segue.video_utils.engine.video_write import LOSSLESS_CODEC, VideoWriter, write_video

W, H = 64, 48
FPS = Fraction(16)


def pictures(count: int, width: int = W, height: int = H, offset: int = 0) -> torch.Tensor:
    """uint8-exact float frames: colour ramps and a bright square moving 2 px per frame."""
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    frames = torch.empty((count, height, width, 3))
    for i in range(count):
        k = i + offset
        frames[i, ..., 0] = (40 + 150 * x / (width - 1) + 3 * k) % 256
        frames[i, ..., 1] = 40 + 150 * y / (height - 1)
        frames[i, ..., 2] = (110 + 7 * k) % 256
        x0 = (2 * k) % (width - 12)
        frames[i, 10:22, x0:x0 + 12] = torch.tensor([250.0, 250.0, 40.0])
    return frames.round() / 255


def write_clip(path, count: int, width: int = W, height: int = H, audio: bool = False, lossless: bool = True):
    frames = pictures(count, width, height)
    sound = None
    if audio:
        rate = 16000
        t = torch.arange(int(rate * count / FPS)) / rate
        sound = AudioClip(waveform=(0.3 * torch.sin(2 * math.pi * 440 * t)).view(1, 1, -1), sample_rate=rate)
    kwargs = {"codec": LOSSLESS_CODEC} if lossless else {"crf": 12, "preset": "ultrafast"}
    with VideoWriter(path, FPS, width, height, audio=sound, **kwargs) as writer:
        writer.write(frames)
    return path


def keyframe_images(count: int, width: int = W, height: int = H) -> torch.Tensor:
    colours = torch.tensor([[230, 30, 30], [30, 200, 40], [40, 60, 230]], dtype=torch.float32)[:count] / 255
    return colours.view(count, 1, 1, 3).expand(count, height, width, 3).contiguous()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def save_segment(step: ExtendStep, path) -> str:
    """A segment file as the savers write it: generated frames [trim_start, G - trim_end), here
    made recognisable (frame value = 0.1 + index/100) instead of generated."""
    seg = step.segment
    values = [(0.1 + (step.trim_start + i) / 100) for i in range(step.saved_frames(step.index))]
    frames = torch.tensor(values).view(-1, 1, 1, 1).expand(-1, step.height, step.width, 3)
    write_video(path, frames.contiguous(), step.fps, codec=LOSSLESS_CODEC)
    assert probe(path).frame_count == seg.blend_frames + seg.new_frames
    return str(path)


# --- ExtendStep ----------------------------------------------------------------------------------

def test_first_segment_keeps_the_clips_last_frames_and_lands_on_the_keyframe(tmp_path):
    clip = write_clip(tmp_path / "clip.mkv", 20)
    plan = plan_extend(20, 40, overlap=6, keyframe_count=1)
    keys = keyframe_images(1)
    step = ExtendStep(plan, 0, str(clip), (), keys)
    seg = plan.segments[0]
    assert (step.length, step.trim_start, step.trim_end) == (seg.generate_frames, seg.context_frames, seg.trim_end)
    assert (step.width, step.height, step.fps, step.label) == (W, H, FPS, "extension segment 0")
    guide, mask = step.guide()
    c = seg.context_frames
    assert guide.shape == (seg.generate_frames, H, W, 3)
    assert torch.equal(guide[:c], pictures(20)[-c:])             # the clip's own last frames, exact
    kept = kept_frames(mask).tolist()
    assert kept[:c] == [True] * c and kept[seg.end_anchor_frame] and sum(kept) == c + 1
    assert torch.equal(guide[seg.end_anchor_frame], keys[0])
    assert torch.equal(step.colour_reference("previous"), guide[:c])
    assert torch.equal(step.colour_reference("first_keyframe"), pictures(20)[-1:])
    assert step.colour_reference("none") is None


def test_later_segments_read_the_video_so_far_across_files(tmp_path):
    """Short segments: segment 2's context spans segment 1's new frames, segment 0's and the clip."""
    clip = write_clip(tmp_path / "clip.mkv", 20)
    plan = plan_extend(20, 15, overlap=8, max_generation=13)
    assert len(plan.segments) >= 3 and plan.segments[2].context_frames > plan.segments[1].new_frames
    files = []
    for seg in plan.segments[:2]:
        step = ExtendStep(plan, seg.index, str(clip), files)
        files.append(save_segment(step, tmp_path / f"s{seg.index}.mkv"))
    step = ExtendStep(plan, 2, str(clip), files)
    guide, mask = step.guide()
    # the video so far, unblended: the clip, then each segment's new frames (saved frames [blend, blend + new))
    so_far = [pictures(20)]
    for seg, path in zip(plan.segments[:2], files):
        so_far.append(read_frames(path)[seg.blend_frames:])
    so_far = torch.cat(so_far)
    s2 = plan.segments[2]
    assert so_far.shape[0] == s2.start_frame
    assert torch.equal(guide[:s2.context_frames], so_far[-s2.context_frames:])
    assert kept_frames(mask).tolist() == [True] * s2.context_frames + [False] * (s2.generate_frames - s2.context_frames)
    # only the previous file: not enough frames for the context, said before anything is read
    with pytest.raises(PlanError, match="connect previous_files"):
        ExtendStep(plan, 2, str(clip), files[-1:])


def test_step_refuses_wrong_inputs(tmp_path):
    clip = write_clip(tmp_path / "clip.mkv", 20)
    plan = plan_extend(20, 100, overlap=6, keyframe_count=1)
    assert len(plan.segments) == 2
    with pytest.raises(PlanError, match="planned for 21"):
        ExtendStep(plan_extend(21, 100, 6, 1), 0, str(clip), (), keyframe_images(1))
    with pytest.raises(PlanError, match="segments 0..1"):
        ExtendStep(plan, 2, str(clip), ())
    with pytest.raises(PlanError, match="continues segment 0: connect"):
        ExtendStep(plan, 1, str(clip), (), keyframe_images(1))
    with pytest.raises(PlanError, match="continues the clip itself"):
        ExtendStep(plan, 0, str(clip), [str(clip)], keyframe_images(1))
    with pytest.raises(PlanError, match="has 20 frames but extension segment 0 saves"):
        ExtendStep(plan, 1, str(clip), [str(clip)], keyframe_images(1))
    with pytest.raises(PlanError, match="ends on keyframe 0: connect the keyframes"):
        ExtendStep(plan, 1, str(clip), [save_segment(ExtendStep(plan, 0, str(clip)), tmp_path / "s0.mkv")])
    with pytest.raises(PlanError, match="keyframes has 2 images"):
        ExtendStep(plan, 0, str(clip), (), keyframe_images(2))


def test_a_clip_off_the_16_grid_is_generated_at_the_wan_size(tmp_path):
    clip = write_clip(tmp_path / "odd.mkv", 12, width=60, height=44)
    plan = plan_extend(12, 20, overlap=4, keyframe_count=1)
    keys = keyframe_images(1, 100, 70)                       # any size: centre-cropped to the generation size
    step = ExtendStep(plan, 0, str(clip), (), keys)
    assert (step.width, step.height) == generation_size(60, 44) == (64, 48)
    guide, _ = step.guide()
    c = plan.segments[0].context_frames
    assert guide.shape[1:3] == (48, 64)
    assert torch.equal(guide[:c], conform_frames(pictures(12, 60, 44)[-c:], 64, 48, "stretch"))
    assert torch.allclose(guide[plan.segments[0].end_anchor_frame], keys[0, :48, :64])


# --- assembly and the local renderer -------------------------------------------------------------

def render_extend(clip, plan, out, *, keyframes=None, method="blend", codec=LOSSLESS_CODEC, crf=12,
                  preset="ultrafast", keep_audio=True, adjust=OverlapAdjust(), post=PostSettings(), segments_dir=None):
    """The extension made straight through the engine, step by step as the step nodes do it (steps,
    preview, finish, lossless files, assembly), so a test can ask for a lossless final and keep the
    segment files; ``segue extend`` renders through the step prompts (tested below)."""
    folder = Path(segments_dir) if segments_dir else Path(out).parent / "segments"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seg in plan.segments:
        step = ExtendStep(plan, seg.index, str(clip), paths, keyframes, adjust)
        guide, mask = step.guide()
        frames = finish_frames(preview_generate(guide, mask, method=method), step, post)
        paths.append(str(write_video(folder / f"seg_{seg.index:03d}.mkv", frames, step.fps, codec=LOSSLESS_CODEC)))
    audio = extend_soundtrack(clip, plan) if keep_audio else None
    assemble_extend_files(clip, paths, plan, out, audio=audio, codec=codec, crf=crf, preset=preset)
    return Path(out)


def test_render_extend_lossless_keeps_the_clip_exact_and_lands_on_keyframes(tmp_path):
    """160 new frames after 24, landing on 2 keyframes; the first leg is longer than one 81-frame generation."""
    clip = write_clip(tmp_path / "clip.mkv", 24)
    keys = keyframe_images(2)
    plan = plan_extend(24, [100, 60], overlap=8, keyframe_count=2)
    assert [s.leg for s in plan.segments] == [0, 0, 1] and all(s.generate_frames <= 81 for s in plan.segments)
    out = render_extend(clip, plan, tmp_path / "out.mkv", keyframes=keys, method="blend", codec=LOSSLESS_CODEC,
                        segments_dir=tmp_path / "segs")
    info = probe(out)
    assert (info.frame_count, info.width, info.height, info.fps) == (24 + 160, W, H, FPS)
    assert plan.total_frames == 24 + 160 and plan.keyframe_frames == [24 + 99, 24 + 159]
    frames = read_frames(out)
    assert torch.equal(frames[:24], pictures(24))               # the clip, bit for bit
    for k, at in enumerate(plan.keyframe_frames):
        assert torch.equal(frames[at], keys[k]), (k, at)
    for seg in plan.segments:                                    # each file: blend + new frames
        assert probe(tmp_path / "segs" / f"seg_{seg.index:03d}.mkv").frame_count == seg.new_frames


def test_render_extend_h264_keeps_the_clips_frames_and_audio(tmp_path):
    """No keyframe, a free end; the final is H.264 with the clip's sound under the clip's pictures,
    silence under the new frames, as long as the video."""
    clip = write_clip(tmp_path / "clip.mp4", 32, audio=True, lossless=False)

    def extend(out, keep_audio=True):
        """``segue extend``'s road: the run's step prompts, run on this machine."""
        run = ExtendRun(clip=ClipRef(str(clip)), frames=90, overlap=8, crf=12, preset="ultrafast",
                        keep_audio=keep_audio, out=str(out))
        return render_locally(run), run.plan()

    out, plan = extend(tmp_path / "out.mp4")
    assert len(plan.segments) == 2 and plan.keyframe_frames == [] and plan == plan_extend(32, 90, overlap=8)
    info = probe(out)
    assert (info.frame_count, info.width, info.height, info.has_audio) == (122, W, H, True)
    source = read_frames(clip)
    frames = read_frames(out)
    assert min(psnr(frames[i], source[i]) for i in range(32)) >= 30
    audio = read_audio(out)
    assert audio.sample_rate == 48_000 and audio.channels == 2
    assert abs(audio.samples / audio.sample_rate - float(info.duration)) <= 1 / 16
    samples = audio.waveform[0, 0].numpy()
    under_clip, after = samples[6000:90000], samples[100000:]         # 0.125..1.875 s, then from 2.08 s
    assert abs(media.dominant_frequency(under_clip, 48_000) - 440) < 15 and media.rms(under_clip) > 0.1
    assert media.rms(after) < 1e-3                                    # the new frames are silent
    silent, _ = extend(tmp_path / "silent.mp4", keep_audio=False)
    assert not probe(silent).has_audio


def test_render_extend_of_an_odd_sized_clip_keeps_its_size(tmp_path):
    clip = write_clip(tmp_path / "odd.mkv", 12, width=60, height=44)
    plan = plan_extend(12, 16, overlap=4, keyframe_count=1)
    keys = keyframe_images(1)
    out = render_extend(clip, plan, tmp_path / "out.mkv", keyframes=keys, method="blend", codec=LOSSLESS_CODEC,
                        segments_dir=tmp_path / "segs")
    info = probe(out)
    assert (info.frame_count, info.width, info.height) == (28, 60, 44)
    frames = read_frames(out)
    assert torch.equal(frames[:12], pictures(12, 60, 44))      # never resized
    generated = read_frames(tmp_path / "segs" / "seg_000.mkv")
    assert generated.shape[1:3] == (48, 64)                     # made at the Wan size ...
    assert torch.allclose(frames[12:], conform_frames(generated, 60, 44, "stretch"), atol=1 / 255 + 1e-6)
    assert torch.allclose(frames[-1], keys[0, :44, :60], atol=1 / 255 + 1e-6)   # ... scaled back


def test_blend_cross_fades_only_the_frames_before_each_segment(tmp_path):
    clip = write_clip(tmp_path / "clip.mkv", 20)
    plan = plan_extend(20, 30, overlap=6, blend=3)
    seg = plan.segments[0]
    assert seg.blend_frames == 3
    # darkened context: the preview's re-creation of the context is darker than the clip, so the blend shows
    out = render_extend(clip, plan, tmp_path / "out.mkv", codec=LOSSLESS_CODEC, adjust=OverlapAdjust(darken=0.5),
                        post=PostSettings(colour_match="previous", colour_strength=0.0), segments_dir=tmp_path / "segs")
    frames = read_frames(out)
    clip_frames = pictures(20)
    assert frames.shape[0] == 50
    assert torch.equal(frames[:17], clip_frames[:17])           # all but the last `blend` clip frames untouched
    darkening = [float((clip_frames[i] - frames[i]).mean()) for i in range(17, 20)]
    assert 0 < darkening[0] < darkening[1] < darkening[2]       # fading into the darker re-created frames
    assert probe(tmp_path / "segs" / "seg_000.mkv").frame_count == 3 + seg.new_frames


def test_assembly_checks_every_file_before_writing(tmp_path):
    clip = write_clip(tmp_path / "clip.mkv", 20)
    plan = plan_extend(20, 30, overlap=6)
    wrong = write_clip(tmp_path / "wrong.mkv", 7)
    target = tmp_path / "out.mp4"
    with pytest.raises(PlanError, match="segment 0's file .* has 7 frames but the plan saves 30"):
        assemble_extend_files(clip, [wrong], plan, target)
    with pytest.raises(PlanError, match="0 segment files given"):
        assemble_extend_files(clip, [], plan, target)
    with pytest.raises(PlanError, match="planned for 21"):
        assemble_extend_files(clip, [wrong], plan_extend(21, 30, 6), target)
    assert not target.exists()


# --- the graph SegueExtendClip expands into ------------------------------------------------------

def test_extend_graph_chains_the_segments_through_the_file_list():
    plan = plan_extend(40, 150, overlap=8, keyframe_count=1)
    n = len(plan.segments)
    g = Graph()
    settings = ExtendStepSettings(frames="150", overlap=8)
    video = extend_graph(g, settings, n, Recipe(), Sources(), Texts(("",) * n, ("",) * n), "clips/a.mp4",
                         ["keys", 0], 1, [SaveTo("", "temp")] * n, EncodeSettings(filename_prefix="segue/extend"))
    nodes = g.prompt()
    assert video == ["assemble", 0]
    for i in range(n):
        step = nodes[f"ext_{i:03d}.step"]
        assert step["class_type"] == "SegueExtendStep"
        assert step["inputs"]["segment_index"] == i and step["inputs"]["keyframes"] == ["keys", 0]
        assert step["inputs"].get("previous_files") == (None if i == 0 else [f"ext_{i - 1:03d}.list", 0])
        assert nodes[f"ext_{i:03d}.save"]["class_type"] == "SeguePreviewStep"
        assert nodes[f"ext_{i:03d}.list"]["inputs"]["video"] == [f"ext_{i:03d}.save", 0]
    assemble = nodes["assemble"]["inputs"]
    assert assemble["segment_files"] == [f"ext_{n - 1:03d}.list", 0]
    assert (assemble["clip_file"], assemble["keyframe_count"], assemble["frames"], assemble["blend"]) == \
        ("clips/a.mp4", 1, "150", 0)
    assert assemble["filename_prefix"] == "segue/extend"
