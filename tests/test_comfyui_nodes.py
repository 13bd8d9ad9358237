"""Segue's nodes inside a real ComfyUI server: registration, travels, joins, per-step graphs.

Every test submits API prompts to ``/prompt`` and checks the files the nodes wrote against the
planners (frame counts, sizes, rates, keyframe positions, audio).  Inputs are tiny (64x64, ~16
frames) and differ between tests, because identical prompts are served from ComfyUI's cache.
"""

from __future__ import annotations

import math
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segue.video_utils.core import constants as C
from segue.video_utils.engine.audio_io import AudioClip
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.probe import probe
from segue.video_utils.core.retime import cfr_frame_map
from segue.video_utils.core.travel_plan import plan_travel
from segue.video_utils.engine.video_read import read_frames
from segue.video_utils.engine.video_write import VideoWriter

pytestmark = pytest.mark.comfyui

CATEGORY = "video/segue"
SIZE = 64
# Keyframe colours far apart in RGB so a keyframe is recognisable in an H.264 frame.
COLOURS = [(230, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 30), (200, 40, 220), (30, 210, 220),
           (250, 250, 250), (20, 20, 20), (250, 140, 20), (120, 120, 120)]

# --- docs/node-contract.md, as data --------------------------------------------------------------
# name -> (type, default or ...); optional inputs flagged by "?" in front of the name.
CONTRACT = {
    "SegueLoadImages": ({"images": ("STRING", ...), "width": ("INT", 0), "height": ("INT", 0),
                         "fit": (["crop", "pad", "stretch"], "crop")},
                        [("images", "IMAGE"), ("width", "INT"), ("height", "INT"), ("count", "INT")], False),
    "SegueLoadVideo": ({"video": ("STRING", ...), "start": ("INT", 0), "frame_count": ("INT", 0),
                        "last_frames": ("INT", 0)},
                       [("images", "IMAGE"), ("fps", "FLOAT"), ("total_frames", "INT"), ("video", "VIDEO"),
                        ("audio", "AUDIO")], False),
    "SegueTravelGuide": ({"keyframes": ("IMAGE", ...), "segment_index": ("INT", 0), "segment_frames": ("STRING", str(C.DEFAULT_SEGMENT_FRAMES)),
                          "overlap": ("STRING", str(C.DEFAULT_OVERLAP)), "mode": (["chained", "independent"], ...),
                          "exact_keyframes": ("BOOLEAN", False), "?previous_segment": ("IMAGE", ...),
                          "?previous_video": ("VIDEO", ...), "?strength": ("FLOAT", 1.0),
                          "?desaturate": ("FLOAT", 0.0), "?darken": ("FLOAT", 0.0)},
                         [("control_video", "IMAGE"), ("control_masks", "MASK"), ("length", "INT"), ("width", "INT"),
                          ("height", "INT"), ("trim_start", "INT")], False),
    "SegueJoinGuide": ({"clip_a": ("IMAGE", ...), "clip_b": ("IMAGE", ...), "context": ("INT", C.DEFAULT_JOIN_CONTEXT), "gap": ("INT", C.DEFAULT_JOIN_GAP),
                        "replace": ("BOOLEAN", False), "bridging": ("BOOLEAN", False)},
                       [("control_video", "IMAGE"), ("control_masks", "MASK"), ("length", "INT"), ("width", "INT"),
                        ("height", "INT")], False),
    "SeguePreviewGenerator": ({"control_video": ("IMAGE", ...), "control_masks": ("MASK", ...),
                               "method": (["flow", "blend"], "flow")}, [("images", "IMAGE")], False),
    "SegueSaveSegment": ({"images": ("IMAGE", ...), "filename": ("STRING", ...), "fps": ("FLOAT", 16.0),
                          "trim_start": ("INT", 0), "expected_frames": ("INT", 0)}, [("video", "VIDEO")], True),
    "SegueStitchFiles": ({"segment_files": ("STRING", ...), "overlaps": ("STRING", str(C.DEFAULT_OVERLAP)), "trim_start": ("INT", 0),
                          "curve": (["cosine", "linear"], ...), "sharpen": ("FLOAT", 0.0), "fps": ("FLOAT", 16.0),
                          "filename": ("STRING", ...), "crf": ("INT", 19), "preset": ("COMBO", "medium")},
                         [("video", "VIDEO")], True),
    "SegueJoinAssembleFiles": ({"clip_files": ("STRING", ...), "transition_files": ("STRING", ...),
                                "context": ("INT", ...), "gap": ("INT", ...), "replace": ("BOOLEAN", ...),
                                "blend": ("INT", -1), "per_join": ("STRING", ...), "fps": ("FLOAT", ...),
                                "filename": ("STRING", ...), "crf": ("INT", ...), "preset": ("COMBO", ...),
                                "keep_audio": ("BOOLEAN", True)}, [("video", "VIDEO")], True),
    "SegueSaveVideo": ({"images": ("IMAGE", ...), "fps": ("FLOAT", 16.0), "filename_prefix": ("STRING", "segue/video"),
                        "crf": ("INT", 19), "preset": ("COMBO", ...), "?audio": ("AUDIO", ...)}, [("video", "VIDEO")], True),
    "SegueGuideSlot": ({}, [("control_video", "IMAGE"), ("control_masks", "MASK"), ("length", "INT"), ("width", "INT"),
                            ("height", "INT")], False),
    "SegueFramesSlot": ({"images": ("IMAGE", ...)}, [], True),
}
HIGHER_LEVEL = ("SegueTravelSegment", "SegueTravel", "SegueCrossfadeStitch", "SegueJoinClips")
HELPERS = ("SegueCheckFrames", "SegueFileList", "SegueColourMatch", "SegueRecipe", "SegueTravelStep", "SegueJoinStep",
           "SegueStepGuide", "SegueVaceEncode", "SegueFirstLastEncode", "SegueSaveStep", "SeguePreviewStep")


# --- helpers -------------------------------------------------------------------------------------

def write_keyframes(server, prefix: str, count: int, size: int = SIZE) -> list[str]:
    """Solid-colour PNG keyframes with a small white square (so flow has something to track)."""
    names = []
    folder = server.input_dir / prefix
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = np.zeros((size, size, 3), np.uint8)
        img[:] = COLOURS[i % len(COLOURS)]
        x = 4 + (i * 7) % (size - 16)
        img[4:12, x:x + 8] = 255
        cv2.imwrite(str(folder / f"k{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        names.append(f"{prefix}/k{i}.png")
    return names


def write_clip(path: Path, frames: int, colour_a, colour_b, size=(SIZE, SIZE), fps=16, audio=False) -> None:
    """A clip fading from colour_a to colour_b, optionally with a 440 Hz tone."""
    w, h = size
    t = torch.linspace(0, 1, frames).view(-1, 1, 1, 1)
    a = torch.tensor(colour_a, dtype=torch.float32) / 255
    b = torch.tensor(colour_b, dtype=torch.float32) / 255
    video = (a * (1 - t) + b * t).expand(frames, h, w, 3).contiguous()
    clip = None
    if audio:
        rate = 16000
        samples = torch.arange(int(rate * frames / fps)) / rate
        clip = AudioClip(waveform=(0.3 * torch.sin(2 * math.pi * 440 * samples)).view(1, 1, -1), sample_rate=rate)
    with VideoWriter(path, Fraction(fps), w, h, crf=10, preset="ultrafast", audio=clip) as writer:
        writer.write(video)


def segue_files(entry: dict, suffix: str) -> list[dict]:
    """The ``segue_files`` items of every executed node whose id ends with ``suffix``."""
    items = []
    for node_id, ui in entry["outputs"].items():
        if node_id == suffix or node_id.endswith("." + suffix):
            items += ui.get("segue_files", [])
    return items


def local(server, item: dict) -> Path:
    base = {"output": server.output_dir, "temp": server.base / "temp", "input": server.input_dir}[item["type"]]
    return base / item["subfolder"] / item["filename"]


def mean_colour(frame: torch.Tensor) -> np.ndarray:
    """Mean RGB (0..255) of a frame away from the white square."""
    return (frame[16:, :, :3].reshape(-1, 3).mean(0) * 255).numpy()


def travel_inputs(**overrides) -> dict:
    inputs = {"prompts": "", "negative_prompt": "", "segment_frames": "16", "overlap": "4", "mode": "chained",
              "exact_keyframes": False, "curve": "cosine", "sharpen": 0.0, "filename_prefix": "segue/travel",
              "keep_segments": False, "crf": 12, "preset": "ultrafast", "output_images": False}
    inputs.update(overrides)
    return inputs


# --- registration ----------------------------------------------------------------------------------

def test_every_node_matches_the_contract(comfy_server):
    info = comfy_server.get("/object_info")
    missing = [n for n in (*CONTRACT, *HIGHER_LEVEL, *HELPERS) if n not in info]
    assert not missing, f"not registered: {missing}\n{comfy_server.log_tail()}"
    for node, (inputs, outputs, output_node) in CONTRACT.items():
        spec = info[node]
        declared = {**spec["input"].get("required", {}), **{f"?{k}": v for k, v in spec["input"].get("optional", {}).items()}}
        for name, (kind, default) in inputs.items():
            assert name in declared, f"{node}: input {name} missing or wrongly (non-)optional: {sorted(declared)}"
            got_type, options = declared[name][0], declared[name][1] if len(declared[name]) > 1 else {}
            if isinstance(kind, list):
                assert got_type == "COMBO" and options["options"] == kind, (node, name, declared[name])
            else:
                assert got_type == kind, (node, name, got_type)
            if default is not ...:
                assert options.get("default") == default, (node, name, options.get("default"))
        assert list(zip(spec["output_name"], spec["output"])) == outputs, (node, spec["output_name"], spec["output"])
        assert spec["output_node"] is output_node, node
    for node in (*CONTRACT, *HIGHER_LEVEL, *HELPERS):
        spec = info[node]
        assert spec["category"] == CATEGORY, node
        assert spec["description"], node
        for section in ("required", "optional"):
            for name, value in spec["input"].get(section, {}).items():
                assert len(value) > 1 and value[1].get("tooltip"), f"{node}.{name} has no tooltip"
    for node in HIGHER_LEVEL[:2] + HIGHER_LEVEL[3:]:
        recipe = info[node]["input"]["optional"]["recipe"]
        assert recipe[0] == "SEGUE_RECIPE", node
    assert info["SegueRecipe"]["output"] == ["SEGUE_RECIPE"]
    assert sorted(info["SegueRecipe"]["input"]["required"]["generator"][1]["options"]) == \
        ["preview", "template", "wan-flf", "wan-vace"]
    assert [o for o in info["SegueTravel"]["output"]] == ["VIDEO", "IMAGE"]
    assert info["SegueJoinClips"]["input"]["optional"]["clip_1"][0] == "VIDEO,IMAGE"
    assert info["SegueCrossfadeStitch"]["input"]["required"]["segment_1"][0] == "VIDEO,IMAGE"


# Widgets whose default is a plan default: the same constant as the run models and the command line.
WIDGET_DEFAULTS = {"segment_frames": C.DEFAULT_SEGMENT_FRAMES, "overlap": C.DEFAULT_OVERLAP,
                   "overlaps": C.DEFAULT_OVERLAP, "context": C.DEFAULT_JOIN_CONTEXT, "gap": C.DEFAULT_JOIN_GAP,
                   "fit": C.DEFAULT_FIT, "retime": C.DEFAULT_RETIME, "gap_audio": C.DEFAULT_GAP_AUDIO}


def test_widget_defaults_are_the_shared_constants(comfy_server):
    info = comfy_server.get("/object_info")
    seen = set()
    for node, spec in info.items():
        if not node.startswith("Segue"):
            continue
        for section in ("required", "optional"):
            for name, value in spec["input"].get(section, {}).items():
                options = value[1] if len(value) > 1 else {}
                if name in WIDGET_DEFAULTS and "default" in options:
                    assert str(options["default"]) == str(WIDGET_DEFAULTS[name]), (node, name, options["default"])
                    seen.add(name)
                if name == "sharpen":
                    assert options["max"] == C.MAX_SHARPEN, (node, options)
    assert seen == set(WIDGET_DEFAULTS), seen
    assert info["SegueJoinClips"]["input"]["required"]["prompt"][1]["default"] == C.DEFAULT_JOIN_PROMPT


def test_guide_slot_refuses_to_run(comfy_server):
    p = {"slot": {"class_type": "SegueGuideSlot", "inputs": {}},
         "prev": {"class_type": "SeguePreviewGenerator", "inputs": {"control_video": ["slot", 0],
                                                                      "control_masks": ["slot", 1], "method": "blend"}},
         "save": {"class_type": "SegueSaveSegment", "inputs": {"images": ["prev", 0], "filename": "segue/slot/x",
                                                              "fps": 16.0, "trim_start": 0, "expected_frames": 0}}}
    with pytest.raises(AssertionError, match="SegueGuideSlot is a placeholder in a sampler template"):
        comfy_server.run(p, timeout=60)


def test_paths_outside_the_folders_are_refused(comfy_server):
    reply_error = None
    for video in ("../../etc/passwd", "/etc/hostname"):
        p = {"load": {"class_type": "SegueLoadVideo", "inputs": {"video": video, "start": 0, "frame_count": 0,
                                                                  "last_frames": 0}},
             "save": {"class_type": "SegueSaveSegment", "inputs": {"images": ["load", 0], "filename": "segue/x",
                                                                  "fps": 16.0, "trim_start": 0, "expected_frames": 0}}}
        with pytest.raises(AssertionError) as err:
            comfy_server.queue_prompt(p)
        reply_error = str(err.value)
        assert "video" in reply_error and ("'..'" in reply_error or "absolute path" in reply_error), reply_error


# --- travel ----------------------------------------------------------------------------------------

def test_preview_travel_with_the_single_node(comfy_server):
    names = write_keyframes(comfy_server, "travel4", 4)
    plan = plan_travel(4, 16, 4, "chained", True)
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 0, "height": 0,
                                                              "fit": "crop"}},
         "travel": {"class_type": "SegueTravel", "inputs": {"keyframes": ["keys", 0],
                                                            **travel_inputs(exact_keyframes=True, filename_prefix="segue/t4")}},
         "save": {"class_type": "SaveVideo", "inputs": {"video": ["travel", 0], "filename_prefix": "segue_test/t4",
                                                        "format": "auto", "codec": "auto"}}}
    entry = comfy_server.run(p, timeout=240)

    [final] = segue_files(entry, "stitch")
    assert final["frames"] == plan.total_frames
    [saved] = entry["outputs"]["save"]["images"]
    out = comfy_server.output_dir / saved["subfolder"] / saved["filename"]
    info = probe(out)
    assert (info.frame_count, info.width, info.height, info.fps) == (plan.total_frames, SIZE, SIZE, 16)
    frames = read_frames(out)
    for k, at in enumerate(plan.keyframe_frames):
        got = mean_colour(frames[at])
        assert np.abs(got - np.array(COLOURS[k])).max() < 12, (k, at, got, COLOURS[k])
    assert final["type"] == "output" and final["filename"].startswith("t4_")
    # segments: lossless files in temp/, each the planned length (segment 0's lead-in trimmed before saving)
    for seg in plan.segments:
        [item] = segue_files(entry, f"seg_{seg.index:03d}.save")
        path = local(comfy_server, item)
        assert path.suffix == ".mkv" and item["type"] == "temp"
        assert probe(path).frame_count == item["frames"] == seg.generate_frames - seg.trim_start
    assert plan.segments[0].trim_start > 0 or plan.exact_keyframes


def test_independent_travel_and_the_frame_check(comfy_server):
    """Independent segments share only keyframes; a generator returning the wrong count fails
    loudly in SegueCheckFrames with planned vs got."""
    names = write_keyframes(comfy_server, "indep", 3)
    plan = plan_travel(3, 18, 6, "independent", False)
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 0, "height": 0,
                                                              "fit": "crop"}},
         "travel": {"class_type": "SegueTravel", "inputs": {"keyframes": ["keys", 0],
                                                            **travel_inputs(segment_frames="18", overlap="6",
                                                                            mode="independent", filename_prefix="segue/ind")}},
         "save": {"class_type": "SaveVideo", "inputs": {"video": ["travel", 0], "filename_prefix": "segue_test/ind",
                                                        "format": "auto", "codec": "auto"}}}
    entry = comfy_server.run(p, timeout=120)
    [final] = segue_files(entry, "stitch")
    assert final["frames"] == plan.total_frames == probe(local(comfy_server, final)).frame_count
    frames = read_frames(local(comfy_server, final))
    for k, at in enumerate(plan.keyframe_frames):
        assert np.abs(mean_colour(frames[at]) - np.array(COLOURS[k])).max() < 12, (k, at)

    p = {"keys": p["keys"],
         "guide": {"class_type": "SegueTravelGuide", "inputs": {"keyframes": ["keys", 0], "segment_index": 1,
                                                                "segment_frames": "18", "overlap": "6",
                                                                "mode": "independent", "exact_keyframes": False}},
         "gen": {"class_type": "SeguePreviewGenerator", "inputs": {"control_video": ["guide", 0],
                                                                   "control_masks": ["guide", 1], "method": "blend"}},
         "check": {"class_type": "SegueCheckFrames", "inputs": {"images": ["gen", 0], "expected_frames": 99,
                                                                "what": "travel segment 1"}},
         "save": {"class_type": "SegueSaveSegment", "inputs": {"images": ["check", 0], "filename": "segue/ind/bad",
                                                              "fps": 16.0, "trim_start": 0, "expected_frames": 0}}}
    with pytest.raises(AssertionError, match=f"travel segment 1: planned 99 frames but the generator returned "
                                             f"{plan.segments[1].generate_frames}"):
        comfy_server.run(p, timeout=60)
    assert not (comfy_server.output_dir / "segue/ind/bad.mkv").exists()


def test_output_images_is_blocked_unless_asked(comfy_server):
    names = write_keyframes(comfy_server, "travel2", 2)
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 48, "height": 32,
                                                              "fit": "stretch"}},
         "travel": {"class_type": "SegueTravel", "inputs": {"keyframes": ["keys", 0],
                                                            **travel_inputs(segment_frames="12", output_images=True,
                                                                            filename_prefix="segue/t2",
                                                                            keep_segments=True)}},
         "save": {"class_type": "SegueSaveVideo", "inputs": {"images": ["travel", 1], "fps": 8.0,
                                                            "filename_prefix": "segue_test/t2", "crf": 20,
                                                            "preset": "ultrafast"}}}
    entry = comfy_server.run(p, timeout=120)
    [item] = entry["outputs"]["save"]["segue_files"]
    info = probe(local(comfy_server, item))
    assert (info.frame_count, info.width, info.height, info.fps) == (13, 48, 32, 8)
    [stitched] = segue_files(entry, "stitch")
    assert stitched["type"] == "output"
    [kept] = segue_files(entry, "seg_000.save")
    assert kept["type"] == "output" and kept["subfolder"] == "segue/steps"  # keep_segments

    p["travel"]["inputs"]["output_images"] = False
    p["travel"]["inputs"]["segment_frames"] = "13"
    prompt_id = comfy_server.queue_prompt(p)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entry = comfy_server.get(f"/history/{prompt_id}").get(prompt_id)
        if entry and entry["status"].get("completed") is not None:
            break
        time.sleep(0.25)
    # the blocked save never ran (ComfyUI reports the blocker's message on the websocket only)
    assert entry["status"]["completed"] is not None
    assert "save" not in entry["outputs"]
    assert segue_files(entry, "stitch")  # the travel itself still ran


def test_per_step_graphs_match_the_single_node(comfy_server):
    """The orchestrator's prompts (one per segment, the next reading the previous file's last
    frames, then SegueStitchFiles) and the single SegueTravel node are built by the same builder:
    the segments are bit-identical and so is the final video."""
    from segue.orchestration.runs.prompts import step_prompt
    from segue.orchestration.runs.models import GeneratorConfig, TravelRun
    from segue.orchestration.runs.steps import travel_steps

    names = write_keyframes(comfy_server, "steps", 3)
    run = TravelRun(images=names, segment_frames=14, overlap=3, curve="linear", sharpen=0.2, crf=19,
                    preset="ultrafast", generator=GeneratorConfig.from_name("preview"), run_id="steps1")
    plan = run.plan()
    for step in travel_steps(plan):
        entry = comfy_server.run(step_prompt(run, plan, step, names), timeout=120)
        [item] = entry["outputs"]["stitch" if step.kind == "final" else "save"]["segue_files"]
        assert item["filename"] == step.file and item["subfolder"] == "segue/steps1" and item["frames"] == step.frames
    stepped_final = comfy_server.output_dir / "segue/steps1/final.mp4"
    assert probe(stepped_final).frame_count == plan.total_frames

    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 0, "height": 0,
                                                              "fit": "crop"}},
         "travel": {"class_type": "SegueTravel", "inputs": {"keyframes": ["keys", 0], **travel_inputs(
             segment_frames="14", overlap="3", curve="linear", sharpen=0.2, crf=19,
             filename_prefix="segue_steps/single")}}}
    entry = comfy_server.run(p, timeout=120)
    for seg in plan.segments:
        [item] = segue_files(entry, f"seg_{seg.index:03d}.save")
        single = read_frames(local(comfy_server, item))
        stepped = read_frames(comfy_server.output_dir / "segue/steps1" / f"seg_{seg.index:03d}.mkv")
        assert torch.equal(single, stepped), f"segment {seg.index} differs"
    [final] = segue_files(entry, "stitch")
    assert local(comfy_server, final).read_bytes() == stepped_final.read_bytes()  # same bitstream


def test_travel_segment_nodes_chain_and_crossfade_stitch(comfy_server):
    names = write_keyframes(comfy_server, "legs", 3, size=SIZE)
    plan = plan_travel(3, 15, 5, "chained", False)
    common = {"keyframes": ["keys", 0], "segment_frames": "15", "overlap": "5", "mode": "chained",
              "exact_keyframes": False, "prompt": "", "negative_prompt": "", "keep_segments": False,
              "output_images": False}
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 0, "height": 0,
                                                              "fit": "crop"}},
         "leg0": {"class_type": "SegueTravelSegment", "inputs": {**common, "segment_index": 0}},
         "leg1": {"class_type": "SegueTravelSegment", "inputs": {**common, "segment_index": 1,
                                                                 "previous_video": ["leg0", 1]}},
         "stitch": {"class_type": "SegueCrossfadeStitch", "inputs": {
             "segment_1": ["leg0", 1], "segment_2": ["leg1", 1], "overlaps": str(plan.overlaps[0]), "trim_start": 0,
             "curve": "cosine", "sharpen": 0.0, "fps": 0.0, "crf": 19, "preset": "ultrafast"}},
         "save": {"class_type": "SaveVideo", "inputs": {"video": ["stitch", 0], "filename_prefix": "segue_test/legs",
                                                        "format": "auto", "codec": "auto"}}}
    entry = comfy_server.run(p, timeout=120)
    [saved] = entry["outputs"]["save"]["images"]
    info = probe(comfy_server.output_dir / saved["subfolder"] / saved["filename"])
    assert (info.frame_count, info.width, info.height, info.fps) == (plan.total_frames, SIZE, SIZE, 16)


# --- join --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def join_clips(comfy_server):
    """Three clips: the first with audio, the second another size, the third another frame rate."""
    folder = comfy_server.input_dir / "joinclips"
    folder.mkdir(exist_ok=True)
    write_clip(folder / "a.mp4", 24, COLOURS[0], COLOURS[1], audio=True)
    write_clip(folder / "b.mp4", 20, COLOURS[2], COLOURS[3], size=(80, 48))
    write_clip(folder / "c.mp4", 30, COLOURS[4], COLOURS[5], fps=24)
    return ["joinclips/a.mp4", "joinclips/b.mp4", "joinclips/c.mp4"]


@pytest.mark.parametrize("replace", [False, True])
def test_join_three_clips(comfy_server, join_clips, replace):
    p = {f"load{i}": {"class_type": "LoadVideo", "inputs": {"file": name}} for i, name in enumerate(join_clips)}
    p["join"] = {"class_type": "SegueJoinClips", "inputs": {
        "clip_1": ["load0", 0], "clip_2": ["load1", 0], "clip_3": ["load2", 0], "context": 4, "gap": 9,
        "replace": replace, "blend": -1, "per_join": "", "bridging": False, "width": 0, "height": 0, "fit": "crop",
        "fps": 0.0, "prompt": "", "negative_prompt": "", "curve": "cosine", "sharpen": 0.0,
        "filename_prefix": f"segue/join_{'r' if replace else 'i'}", "keep_segments": False, "crf": 19,
        "preset": "ultrafast", "keep_audio": True, "output_images": False}}
    entry = comfy_server.run(p, timeout=240)

    # clip b is conformed to 64x64, clip c resampled 24 -> 16 fps by frame selection
    counts = [24, 20, len(cfr_frame_map(30, 24, 16))]
    plan = plan_join(counts, context=4, gap=9, replace=replace)
    [final] = segue_files(entry, "assemble")
    assert final["frames"] == plan.total_frames and final["type"] == "output"
    if replace:
        assert plan.total_frames == sum(counts)
    info = probe(local(comfy_server, final))
    assert (info.frame_count, info.width, info.height, info.fps) == (plan.total_frames, SIZE, SIZE, 16)
    assert info.has_audio  # the first clip's audio passed through
    for j in plan.joins:
        [t] = segue_files(entry, f"join_{j.index:03d}.save")
        assert t["frames"] == j.transition_frames and t["type"] == "temp"


# --- the wan expansion with real core nodes (tiny random weights) ------------------------------

def test_travel_wan_two_experts_expands_into_core_nodes(comfy_server):
    """SegueTravel + SegueRecipe(wan-vace, model + model_low_noise) expands into ModelSamplingSD3 ->
    SegueVaceEncode (core WanVaceToVideo) -> KSamplerAdvanced x2 -> TrimVideoLatent -> SegueSaveStep
    (core VAEDecode) on the real core nodes; the pictures are noise (random weights), the frame
    counts are the plan's."""
    from wan_tiny_weights import install_tiny_wan

    unet, vae = install_tiny_wan(comfy_server.base / "models")
    names = write_keyframes(comfy_server, "wan2", 2)
    plan = plan_travel(2, 8, 4, "chained", False)
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 0, "height": 0,
                                                              "fit": "crop"}},
         "unet": {"class_type": "UNETLoader", "inputs": {"unet_name": unet, "weight_dtype": "default"}},
         "vae": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
         "pos": {"class_type": "SegueTestRandomConditioning", "inputs": {"seed": 1, "tokens": 8}},
         "neg": {"class_type": "SegueTestRandomConditioning", "inputs": {"seed": 2, "tokens": 8}},
         "recipe": {"class_type": "SegueRecipe", "inputs": {
             **recipe_inputs(steps=2, cfg=1.0, sampler_name="euler", shift=8.0, seed=5),
             "model": ["unet", 0], "model_low_noise": ["unet", 0], "vae": ["vae", 0], "positive": ["pos", 0],
             "negative": ["neg", 0]}},
         "travel": {"class_type": "SegueTravel", "inputs": {
             "keyframes": ["keys", 0], "recipe": ["recipe", 0],
             **travel_inputs(segment_frames="8", output_images=True, filename_prefix="segue/wan")}},
         "stats": {"class_type": "SegueTestTensorStats", "inputs": {"label": "travel", "images": ["travel", 1]}}}
    entry = comfy_server.run(p, timeout=400)
    [stats] = entry["outputs"]["stats"]["segue_test_stats"]
    assert stats["images"]["shape"] == [plan.total_frames, SIZE, SIZE, 3] and stats["images"]["finite"]
    [final] = segue_files(entry, "stitch")
    assert final["frames"] == plan.total_frames
    log = comfy_server.log_path.read_text(errors="replace")
    assert "Requested to load WAN21_Vace" in log


def recipe_inputs(**overrides) -> dict:
    inputs = {"generator": "wan-vace", "seed": 0, "seed_policy": "increment", "steps": 2, "cfg": 1.0,
              "sampler_name": "euler", "scheduler": "simple", "shift": 5.0, "phases": "",
              "loras": "", "segment_loras": "", "vace_strength": 1.0, "preview_method": "flow", "colour_match": "none",
              "colour_method": "lab", "colour_strength": 1.0, "saturation": 1.0, "brightness": 0.0, "template": ""}
    inputs.update(overrides)
    return inputs


def test_wan_without_models_names_the_missing_inputs(comfy_server):
    names = write_keyframes(comfy_server, "wan_missing", 2)
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 0, "height": 0,
                                                              "fit": "crop"}},
         "recipe": {"class_type": "SegueRecipe", "inputs": recipe_inputs()},
         "travel": {"class_type": "SegueTravel", "inputs": {"keyframes": ["keys", 0], "recipe": ["recipe", 0],
                                                            **travel_inputs(filename_prefix="segue/none")}}}
    with pytest.raises(AssertionError, match=r"generator wan-vace needs model, vae, clip \(or positive and negative\) "
                                             r"connected on the Segue Recipe node"):
        comfy_server.run(p, timeout=60)


# --- loading, saving, validation -----------------------------------------------------------------

def test_load_video_ranges_and_save_with_audio(comfy_server, join_clips):
    """SegueLoadVideo reads only the asked frames (range or last K); its audio goes through
    SegueSaveVideo; both outputs are what the file holds."""
    source = read_frames(comfy_server.input_dir / join_clips[0])
    p = {"range": {"class_type": "SegueLoadVideo", "inputs": {"video": join_clips[0], "start": 5, "frame_count": 7,
                                                              "last_frames": 0}},
         "tail": {"class_type": "SegueLoadVideo", "inputs": {"video": f"{join_clips[0]} [input]", "start": 0,
                                                             "frame_count": 0, "last_frames": 3}},
         "stats": {"class_type": "SegueTestTensorStats", "inputs": {"label": "tail", "images": ["tail", 0]}},
         "save": {"class_type": "SegueSaveVideo", "inputs": {"images": ["range", 0], "fps": ["range", 1],
                                                            "filename_prefix": "segue_test/range", "crf": 0,
                                                            "preset": "ultrafast", "audio": ["range", 4]}}}
    entry = comfy_server.run(p, timeout=120)
    [item] = entry["outputs"]["save"]["segue_files"]
    assert item["filename"] == "range_00001_.mp4" and item["frames"] == 7
    out = local(comfy_server, item)
    info = probe(out)
    assert (info.frame_count, info.fps, info.has_audio) == (7, 16, True)
    assert (read_frames(out) - source[5:12]).abs().mean() < 0.02
    [stats] = entry["outputs"]["stats"]["segue_test_stats"]
    assert stats["images"]["shape"] == [3, SIZE, SIZE, 3]
    assert abs(stats["images"]["mean"] - float(source[-3:].mean())) < 1e-6


@pytest.mark.parametrize("node, inputs, message", [
    ("SegueTravelGuide", {"segment_frames": "80, x"}, "segment_frames='80, x': 'x' is not a whole number"),
    ("SegueTravelGuide", {"mode": "looped"}, "mode='looped' is not one of chained, independent"),
    ("SegueStitchFiles", {"segment_files": "../secret.mkv"}, "segment_files='../secret.mkv' contains '..'"),
    ("SegueStitchFiles", {"preset": "warp"}, "preset='warp' is not one of"),
    ("SegueSaveSegment", {"filename": "/tmp/evil"}, "filename='/tmp/evil' is an absolute path"),
    ("SegueJoinAssembleFiles", {"per_join": "[{gap: 1}]"}, "per_join is not valid JSON"),
    ("SegueLoadImages", {"images": "nothing_here.png"}, "images='nothing_here.png' was not found"),
])
def test_validation_names_input_value_and_fix(comfy_server, node, inputs, message):
    """Bad widget values are refused at /prompt (HTTP 400) with the input, the value and the fix."""
    base = {
        "SegueTravelGuide": {"keyframes": ["keys", 0], "segment_index": 0, "segment_frames": "16", "overlap": "4",
                             "mode": "chained", "exact_keyframes": False},
        "SegueStitchFiles": {"segment_files": "a.mkv", "overlaps": "4", "trim_start": 0, "curve": "cosine",
                             "sharpen": 0.0, "fps": 16.0, "filename": "segue/v", "crf": 19, "preset": "fast"},
        "SegueSaveSegment": {"images": ["keys", 0], "filename": "segue/v", "fps": 16.0, "trim_start": 0,
                             "expected_frames": 0},
        "SegueJoinAssembleFiles": {"clip_files": "a.mp4", "transition_files": "t.mkv", "context": 8, "gap": 8,
                                   "replace": False, "blend": -1, "per_join": "", "fps": 0.0, "filename": "segue/j",
                                   "crf": 19, "preset": "fast", "keep_audio": True},
        "SegueLoadImages": {"images": "x.png", "width": 0, "height": 0, "fit": "crop"},
    }[node]
    keys = write_keyframes(comfy_server, "valid", 2)
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(keys), "width": 0, "height": 0,
                                                              "fit": "crop"}},
         "node": {"class_type": node, "inputs": {**base, **inputs}}}
    if not CONTRACT[node][2]:  # not an output node: give it one
        p["out"] = {"class_type": "SegueTestTensorStats", "inputs": {"label": "x", "images": ["node", 0]}}
    with pytest.raises(AssertionError, match="-> 400") as err:
        comfy_server.queue_prompt(p)
    assert message in str(err.value)


def test_colour_match_moves_a_tint_to_the_reference(comfy_server):
    names = write_keyframes(comfy_server, "tint", 8)  # 6 is near white, 7 near black
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 0, "height": 0,
                                                              "fit": "crop"}},
         "one": {"class_type": "ImageFromBatch", "inputs": {"image": ["keys", 0], "batch_index": 7, "length": 1}},
         "ref": {"class_type": "ImageFromBatch", "inputs": {"image": ["keys", 0], "batch_index": 6, "length": 1}},
         "match": {"class_type": "SegueColourMatch", "inputs": {"images": ["one", 0], "reference": ["ref", 0],
                                                                "strength": 1.0}},
         "stats": {"class_type": "SegueTestTensorStats", "inputs": {"label": "m", "images": ["match", 0]}},
         "refstats": {"class_type": "SegueTestTensorStats", "inputs": {"label": "r", "images": ["ref", 0]}}}
    entry = comfy_server.run(p, timeout=60)
    [got] = entry["outputs"]["stats"]["segue_test_stats"]
    [want] = entry["outputs"]["refstats"]["segue_test_stats"]
    assert got["images"]["shape"] == [1, SIZE, SIZE, 3]
    assert want["images"]["mean"] > 0.9
    assert abs(got["images"]["mean"] - want["images"]["mean"]) < 0.03  # unmatched it would be about 0.1


def test_template_recipe_runs_the_users_graph_in_the_ui_path(comfy_server):
    """The template generator in the one-node travel: the user's API-format graph (here a preview
    generator between the two slot markers) is spliced into every segment's chain."""
    import json

    template = {
        "slot": {"class_type": "SegueGuideSlot", "inputs": {}},
        "gen": {"class_type": "SeguePreviewGenerator", "inputs": {"control_video": ["slot", 0],
                                                                  "control_masks": ["slot", 1], "method": "blend"}},
        "out": {"class_type": "SegueFramesSlot", "inputs": {"images": ["gen", 0]}},
    }
    (comfy_server.input_dir / "my_template.json").write_text(json.dumps(template))
    names = write_keyframes(comfy_server, "tpl", 3)
    plan = plan_travel(3, 12, 4, "chained", True)
    p = {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 0, "height": 0,
                                                              "fit": "crop"}},
         "recipe": {"class_type": "SegueRecipe", "inputs": recipe_inputs(generator="template",
                                                                         template="my_template.json")},
         "travel": {"class_type": "SegueTravel", "inputs": {
             "keyframes": ["keys", 0], "recipe": ["recipe", 0],
             **travel_inputs(segment_frames="12", exact_keyframes=True, filename_prefix="segue/tpl")}}}
    entry = comfy_server.run(p, timeout=240)
    [final] = segue_files(entry, "stitch")
    assert final["frames"] == plan.total_frames == probe(local(comfy_server, final)).frame_count
    assert len([k for k in entry["outputs"] if k.endswith(".save")]) == len(plan.segments)
    frames = read_frames(local(comfy_server, final))
    for k, at in enumerate(plan.keyframe_frames):
        assert np.abs(mean_colour(frames[at]) - np.array(COLOURS[k])).max() < 12, (k, at)

    p["recipe"]["inputs"]["template"] = "../outside.json"
    with pytest.raises(AssertionError, match="template='../outside.json' contains '..'"):
        comfy_server.run(p, timeout=60)
