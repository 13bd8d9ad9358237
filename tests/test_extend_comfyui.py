"""Extending a clip inside a real ComfyUI: SegueExtendClip with and without keyframes, the
per-segment prompts the orchestrator will send (SegueExtendStep -> SeguePreviewStep with exact
file names, then SegueExtendAssemble), and the local renderer, all giving the same segments.

Clips are tiny (64x64 or 60x44, 20-30 frames at 16 fps) and differ between tests, because
identical prompts are served from ComfyUI's cache.
"""

from __future__ import annotations


import cv2
import numpy as np
import pytest
import torch

import media
import node_prompts as NP
from segue.orchestration.runs.models import ClipRef, ExtendRun
from segue.video_utils.engine.audio_io import read_audio
from segue.video_utils.core.step_settings import EncodeSettings, ExtendStepSettings
from segue.video_utils.core.chains import SaveTo, Sources, Texts, extend_assemble, extend_step, step_chain
from segue.video_utils.core.extend_plan import plan_extend
from segue.orchestration.server.local import render_locally
from segue.video_utils.core.probe import probe
from segue.video_utils.core.prompt_graph import Graph, out
from segue.video_utils.core.recipe import Recipe
from segue.video_utils.engine.video_read import read_frames

pytestmark = pytest.mark.comfyui

COLOURS = [(230, 30, 30), (30, 200, 40), (40, 60, 230)]
EXTEND_NODES = ("SegueExtendStep", "SegueExtendAssemble", "SegueExtendClip")


def write_clip(path, frames: int, width: int = 64, height: int = 64, audio: bool = True, shift: int = 0) -> None:
    NP.write_clip(path, frames, width, audio, shift, height)


def write_keyframes(folder, count: int, size: int = 64) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        img = np.zeros((size, size, 3), np.uint8)
        img[:] = COLOURS[i]
        img[40:52, 8 + 12 * i:20 + 12 * i] = 255
        cv2.imwrite(str(folder / f"k{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        paths.append(folder / f"k{i}.png")
    return paths


def segue_files(entry: dict, suffix: str) -> list:
    items = []
    for node_id, ui in entry["outputs"].items():
        if node_id == suffix or node_id.endswith("." + suffix):
            items += ui.get("segue_files", [])
    return items


def local(server, item: dict):
    base = {"output": server.output_dir, "temp": server.base / "temp", "input": server.input_dir}[item["type"]]
    return base / item["subfolder"] / item["filename"]


def extend_inputs(**overrides) -> dict:
    inputs = {"frames": "48", "overlap": 8, "max_generation": 81, "prompts": "", "negative_prompt": "",
              "filename_prefix": "segue/extend", "keep_segments": False, "crf": 19, "preset": "ultrafast",
              "output_images": False}
    inputs.update(overrides)
    return inputs


def local_extend(clip_path, out, work, keyframes=(), **settings):
    """``segue extend`` on this machine (the run's step prompts, run in-process): the final video,
    and the folder that keeps its step files."""
    run = ExtendRun(clip=ClipRef(str(clip_path)), keyframes=[str(k) for k in keyframes], run_id="local", crf=19,
                    preset="ultrafast", out=str(out), **settings)
    return render_locally(run, work_dir=work), work / "output" / "segue" / "local"


def assert_same_segments(server, entry, plan, local_dir) -> None:
    """Every segment the server saved equals the local renderer's, bit for bit."""
    for seg in plan.segments:
        [item] = segue_files(entry, f"ext_{seg.index:03d}.save")
        assert item["frames"] == seg.blend_frames + seg.new_frames
        served = read_frames(local(server, item))
        here = read_frames(local_dir / f"ext_{seg.index:03d}.mkv")
        assert torch.equal(served, here), f"segment {seg.index} differs"


def test_extend_nodes_are_registered_with_tooltips(comfy_server):
    info = comfy_server.get("/object_info")
    for node in EXTEND_NODES:
        assert node in info, f"{node} not registered:\n{comfy_server.log_tail()}"
        spec = info[node]
        assert spec["category"] == "video/segue" and spec["description"], node
        for section in ("required", "optional"):
            for name, value in spec["input"].get(section, {}).items():
                assert len(value) > 1 and value[1].get("tooltip"), f"{node}.{name} has no tooltip"
    assert info["SegueExtendStep"]["output"] == ["SEGUE_STEP"]
    assert info["SegueExtendStep"]["input"]["required"]["max_generation"][1]["default"] == 81
    assert info["SegueExtendStep"]["input"]["optional"]["keyframes"][0] == "IMAGE"
    assert info["SegueExtendAssemble"]["output_node"] is True
    clip = info["SegueExtendClip"]
    assert clip["output"] == ["VIDEO", "IMAGE"] and clip["output_node"] is True
    assert clip["input"]["optional"]["recipe"][0] == "SEGUE_RECIPE"
    assert clip["input"]["optional"]["clip"][0] == "VIDEO"


def test_extend_clip_without_keyframes_matches_the_local_render(comfy_server, tmp_path):
    """90 new frames after a 30-frame clip: two chained segments, a free end, the clip's audio."""
    write_clip(comfy_server.input_dir / "extend" / "free.mp4", 30)
    clip_path = comfy_server.input_dir / "extend" / "free.mp4"
    plan = plan_extend(30, 90, overlap=8)
    assert len(plan.segments) == 2
    p = {"load": {"class_type": "LoadVideo", "inputs": {"file": "extend/free.mp4"}},
         "extend": {"class_type": "SegueExtendClip", "inputs": {"clip": ["load", 0], **extend_inputs(
             frames="90", filename_prefix="segue_ext/free")}}}
    entry = comfy_server.run(p, timeout=240)

    [final] = segue_files(entry, "assemble")
    path = local(comfy_server, final)
    info = probe(path)
    assert final["frames"] == plan.total_frames == 120
    assert (info.frame_count, info.width, info.height, info.fps, info.has_audio) == (120, 64, 64, 16, True)
    assert final["type"] == "output" and final["subfolder"] == "segue_ext" and final["filename"].startswith("free_")
    frames, source = read_frames(path), read_frames(clip_path)
    assert min(float(10 * torch.log10(1 / ((frames[i] - source[i]) ** 2).mean())) for i in range(30)) >= 30

    out_local, steps = local_extend(clip_path, tmp_path / "local.mp4", tmp_path / "work", frames=90, overlap=8)
    assert_same_segments(comfy_server, entry, plan, steps)
    assert out_local.read_bytes() == path.read_bytes()           # the same final bitstream, audio included
    sound = read_audio(path)                # the clip's sound, then silence: as long as the video
    assert sound.samples == round(info.duration * sound.sample_rate) == 360_000


def test_rotated_30_fps_clip_extends_upright_on_every_path(comfy_server, tmp_path):
    """A portrait phone clip (stored 96x64, rotation flag) at 30 fps with sound: the node path, the
    orchestrator's path and the local path give one bitstream, upright at 64x96 and 30 fps; 24
    frames at 16 fps are 45 at 30."""
    from segue.orchestration import GeneratorConfig, run_plan

    clip_path = comfy_server.input_dir / "extend" / "phone30.mp4"
    clip_path.parent.mkdir(parents=True, exist_ok=True)
    media.write_clip(clip_path, 96, 64, 30, 24, rotation=90, audio=(660.0, 48_000, "stereo"), crf=14)
    p = {"extend": {"class_type": "SegueExtendClip", "inputs": {"clip_file": "extend/phone30.mp4", **extend_inputs(
        frames="24", overlap=6, filename_prefix="segue_ext/phone30")}}}
    entry = comfy_server.run(p, timeout=240)
    [final] = segue_files(entry, "assemble")
    path = local(comfy_server, final)
    info = probe(path)
    assert (final["frames"], info.frame_count, info.width, info.height, info.fps) == (69, 69, 64, 96, 30)

    plan = ExtendRun(clip=ClipRef(str(clip_path)), frames=24, overlap=6).plan()
    assert plan.total_frames == 24 + 45
    out_local, steps = local_extend(clip_path, tmp_path / "local.mp4", tmp_path / "work", frames=24, overlap=6)
    assert_same_segments(comfy_server, entry, plan, steps)
    assert read_frames(steps / "ext_000.mkv").shape[1:3] == (96, 64)   # generated upright
    assert out_local.read_bytes() == path.read_bytes()

    served = tmp_path / "server.mp4"
    run = ExtendRun(clip=ClipRef(str(clip_path)), frames=24, overlap=6, crf=19, preset="ultrafast",
                    generator=GeneratorConfig.from_name("preview"), run_id="phone30",
                    output_dir=str(tmp_path / "runs"), out=str(served))
    assert run_plan(run, [comfy_server.url], progress=False) == 0
    assert served.read_bytes() == out_local.read_bytes()


def test_extend_clip_to_keyframes_at_an_odd_size(comfy_server, tmp_path):
    """A 60x44 clip extended through two keyframes and a free tail ("40, 30, 10"): generated at
    64x48, delivered at 60x44, landing on each keyframe; clip given by file name."""
    write_clip(comfy_server.input_dir / "extend" / "odd.mp4", 20, 60, 44, audio=False, shift=50)
    images = write_keyframes(comfy_server.input_dir / "extend_keys", 2)
    plan = plan_extend(20, [40, 30, 10], overlap=6, keyframe_count=2)
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {
             "images": "extend_keys/k0.png\nextend_keys/k1.png", "width": 64, "height": 48, "fit": "crop"}},
         "extend": {"class_type": "SegueExtendClip", "inputs": {
             "clip_file": "extend/odd.mp4", "keyframes": ["keys", 0],
             **extend_inputs(frames="40, 30, 10", overlap=6, filename_prefix="segue_ext/odd", crf=12)}}}
    entry = comfy_server.run(p, timeout=240)

    [final] = segue_files(entry, "assemble")
    path = local(comfy_server, final)
    info = probe(path)
    assert (final["frames"], info.frame_count, info.width, info.height, info.has_audio) == (100, 100, 60, 44, False)
    assert plan.keyframe_frames == [59, 89]
    frames = read_frames(path)
    for k, at in enumerate(plan.keyframe_frames):
        got = (frames[at, :30].reshape(-1, 3).mean(0) * 255).numpy()     # away from the white mark
        assert np.abs(got - np.array(COLOURS[k])).max() < 12, (k, at, got)

    _, steps = local_extend(comfy_server.input_dir / "extend" / "odd.mp4", tmp_path / "local.mp4", tmp_path / "work",
                            images, frames=[40, 30, 10], overlap=6)
    assert_same_segments(comfy_server, entry, plan, steps)
    assert read_frames(steps / "ext_000.mkv").shape[1:3] == (48, 64)


def test_per_segment_prompts_match_the_single_node(comfy_server):
    """What the orchestrator will send: one prompt per segment (SegueExtendStep reading the
    earlier segments' files by name, an exact output name), then SegueExtendAssemble."""
    write_clip(comfy_server.input_dir / "extend" / "steps.mp4", 24, shift=100)
    plan = plan_extend(24, [30, 20], overlap=4, keyframe_count=1)
    write_keyframes(comfy_server.input_dir / "extend_steps_keys", 1)
    settings = ExtendStepSettings(frames="30, 20", overlap=4)
    recipe, n = Recipe(), len(plan.segments)
    texts = Texts(("",) * n, ("",) * n)
    load_keys = {"class_type": "SegueLoadImages", "inputs": {"images": "extend_steps_keys/k0.png", "width": 0,
                                                             "height": 0, "fit": "crop"}}
    names = []
    for seg in plan.segments:
        g = Graph()
        g.add("keys", "SegueLoadImages", **load_keys["inputs"])
        step = extend_step(g, settings, "extend/steps.mp4", out("keys", 0), seg.index, "\n".join(names), "")
        step_chain(g, recipe, Sources(), out(step, 0), seg.index, 0, texts,
                   SaveTo(f"segue/ext_steps/seg_{seg.index:03d}"), "")
        entry = comfy_server.run(g.prompt(), timeout=120)
        [item] = entry["outputs"]["save"]["segue_files"]
        assert item["frames"] == seg.new_frames and item["filename"] == f"seg_{seg.index:03d}.mkv"
        names.append(f"segue/ext_steps/{item['filename']} [output]")
    g = Graph()
    extend_assemble(g, settings, "extend/steps.mp4", "\n".join(names), 1,
                    EncodeSettings(crf=19, preset="ultrafast", filename="segue/ext_steps/final"))
    entry = comfy_server.run(g.prompt(), timeout=120)
    [final] = entry["outputs"]["assemble"]["segue_files"]
    stepped = comfy_server.output_dir / "segue/ext_steps/final.mp4"
    assert final["frames"] == plan.total_frames == probe(stepped).frame_count == 74

    p = {"keys": load_keys,
         "extend": {"class_type": "SegueExtendClip", "inputs": {
             "clip_file": "extend/steps.mp4", "keyframes": ["keys", 0],
             **extend_inputs(frames="30, 20", overlap=4, filename_prefix="segue_ext/single")}}}
    entry = comfy_server.run(p, timeout=240)
    for seg in plan.segments:
        [item] = segue_files(entry, f"ext_{seg.index:03d}.save")
        single = read_frames(local(comfy_server, item))
        stepped_segment = comfy_server.output_dir / "segue/ext_steps" / f"seg_{seg.index:03d}.mkv"
        assert torch.equal(single, read_frames(stepped_segment))
    [single_final] = segue_files(entry, "assemble")
    assert local(comfy_server, single_final).read_bytes() == stepped.read_bytes()


def test_extend_refuses_a_bad_setup_before_generating(comfy_server):
    write_clip(comfy_server.input_dir / "extend" / "short.mp4", 6, audio=False, shift=150)
    p = {"extend": {"class_type": "SegueExtendClip", "inputs": {
        "clip_file": "extend/short.mp4", **extend_inputs(overlap=8, filename_prefix="segue_ext/bad")}}}
    with pytest.raises(AssertionError, match="overlap=8 but the clip has only 6 frames"):
        comfy_server.run(p, timeout=60)
    p = {"extend": {"class_type": "SegueExtendClip", "inputs": {
        "clip_file": "extend/short.mp4", **extend_inputs(frames="ten", overlap=2, filename_prefix="segue_ext/bad")}}}
    with pytest.raises(AssertionError, match="'ten' is not a whole number"):
        comfy_server.queue_prompt(p)
