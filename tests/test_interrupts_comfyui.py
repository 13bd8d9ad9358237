"""No partial outputs: a write cut short by Cancel (``/interrupt``) or by killing ComfyUI
(SIGKILL) leaves nothing under the final name, and an older file at that name survives intact.

Writes go through ``video_utils.core.atomic``: frames are encoded into a hidden temporary file next to
the target (``.<name>.<tag>.part.<ext>``), renamed onto the target only when complete.  Cancel
is honoured between chunks and removes the temporary file.  A killed process cannot remove it,
so the tests also check what the leftover does on the next run: it is hidden, a folder listing
(``shots/``) never takes it for a clip, and the next write of the same target removes it.

The writes are made long on purpose (640x640 frames, x264 ``veryslow``) and the tests act while
the temporary file exists, so the cut always falls in the middle of a write.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import node_prompts as NP  # noqa: E402
from comfyui_harness import ComfyServer  # noqa: E402

from segue.video_utils.core.atomic import is_temp_name  # noqa: E402
from segue.video_utils.core.probe import probe  # noqa: E402
from segue.video_utils.engine.video_write import LOSSLESS_CODEC, VideoWriter  # noqa: E402

pytestmark = pytest.mark.comfyui

SIDE = 640
FRAMES = 80


def write_big_segment(path: Path, shift: int, frames: int = FRAMES) -> Path:
    """A 640x640 lossless segment of moving patterns (slow to re-encode with veryslow)."""
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, Fraction(16), SIDE, SIDE, codec=LOSSLESS_CODEC) as writer:
        for start in range(0, frames, 8):
            chunk = np.empty((min(8, frames - start), SIDE, SIDE, 3), np.uint8)
            for k in range(chunk.shape[0]):
                i = start + k + shift
                chunk[k, ..., 0] = (x + 3 * i) % 256
                chunk[k, ..., 1] = (2 * y + i) % 256
                chunk[k, ..., 2] = ((x ^ y) + i) % 256
            writer.write(chunk)
    return path


def big_segments(server, folder: str) -> str:
    base = server.input_dir / folder
    names = []
    for k in range(2):
        if not (base / f"seg{k}.mkv").exists():
            write_big_segment(base / f"seg{k}.mkv", 40 * k)
        names.append(f"{folder}/seg{k}.mkv")
    return "\n".join(names)


def slow_stitch(segment_files: str, filename: str) -> dict:
    return {"n": {"class_type": "SegueStitchFiles", "inputs": {
        "segment_files": segment_files, "overlaps": "8", "trim_start": 0, "curve": "cosine", "sharpen": 0.3,
        "fps": 16.0, "filename": filename, "crf": 0, "preset": "veryslow"}}}


def part_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_temp_name(p.name)) if folder.is_dir() else []


def wait_for_part(folder: Path, timeout: float = 120, min_bytes: int = 1) -> Path:
    """The temporary file of the write in progress, once it holds ``min_bytes``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for part in part_files(folder):
            try:
                if part.stat().st_size >= min_bytes:
                    return part
            except FileNotFoundError:
                continue
        time.sleep(0.02)
    raise AssertionError(f"no write started in {folder}: {sorted(os.listdir(folder)) if folder.is_dir() else '-'}")


def submit(server, prompt: dict) -> str:
    code, reply = NP.post_prompt(server.url, prompt)
    assert code == 200 and not reply.get("node_errors"), reply
    return reply["prompt_id"]


def ended(server, prompt_id: str, timeout: float = 120) -> str:
    entry = server.ended(prompt_id, timeout, poll_s=0.1)
    kinds = [k for k, _ in entry["status"]["messages"]]
    return "interrupted" if "execution_interrupted" in kinds else entry["status"]["status_str"]


def test_interrupt_mid_stitch_leaves_no_file_and_keeps_the_old_one(comfy_server):
    segments = big_segments(comfy_server, "intr")
    out = comfy_server.output_dir / "intr"
    out.mkdir(parents=True, exist_ok=True)
    old = b"an older, complete video that must survive"
    (out / "kept.mp4").write_bytes(old)
    prompt_id = submit(comfy_server, slow_stitch(segments, "intr/kept"))
    part = wait_for_part(out, min_bytes=1000)                 # frames are being encoded into it
    comfy_server.post("/interrupt", {})
    assert ended(comfy_server, prompt_id) == "interrupted"
    assert (out / "kept.mp4").read_bytes() == old             # files lost: 0
    assert not part.exists() and part_files(out) == []        # no temporary file left
    # The same stitch, not interrupted, writes the file completely.
    assert ended(comfy_server, submit(comfy_server, slow_stitch(segments, "intr/done")), 300) == "success"
    assert probe(out / "done.mp4").frame_count == 2 * FRAMES - 8
    assert part_files(out) == []


def test_interrupt_mid_save_step_leaves_no_segment(comfy_server):
    """SegueSaveStep writing a 121-frame 640x640 lossless segment (frames as if generated: a
    patterned clip, so the encoder has work to do), cancelled mid-write."""
    m = NP.media(comfy_server.input_dir)
    folder = comfy_server.input_dir / "intr_keys"
    keys = [NP.write_image(folder / f"k{i}.png", NP.COLOURS[i], size=SIDE) for i in range(2)]
    if not (folder / "generated.mkv").exists():
        write_big_segment(folder / "generated.mkv", 7, frames=121)
    prompt = NP.save_step(m, filename="intr/step_seg")
    prompt["keys"] = NP.keyframes([f"intr_keys/{k.name}" for k in keys])
    prompt["step"]["inputs"].update(segment_frames="120", overlap="4")
    prompt["frames"] = {"class_type": "SegueLoadVideo", "inputs": {"video": "intr_keys/generated.mkv", "start": 0,
                                                                   "frame_count": 0, "last_frames": 0}}
    prompt["n"]["inputs"]["images"] = ["frames", 0]
    del prompt["guide"]
    out = comfy_server.output_dir / "intr"
    prompt_id = submit(comfy_server, prompt)
    part = wait_for_part(out, min_bytes=1000)
    comfy_server.post("/interrupt", {})
    result = ended(comfy_server, prompt_id)
    if result == "success":   # the write beat the interrupt: then the file must be whole
        assert probe(out / "step_seg.mkv").frame_count == 121
        pytest.fail("the save finished before /interrupt arrived: make the segment longer")
    assert result == "interrupted"
    assert not (out / "step_seg.mkv").exists()
    assert not part.exists() and part_files(out) == []


@pytest.fixture
def own_server(comfyui_available, tmp_path):
    server = ComfyServer(tmp_path / "kill").start()
    yield server
    server.stop()


def test_sigkill_mid_write_leaves_no_file_and_the_leftover_is_never_taken(own_server):
    server = own_server
    m = NP.media(server.input_dir)
    segments = big_segments(server, "killed")
    shots = server.output_dir / "shots"                      # the stitch writes among two real clips
    shots.mkdir(parents=True)
    for name in ("a", "b"):
        (shots / f"{name}.mp4").write_bytes((server.input_dir / m[name]).read_bytes())
    old = b"an older, complete video that must survive"
    (shots / "final.mp4").write_bytes(old)
    submit(server, slow_stitch(segments, "shots/final"))
    part = wait_for_part(shots, min_bytes=1000)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(30)
    server.proc = None

    assert (shots / "final.mp4").read_bytes() == old         # files lost: 0, nothing half-written there
    assert part.exists() and part.name.startswith(".final.") and ".part" in part.name   # the leftover
    server.start()
    # A folder listing does not take the leftover (".final.<tag>.part.mp4") for a clip.
    (shots / "final.mp4").unlink()
    got = NP.outcome(server, NP.join_clips(m, clip_files="shots/ [output]", filename_prefix="killed/join"))
    assert got.kind == "success", got.text
    [joined] = [i for ui in got.reply["outputs"].values() for i in ui.get("segue_files", [])
                if i["filename"].startswith("join_")]
    assert joined["frames"] == 20 + 9 + 20                   # a, the gap, b: two clips, not three
    # The next write of the same target removes the leftover and writes the whole file.
    assert ended(server, submit(server, slow_stitch(segments, "shots/final")), 300) == "success"
    assert not part.exists() and part_files(shots) == []
    assert probe(shots / "final.mp4").frame_count == 2 * FRAMES - 8
