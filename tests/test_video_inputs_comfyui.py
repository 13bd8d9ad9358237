"""Every kind of VIDEO a ComfyUI hands over, through ``/prompt`` into Segue's nodes (the one adapter,
``nodes/video_adapters.py``), on every ComfyUI version tested.

Two 90-frame 16 fps clips whose frames carry their index (clip B's start at 100) and whose sound
is a rising ramp go through core ``LoadVideo`` and, where the server has it (0.27: ``Video
Slice``, "Trim Video"), the issue's windows: 0.5 s + 2.0 s of A and 1.0 s + 2.5 s of B. On a
server without Trim Video (0.3.64) the same tests run on the whole clips: the untrimmed path.

* what a Segue node reads of a VIDEO equals what core's own ``GetVideoComponents`` gives for it:
  the same frames (by index, every one) and as many sound samples;
* ``SegueJoinClips``, ``SegueExtendClip``, ``SegueCrossfadeStitch`` and ``SegueTravelGuide`` use
  exactly the windowed frames (the issue's join: 93 frames, starting on A's frame 8) and the
  window's sound;
* VIDEOs with no single file behind them (``VideoFromList``-shaped: ``get_components`` raises
  ``NotImplementedError``; a stream source that is a path, a buffer, or none) and in-memory ones
  (core ``CreateVideo``) are read without crashing, as their frames.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_video_io import coded_frames, frame_ids  # noqa: E402

from segue.video_utils.engine.audio_io import AudioClip, read_audio  # noqa: E402
from segue.video_utils.core.extend_plan import plan_extend  # noqa: E402
from segue.video_utils.core.join_plan import plan_join  # noqa: E402
from segue.video_utils.core.probe import probe  # noqa: E402
from segue.video_utils.engine.video_read import read_frames  # noqa: E402
from segue.video_utils.engine.video_write import VideoWriter  # noqa: E402

pytestmark = pytest.mark.comfyui

FPS, FRAMES, W, H = 16, 90, 64, 48
RATE = 16000
SECONDS = FRAMES / FPS
ISSUE_WINDOWS = {"a": (0.5, 2.0), "b": (1.0, 2.5)}
FIRST_ID = {"a": 0, "b": 100}
RAMP_TOP = 0.8


def ramp_level(t: float) -> float:
    """RMS of the clips' sound around second ``t``: a 440 Hz sine whose amplitude rises linearly."""
    return RAMP_TOP * t / SECONDS / np.sqrt(2)


@pytest.fixture(scope="module")
def setup(comfy_server):
    """The two clips in input/, and the windows this server can cut (None: no Trim Video here)."""
    folder = comfy_server.input_dir / "vinputs"
    folder.mkdir(exist_ok=True)
    t = np.arange(int(RATE * SECONDS)) / RATE
    sound = (RAMP_TOP * t / SECONDS * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for key in ("a", "b"):
        frames = coded_frames(FIRST_ID[key] + FRAMES, W, H, seed=1)[FIRST_ID[key]:]
        audio = AudioClip(torch.from_numpy(sound).view(1, 1, -1), RATE)
        with VideoWriter(folder / f"{key}.mp4", Fraction(FPS), W, H, crf=8, preset="veryfast", audio=audio) as w:
            w.write(frames)
    trim = "Video Slice" in comfy_server.get("/object_info/Video%20Slice")
    return {"windows": ISSUE_WINDOWS if trim else {"a": None, "b": None}}


def kept_ids(key: str, window) -> list[int]:
    """The frames a window keeps, by hand: frame i shows at i/16 s; kept when start <= i/16 < end."""
    ids = range(FIRST_ID[key], FIRST_ID[key] + FRAMES)
    if window is None:
        return list(ids)
    start, duration = window
    return [i for k, i in enumerate(ids) if start <= k / FPS < start + duration]


def video(p: dict, key: str, window) -> list:
    """Core LoadVideo (+ Trim Video for a window) of clip ``key``; returns the VIDEO link."""
    p[f"load_{key}"] = {"class_type": "LoadVideo", "inputs": {"file": f"vinputs/{key}.mp4"}}
    if window is None:
        return [f"load_{key}", 0]
    p[f"trim_{key}"] = {"class_type": "Video Slice", "inputs": {"video": [f"load_{key}", 0], "start_time": window[0],
                                                                "duration": window[1], "strict_duration": True}}
    return [f"trim_{key}", 0]


def saved(comfy_server, entry: dict, node: str) -> dict:
    [item] = entry["outputs"][node]["segue_test_tensor"]
    with np.load(item["file"]) as data:
        return {k: data[k] for k in data.files}


def segue_read(p: dict, link: list, name: str) -> None:
    """What Segue reads of a VIDEO: SegueFileList (the adapter's file for it) -> SegueLoadVideo."""
    p[f"list_{name}"] = {"class_type": "SegueFileList", "inputs": {"video": link}}
    p[f"read_{name}"] = {"class_type": "SegueLoadVideo", "inputs": {"video": [f"list_{name}", 0], "start": 0,
                                                                    "frame_count": 0, "last_frames": 0}}
    p[f"save_{name}"] = {"class_type": "SegueTestSaveTensor", "inputs": {
        "label": name, "images": [f"read_{name}", 0], "audio": [f"read_{name}", 4]}}


def output_file(comfy_server, entry: dict, node: str) -> Path:
    for node_id, ui in entry["outputs"].items():
        if node_id == node or node_id.endswith("." + node):
            for item in ui.get("segue_files", []):
                if item["type"] == "output":
                    base = comfy_server.output_dir
                    return base / item["subfolder"] / item["filename"]
    raise AssertionError(f"no output file from {node}: {list(entry['outputs'])}")


def head_rms(path: Path, seconds: float = 0.125) -> float:
    clip = read_audio(path)
    head = clip.waveform[0].mean(0)[: int(seconds * clip.sample_rate)]
    return float(torch.sqrt((head ** 2).mean()))


def test_segue_reads_every_video_as_core_does(comfy_server, setup):
    """Core GetVideoComponents and Segue's adapter on the same VIDEO: the same frames, every one,
    the same pictures (within the two decoders' rounding) and as many sound samples."""
    p = {}
    for key in ("a", "b"):
        link = video(p, key, setup["windows"][key])
        p[f"core_{key}"] = {"class_type": "GetVideoComponents", "inputs": {"video": link}}
        p[f"save_core_{key}"] = {"class_type": "SegueTestSaveTensor", "inputs": {
            "label": f"core_{key}", "images": [f"core_{key}", 0], "audio": [f"core_{key}", 1]}}
        segue_read(p, link, f"segue_{key}")
    entry = comfy_server.run(p, timeout=180)
    for key in ("a", "b"):
        core, ours = saved(comfy_server, entry, f"save_core_{key}"), saved(comfy_server, entry, f"save_segue_{key}")
        expected = kept_ids(key, setup["windows"][key])
        assert frame_ids(torch.from_numpy(core["images"])) == expected          # core's own selection, by hand
        assert frame_ids(torch.from_numpy(ours["images"])) == expected          # and Segue's
        assert np.abs(core["images"] - ours["images"]).mean() < 2 / 255        # yuv->rgb rounding apart
        assert int(ours["sample_rate"]) == int(core["sample_rate"]) == RATE
        if setup["windows"][key] is not None:
            assert ours["waveform"].shape[-1] == core["waveform"].shape[-1] == int(setup["windows"][key][1] * RATE)
            # the window's sound, not the file's first seconds: the ramp is already up at the start
            start = setup["windows"][key][0]
            got = float(np.sqrt((ours["waveform"][0].mean(0)[:2000] ** 2).mean()))
            assert abs(got - ramp_level(start + 0.0625)) < 0.3 * ramp_level(start + 0.0625)
        else:
            assert abs(ours["waveform"].shape[-1] - core["waveform"].shape[-1]) <= 1024     # AAC's last frame
    if setup["windows"]["a"] is not None:
        assert frame_ids(torch.from_numpy(saved(comfy_server, entry, "save_segue_a")["images"]))[0] == 8


def join_inputs(**overrides) -> dict:
    return {"context": 8, "gap": 21, "replace": False, "blend": -1, "per_join": "", "bridging": False, "width": 0,
            "height": 0, "fit": "crop", "fps": 0.0, "prompt": "", "negative_prompt": "", "curve": "cosine",
            "sharpen": 0.0, "filename_prefix": "vinputs/join", "keep_segments": False, "crf": 12,
            "preset": "ultrafast", "keep_audio": True, "output_images": False, **overrides}


def test_join_clips_joins_the_windows(comfy_server, setup):
    """The issue's case: trimmed to 32 and 40 frames, context 8, gap 21 -> 93 frames, A's kept frames
    from its frame 8, B's up to its frame 55, and the windows' sound under them."""
    p = {}
    links = {key: video(p, key, setup["windows"][key]) for key in ("a", "b")}
    p["join"] = {"class_type": "SegueJoinClips", "inputs": {"clip_1": links["a"], "clip_2": links["b"],
                                                            **join_inputs()}}
    entry = comfy_server.run(p, timeout=300)
    ids = {key: kept_ids(key, setup["windows"][key]) for key in ("a", "b")}
    plan = plan_join([len(ids["a"]), len(ids["b"])], context=8, gap=21)
    if setup["windows"]["a"] is not None:
        assert plan.total_frames == 93          # `segue plan join --clips 32 40 --context 8 --gap 21`
    out = output_file(comfy_server, entry, "assemble")
    frames = read_frames(out)
    assert frames.shape[0] == plan.total_frames
    got = frame_ids(frames)
    for span, key in zip(plan.clips, ("a", "b")):
        join = plan.joins[0]
        lo, hi = span.keep_start, span.keep_end
        lo, hi = (lo, hi - join.blend_frames) if key == "a" else (lo + join.blend_frames, hi)
        where = span.start_frame + (lo - span.keep_start)
        assert got[where:where + hi - lo] == ids[key][lo:hi], key
    assert got[0] == ids["a"][0] and got[-1] == ids["b"][-1]
    info = probe(out)
    assert info.has_audio and abs(info.audio.duration - plan.total_frames / FPS) < 0.1
    start = setup["windows"]["a"][0] if setup["windows"]["a"] else 0.0
    assert abs(head_rms(out) - ramp_level(start + 0.0625)) < max(0.3 * ramp_level(start + 0.0625), 0.01)


def test_extend_clip_continues_the_window(comfy_server, setup):
    p = {}
    link = video(p, "a", setup["windows"]["a"])
    p["extend"] = {"class_type": "SegueExtendClip", "inputs": {
        "clip": link, "frames": "12", "overlap": 4, "max_generation": 81, "prompts": "", "negative_prompt": "",
        "filename_prefix": "vinputs/extend", "keep_segments": False, "crf": 12, "preset": "ultrafast",
        "output_images": False}}
    entry = comfy_server.run(p, timeout=300)
    ids = kept_ids("a", setup["windows"]["a"])
    plan = plan_extend(len(ids), 12, overlap=4)
    out = output_file(comfy_server, entry, "assemble")
    got = frame_ids(read_frames(out))
    assert len(got) == plan.total_frames == len(ids) + 12
    assert got[:len(ids) - 4] == ids[:-4]       # the clip's own frames up to the overlap
    start = setup["windows"]["a"][0] if setup["windows"]["a"] else 0.0
    assert abs(head_rms(out) - ramp_level(start + 0.0625)) < max(0.3 * ramp_level(start + 0.0625), 0.01)


def test_crossfade_stitch_and_travel_guide_read_the_windows(comfy_server, setup):
    p = {}
    links = {key: video(p, key, setup["windows"][key]) for key in ("a", "b")}
    p["stitch"] = {"class_type": "SegueCrossfadeStitch", "inputs": {
        "segment_1": links["a"], "segment_2": links["b"], "overlaps": "4", "trim_start": 0, "curve": "cosine",
        "sharpen": 0.0, "fps": 0.0, "crf": 12, "preset": "ultrafast"}}
    segue_read(p, ["stitch", 0], "stitched")
    p["frames"] = {"class_type": "GetVideoComponents", "inputs": {"video": ["load_a", 0]}}
    p["keys"] = {"class_type": "ImageFromBatch", "inputs": {"image": ["frames", 0], "batch_index": 0, "length": 3}}
    p["guide"] = {"class_type": "SegueTravelGuide", "inputs": {
        "keyframes": ["keys", 0], "segment_index": 1, "segment_frames": "17", "overlap": "5", "mode": "chained",
        "exact_keyframes": False, "previous_video": links["a"]}}
    p["save_guide"] = {"class_type": "SegueTestSaveTensor", "inputs": {"label": "guide", "images": ["guide", 0]}}
    entry = comfy_server.run(p, timeout=300)
    ids = {key: kept_ids(key, setup["windows"][key]) for key in ("a", "b")}
    got = frame_ids(torch.from_numpy(saved(comfy_server, entry, "save_stitched")["images"]))
    assert len(got) == len(ids["a"]) + len(ids["b"]) - 4
    assert got[:len(ids["a"]) - 4] == ids["a"][:-4] and got[len(ids["a"]):] == ids["b"][4:]
    guide = saved(comfy_server, entry, "save_guide")["images"]
    assert frame_ids(torch.from_numpy(guide[:5])) == ids["a"][-5:]     # the window's last frames as context


@pytest.mark.parametrize("mode", ["path", "buffer", "save_only", "components"])
def test_videos_without_one_file_behind_them_are_read(comfy_server, setup, mode):
    """A VideoFromList-shaped VIDEO (A then B) and core CreateVideo's in-memory one: read, stitched
    and joined as their frames, without crashing."""
    p = {}
    links = {key: video(p, key, setup["windows"][key]) for key in ("a", "b")}
    ids = kept_ids("a", setup["windows"]["a"]) + kept_ids("b", setup["windows"]["b"])
    if mode == "components":
        p["parts"] = {"class_type": "GetVideoComponents", "inputs": {"video": links["a"]}}
        p["odd"] = {"class_type": "CreateVideo", "inputs": {"images": ["parts", 0], "audio": ["parts", 1],
                                                            "fps": float(FPS)}}
        ids = kept_ids("a", setup["windows"]["a"])
    else:
        p["odd"] = {"class_type": "SegueTestVideoList", "inputs": {"video_1": links["a"], "video_2": links["b"],
                                                                   "mode": mode}}
    segue_read(p, ["odd", 0], "odd")
    p["join"] = {"class_type": "SegueJoinClips", "inputs": {"clip_1": ["odd", 0], "clip_2": links["b"],
                                                            **join_inputs(context=4, gap=9,
                                                                          filename_prefix=f"vinputs/odd_{mode}")}}
    entry = comfy_server.run(p, timeout=300)
    read = saved(comfy_server, entry, "save_odd")
    assert frame_ids(torch.from_numpy(read["images"])) == ids
    assert read["waveform"].shape[-1] > 0.9 * len(ids) / FPS * RATE        # its sound came along
    plan = plan_join([len(ids), len(kept_ids("b", setup["windows"]["b"]))], context=4, gap=9)
    got = frame_ids(read_frames(output_file(comfy_server, entry, "assemble")))
    assert len(got) == plan.total_frames and got[0] == ids[0] and got[-1] == FIRST_ID["b"] + \
        (55 if setup["windows"]["b"] else FRAMES - 1)
