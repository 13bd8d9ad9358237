"""Frames into video files with PyAV: H.264 for delivery, bit-exact RGB between steps.

Why this module is careful (measurements in ``/work/shared/spec/video-io-facts.md``):

* Chained segments read frames back from earlier outputs. We convert rgb->yuv with accurate
  rounding and tag matrix, range and chroma siting, which ``video_read`` honours: no
  systematic drift over encode/decode generations. Frames passed between steps should still
  use ``codec=LOSSLESS_CODEC`` (bit-exact); the final video is encoded once.
* The same frames give the same bytes (see "Same input, same bytes" below).
* A file appears under its name only when complete (``atomic.atomic_path``); frames are
  converted float->uint8 one at a time into one reused buffer, so memory stays flat.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np
import torch
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter

from ..core.atomic import atomic_path
from ..core.constants import DEFAULT_CRF, DEFAULT_PRESET, LOSSLESS_SUFFIX, OWN_TIMELINE_TAG, PRESETS
from ..core.errors import PlanError
from ..core.lengths import as_fps
from .audio_io import AudioClip, AudioTrack
from .video_read import AVCOL_BT709, AVCOL_RANGE_MPEG

# Bit-exact RGB for frames passed between steps. Measured (bench/bench_video_io.py), 832x480:
# in Matroska, libx264rgb qp 0 (ultrafast, keyframe every 16 frames) is the fastest exact codec,
# ~0.43x raw; FFV1 is 2-4x slower. FFvHuff and Ut Video are faster still but PyAV refuses them in
# Matroska, so ".avi" (FFvHuff, median prediction) is offered too: ~1.5-2x faster, ~0.47x raw.
LOSSLESS_CODEC = "lossless"
H264_CODEC = "h264"
CODECS = (H264_CODEC, LOSSLESS_CODEC)

# rgb->yuv with accurate rounding: no drift.
_ENCODE_INTERPOLATION = Interpolation.BICUBIC | Interpolation.ACCURATE_RND

# --------------------------------------------------------------------------------------------
# Same input, same bytes
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
        from numpy._core._multiarray_umath import __cpu_features__ as features  # optional: numpy 2's private
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features  # optional: numpy 1's
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
            return _VideoFormat("libx264rgb", "rgb24", options, "pcm_f32le")   # sound exact too
        if suffix == ".avi":
            return _VideoFormat("ffvhuff", "gbrp", {"pred": "median"}, "pcm_s16le")
        raise PlanError(f"lossless output path ending {suffix!r} is not supported: use {LOSSLESS_SUFFIX} (or .avi)")
    raise PlanError(f"codec={codec!r} is not a known codec: use one of {', '.join(CODECS)}")


class VideoWriter:
    """Encode frames to ``path``; the file appears there only when closed successfully.

    ``codec="h264"``: libx264 yuv420p, CRF + preset, frame threading, tagged BT.709 limited range
    with centre-sited chroma (what swscale produces). H.264 4:2:0 needs even sides: an odd width
    or height is padded by repeating the last column/row (``encoded_width``/``encoded_height``).
    ``codec=LOSSLESS_CODEC``: bit-exact RGB, for frames passed between steps.
    ``audio`` is muxed alongside and trimmed to the video's length. ``pixel_aspect`` (width of a
    pixel over its height) is stored in the stream when it is not 1.
    Use as a context manager: an exception inside the ``with`` (or ``abort()``) discards the file
    and leaves whatever was at ``path`` before untouched.
    """

    def __init__(self, path, fps: Fraction | float, width: int, height: int, *, codec: str = H264_CODEC,
                 crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET, audio: AudioClip | None = None,
                 pixel_aspect: Fraction = Fraction(1)):
        self.path = Path(path)
        self.fps = as_fps(fps)
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
            if codec == LOSSLESS_CODEC and audio is None:
                key, value = OWN_TIMELINE_TAG       # frame i at i/fps: the probe reads the tail only
                self._container.metadata[key] = value
            stream = self._container.add_stream(fmt.encoder, rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = self.encoded_width, self.encoded_height, fmt.pix_fmt
            stream.time_base = 1 / self.fps
            stream.options = dict(fmt.options)
            stream.codec_context.thread_type = "FRAME"
            if pixel_aspect != 1:                   # non-square pixels, e.g. a copied anamorphic clip
                stream.codec_context.sample_aspect_ratio = Fraction(pixel_aspect)
            if self._yuv:
                ctx = stream.codec_context
                ctx.colorspace = ctx.color_primaries = ctx.color_trc = AVCOL_BT709
                ctx.color_range = AVCOL_RANGE_MPEG
            self._stream = stream
            self._pix_fmt = fmt.pix_fmt
            self._reformatter = VideoReformatter()
            self._rgb = np.empty((self.encoded_height, self.encoded_width, 3), np.uint8)
            self._audio = AudioTrack(self._container, audio, fmt.audio_codec) if audio is not None else None
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


def write_video(path, frames, fps, *, progress: Callable[[int, int], None] | None = None, chunk: int = 8,
                **kw) -> Path:
    """Write frames ([T,H,W,3] tensor/array, or an iterable of such chunks) to ``path``; returns it.

    A batch is written ``chunk`` frames at a time, ``progress(done, total)`` after each (a node's
    progress bar, which also honours Cancel).  Keyword arguments go to ``VideoWriter`` (codec,
    crf, preset, audio).
    """
    total = None
    if isinstance(frames, (torch.Tensor, np.ndarray)):
        batch = frames if frames.ndim == 4 else frames[None]
        total = int(batch.shape[0])
        frames = (batch[i:i + chunk] for i in range(0, total, chunk))
    writer = None
    try:
        for part in frames:
            if part.ndim == 3:
                part = part[None]
            if writer is None:
                writer = VideoWriter(path, fps, part.shape[2], part.shape[1], **kw)
            writer.write(part)
            if progress is not None and total is not None:
                progress(writer.frames_written, total)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        raise PlanError(f"no frames were given for {str(path)!r}: a video needs at least one frame")
    return writer.close()
