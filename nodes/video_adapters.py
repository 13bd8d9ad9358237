"""ComfyUI VIDEO values <-> frames and files, without decoding more than a node needs.

A core VIDEO is either file-backed (``VideoFromFile``: LoadVideo, Segue's savers) or held in
memory (``VideoFromComponents``: CreateVideo).  ``get_components()`` decodes a whole file to
float32, which is how peers run out of RAM on long clips; these helpers read a file only over
the frames asked for (seeking for a tail) and fall back to the components for in-memory videos.
"""

from __future__ import annotations

import io as _io
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator

import torch

from ..video_utils.core.errors import PlanError
from ..video_utils.core.probe import probe
from ..video_utils.engine.audio_io import read_audio
from ..video_utils.engine.video_read import iter_frames, read_frames, read_last_frames
from .api import InputImpl


@dataclass(frozen=True)
class VideoInfo:
    """The frames a VIDEO yields: count, rate and their size (a file's stored size, as decoded;
    ``probe.probe`` has the rest of a file's facts)."""

    frame_count: int
    fps: Fraction
    width: int
    height: int


def source_path(video) -> str | None:
    """The file behind a file-backed VIDEO, or None (in-memory or in-buffer video)."""
    getter = getattr(video, "get_stream_source", None)
    if getter is None:
        return None
    source = getter()
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return None


def file_video(path: str):
    """A lazy, file-backed VIDEO of ``path`` (nothing is decoded until someone reads it)."""
    return InputImpl.VideoFromFile(path)


def _components(video):
    if isinstance(source_path(video), str):
        return None
    getter = getattr(video, "get_stream_source", None)
    source = getter() if getter else None
    if isinstance(source, _io.BytesIO):
        source.seek(0)
    return video.get_components()


def video_info(video) -> VideoInfo:
    path = source_path(video)
    if path is not None:
        info = probe(path)
        return VideoInfo(info.frame_count, info.fps, info.stored_width, info.stored_height)
    comps = _components(video)
    images = comps.images
    return VideoInfo(int(images.shape[0]), Fraction(comps.frame_rate), int(images.shape[2]), int(images.shape[1]))


def read_range(video, start: int = 0, end: int | None = None) -> torch.Tensor:
    """Frames ``[start, end)`` as IMAGE (float32 [n,H,W,3])."""
    path = source_path(video)
    if path is not None:
        return read_frames(path, start, end)
    return _components(video).images[start:end].to(torch.float32)


def read_tail(video, count: int) -> torch.Tensor:
    """The last ``count`` frames (a file is read by seeking near its end)."""
    path = source_path(video)
    if path is not None:
        return read_last_frames(path, count)
    images = _components(video).images
    return images[max(0, images.shape[0] - count):].to(torch.float32)


def chunk_source(video, start: int = 0, end: int | None = None, chunk: int = 16) -> Callable[[], Iterator[torch.Tensor]]:
    """A zero-argument callable yielding frame chunks, opened only when a stitch reaches it."""
    path = source_path(video)
    if path is not None:
        return lambda: iter_frames(path, start=start, end=end, chunk=chunk)

    def frames():
        images = _components(video).images[start:end]
        for i in range(0, images.shape[0], chunk):
            yield images[i:i + chunk].to(torch.float32)
    return frames


def video_audio(video):
    """The VIDEO's audio as core AUDIO (``{"waveform", "sample_rate"}``) or None."""
    path = source_path(video)
    if path is not None:
        clip = read_audio(path)
        return clip.as_comfy() if clip is not None else None
    return _components(video).audio


def file_of(video, name: str) -> str | None:
    """The file behind a VIDEO input (None when not connected)."""
    if video is None:
        return None
    path = source_path(video)
    if path is None:
        raise PlanError(f"{name} is an in-memory VIDEO: connect a saved segment's video (Segue Save Step / "
                        f"Segue Load Video)")
    return path
