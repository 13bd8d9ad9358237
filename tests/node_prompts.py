"""API prompts that exercise one Segue node each, for the bad-input, confinement and interrupt
tests against a real ComfyUI (a plain module: tests import it with ``tests/`` on ``sys.path``,
as conftest.py sets up).

Every builder returns a complete prompt whose node ``"n"`` is the node under test, with working
defaults; keyword arguments override that node's inputs, so a test changes exactly one input.
``media`` writes the small files the prompts read (keyframes, clips, damaged files) into a
server's input folder, and ``outcome`` submits a prompt and says how it ended: refused at
``/prompt`` (HTTP 400 with ``node_errors``), failed while running (the ``execution_error``), or
succeeded.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from segue.video_utils.engine.audio_io import AudioClip
from segue.video_utils.engine.video_write import VideoWriter

SUB = "bad"                       # the media's subfolder of input/
SIZE = 64
COLOURS = [(230, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 30)]


# --- media ----------------------------------------------------------------------------------------

def write_clip(path: Path, frames: int = 20, size: int = SIZE, audio: bool = False, shift: int = 0,
               height: int | None = None) -> Path:
    """A ramp clip (``size`` wide, ``height`` high: square by default) with a moving square (so
    flow has something to track), optionally a 440 Hz tone."""
    width, height = size, height or size
    y, x = np.mgrid[0:height, 0:width]
    video = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        video[i, ..., 0] = (40 + 150 * x / (width - 1) + 3 * i + shift) % 256
        video[i, ..., 1] = 40 + 150 * y / (height - 1)
        video[i, ..., 2] = 120
        x0 = (2 * i) % (width - 12)
        video[i, 10:22, x0:x0 + 12] = (250, 250, 40)
    sound = None
    if audio:
        rate = 16000
        t = torch.arange(int(rate * frames / 16)) / rate
        sound = AudioClip(waveform=(0.3 * torch.sin(2 * math.pi * 440 * t)).view(1, 1, -1), sample_rate=rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, Fraction(16), width, height, crf=12, preset="ultrafast", audio=sound) as writer:
        writer.write(video)
    return path


def write_sound(path: Path, seconds: float = 1.0) -> Path:
    """An AAC file with sound and no pictures."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(16000 * seconds)) / 16000)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_no_frames(path: Path) -> Path:
    """A valid MP4 with a video stream that holds no frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=16)
        stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
        container.start_encoding()
    return path


def write_image(path: Path, colour, size: int = SIZE) -> Path:
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = colour
    img[4:12, 4:12] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def media(input_dir: Path) -> dict[str, str]:
    """Write the test media under ``input/bad/`` (once per server) and return their names."""
    folder = Path(input_dir) / SUB
    names = {f"k{i}": f"{SUB}/k{i}.png" for i in range(4)}
    names.update(a=f"{SUB}/a.mp4", b=f"{SUB}/b.mp4", c=f"{SUB}/c.mp4", tiny=f"{SUB}/tiny.png",
                 trunc=f"{SUB}/truncated.mp4", empty=f"{SUB}/empty.mp4", garbage=f"{SUB}/garbage.mp4",
                 sound=f"{SUB}/sound_only.mp4", image_as_video=f"{SUB}/image_as_video.mp4",
                 no_frames=f"{SUB}/no_frames.mp4", text=f"{SUB}/notes.txt", cut=f"{SUB}/cut.mp4",
                 corrupt=f"{SUB}/corrupt_middle.mp4", bad_png=f"{SUB}/garbage.png", t17=f"{SUB}/t17.mkv",
                 seg12=f"{SUB}/seg12.mkv", tiny_clip=f"{SUB}/tiny_clip.mp4")
    if (folder / "done").exists():
        return names
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        write_image(folder / f"k{i}.png", COLOURS[i])
    write_image(folder / "tiny.png", (128, 128, 128), size=8)
    with VideoWriter(folder / "tiny_clip.mp4", Fraction(16), 8, 8, crf=12, preset="ultrafast") as writer:
        writer.write(torch.linspace(0, 1, 20).view(-1, 1, 1, 1).expand(20, 8, 8, 3).contiguous())
    write_clip(folder / "a.mp4", audio=True)
    write_clip(folder / "b.mp4", shift=90)
    write_clip(folder / "c.mp4", shift=170)
    write_clip(folder / "t17.mkv", frames=17, shift=40)      # a transition of a+b (context 4, gap 9)
    write_clip(folder / "seg12.mkv", frames=12, shift=60)    # a 12-frame extension of a
    # A long clip cut to a fifth: the start decodes, the rest of the file is missing; the same
    # clip with 3000 bytes of noise in the middle; a short clip cut to a third (mid-packet).
    long_clip = write_clip(folder / "long.mp4", frames=120)
    data = bytearray(long_clip.read_bytes())
    (folder / "truncated.mp4").write_bytes(bytes(data[: len(data) // 5]))
    data[len(data) // 2:len(data) // 2 + 3000] = np.random.default_rng(1).bytes(3000)
    (folder / "corrupt_middle.mp4").write_bytes(bytes(data))
    long_clip.unlink()
    short = (folder / "a.mp4").read_bytes()
    (folder / "cut.mp4").write_bytes(short[: len(short) // 3])
    (folder / "garbage.png").write_bytes(np.random.default_rng(2).bytes(3000))
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    write_sound(folder / "sound_only.mp4")
    (folder / "image_as_video.mp4").write_bytes((folder / "k0.png").read_bytes())
    write_no_frames(folder / "no_frames.mp4")
    (folder / "notes.txt").write_text("not a video")
    (folder / "done").write_text("")
    return names


def keyframes(names: list[str] | str, width: int = 0, height: int = 0) -> dict:
    text = names if isinstance(names, str) else "\n".join(names)
    return {"class_type": "SegueLoadImages", "inputs": {"images": text, "width": width, "height": height,
                                                        "fit": "crop"}}


# --- one prompt per node ----------------------------------------------------------------------------

def _node(class_type: str, defaults: dict, overrides: dict) -> dict:
    return {"class_type": class_type, "inputs": {**defaults, **overrides}}


def travel_inputs(**overrides) -> dict:
    return {"keyframes": ["keys", 0], "prompts": "", "negative_prompt": "", "segment_frames": "16", "overlap": "4",
            "mode": "chained", "exact_keyframes": False, "curve": "cosine", "sharpen": 0.0,
            "filename_prefix": "bad/travel", "keep_segments": False, "crf": 19, "preset": "ultrafast",
            "output_images": False, **overrides}


def travel(m: dict, keys: list[str] | None = None, **overrides) -> dict:
    return {"keys": keyframes(keys if keys is not None else [m["k0"], m["k1"], m["k2"]]),
            "n": {"class_type": "SegueTravel", "inputs": travel_inputs(**overrides)}}


RECIPE_DEFAULTS = {"generator": "preview", "seed": 0, "seed_policy": "increment", "steps": 4, "cfg": 1.0,
                   "sampler_name": "euler", "scheduler": "simple", "shift": 0.0, "phases": "", "loras": "",
                   "segment_loras": "", "vace_strength": 1.0, "preview_method": "blend", "colour_match": "none",
                   "colour_method": "lab", "colour_strength": 1.0, "saturation": 1.0, "brightness": 0.0,
                   "template": ""}


def recipe(m: dict, models: dict | None = None, **overrides) -> dict:
    """SegueRecipe (node "n") feeding a 3-keyframe SegueTravel. ``models``: the names of dummy
    UNET / VAE files to wire in (for the wan generators; they are never loaded)."""
    prompt = {"keys": keyframes([m["k0"], m["k1"], m["k2"]]),
              "n": _node("SegueRecipe", RECIPE_DEFAULTS, overrides),
              "travel": {"class_type": "SegueTravel", "inputs": travel_inputs(recipe=["n", 0])}}
    if models:
        prompt["unet"] = {"class_type": "UNETLoader", "inputs": {"unet_name": models["unet"], "weight_dtype": "default"}}
        prompt["unet_low"] = {"class_type": "UNETLoader",
                              "inputs": {"unet_name": models["unet"], "weight_dtype": "default"}}
        prompt["vae"] = {"class_type": "VAELoader", "inputs": {"vae_name": models["vae"]}}
        prompt["cond"] = {"class_type": "SegueTestRandomConditioning", "inputs": {"seed": 0, "tokens": 4}}
        prompt["n"]["inputs"].update(model=["unet", 0], model_low_noise=["unet_low", 0], vae=["vae", 0],
                                     positive=["cond", 0], negative=["cond", 0])
    return prompt


def join_clips(m: dict, **overrides) -> dict:
    defaults = {"clip_files": f"{m['a']}\n{m['b']}", "context": 4, "gap": 9, "replace": False, "blend": -1,
                "per_join": "", "bridging": False, "width": 0, "height": 0, "fit": "crop", "fps": 0.0, "prompt": "",
                "negative_prompt": "", "curve": "cosine", "sharpen": 0.0, "filename_prefix": "bad/join",
                "keep_segments": False, "crf": 19, "preset": "ultrafast", "keep_audio": True, "output_images": False}
    return {"n": _node("SegueJoinClips", defaults, overrides)}


def extend_clip(m: dict, **overrides) -> dict:
    defaults = {"clip_file": m["a"], "frames": "12", "overlap": 4, "max_generation": 81, "prompts": "",
                "negative_prompt": "", "filename_prefix": "bad/extend", "keep_segments": False, "crf": 19,
                "preset": "ultrafast", "output_images": False}
    return {"n": _node("SegueExtendClip", defaults, overrides)}


def stitch_files(m: dict, **overrides) -> dict:
    defaults = {"segment_files": f"{m['a']}\n{m['b']}", "overlaps": "4", "trim_start": 0, "curve": "cosine",
                "sharpen": 0.0, "fps": 16.0, "filename": "bad/stitched", "crf": 19, "preset": "ultrafast"}
    return {"n": _node("SegueStitchFiles", defaults, overrides)}


def join_assemble(m: dict, **overrides) -> dict:
    """Two clips and their 17-frame transition (context 4 + gap 9 + context 4)."""
    defaults = {"clip_files": f"{m['a']}\n{m['b']}", "transition_files": m["t17"], "context": 4, "gap": 9,
                "replace": False, "blend": -1, "per_join": "", "width": 0, "height": 0, "fit": "crop", "fps": 0.0,
                "filename": "bad/assembled", "crf": 19, "preset": "ultrafast", "keep_audio": True}
    return {"n": _node("SegueJoinAssembleFiles", defaults, overrides)}


def extend_assemble(m: dict, **overrides) -> dict:
    defaults = {"clip_file": m["a"], "segment_files": m["seg12"], "frames": "12", "overlap": 4, "max_generation": 81,
                "keyframe_count": 0, "filename": "bad/extended", "crf": 19, "preset": "ultrafast",
                "keep_audio": True}
    return {"n": _node("SegueExtendAssemble", defaults, overrides)}


def _preview(step: str, filename: str = "", **overrides) -> dict:
    return _node("SeguePreviewStep", {"step": [step, 0], "method": "blend", "filename": filename, "folder": "temp",
                                      "colour_match": "none", "colour_method": "lab", "colour_strength": 1.0,
                                      "saturation": 1.0, "brightness": 0.0}, overrides)


def travel_step(m: dict, **overrides) -> dict:
    defaults = {"keyframes": ["keys", 0], "segment_index": 0, "segment_frames": "16", "overlap": "4",
                "mode": "independent", "exact_keyframes": False}
    return {"keys": keyframes([m["k0"], m["k1"], m["k2"]]), "n": _node("SegueTravelStep", defaults, overrides),
            "gen": _preview("n")}


def join_step(m: dict, **overrides) -> dict:
    defaults = {"clip_files": f"{m['a']}\n{m['b']}", "join_index": 0, "context": 4, "gap": 9, "replace": False,
                "blend": -1, "per_join": "", "bridging": False, "width": 0, "height": 0, "fit": "crop", "fps": 0.0}
    return {"n": _node("SegueJoinStep", defaults, overrides), "gen": _preview("n")}


def extend_step(m: dict, **overrides) -> dict:
    defaults = {"clip_file": m["a"], "segment_index": 0, "frames": "12", "overlap": 4, "max_generation": 81}
    return {"n": _node("SegueExtendStep", defaults, overrides), "gen": _preview("n")}


def preview_step(m: dict, **overrides) -> dict:
    """SeguePreviewStep (node "n") on segment 0 of an independent 3-keyframe travel."""
    prompt = travel_step(m)
    prompt["step"] = prompt.pop("n")
    del prompt["gen"]
    prompt["n"] = _preview("step", **overrides)
    return prompt


def save_step(m: dict, **overrides) -> dict:
    """SegueSaveStep (node "n") saving a travel step's guide frames as if they were generated."""
    prompt = travel_step(m)
    prompt["step"] = prompt.pop("n")
    del prompt["gen"]
    prompt["guide"] = {"class_type": "SegueStepGuide", "inputs": {"step": ["step", 0]}}
    prompt["n"] = _node("SegueSaveStep", {"step": ["step", 0], "images": ["guide", 0], "filename": "",
                                          "folder": "temp", "colour_match": "none", "colour_method": "lab",
                                          "colour_strength": 1.0, "saturation": 1.0, "brightness": 0.0}, overrides)
    return prompt


def load_images(m: dict, **overrides) -> dict:
    return {"n": _node("SegueLoadImages", {"images": f"{m['k0']}\n{m['k1']}", "width": 0, "height": 0,
                                           "fit": "crop"}, overrides),
            "stats": {"class_type": "SegueTestTensorStats", "inputs": {"label": "x", "images": ["n", 0]}}}


def load_video(m: dict, **overrides) -> dict:
    return {"n": _node("SegueLoadVideo", {"video": m["a"], "start": 0, "frame_count": 0, "last_frames": 0}, overrides),
            "stats": {"class_type": "SegueTestTensorStats", "inputs": {"label": "x", "images": ["n", 0]}}}


def save_segment(m: dict, **overrides) -> dict:
    return {"keys": keyframes([m["k0"], m["k1"]]),
            "n": _node("SegueSaveSegment", {"images": ["keys", 0], "filename": "bad/segment", "fps": 16.0,
                                            "trim_start": 0, "expected_frames": 0}, overrides)}


def save_video(m: dict, **overrides) -> dict:
    return {"keys": keyframes([m["k0"], m["k1"]]),
            "n": _node("SegueSaveVideo", {"images": ["keys", 0], "fps": 16.0, "filename_prefix": "bad/video",
                                          "crf": 19, "preset": "ultrafast"}, overrides)}


BUILDERS = {
    "SegueTravel": travel, "SegueRecipe": recipe, "SegueJoinClips": join_clips, "SegueExtendClip": extend_clip,
    "SegueStitchFiles": stitch_files, "SegueJoinAssembleFiles": join_assemble,
    "SegueExtendAssemble": extend_assemble, "SegueTravelStep": travel_step, "SegueJoinStep": join_step,
    "SegueExtendStep": extend_step, "SeguePreviewStep": preview_step, "SegueSaveStep": save_step,
    "SegueLoadImages": load_images, "SegueLoadVideo": load_video, "SegueSaveSegment": save_segment,
    "SegueSaveVideo": save_video,
}


# --- submitting and reading the outcome --------------------------------------------------------------

@dataclass
class Outcome:
    """How a prompt ended: ``refused`` (HTTP 400 at /prompt), ``failed`` (execution_error),
    ``interrupted`` or ``success``; ``text`` is what a user is shown (the node errors' details,
    or the execution error's exception_message)."""

    kind: str
    text: str = ""
    node_type: str | None = None
    inputs: list[str] = field(default_factory=list)      # node_errors' input names
    reply: dict = field(default_factory=dict)


def post_prompt(url: str, prompt: dict, timeout: float = 60) -> tuple[int, dict]:
    body = json.dumps({"prompt": prompt, "prompt_id": str(uuid.uuid4()), "client_id": "segue-bad-inputs"})
    req = urllib.request.Request(url + "/prompt", data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def outcome(server, prompt: dict, timeout: float = 120) -> Outcome:
    code, reply = post_prompt(server.url, prompt)
    if code == 400:
        node_errors = reply.get("node_errors") or {}
        details, inputs, node_type = [], [], None
        for info in node_errors.values():
            node_type = node_type or info.get("class_type")
            for error in info["errors"]:
                details.append(f"{error['message']}: {error['details']}")
                name = (error.get("extra_info") or {}).get("input_name")
                if name:
                    inputs.append(name)
        text = "\n".join(details) or f"{reply['error']['message']}: {reply['error'].get('details', '')}"
        return Outcome("refused", text, node_type, inputs, reply)
    assert code == 200, (code, reply)
    prompt_id = reply["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = server.get(f"/history/{prompt_id}").get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            for kind, data in entry["status"]["messages"]:
                if kind == "execution_error":
                    return Outcome("failed", data.get("exception_message", ""), data.get("node_type"), [], data)
                if kind == "execution_interrupted":
                    return Outcome("interrupted", "", data.get("node_type"), [], data)
            return Outcome("success", "", None, [], entry)
        time.sleep(0.1)
    raise AssertionError(f"prompt {prompt_id} did not finish in {timeout:.0f}s:\n{server.log_tail(30)}")


# --- what a run leaves behind ----------------------------------------------------------------------

def listing(server) -> set[str]:
    """Every file and link under output/ and temp/ (relative, with the folder), to compare
    before and after a run; ComfyUI's own files (none are written there by a failed run) are
    not special-cased."""
    found = set()
    for kind in ("output", "temp"):
        base = server.base / kind
        for root, dirs, files in os.walk(base):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                found.add(f"{kind}/{os.path.relpath(os.path.join(root, name), base)}")
    return found
