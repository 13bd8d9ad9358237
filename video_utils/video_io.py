"""Video files in and out with PyAV: exact frame ranges, exact frame rates, no colour drift.

Why this module is careful (measurements in ``/work/shared/spec/video-io-facts.md``):

* Chained segments read frames back from earlier outputs. FFmpeg's default yuv->rgb conversion
  darkens by about one level per encode/decode generation. We convert with accurate rounding
  (plus full chroma interpolation when reading), tag matrix, range and chroma siting when
  writing, and honour the tags when reading: no systematic drift, and the conversion error
  settles instead of growing. Frames passed between steps should still use
  ``codec=LOSSLESS_CODEC`` (bit-exact); the final video is encoded once.
* Frame ranges are frame-exact: reading from the start counts decoded frames; reading after a
  seek maps timestamps to frame indices at the stream's constant rate (exact for our own files
  and any constant-frame-rate file, B-frames included); the last frames of a file are found by
  decoding from a keyframe near the end to the end of the file, which is exact for any file.
* Frames are decoded into preallocated arrays and converted float<->uint8 one frame at a time,
  which keeps peak memory at the size of the result.
"""

from __future__ import annotations

import collections
import contextlib
import functools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import cv2
import numpy as np
import torch
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter

from .atomic import atomic_path
from .constants import LOSSLESS_SUFFIX, PRESETS
from .errors import PlanError

# Bit-exact RGB for frames passed between steps. Measured (bench/bench_video_io.py), 832x480:
# in Matroska, libx264rgb qp 0 (ultrafast, keyframe every 16 frames) is the fastest exact codec,
# ~0.43x raw; FFV1 is 2-4x slower. FFvHuff and Ut Video are faster still but PyAV refuses them in
# Matroska, so ".avi" (FFvHuff, median prediction) is offered too: ~1.5-2x faster, ~0.47x raw.
LOSSLESS_CODEC = "lossless"
H264_CODEC = "h264"
CODECS = (H264_CODEC, LOSSLESS_CODEC)

# yuv<->rgb with accurate rounding (and full chroma interpolation when reading): no drift.
_ENCODE_INTERPOLATION = Interpolation.BICUBIC | Interpolation.ACCURATE_RND
_DECODE_INTERPOLATION = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT

# AVColorSpace (frame tag) -> swscale matrix.
_SWS_MATRIX = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,
    6: Colorspace.ITU601,
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,
    10: Colorspace.BT2020,
}
_AVCOL_BT709 = 1
_AVCOL_RANGE_MPEG, _AVCOL_RANGE_JPEG = 1, 2

# Reading from the start counts frames exactly for any file; below this start frame, decoding
# from the beginning is about as cheap as a seek, so we do that.
_SEQUENTIAL_READ_LIMIT = 32

_decoded_frames = 0


def decoded_frame_count() -> int:
    """Frames decoded by this module since import (a counter for tests and benchmarks)."""
    return _decoded_frames


# --------------------------------------------------------------------------------------------
# Frame rates


def as_fraction(fps: Fraction | float | int | str) -> Fraction:
    """An exact frame rate. Floats near an NTSC rate (29.97, 23.976, 59.94) become k*1000/1001."""
    if isinstance(fps, str):
        fps = Fraction(fps)
    if isinstance(fps, (Fraction, int)):
        rate = Fraction(fps)
    else:
        value = float(fps)
        if not np.isfinite(value):
            raise PlanError(f"fps={fps!r} is not a frame rate: give a positive number like 16 or 30000/1001")
        ntsc = Fraction(round(value * 1.001) * 1000, 1001)
        rate = ntsc if abs(float(ntsc) - value) < 5e-4 and ntsc.denominator == 1001 else Fraction(value).limit_denominator(1001)
    if rate <= 0:
        raise PlanError(f"fps={fps!r} is not a frame rate: give a positive number like 16 or 30000/1001")
    return rate


def _stream_rate(stream) -> Fraction:
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate:
            rate = Fraction(rate)
            # Containers with a coarse time base (Matroska: 1 ms, nanosecond frame durations)
            # report 60000/1001 as 19001/317: bring such rates back to the rate meant.
            exact = rate.denominator <= 100 or 1001 % rate.denominator == 0
            return rate if exact else as_fraction(float(rate))
    raise PlanError(f"video stream of {stream.container.name!r} has no frame rate: it cannot be read as frames")


# --------------------------------------------------------------------------------------------
# Probing


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    frame_count: int
    fps: Fraction
    has_audio: bool
    codec: str

    @property
    def duration(self) -> float:
        """Seconds."""
        return float(self.frame_count / self.fps)


def _open(path, need_video: bool = True) -> av.container.InputContainer:
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"video {str(path)!r} does not exist: check the path")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise PlanError(f"video {str(path)!r} cannot be opened ({exc}): is it a video file?") from None
    if need_video and not container.streams.video:
        container.close()
        raise PlanError(f"{str(path)!r} has no video stream: give a video file")
    return container


def probe_video(path) -> VideoInfo:
    """Size, exact frame count, exact frame rate, audio presence and codec of a video file.

    The frame count comes from the container index (MP4, AVI) when it agrees with the duration,
    else from counting the video packets (Matroska and files whose header lies): no decoding.
    Cached per file version (path, size, mtime).
    """
    stat = Path(path).stat() if Path(path).is_file() else None
    if stat is None:
        raise PlanError(f"video {str(path)!r} does not exist: check the path")
    return _probe_cached(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _probe_cached(path: str, _size: int, _mtime_ns: int) -> VideoInfo:
    with _open(path) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        fps = _stream_rate(stream)
        count = stream.frames
        if count <= 0 or not _count_agrees(stream, fps, count):
            count = sum(1 for packet in container.demux(stream) if packet.size and not packet.is_discard)
        return VideoInfo(
            width=ctx.width,
            height=ctx.height,
            frame_count=int(count),
            fps=fps,
            has_audio=bool(container.streams.audio),
            codec=ctx.name,
        )


def _count_agrees(stream, fps: Fraction, count: int) -> bool:
    if stream.duration is None or stream.time_base is None:
        return True
    expected = stream.duration * stream.time_base * fps
    return abs(expected - count) <= 1


# --------------------------------------------------------------------------------------------
# Decoding


class _Decoder:
    """One open video with an accurate yuv->rgb converter and pts->frame-index mapping."""

    def __init__(self, path):
        self.path = str(path)
        self.info = probe_video(path)
        self.container = None
        self.rewind()
        self.reformatter = VideoReformatter()
        tb = self.stream.time_base
        self.time_base = Fraction(tb) if tb else None
        self.start_pts = self.stream.start_time or 0

    def rewind(self) -> None:
        """Back to the first frame (reopening is cheap and works for every format)."""
        self.close()
        self.container = _open(self.path)
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

    def frames(self) -> Iterator[av.VideoFrame]:
        global _decoded_frames
        for frame in self.container.decode(self.stream):
            _decoded_frames += 1
            yield frame

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
        if frame.color_range in (_AVCOL_RANGE_MPEG, _AVCOL_RANGE_JPEG):
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


def _check_range(info: VideoInfo, path, start: int, end: int | None) -> int:
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
        out = np.empty((end - start, dec.info.height, dec.info.width, 3), np.float32)
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
            out = np.empty((size, dec.info.height, dec.info.width, 3), np.float32)
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
        out = np.empty((count, info.height, info.width, 3), np.float32)
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
        return torch.from_numpy(out)


# --------------------------------------------------------------------------------------------
# Audio


@dataclass
class AudioClip:
    """Decoded audio in ComfyUI's AUDIO layout: waveform float32 [1, channels, samples]."""

    waveform: torch.Tensor
    sample_rate: int

    def as_comfy(self) -> dict:
        return {"waveform": self.waveform, "sample_rate": self.sample_rate}

    @classmethod
    def from_comfy(cls, d) -> "AudioClip":
        waveform = d["waveform"]
        if waveform.dim() == 2:
            waveform = waveform[None]
        return cls(waveform=waveform.float(), sample_rate=int(d["sample_rate"]))

    @property
    def channels(self) -> int:
        return int(self.waveform.shape[1])

    @property
    def samples(self) -> int:
        return int(self.waveform.shape[-1])


def read_audio(path) -> AudioClip | None:
    """The first audio stream (of a video or an audio file) as float32, or None when there is none."""
    with _open(path, need_video=False) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = None
        parts = []
        for frame in container.decode(stream):
            if resampler is None:
                resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=frame.sample_rate)
                rate = frame.sample_rate
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray())
        if resampler is None:
            return None
        for out in resampler.resample(None):
            parts.append(out.to_ndarray())
        waveform = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
        # AAC decodes to whole 1024-sample frames; the container knows the true length.
        # (MP4 records it; Matroska keeps the encoder's padding, up to 1023 samples.)
        if stream.duration and stream.time_base:
            length = round(stream.duration * stream.time_base * rate)
            if 0 < length < waveform.shape[1]:
                waveform = waveform[:, :length]
        return AudioClip(waveform=torch.from_numpy(np.ascontiguousarray(waveform))[None], sample_rate=int(rate))


_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


# --------------------------------------------------------------------------------------------
# Writing
#
# The same frames must give the same bytes (issue 12): resume, caching and A/B comparisons of
# runs rely on it. Two things stood in the way, both fixed here, neither in our frame handling:
#
# 1. x264's AVX-512 MB-tree code reads memory x264 never initialised. For a B-frame that no
#    other frame references, x264 (encoder/slicetype.c, macroblock_tree_propagate) zeroes ONE
#    row of its propagate-cost array (mb_width entries) and reuses it for every row. The AVX-512
#    ``mbtree_propagate_cost`` reads 16 entries a step, and the AVX-512 ``mbtree_propagate_list``
#    (common/x86/mc-a2.asm; the SSSE3/AVX/AVX2 versions stop at mb_width in C) handles 8 MBs a
#    step and never stops at mb_width. So when mb_width = ceil(width/16) is not a multiple of 8
#    (832 px: 52 MBs; 352 px: 22), the tail lanes carry leftover heap contents; with their
#    motion vectors pointing back inside the picture they pass the bounds check and are added
#    to the reference frames' MB-tree costs. The per-MB quantisers, and so the bitstream, then
#    depend on what that memory held: a fresh process (zeroed pages) repeats itself, later
#    encodes in the same process (ComfyUI) do not. Measured here (PyAV 18.1, x264 core 165,
#    AVX-512 Xeon), 352x352 veryfast crf 19: 3-5 distinct bitstreams in 6-8 encodes, also with
#    threads=1 and with all input frames kept alive and verified unchanged; deterministic with
#    any of: mbtree=0, bframes=0, width a multiple of 128, asm capped at AVX2, or glibc's
#    MALLOC_PERTURB_ set (uninitialised memory filled with a constant; the output then depends
#    on the fill byte). Not frame corruption: every decoded frame matches its own input at the
#    usual crf-19 PSNR (~40 dB); two encodes differ from each other by ~41 dB.
#    Fix: on CPUs where x264 would use AVX-512, cap it at AVX2 (``asm=AVX2``; on that Xeon
#    x264_cpu_detect() gives 0x11f3ff and asm=AVX2 0x10f3ff: the same flags minus AVX-512).
#    Not slower: 832x480, 81 frames, this writer before -> after the cap and the copy saved in
#    ``_encode``: veryfast 140 -> 159 fps, medium 72 -> 75, lossless .mkv 193 -> 196, .avi
#    493 -> 545 (the cap alone measured the same or faster than AVX-512).
# 2. The Matroska muxer writes a random segment UID and track UIDs into every file:
#    ``fflags=+bitexact`` makes them deterministic, for every container we write.
#
# Not a cause: the reused RGB buffer in ``VideoWriter`` (see ``_encode``). PyAV 18's
# ``VideoFrame.from_ndarray`` copies the array (``copy_array_to_plane`` into
# ``av_frame_get_buffer`` planes), the reformatter writes a newly allocated frame, and libx264
# copies each picture into its own frame pool inside ``x264_encoder_encode``; a fresh array per
# frame only moved the heap around, so the output changed (measured: still 3 different files in
# 6). tests/test_determinism.py makes each write see different heap contents, so this fails
# every time rather than now and then.


def _cpu_has_x264_avx512() -> bool:
    """True when x264 would pick its AVX-512 code (AVX-512 F, CD, BW, DQ and VL, OS-enabled).

    Read from numpy's runtime CPU detection (which checks OS support too); where that is not
    available we cannot tell, and leave x264 alone rather than name flags the CPU may lack.
    """
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return False
    return all(features.get(f) for f in ("AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL", "AVX2", "FMA3"))


@functools.cache
def _x264_params(*params: str) -> str:
    """``x264-params`` for every x264 encoder we open: ``params`` plus the AVX-512 cap above.

    Every CPU with AVX-512 has AVX2, FMA3, BMI1/2 and LZCNT, which is what ``asm=AVX2`` names.
    """
    return ":".join([*params, *(["asm=AVX2"] if _cpu_has_x264_avx512() else [])])


# Muxer options for every file we write: no random UIDs or dates (see 2. above).
_MUX_OPTIONS = {"fflags": "+bitexact"}


@dataclass(frozen=True)
class _VideoFormat:
    encoder: str
    pix_fmt: str
    options: dict
    audio_codec: str


def _video_format(codec: str, suffix: str, crf: int, preset: str) -> _VideoFormat:
    suffix = suffix.lower()
    if codec == H264_CODEC:
        if suffix not in (".mp4", ".mov", ".mkv", ".m4v"):
            raise PlanError(f"H.264 output path ending {suffix!r} is not supported: use .mp4 (or .mkv/.mov)")
        if not 0 <= crf <= 51:
            raise PlanError(f"crf={crf} is outside 0..51: use about 17-23 (lower = better and bigger)")
        if preset not in PRESETS:
            raise PlanError(f"preset={preset!r} is not an x264 preset: use one of {', '.join(PRESETS)}")
        # chromaloc=1: swscale sites 4:2:0 chroma at the centre; saying so makes the reader
        # (which honours the tag) put it back where it was. Untagged (read as "left"), the
        # chroma shifts half a pixel per generation and the error grows every round trip.
        options = {"crf": str(crf), "preset": preset, "x264-params": _x264_params("chromaloc=1")}
        return _VideoFormat("libx264", "yuv420p", options, "aac")
    if codec == LOSSLESS_CODEC:
        if suffix in (".mkv", ".mp4", ".mov"):
            # g=16: seeks decode at most 15 extra frames; size within 2% of the default GOP.
            # (ultrafast + constant QP: no MB-tree, but x264 gets the same cap everywhere.)
            options = {"qp": "0", "preset": "ultrafast", "g": "16"}
            if _x264_params():
                options["x264-params"] = _x264_params()
            return _VideoFormat("libx264rgb", "rgb24", options, "aac")
        if suffix == ".avi":
            return _VideoFormat("ffvhuff", "gbrp", {"pred": "median"}, "pcm_s16le")
        raise PlanError(f"lossless output path ending {suffix!r} is not supported: use {LOSSLESS_SUFFIX} (or .avi)")
    raise PlanError(f"codec={codec!r} is not a known codec: use one of {', '.join(CODECS)}")


class _AudioTrack:
    """An audio stream fed in step with the video, so packets interleave and the audio ends with it."""

    def __init__(self, container, audio: AudioClip, codec: str):
        waveform = audio.waveform.detach().to("cpu", torch.float32)
        waveform = waveform[0] if waveform.dim() == 3 else waveform
        self.channels = int(waveform.shape[0])
        if self.channels not in _LAYOUTS:
            raise PlanError(f"audio with {self.channels} channels is not supported: use 1 to 8 channels")
        self.rate = int(audio.sample_rate)
        self.samples = np.ascontiguousarray(waveform.numpy())
        self.done = 0
        self.container = container
        self.stream = container.add_stream(codec, rate=self.rate)
        self.stream.layout = _LAYOUTS[self.channels]
        self.stream.time_base = Fraction(1, self.rate)
        if codec == "aac":
            self.stream.bit_rate = 96_000 * min(self.channels, 2) + 64_000 * max(self.channels - 2, 0)

    def write_until(self, seconds: Fraction) -> None:
        """Encode the samples up to ``seconds`` (the video's length so far), never past the clip."""
        upto = min(self.samples.shape[1], int(seconds * self.rate))
        if upto <= self.done:
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(self.samples[:, self.done:upto]),
                                           format="fltp", layout=_LAYOUTS[self.channels])
        frame.sample_rate, frame.pts, frame.time_base = self.rate, self.done, Fraction(1, self.rate)
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.done = upto

    def flush(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)


class VideoWriter:
    """Encode frames to ``path``; the file appears there only when closed successfully.

    ``codec="h264"``: libx264 yuv420p, CRF + preset, frame threading, tagged BT.709 limited range
    with centre-sited chroma (what swscale produces). H.264 4:2:0 needs even sides: an odd width
    or height is padded by repeating the last column/row (``encoded_width``/``encoded_height``).
    ``codec=LOSSLESS_CODEC``: bit-exact RGB, for frames passed between steps.
    ``audio`` is muxed alongside and trimmed to the video's length.
    Use as a context manager: an exception inside the ``with`` (or ``abort()``) discards the file
    and leaves whatever was at ``path`` before untouched.
    """

    def __init__(self, path, fps: Fraction | float, width: int, height: int, *, codec: str = H264_CODEC,
                 crf: int = 19, preset: str = "medium", audio: AudioClip | None = None):
        self.path = Path(path)
        self.fps = as_fraction(fps)
        self.width, self.height = int(width), int(height)
        if self.width < 1 or self.height < 1:
            raise PlanError(f"video size {width}x{height} is not a picture size: both sides must be at least 1 pixel")
        self.codec = codec
        fmt = _video_format(codec, self.path.suffix, crf, preset)
        self._yuv = fmt.pix_fmt == "yuv420p"
        self.encoded_width = self.width + self.width % 2 * self._yuv
        self.encoded_height = self.height + self.height % 2 * self._yuv
        self.frames_written = 0
        self._container = None
        self._state = "open"  # -> "closed" (file in place) or "aborted" (nothing written)
        self._exit = contextlib.ExitStack()
        tmp = self._exit.enter_context(atomic_path(self.path))
        try:
            faststart = self.path.suffix.lower() in (".mp4", ".mov", ".m4v")
            options = {**_MUX_OPTIONS, **({"movflags": "+faststart"} if faststart else {})}
            self._container = av.open(str(tmp), "w", options=options)
            stream = self._container.add_stream(fmt.encoder, rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = self.encoded_width, self.encoded_height, fmt.pix_fmt
            stream.time_base = 1 / self.fps
            stream.options = dict(fmt.options)
            stream.codec_context.thread_type = "FRAME"
            if self._yuv:
                ctx = stream.codec_context
                ctx.colorspace = ctx.color_primaries = ctx.color_trc = _AVCOL_BT709
                ctx.color_range = _AVCOL_RANGE_MPEG
            self._stream = stream
            self._pix_fmt = fmt.pix_fmt
            self._reformatter = VideoReformatter()
            self._rgb = np.empty((self.encoded_height, self.encoded_width, 3), np.uint8)
            self._audio = _AudioTrack(self._container, audio, fmt.audio_codec) if audio is not None else None
        except BaseException as exc:
            self._discard(exc)
            raise

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            self.close()
        else:
            self._discard(exc)

    def write(self, frames: torch.Tensor | np.ndarray) -> None:
        """Append [T,H,W,3] (or one [H,W,3]) frames, float 0..1 or uint8, torch or numpy."""
        if self._state != "open":
            raise RuntimeError(f"VideoWriter for {str(self.path)!r} is already {self._state}")
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or tuple(frames.shape[1:3]) != (self.height, self.width):
            raise PlanError(
                f"frames of shape {tuple(frames.shape)} do not fit video {str(self.path)!r}: expected "
                f"[T, {self.height}, {self.width}, 3] RGB frames (resize them to {self.width}x{self.height} first)"
            )
        try:
            for i in range(frames.shape[0]):
                self._to_buffer(frames[i])
                self._encode(self.frames_written)
                self.frames_written += 1
            if self._audio is not None:
                self._audio.write_until(self.frames_written / self.fps)
        except BaseException as exc:
            self._discard(exc)
            raise

    def _to_buffer(self, frame) -> None:
        """One frame into the preallocated uint8 buffer (float: x*255 rounded and saturated)."""
        if isinstance(frame, torch.Tensor):
            frame = frame.detach()
            if frame.dtype not in (torch.float32, torch.float64, torch.uint8):
                frame = frame.float()
            frame = frame.cpu().numpy()
        frame = np.ascontiguousarray(frame)
        padded = self._rgb.shape[:2] != frame.shape[:2]
        if frame.dtype == np.uint8:
            self._rgb[: self.height, : self.width] = frame
        else:
            if frame.dtype not in (np.float32, np.float64):
                frame = frame.astype(np.float32)
            dst = np.empty(frame.shape, np.uint8) if padded else self._rgb
            # one fused pass, about 0.5 ms per 832x480 frame; negative values saturate to 0
            cv2.addWeighted(frame, 255.0, frame, 0.0, 0.0, dst=dst, dtype=cv2.CV_8U)
            if padded:
                self._rgb[: self.height, : self.width] = dst
        if self.encoded_width != self.width:
            self._rgb[:, self.width] = self._rgb[:, self.width - 1]
        if self.encoded_height != self.height:
            self._rgb[self.height] = self._rgb[self.height - 1]

    def _encode(self, index: int) -> None:
        # ``self._rgb`` is overwritten by the next frame, so the frame handed to the encoder must
        # own its pixels: encoders may keep a reference to it (FFmpeg's frame-threaded encoders
        # such as ffvhuff queue the frame itself). Converted frames get fresh memory from the
        # reformatter, which reads the buffer before returning (and, the format changing, never
        # hands back its input), so they can wrap it without a copy (0.25 ms per 832x480 frame);
        # the rgb24 frame (libx264rgb) goes to the encoder as it is and is a copy.
        if self._pix_fmt == "rgb24":
            frame = av.VideoFrame.from_ndarray(self._rgb, format="rgb24")
        else:
            frame = self._reformatter.reformat(
                av.VideoFrame.from_numpy_buffer(self._rgb, format="rgb24"),
                format=self._pix_fmt,
                dst_colorspace=Colorspace.ITU709,
                src_color_range=ColorRange.JPEG,
                dst_color_range=ColorRange.MPEG if self._yuv else ColorRange.JPEG,
                interpolation=_ENCODE_INTERPOLATION,
            )
        frame.pts = index
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> Path:
        """Flush the encoders and move the finished file onto ``path``; returns ``path``."""
        if self._state == "closed":
            return self.path
        if self._state == "aborted":
            raise RuntimeError(f"VideoWriter for {str(self.path)!r} was aborted: nothing was written")
        try:
            if self.frames_written == 0:
                raise PlanError(f"no frames were written to {str(self.path)!r}: a video needs at least one frame")
            for packet in self._stream.encode():
                self._container.mux(packet)
            if self._audio is not None:
                self._audio.write_until(self.frames_written / self.fps)
                self._audio.flush()
            self._container.close()
            self._container = None
        except BaseException as exc:
            self._discard(exc)
            raise
        self._state = "closed"
        self._exit.close()  # os.replace onto the target
        return self.path

    def abort(self) -> None:
        """Stop and delete the temporary file; ``path`` is left as it was."""
        self._discard(RuntimeError("VideoWriter aborted"))

    def _discard(self, exc: BaseException) -> None:
        if self._state != "open":
            return
        self._state = "aborted"
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
        self._exit.__exit__(type(exc), exc, exc.__traceback__)


def write_video(path, frames, fps, **kw) -> Path:
    """Write frames ([T,H,W,3] tensor/array, or an iterable of such chunks) to ``path``; returns it.

    Keyword arguments go to ``VideoWriter`` (codec, crf, preset, audio).
    """
    chunks: Iterable = [frames] if isinstance(frames, (torch.Tensor, np.ndarray)) else frames
    writer = None
    try:
        for chunk in chunks:
            if chunk.ndim == 3:
                chunk = chunk[None]
            if writer is None:
                writer = VideoWriter(path, fps, chunk.shape[2], chunk.shape[1], **kw)
            writer.write(chunk)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        raise PlanError(f"no frames were given for {str(path)!r}: a video needs at least one frame")
    return writer.close()
