"""A trim window in seconds, as a ComfyUI VIDEO carries it, mapped onto its file's frames and sound.

ComfyUI 0.27's core "Trim Video" node (``Video Slice``) returns a file-backed VIDEO whose
``get_stream_source()`` is still the whole file and whose ``get_active_trim_window()`` gives
``(start_time, duration)`` in seconds (``start_time`` already made >= 0 for a negative one,
``duration`` 0 = to the end).  Core's own reader (``VideoFromFile.get_components``, what
``GetVideoComponents`` returns) keeps

* the frames whose presentation timestamp ``pts`` (in the video stream's time base ``tb``) has
  ``int(start_time / tb) <= pts < int((start_time + duration) / tb)`` — a float division,
  truncated; no upper bound when ``duration`` is 0;
* the sound from ``start_time`` on the audio stream's clock (``int(offset * rate)`` samples
  skipped), cut to ``int(duration * rate)`` samples when ``duration`` is set.

``window_frames`` finds the same frames as indices ``[first, end)`` of the file in display order
(what ``video_read`` counts), from the packets' timestamps without decoding anything, so a
windowed VIDEO is read straight from its file with a seek and gives exactly core's frames;
``window_audio`` cuts the file's sound the same way.  ``copy_frames`` writes such a range
losslessly, upright and with its sound, for the nodes that take clips by file name.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
import torch

from ..core.errors import PlanError
from ..core.probe import open_media, probe
from .audio_io import AudioClip
from .conform import orient
from .video_read import iter_frames
from .video_write import LOSSLESS_CODEC, VideoWriter


@dataclass(frozen=True)
class TrimWindow:
    """``(start, duration)`` in seconds as ``get_active_trim_window()`` gives it: start >= 0,
    duration 0 = to the end of the file."""

    start: float = 0.0
    duration: float = 0.0

    @property
    def whole(self) -> bool:
        return not self.start and not self.duration

    def describe(self) -> str:
        end = f"{self.start + self.duration:g} s" if self.duration else "the end"
        return f"{self.start:g} s to {end}"


@dataclass(frozen=True)
class WindowedFrames:
    """The frames ``[first, end)`` of a file a window keeps, and where its sound starts (seconds on
    the audio stream's clock, None without sound), for ``window_audio``."""

    first: int
    end: int
    audio_start: float | None


def window_frames(path, window: TrimWindow) -> WindowedFrames:
    """Frames ``[first, end)`` of ``path`` that core keeps for ``window`` (see the module doc).

    The timestamps come from one demux pass over the video packets (no decoding). A file whose
    packets do not all carry a timestamp, or whose packet count is not the probe's frame count,
    falls back to its nominal grid: frame i at ``stream start + i / fps``.
    """
    info = probe(path)
    with open_media(path) as container:
        video = container.streams.video[0]
        tb = Fraction(video.time_base) if video.time_base else None
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_start = None
        if audio is not None and audio.time_base:
            audio_start = float((audio.start_time or 0) * Fraction(audio.time_base))
        stream_start = video.start_time or 0
        # the packets the probe counts as frames (packet_scan.demux), in display order once sorted
        pts = [p.pts for p in container.demux(video) if p.size and not p.is_discard and p.pts is not None] \
            if tb else []
    if tb is None:
        raise PlanError(f"video {str(path)!r} has no time base, so a trim window cannot be placed on its frames: "
                        f"re-encode it (e.g. to MP4) and trim that")
    if len(pts) != info.frame_count:
        pts = [stream_start + round(Fraction(i) / info.fps / tb) for i in range(info.frame_count)]
    pts.sort()
    first_pts = int(window.start / tb)          # core's arithmetic: float / Fraction, truncated
    first = bisect.bisect_left(pts, first_pts)
    end = bisect.bisect_left(pts, int((window.start + window.duration) / tb)) if window.duration else len(pts)
    if end <= first:
        raise PlanError(f"the trimmed VIDEO of {str(path)!r} ({window.describe()}) holds no frame of the "
                        f"{float(info.duration):.3f} s clip: start the trim inside the clip (lower start_time)")
    return WindowedFrames(first, end, audio_start)


def window_audio(clip: AudioClip | None, window: TrimWindow, audio_start: float | None) -> AudioClip | None:
    """The file's decoded sound (``audio_io.read_audio``) cut to ``window`` as core cuts it: from
    ``window.start`` on the audio stream's clock, then ``int(duration * rate)`` samples when the
    window has a duration. A sound that starts after the window does is preceded by silence (core
    would move it to the window's start)."""
    if clip is None:
        return None
    rate = clip.sample_rate
    offset_s = window.start - (audio_start or 0.0)
    wave = clip.waveform
    if offset_s >= 0:
        wave = wave[..., int(offset_s * rate):]
    else:
        # core would start the late sound at the window's start, out of sync; Segue keeps it in place
        wave = torch.cat([wave.new_zeros(*wave.shape[:-1], round(-offset_s * rate)), wave], dim=-1)
    if window.duration:
        wave = wave[..., :int(window.duration * rate)]
    return AudioClip(waveform=wave.contiguous(), sample_rate=rate)


def copy_frames(path, first: int, end: int, out_path, audio: AudioClip | None,
                progress: Callable[[int, int], None] | None = None, chunk: int = 16) -> int:
    """Frames ``[first, end)`` of ``path`` into ``out_path`` losslessly (bit-exact RGB), turned
    upright (the copy carries no display matrix) with the file's pixel aspect, and ``audio``
    under them; written under a temporary name and renamed when complete. Returns the frames
    written. A variable-rate file's frames are written one after another at its average rate."""
    info = probe(path)
    orientation = info.orientation
    aspect = (1 / info.pixel_aspect) if orientation.transpose else info.pixel_aspect
    width, height = orientation.displayed_size(info.stored_width, info.stored_height)
    total = end - first
    with VideoWriter(out_path, info.fps, width, height, codec=LOSSLESS_CODEC, audio=audio,
                     pixel_aspect=aspect) as writer:
        for frames in iter_frames(path, first, end, chunk=chunk):
            writer.write(np.ascontiguousarray(orient(frames, orientation).numpy()))
            if progress is not None:
                progress(writer.frames_written, total)
    return total
