"""Frames out of video files with PyAV: exact frame ranges, accurate colour, bounded memory.

Why this module is careful (measurements in ``/work/shared/spec/video-io-facts.md``):

* Chained segments read frames back from earlier outputs. FFmpeg's default yuv->rgb conversion
  darkens by about one level per encode/decode generation. We convert with accurate rounding and
  full chroma interpolation, and honour the file's matrix, range and chroma-siting tags (which
  ``video_write`` sets): no systematic drift, and the conversion error settles instead of
  growing.
* Frame ranges are frame-exact: reading from the start counts decoded frames; reading after a
  seek maps timestamps to frame indices at the stream's constant rate (exact for our own files
  and any constant-frame-rate file, B-frames included); the last frames of a file are found by
  decoding from a keyframe near the end to the end of the file, which is exact for any file.
* Frames are decoded into preallocated arrays and converted to float one frame at a time,
  which keeps peak memory at the size of the result.

What a file holds (frame count, rate, stored size) comes from ``probe.probe``. Frames come back
as stored (``MediaInfo.stored_width`` x ``stored_height``, display matrix not applied): turning
them upright is the conform stage's job (``conform.py``).
"""

from __future__ import annotations

import collections
from fractions import Fraction
from typing import Iterator

import av
import numpy as np
import torch
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter

from ..core.errors import PlanError
from ..core.probe import MediaInfo, open_media, probe

# yuv->rgb with accurate rounding and full chroma interpolation: no drift.
_DECODE_INTERPOLATION = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT

# FFmpeg's colour tags as frames carry them (AVColorSpace, AVColorRange); ``video_write`` sets them.
AVCOL_BT709 = 1
AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG = 1, 2

# AVColorSpace (frame tag) -> swscale matrix.
_SWS_MATRIX = {
    AVCOL_BT709: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,
    6: Colorspace.ITU601,
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,
    10: Colorspace.BT2020,
}

# Reading from the start counts frames exactly for any file; below this start frame, decoding
# from the beginning is about as cheap as a seek, so we do that.
_SEQUENTIAL_READ_LIMIT = 32

_decoded_frames = 0


def decoded_frame_count() -> int:
    """Frames decoded by this module since import (a counter for tests and benchmarks)."""
    return _decoded_frames


class _Decoder:
    """One open video with an accurate yuv->rgb converter and pts->frame-index mapping."""

    def __init__(self, path):
        self.path = str(path)
        self.info = probe(path)
        self.container = None
        self.rewind()
        self.reformatter = VideoReformatter()
        tb = self.stream.time_base
        self.time_base = Fraction(tb) if tb else None
        self.start_pts = self.stream.start_time or 0

    def rewind(self) -> None:
        """Back to the first frame (reopening is cheap and works for every format)."""
        self.close()
        self.container = open_media(self.path, quick=self.info.own_timeline)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def empty(self, count: int) -> np.ndarray:
        """Uninitialised float32 [count, H, W, 3] at the stored size (what decoding yields)."""
        return np.empty((count, self.info.stored_height, self.info.stored_width, 3), np.float32)

    def frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames; a damaged packet past the first frame (which ``probe`` decoded) is a
        ``PlanError`` naming the file, not FFmpeg's bare ``avcodec_send_packet()`` error."""
        global _decoded_frames
        count = 0
        try:
            for frame in self.container.decode(self.stream):
                _decoded_frames += 1
                count += 1
                yield frame
        except av.FFmpegError as exc:
            raise PlanError(f"video {self.path!r} cannot be decoded after {count} frames ({exc.strerror or exc}): the "
                            f"file is damaged; re-export or re-download it") from None

    def index_of(self, frame: av.VideoFrame) -> int | None:
        if frame.pts is None or self.time_base is None:
            return None
        num = (frame.pts - self.start_pts) * self.time_base * self.info.fps
        return int((num + Fraction(1, 2)) // 1)

    def pts_of(self, index: int) -> int:
        return self.start_pts + round(Fraction(index) / self.info.fps / self.time_base)

    def frames_from(self, start: int) -> Iterator[av.VideoFrame]:
        """Decoded frames with index start, start+1, ... to the end of the file."""
        if start > _SEQUENTIAL_READ_LIMIT and self.time_base is not None:
            back = 0
            while start - back > _SEQUENTIAL_READ_LIMIT:
                self.container.seek(self.pts_of(start - back), stream=self.stream, backward=True)
                it = self.frames()
                first = next(it, None)
                index = None if first is None else self.index_of(first)
                if index is None:
                    break  # no timestamps: count from the start
                if index <= start:
                    yield from _skip_before(self, start, first, it)
                    return
                back = max(2 * back, index - start + 1)  # landed after the target: seek earlier
            self.rewind()
        for index, frame in enumerate(self.frames()):
            if index >= start:
                yield frame

    def to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """uint8 [H,W,3] with the frame's own matrix and range, accurately rounded."""
        fmt = frame.format
        if fmt.is_rgb:  # lossless intermediates: a plain, exact repacking
            return (frame if fmt.name == "rgb24" else self.reformatter.reformat(frame, format="rgb24")).to_ndarray()
        matrix = _SWS_MATRIX.get(frame.colorspace)
        if matrix is None:  # untagged: what players assume
            matrix = Colorspace.ITU709 if frame.height >= 720 or frame.width >= 1280 else Colorspace.ITU601
        if frame.color_range in (AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG):
            src_range = ColorRange(frame.color_range)
        else:
            src_range = ColorRange.JPEG if fmt.name.startswith("yuvj") else ColorRange.MPEG
        rgb = self.reformatter.reformat(
            frame,
            format="rgb24",
            src_colorspace=matrix,
            src_color_range=src_range,
            dst_color_range=ColorRange.JPEG,
            interpolation=_DECODE_INTERPOLATION,
        )
        return rgb.to_ndarray()


def _skip_before(decoder: _Decoder, start: int, first: av.VideoFrame, rest: Iterator[av.VideoFrame]):
    frame = first
    while True:
        index = decoder.index_of(frame)
        if index is None or index >= start:
            yield frame
            yield from rest
            return
        frame = next(rest, None)
        if frame is None:
            return


def _to_float(rgb: np.ndarray, out: np.ndarray) -> None:
    # Same values as ComfyUI's loaders (float32 / 255).
    np.divide(rgb, np.float32(255), out=out)


def _check_range(info: MediaInfo, path, start: int, end: int | None) -> int:
    end = info.frame_count if end is None else end
    if not 0 <= start <= end <= info.frame_count:
        raise PlanError(
            f"frame range [{start}, {end}) of {str(path)!r} is outside its {info.frame_count} frames: "
            f"use 0 <= start <= end <= {info.frame_count}"
        )
    return end


def read_frames(path, start: int = 0, end: int | None = None) -> torch.Tensor:
    """Frames [start, end) as float32 [T,H,W,3] in 0..1, decoded into one preallocated array."""
    with _Decoder(path) as dec:
        end = _check_range(dec.info, path, start, end)
        out = dec.empty(end - start)
        n = 0
        if end > start:
            for frame in dec.frames_from(start):
                _to_float(dec.to_rgb(frame), out[n])
                n += 1
                if n == end - start:
                    break
        if n < end - start:
            raise PlanError(f"video {str(path)!r} ended after {start + n} frames, fewer than the {end} its header promised: re-encode the file")
        return torch.from_numpy(out)


def iter_frames(path, start: int = 0, end: int | None = None, chunk: int = 16) -> Iterator[torch.Tensor]:
    """Frames [start, end) as float32 chunks [<=chunk,H,W,3]; memory stays at one chunk."""
    if chunk < 1:
        raise PlanError(f"chunk={chunk} is not a chunk size: use 1 or more frames")
    with _Decoder(path) as dec:
        end = _check_range(dec.info, path, start, end)
        total, done = end - start, 0
        if total == 0:
            return
        frames = dec.frames_from(start)
        while done < total:
            size = min(chunk, total - done)
            out = dec.empty(size)
            n = 0
            for frame in frames:
                _to_float(dec.to_rgb(frame), out[n])
                n += 1
                if n == size:
                    break
            done += n
            if n:
                yield torch.from_numpy(out[:n])
            if n < size:
                raise PlanError(f"video {str(path)!r} ended after {start + done} frames, fewer than the {end} its header promised: re-encode the file")


def read_last_frames(path, count: int) -> torch.Tensor:
    """The last ``count`` frames (all of them if the file is shorter), float32 [T,H,W,3].

    Seeks to the last keyframe before the range and decodes from there to the end of the file,
    keeping the last ``count`` frames: exact for any file, without decoding from the start.
    """
    if count < 0:
        raise PlanError(f"count={count} is not a frame count: use 0 or more")
    with _Decoder(path) as dec:
        info = dec.info
        count = min(count, info.frame_count)
        out = dec.empty(count)
        if count == 0:
            return torch.from_numpy(out)
        back, first_pass = count, True
        while True:
            target = info.frame_count - back
            from_start = target <= _SEQUENTIAL_READ_LIMIT or dec.time_base is None
            if from_start:
                if not first_pass:
                    dec.rewind()
            else:
                dec.container.seek(dec.pts_of(target), stream=dec.stream, backward=True)
            first_pass = False
            tail = collections.deque(dec.frames(), maxlen=count)
            if len(tail) == count or from_start:
                break
            back *= 2  # the seek landed inside the range (keyframe after the target): go further back
        for i, frame in enumerate(tail):
            _to_float(dec.to_rgb(frame), out[i])
        if len(tail) < count:
            raise PlanError(f"video {str(path)!r} has only {len(tail)} frames, fewer than its header's {info.frame_count}: re-encode the file")
        # A truncated file (its last packets counted but not decodable, so the frames kept here
        # would be the wrong ones) never gets here: ``probe`` refuses it (``packet_scan.check_tail``).
        return torch.from_numpy(out)
