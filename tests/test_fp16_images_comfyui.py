"""float16 IMAGE tensors, as ComfyUI hands them over with ``--fp16-intermediates`` (0.27: core's
loaders, VAE decode, samplers give float16), into every IMAGE input of Segue's nodes.

One prompt wires each node's IMAGE input once; it runs with the images as float32 and again with
them turned float16 (``SegueTestHalfImages``), and every result must be the float32 one within
float16's rounding. On a ComfyUI that has the flag the server runs with it, so core's own nodes
hand float16 too (``LoadImage``; the real Wan chain's VAE decode inside ``SegueSaveStep``).
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfyui_harness import ComfyServer  # noqa: E402
from test_video_io import coded_frames  # noqa: E402

from segue.video_utils.core.travel_plan import plan_travel  # noqa: E402
from segue.video_utils.engine.video_write import VideoWriter  # noqa: E402

pytestmark = pytest.mark.comfyui

SIZE = 64
TRAVEL = plan_travel(3, 16, 4, "chained", False).total_frames
EXACT = plan_travel(3, 16, 4, "chained", True).total_frames


def has_fp16_flag(server_root: Path) -> bool:
    return "--fp16-intermediates" in (server_root / "comfy" / "cli_args.py").read_text()


@pytest.fixture(scope="module")
def server(comfyui_available, tmp_path_factory):
    """A server of its own: with --fp16-intermediates where this ComfyUI has it (0.27), as users run it."""
    root = comfyui_available[0]
    flag = ("--fp16-intermediates",) if has_fp16_flag(root) else ()
    s = ComfyServer(tmp_path_factory.mktemp("fp16"), extra_args=flag).start()
    keys = s.input_dir / "fp16"
    keys.mkdir()
    for i, frame in enumerate(coded_frames(3, SIZE, SIZE, seed=4)):
        cv2.imwrite(str(keys / f"k{i}.png"), frame[..., ::-1])
    with VideoWriter(keys / "clip.mp4", Fraction(16), SIZE, SIZE, crf=8, preset="veryfast") as w:
        w.write(coded_frames(24, SIZE, SIZE, seed=5))
    s.flag = bool(flag)
    yield s
    s.stop()


def every_image_input(half: bool, tag: str) -> dict:
    """Each IMAGE input of Segue's nodes fed once; results saved by SegueTestSaveTensor."""
    p = {"keys32": {"class_type": "SegueLoadImages", "inputs": {"images": "fp16/k0.png\nfp16/k1.png\nfp16/k2.png",
                                                                "width": 0, "height": 0, "fit": "crop"}}}

    def img(link):
        if not half:
            return link
        name = f"half_{len(p)}"
        p[name] = {"class_type": "SegueTestHalfImages", "inputs": {"images": link}}
        return [name, 0]

    def save(name, images):
        p[f"save_{name}"] = {"class_type": "SegueTestSaveTensor", "inputs": {"label": name, "images": images}}

    def read(name, video):
        p[f"list_{name}"] = {"class_type": "SegueFileList", "inputs": {"video": video}}
        p[f"read_{name}"] = {"class_type": "SegueLoadVideo", "inputs": {"video": [f"list_{name}", 0], "start": 0,
                                                                        "frame_count": 0, "last_frames": 0}}
        save(name, [f"read_{name}", 0])

    keys = img(["keys32", 0])
    p["travel"] = {"class_type": "SegueTravel", "inputs": {
        "keyframes": keys, "prompts": "", "negative_prompt": "", "segment_frames": "16", "overlap": "4",
        "mode": "chained", "exact_keyframes": False, "curve": "cosine", "sharpen": 0.0,
        "filename_prefix": f"fp16/travel_{tag}", "keep_segments": False, "crf": 12, "preset": "ultrafast",
        "output_images": True}}
    save("travel", ["travel", 1])
    frames = img(["travel", 1])
    p["segment"] = {"class_type": "SegueTravelSegment", "inputs": {
        "keyframes": keys, "segment_index": 0, "segment_frames": "16", "overlap": "4", "mode": "chained",
        "exact_keyframes": False, "prompt": "", "negative_prompt": "", "keep_segments": False,
        "output_images": True}}
    save("segment", ["segment", 0])
    p["guide"] = {"class_type": "SegueTravelGuide", "inputs": {
        "keyframes": keys, "segment_index": 1, "segment_frames": "16", "overlap": "4", "mode": "chained",
        "exact_keyframes": False, "previous_segment": frames}}
    save("guide", ["guide", 0])
    p["join_guide"] = {"class_type": "SegueJoinGuide", "inputs": {
        "clip_a": frames, "clip_b": frames, "context": 4, "gap": 9, "replace": False, "bridging": False}}
    save("join_guide", ["join_guide", 0])
    p["preview"] = {"class_type": "SeguePreviewGenerator", "inputs": {
        "control_video": img(["join_guide", 0]), "control_masks": ["join_guide", 1], "method": "flow"}}
    save("preview", ["preview", 0])
    p["colour"] = {"class_type": "SegueColourMatch", "inputs": {"images": frames, "reference": keys, "strength": 1.0}}
    save("colour", ["colour", 0])
    p["check"] = {"class_type": "SegueCheckFrames", "inputs": {"images": frames, "expected_frames": TRAVEL,
                                                               "trim_start": 2}}
    save("check", ["check", 0])
    p["stitch"] = {"class_type": "SegueCrossfadeStitch", "inputs": {
        "segment_1": frames, "segment_2": keys, "overlaps": "2", "trim_start": 0, "curve": "cosine", "sharpen": 0.0,
        "fps": 16.0, "crf": 12, "preset": "ultrafast"}}
    read("stitch", ["stitch", 0])
    p["join"] = {"class_type": "SegueJoinClips", "inputs": {
        "clip_1": frames, "clip_2": frames, "context": 4, "gap": 9, "replace": False, "blend": -1, "per_join": "",
        "bridging": False, "width": 0, "height": 0, "fit": "crop", "fps": 0.0, "prompt": "", "negative_prompt": "",
        "curve": "cosine", "sharpen": 0.0, "filename_prefix": f"fp16/join_{tag}", "keep_segments": False, "crf": 12,
        "preset": "ultrafast", "keep_audio": True, "output_images": True}}
    save("join", ["join", 1])
    p["extend"] = {"class_type": "SegueExtendClip", "inputs": {
        "clip_file": "fp16/clip.mp4", "frames": "12", "overlap": 4, "max_generation": 81, "keyframes": keys,
        "prompts": "", "negative_prompt": "", "filename_prefix": f"fp16/extend_{tag}", "keep_segments": False,
        "crf": 12, "preset": "ultrafast", "output_images": True}}
    save("extend", ["extend", 1])
    p["segment_file"] = {"class_type": "SegueSaveSegment", "inputs": {
        "images": frames, "filename": f"fp16/seg_{tag}", "fps": 16.0, "trim_start": 0, "expected_frames": 0}}
    read("segment_file", ["segment_file", 0])
    p["video_file"] = {"class_type": "SegueSaveVideo", "inputs": {
        "images": frames, "fps": 16.0, "filename_prefix": f"fp16/video_{tag}", "crf": 12, "preset": "ultrafast"}}
    read("video_file", ["video_file", 0])
    p["step"] = {"class_type": "SegueTravelStep", "inputs": {
        "keyframes": keys, "segment_index": 0, "segment_frames": "16", "overlap": "4", "mode": "independent",
        "exact_keyframes": False}}
    p["step_guide"] = {"class_type": "SegueStepGuide", "inputs": {"step": ["step", 0]}}
    p["save_step"] = {"class_type": "SegueSaveStep", "inputs": {
        "step": ["step", 0], "images": img(["step_guide", 0]), "filename": "", "folder": "temp",
        "colour_match": "none", "colour_method": "lab", "colour_strength": 1.0, "saturation": 1.0,
        "brightness": 0.0}}
    read("save_step", ["save_step", 0])
    return p


def results(server, entry) -> dict[str, np.ndarray]:
    out = {}
    for node, ui in entry["outputs"].items():
        for item in ui.get("segue_test_tensor", []):
            with np.load(item["file"]) as data:
                out[item["label"]] = (data["images"], item["dtype"])
    return out


def test_every_image_input_takes_float16(server):
    full = results(server, server.run(every_image_input(False, "f32"), timeout=300))
    half = results(server, server.run(every_image_input(True, "f16"), timeout=300))
    assert sorted(full) == sorted(half) and len(full) == 13
    for name, (images, _) in full.items():
        got, dtype = half[name]
        assert got.shape == images.shape, name
        # float16 keeps 11 bits: inputs move by < 1/2048, pictures by a level after rounding to 8 bits
        # (the preview generator's optical flow can move a few generated pixels further)
        diff = np.abs(got - images)
        assert diff.mean() < 1.5 / 255 and np.percentile(diff, 99.9) < 12 / 255, name


def test_core_loaders_hand_float16_where_the_flag_exists(server):
    """With --fp16-intermediates (0.27) core LoadImage gives float16 and Segue takes it as it is;
    without the flag (0.3.64) the same prompt runs on float32."""
    p = {f"load{i}": {"class_type": "LoadImage", "inputs": {"image": f"fp16/k{i}.png"}} for i in range(3)}
    p["batch01"] = {"class_type": "ImageBatch", "inputs": {"image1": ["load0", 0], "image2": ["load1", 0]}}
    p["batch"] = {"class_type": "ImageBatch", "inputs": {"image1": ["batch01", 0], "image2": ["load2", 0]}}
    p["dtype"] = {"class_type": "SegueTestSaveTensor", "inputs": {"label": "loaded", "images": ["batch", 0]}}
    p["travel"] = {"class_type": "SegueTravel", "inputs": {
        "keyframes": ["batch", 0], "prompts": "", "negative_prompt": "", "segment_frames": "16", "overlap": "4",
        "mode": "chained", "exact_keyframes": True, "curve": "cosine", "sharpen": 0.0,
        "filename_prefix": "fp16/core", "keep_segments": False, "crf": 12, "preset": "ultrafast",
        "output_images": True}}
    p["save"] = {"class_type": "SegueTestSaveTensor", "inputs": {"label": "travel", "images": ["travel", 1]}}
    out = results(server, server.run(p, timeout=300))
    assert out["loaded"][1] == ("torch.float16" if server.flag else "torch.float32")
    frames, dtype = out["travel"]
    assert dtype == "torch.float32" and frames.shape == (EXACT, SIZE, SIZE, 3)
    keys = out["loaded"][0]
    # exact keyframes land as they were given (through the delivered H.264 at crf 12)
    assert np.abs(frames[0] - keys[0]).mean() < 3 / 255 and np.abs(frames[-1] - keys[-1]).mean() < 3 / 255


def test_the_wan_chain_decodes_float16_into_segue_save_step(server):
    """The real Wan 2.1 VACE chain with tiny random weights (core WanVaceToVideo, KSampler,
    VAEDecode inside SegueSaveStep): under --fp16-intermediates the decoded frames are float16."""
    from wan_tiny_weights import install_tiny_wan

    unet, vae = install_tiny_wan(server.base / "models")
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "fp16/k0.png\nfp16/k1.png", "width": 0,
                                                              "height": 0, "fit": "crop"}},
         "unet": {"class_type": "UNETLoader", "inputs": {"unet_name": unet, "weight_dtype": "default"}},
         "vae": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
         "pos": {"class_type": "SegueTestRandomConditioning", "inputs": {"seed": 1, "tokens": 8}},
         "neg": {"class_type": "SegueTestRandomConditioning", "inputs": {"seed": 2, "tokens": 8}},
         "recipe": {"class_type": "SegueRecipe", "inputs": {
             "generator": "wan-vace", "seed": 3, "seed_policy": "increment", "steps": 2, "cfg": 1.0,
             "sampler_name": "euler", "scheduler": "simple", "shift": 8.0, "phases": "", "loras": "",
             "segment_loras": "", "vace_strength": 1.0, "preview_method": "flow", "colour_match": "none",
             "colour_method": "lab", "colour_strength": 1.0, "saturation": 1.0, "brightness": 0.0, "template": "",
             "model": ["unet", 0], "vae": ["vae", 0], "positive": ["pos", 0], "negative": ["neg", 0]}},
         "travel": {"class_type": "SegueTravel", "inputs": {
             "keyframes": ["keys", 0], "recipe": ["recipe", 0], "prompts": "", "negative_prompt": "",
             "segment_frames": "8", "overlap": "4", "mode": "chained", "exact_keyframes": False, "curve": "cosine",
             "sharpen": 0.0, "filename_prefix": "fp16/wan", "keep_segments": False, "crf": 12,
             "preset": "ultrafast", "output_images": True}},
         "save": {"class_type": "SegueTestSaveTensor", "inputs": {"label": "wan", "images": ["travel", 1]}}}
    frames, dtype = results(server, server.run(p, timeout=400))["wan"]
    assert dtype == "torch.float32" and frames.shape[1:] == (SIZE, SIZE, 3) and np.isfinite(frames).all()
    if server.flag:
        log = server.log_path.read_text(errors="replace")
        assert "Requested to load WAN21_Vace" in log
