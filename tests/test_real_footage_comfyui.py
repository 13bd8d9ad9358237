"""Real footage through a real ComfyUI (issue 8): the same mixed clips as tests/test_real_footage.py
joined by the one-node SegueJoinClips give the local path's video, bit for bit: same frames,
durations and sound."""

from __future__ import annotations

import shutil

import pytest

import footage
from segue.video_utils.core.join_plan import plan_join
from segue.orchestration.runs import ClipRef, GeneratorConfig, JoinRun
from segue.orchestration.server.local import render_locally
from segue.video_utils.core.probe import probe
from segue.video_utils.core.retime import conformed_frame_count

pytestmark = pytest.mark.comfyui


def local_join(clips, out):
    """``segue join`` on this machine with the same settings: the run's step prompts run in-process."""
    run = JoinRun(clips=[ClipRef(str(c), c.stem) for c in clips], context=6, gap=11, crf=14, preset="ultrafast",
                  generator=GeneratorConfig.from_name("preview", preview_method="flow"), out=str(out))
    return render_locally(run)


def test_ui_join_of_mixed_footage_equals_the_local_join(comfy_server, tmp_path):
    clips = footage.write_footage(tmp_path / "footage")
    folder = comfy_server.input_dir / "footage8"
    folder.mkdir(exist_ok=True)
    for clip in clips:
        shutil.copyfile(clip, folder / clip.name)
    p = {"join": {"class_type": "SegueJoinClips", "inputs": {
        "clip_files": "\n".join(f"footage8/{c.name}" for c in clips), "context": 6, "gap": 11, "replace": False,
        "blend": -1, "per_join": "", "bridging": False, "loop": False, "width": 0, "height": 0, "fit": "crop",
        "fps": 0.0, "prompt": "", "negative_prompt": "", "curve": "cosine", "sharpen": 0.0,
        "filename_prefix": "segue/footage", "keep_segments": False, "crf": 14, "preset": "ultrafast",
        "keep_audio": True, "output_images": False}}}
    entry = comfy_server.run(p, timeout=600)
    [item] = [i for node, ui in entry["outputs"].items() if node.endswith("assemble") for i in ui["segue_files"]]
    node_out = comfy_server.output_dir / item["subfolder"] / item["filename"]

    plan = plan_join([conformed_frame_count(c, 30) for c in clips], 6, 11, False, generation_fps=16, output_fps=30)
    assert item["frames"] == plan.total_frames
    local = local_join(clips, tmp_path / "local.mp4")
    a, b = probe(node_out), probe(local)
    assert (a.frame_count, a.duration, a.width, a.height) == (b.frame_count, b.duration, 1920, 1080)
    assert node_out.read_bytes() == local.read_bytes()     # same settings, same bitstream on both paths
    footage.check_sound_under_pictures(node_out, plan)


def test_server_join_of_mixed_footage_equals_the_local_join(comfy_server, tmp_path):
    """The orchestrator's path (one prompt per transition, then the assembly, files up and down)
    with the same settings gives the same bitstream as the local join."""
    from segue.orchestration import run_plan

    clips = footage.write_footage(tmp_path / "footage")
    out = tmp_path / "server.mp4"
    run = JoinRun(clips=[ClipRef(str(c), c.stem) for c in clips], context=6, gap=11, crf=14, preset="ultrafast",
                  generator=GeneratorConfig.from_name("preview"), run_id="footage8", output_dir=str(tmp_path / "runs"),
                  out=str(out))
    assert run_plan(run, [comfy_server.url], progress=False) == 0
    plan = plan_join([conformed_frame_count(c, 30) for c in clips], 6, 11, False, generation_fps=16, output_fps=30)
    local = local_join(clips, tmp_path / "local.mp4")
    assert probe(out).frame_count == plan.total_frames
    assert out.read_bytes() == local.read_bytes()
    footage.check_sound_under_pictures(out, plan)
