"""Peak memory of one prompt in a real ComfyUI server (Linux /proc), for tests and bench/.

``measure(server, prompt)`` runs ``prompt`` and returns the server's peak resident memory above
its resident memory just before (the peak counter is reset through ``/proc/<pid>/clear_refs``, so
start-up and earlier prompts do not count).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def _status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def measure(server, prompt: dict, timeout: float = 900) -> tuple[int, dict]:
    """(peak RSS above the RSS before the prompt, history entry)."""
    pid = server.proc.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")   # reset VmHWM to the current RSS
    before = _status(pid, "VmRSS")
    entry = server.run(prompt, timeout=timeout)
    return _status(pid, "VmHWM") - before, entry


def write_keyframes(folder: Path, count: int, width: int, height: int, prefix: str = "k") -> list[str]:
    """``count`` distinct PNG keyframes (a moving bright square on a colour field)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        img = np.full((height, width, 3), ((i * 53) % 200 + 30, (i * 97) % 200 + 30, (i * 31) % 200 + 30), np.uint8)
        side = max(4, min(64, width // 4, height // 4))
        x = (i * width // 7) % (width - side)
        img[height // 2: height // 2 + side, x:x + side] = 255
        cv2.imwrite(str(folder / f"{prefix}{i:03d}.png"), img)
        names.append(f"{folder.name}/{prefix}{i:03d}.png")
    return names


def travel_prompt(names: list[str], segment_frames: int = 32, overlap: int = 8, method: str = "blend",
                  tag: str = "mem") -> dict:
    """A one-node preview travel through ``names`` (SegueLoadImages -> SegueRecipe -> SegueTravel)."""
    return {
        "keys": {"class_type": "SegueLoadImages", "inputs": {"images": "\n".join(names), "width": 0, "height": 0,
                                                             "fit": "crop"}},
        "recipe": {"class_type": "SegueRecipe", "inputs": {
            "generator": "preview", "seed": 0, "seed_policy": "increment", "steps": 20, "cfg": 5.0,
            "sampler_name": "euler", "scheduler": "simple", "shift": 5.0, "phases": "", "loras": "",
            "segment_loras": "", "vace_strength": 1.0, "preview_method": method, "colour_match": "none",
            "colour_method": "lab", "colour_strength": 1.0, "saturation": 1.0, "brightness": 0.0, "template": ""}},
        "travel": {"class_type": "SegueTravel", "inputs": {
            "keyframes": ["keys", 0], "recipe": ["recipe", 0], "prompts": "", "negative_prompt": "",
            "segment_frames": str(segment_frames), "overlap": str(overlap), "mode": "chained",
            "exact_keyframes": False, "curve": "cosine", "sharpen": 0.0, "filename_prefix": f"segue/{tag}",
            "keep_segments": False, "crf": 23, "preset": "ultrafast", "output_images": False}},
    }


def write_clips(folder: Path, count: int, width: int, height: int, frames: int, fps: int = 16) -> list[str]:
    """``count`` clips (each a slow fade between two colour fields), H.264 at ``fps``."""
    import torch

    from segue.video_utils.engine.video_write import VideoWriter

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        a = torch.tensor([(i * 53) % 200 + 30, (i * 97) % 200 + 30, (i * 31) % 200 + 30]) / 255.0
        b = a.flip(0)
        t = torch.linspace(0, 1, frames).view(-1, 1, 1, 1)
        with VideoWriter(folder / f"c{i:03d}.mp4", fps, width, height, crf=28, preset="ultrafast") as writer:
            for k in range(0, frames, 8):
                chunk = (a * (1 - t[k:k + 8]) + b * t[k:k + 8]).expand(-1, height, width, 3).contiguous()
                writer.write(chunk)
        names.append(f"{folder.name}/c{i:03d}.mp4")
    return names


def join_prompt(names: list[str], context: int = 8, gap: int = 17, tag: str = "memjoin") -> dict:
    """A one-node preview join of the clip files ``names`` (SegueJoinClips, clip_files list)."""
    return {"join": {"class_type": "SegueJoinClips", "inputs": {
        "clip_files": "\n".join(names), "context": context, "gap": gap, "replace": False, "blend": -1,
        "per_join": "", "bridging": False, "width": 0, "height": 0, "fit": "crop", "fps": 0.0, "prompt": "",
        "negative_prompt": "", "curve": "cosine", "sharpen": 0.0, "filename_prefix": f"segue/{tag}",
        "keep_segments": False, "crf": 23, "preset": "ultrafast", "keep_audio": True, "output_images": False}}}
