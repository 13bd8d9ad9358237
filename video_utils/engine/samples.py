"""Sample inputs for the model-free example workflows, so they run in a fresh ComfyUI.

When ComfyUI loads the pack, the bundled keyframes (``assets/keyframes``) are copied into
``input/segue_samples/`` and three short clips are made from them there: different sizes, frame
rates and one with sound, like real footage.  Nothing a user made is ever overwritten: an
existing file is left alone.  Everything is written atomically, so a half-made sample never
appears under its final name.
"""

from __future__ import annotations

import math
import shutil
from fractions import Fraction
from pathlib import Path

import torch

from ..core.atomic import atomic_path
from ..core.constants import BUNDLED_KEYFRAMES
from .audio_io import AudioClip
from .conform import conform_frames, load_image
from .video_write import VideoWriter

FOLDER = "segue_samples"
# (file, keyframes it pans between, width, height, fps, seconds, tone Hz or None)
CLIPS = (
    ("clip_1.mp4", (0, 1), 320, 180, Fraction(24), 2, 440.0),
    ("clip_2.mp4", (1, 2), 240, 240, Fraction(30), 2, None),
    ("clip_3.mp4", (2, 3), 320, 180, Fraction(16), 2, 660.0),
)


def install_samples(input_dir: str | Path) -> list[Path]:
    """Copy the keyframes and make the sample clips under ``input_dir/segue_samples`` (missing
    ones only); returns the files written."""
    folder = Path(input_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(BUNDLED_KEYFRAMES.glob("*.png")):
        target = folder / src.name
        if not target.exists():
            with atomic_path(target) as tmp:
                shutil.copyfile(src, tmp)
            written.append(target)
    for name, keys, width, height, fps, seconds, tone in CLIPS:
        target = folder / name
        if not target.exists():
            _make_clip(target, keys, width, height, fps, seconds, tone)
            written.append(target)
    return written


def _make_clip(path: Path, keys: tuple[int, int], width: int, height: int, fps: Fraction, seconds: int,
               tone: float | None) -> None:
    """A slow zoom from one keyframe into a cross-fade to the next."""
    a, b = (conform_frames(load_image(BUNDLED_KEYFRAMES / f"keyframe_{k}.png")[None], width, height, "crop")[0] for k in keys)
    count = int(fps * seconds)
    audio = None
    if tone is not None:
        rate = 48_000
        t = torch.arange(rate * seconds, dtype=torch.float32) / rate
        audio = AudioClip(waveform=(0.2 * torch.sin(2 * math.pi * tone * t)).view(1, 1, -1), sample_rate=rate)
    with VideoWriter(path, fps, width, height, crf=23, preset="ultrafast", audio=audio) as writer:
        for i in range(count):
            w = i / max(count - 1, 1)
            writer.write((a * (1 - w) + b * w)[None])
