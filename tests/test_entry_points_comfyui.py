"""Long-video entry points through a real ComfyUI (issue 11): one image, seamless loops, a
20-keyframe travel loaded from a folder.  Frame counts equal the plans; loops are checked at the
seam (no repeated frame, no jump bigger than the steps inside the video)."""

from __future__ import annotations

import cv2
import pytest
import torch

from memory_probe import travel_prompt, write_keyframes
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.probe import probe
from segue.video_utils.core.retime import conformed_frame_count
from segue.video_utils.core.travel_plan import plan_travel
from segue.video_utils.engine.video_read import read_frames

pytestmark = pytest.mark.comfyui


def final_file(server, entry: dict, suffix: str):
    [item] = [i for node, ui in entry["outputs"].items() if node.endswith(suffix) for i in ui.get("segue_files", [])]
    base = {"output": server.output_dir, "temp": server.base / "temp"}[item["type"]]
    return base / item["subfolder"] / item["filename"], item


def steps(frames: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between consecutive frames, wrapping from the last to the first."""
    nxt = torch.roll(frames, -1, dims=0)
    return (nxt - frames).abs().mean(dim=(1, 2, 3))


def test_one_image_gives_frames_plus_one(comfy_server):
    names = write_keyframes(comfy_server.input_dir / "one", 1, 96, 64)
    entry = comfy_server.run(travel_prompt(names, 40, 8, tag="one"))
    path, item = final_file(comfy_server, entry, "stitch")
    assert item["frames"] == probe(path).frame_count == 41 == plan_travel(1, 40, 8).total_frames
    assert mean_colour(read_frames(path, 0, 1)[0]) == pytest.approx(image_colour(comfy_server.input_dir / names[0]),
                                                                      abs=6)


def test_looping_travel_has_a_seamless_seam(comfy_server):
    names = write_keyframes(comfy_server.input_dir / "loop3", 3, 96, 64)
    prompt = travel_prompt(names, 48, 8, method="blend", tag="loop")
    prompt["travel"]["inputs"].update(loop=True, exact_keyframes=True, crf=0)
    entry = comfy_server.run(prompt)
    plan = plan_travel(3, 48, 8, exact_keyframes=True, loop=True)
    path, item = final_file(comfy_server, entry, "stitch")
    assert item["frames"] == probe(path).frame_count == plan.total_frames == 144
    assert plan.keyframe_frames == [0, 48, 96]
    frames = read_frames(path)
    diffs = steps(frames)
    seam = float(diffs[-1])             # frame 143 -> frame 0
    inner = diffs[:-1]
    assert seam > 0, "the last frame repeats the first"
    assert seam <= float(inner.max()) * 1.5 + 1e-3, (seam, float(inner.max()))


def test_looping_join_of_the_sample_clips(comfy_server):
    clips = [f"segue_samples/clip_{i}.mp4" for i in (1, 2)]
    p = {f"load{i}": {"class_type": "SegueLoadVideo", "inputs": {"video": c, "start": 0, "frame_count": 0,
                                                                  "last_frames": 1}} for i, c in enumerate(clips)}
    p["join"] = {"class_type": "SegueJoinClips", "inputs": {
        "clip_1": ["load0", 3], "clip_2": ["load1", 3], "context": 4, "gap": 9, "replace": False, "blend": -1,
        "per_join": "", "bridging": False, "loop": True, "width": 0, "height": 0, "fit": "crop", "fps": 0.0,
        "prompt": "", "negative_prompt": "", "curve": "cosine", "sharpen": 0.0, "filename_prefix": "segue/loopjoin",
        "keep_segments": False, "crf": 0, "preset": "ultrafast", "keep_audio": True, "output_images": False}}
    entry = comfy_server.run(p, timeout=300)
    path, item = final_file(comfy_server, entry, "assemble")
    paths = [comfy_server.input_dir / c for c in clips]
    rate = probe(paths[0]).fps          # the output rate: the first clip's (24 fps)
    # clip 2 (30 fps) is conformed to 24 fps keeping its duration: 2 s -> 48 frames
    counts = [conformed_frame_count(p, rate) for p in paths]
    assert counts == [48, 48]
    plan = plan_join(counts, 4, 9, False, loop=True, generation_fps=16, output_fps=rate)
    assert len(plan.joins) == 2
    assert item["frames"] == probe(path).frame_count == plan.total_frames
    diffs = steps(read_frames(path))
    assert float(diffs[-1]) <= float(diffs[:-1].max()) * 1.5 + 1e-3


def test_twenty_keyframes_from_a_folder(comfy_server):
    folder = comfy_server.input_dir / "twenty"
    for name in write_keyframes(folder, 20, 64, 48):     # k000.png ... -> k0.png ... k19.png
        src = comfy_server.input_dir / name
        src.rename(folder / f"k{int(src.stem[1:])}.png")
    prompt = travel_prompt(["twenty/"], 12, 4, method="blend", tag="twenty")
    entry = comfy_server.run(prompt, timeout=600)
    plan = plan_travel(20, 12, 4)
    path, item = final_file(comfy_server, entry, "stitch")
    assert item["frames"] == probe(path).frame_count == plan.total_frames
    assert len([k for k in entry["outputs"] if k.endswith(".save")]) == 19
    # natural name order (k2 before k10): keyframe k (a distinct colour) lands at its planned frame
    frames = read_frames(path)
    for k in (0, 2, 9, 10, 19):
        assert mean_colour(frames[plan.keyframe_frames[k]]) == pytest.approx(image_colour(folder / f"k{k}.png"),
                                                                             abs=8), k


def mean_colour(frame: torch.Tensor) -> list[float]:
    """Mean RGB (0..255) of the top rows, away from the keyframes' bright square."""
    return [float(v) for v in frame[:8, :, :3].reshape(-1, 3).mean(0) * 255]


def image_colour(path) -> list[float]:
    bgr = cv2.imread(str(path))
    return [float(v) for v in bgr[:8, :, ::-1].reshape(-1, 3).mean(0)]
