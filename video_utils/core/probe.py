"""THE probe of a user's video file: what is in it, exactly, before any frame is touched.

Every path (UI nodes, the ``/prompt`` orchestrator, the local CLI) asks this module what a clip
holds, so they all plan with the same numbers. PyAV and the standard library only: the
orchestrator imports it and must never import torch.

What it reports, and why it is careful:

* **Frame count**, never ``stream.frames`` alone: the container's count is missing (Matroska),
  or lies (a truncated or re-muxed file). The video packets are counted in one demux pass (no
  decoding; ``packet_scan``); the same pass collects every presentation timestamp.
* **Frame rate** as an exact ``Fraction`` (30000/1001, not 29.97), and whether it is
  **variable**: phones write variable-frame-rate clips whose timestamps are not evenly spaced;
  playing them "at the average rate" drifts out of sync with their sound. ``frame_times`` gives
  the real presentation times so the conform stage can place each frame where it was shown.
* **Size as stored and as displayed**: phones store portrait video landscape with a display
  matrix (rotation and mirroring), and some cameras store non-square pixels. ``orientation``
  says how to turn stored pixels into displayed ones; ``width``/``height`` are the displayed
  size (what a player shows, what the output should default to).
* **Sound**: presence, sample rate, channels and layout, duration and its offset from the video.
* **Truncation**: a cut-off file keeps counting its torn last packets; the probe decodes the last
  group of pictures (from the last keyframe to the end) and refuses a file whose packets there do
  not all decode, so every path (nodes and CLI) fails before anything is generated from it.

A file that cannot be a clip (missing, empty, corrupt, truncated, audio only, a
still image) raises ``PlanError`` naming the file and the fix. Results are cached per file
version (path, size, mtime). ``video_read`` decodes with these numbers and ``open_media``.
"""

from __future__ import annotations

import functools
import statistics
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from . import packet_scan
from .constants import OWN_TIMELINE_TAG
from .errors import PlanError
from .lengths import as_fps

# Demuxers that read a single picture: a still image is a keyframe, not a clip.
_IMAGE_FORMATS = ("image2", "image2pipe")
_IMAGE_FORMAT_SUFFIX = "_pipe"  # png_pipe, jpeg_pipe, webp_pipe, ...

# A frame counts as on the constant-rate grid when within this share of a frame interval of it
# (and at least two time-base ticks: Matroska's 1 ms ticks put 29.97 fps frames 33/34 ms apart).
_CFR_TOLERANCE = Fraction(1, 10)


def exact_rate(rate: Fraction | float | int) -> Fraction:
    """A container's frame rate as the exact fraction meant.

    Containers with a coarse time base report 60000/1001 as 19001/317; such rates (and floats)
    go through ``lengths.as_fps``, which snaps NTSC rates to k*1000/1001. Rates with small
    denominators are kept as they are.
    """
    rate = Fraction(rate)
    if rate > 0 and (rate.denominator <= 100 or 1001 % rate.denominator == 0):
        return rate
    return as_fps(float(rate), "frame rate")


@dataclass(frozen=True)
class Orientation:
    """How stored pixels become displayed ones: transpose first, then mirror.

    ``transpose`` swaps rows and columns; ``flip_h`` mirrors left-right, ``flip_v`` top-bottom
    (applied to the transposed picture). Together they express the 8 display-matrix (and EXIF)
    orientations; a phone's portrait clip stored landscape is ``transpose`` + one flip.
    """

    transpose: bool = False
    flip_h: bool = False
    flip_v: bool = False

    @property
    def identity(self) -> bool:
        return not (self.transpose or self.flip_h or self.flip_v)

    @property
    def rotation(self) -> int:
        """Counter-clockwise degrees (0, 90, 180, 270) of the rotation part, mirroring ignored."""
        if self.transpose:
            return 90 if self.flip_v else 270
        return 180 if self.flip_h else 0

    @classmethod
    def from_display_matrix(cls, matrix) -> "Orientation":
        """From FFmpeg's 3x3 display matrix (9 ints, 16.16 fixed point for the 2x2 part).

        FFmpeg maps a decoded point (p, q) to the displayed (a*p + c*q, b*p + d*q) with
        a, b, c, d = m[0], m[1], m[3], m[4] (y pointing down). Angles that are not a multiple of
        90 degrees are snapped to the nearest one (players differ there anyway).
        """
        a, b, c, d = (float(matrix[i]) for i in (0, 1, 3, 4))
        if abs(a) + abs(d) >= abs(b) + abs(c):
            return cls(False, a < 0, d < 0)
        return cls(True, c < 0, b < 0)

    @classmethod
    def from_rotation(cls, degrees: float) -> "Orientation":
        """From the clockwise ``rotate`` tag older FFmpeg versions wrote and read."""
        turns = round(float(degrees) / 90) % 4
        return (cls(), cls(True, True, False), cls(False, True, True), cls(True, False, True))[turns]

    def displayed_size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.transpose else (width, height)


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    layout: str          # FFmpeg's name: "mono", "stereo", "5.1", ...
    duration: float      # seconds of sound
    start: float         # seconds of sound's first sample after the video's first frame (sync offset)
    codec: str


@dataclass(frozen=True)
class MediaInfo:
    """One video file, as stored and as displayed. Times in seconds from the first frame."""

    path: str
    frame_count: int
    fps: Fraction                # exact: the nominal rate (constant) or frames / duration (variable)
    variable_rate: bool          # timestamps not on an even grid: use ``frame_times``
    duration: Fraction           # seconds the pictures cover (the last frame's display included)
    stored_width: int
    stored_height: int
    width: int                   # as displayed: pixel aspect and orientation applied
    height: int
    orientation: Orientation
    pixel_aspect: Fraction       # width of a stored pixel over its height; 1 for square pixels
    codec: str
    audio: AudioInfo | None
    own_timeline: bool = False   # one of Segue's intermediates (``OWN_TIMELINE_TAG``): opened quickly

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def rotation(self) -> int:
        return self.orientation.rotation

    @property
    def stored_size(self) -> tuple[int, int]:
        """(width, height) of the pixels as stored: the size ``video_read`` decodes frames at."""
        return self.stored_width, self.stored_height


def probe(path) -> MediaInfo:
    """Everything the conform stage and the planners need to know about a video file."""
    return _scan(path).info


def frame_times(path) -> tuple[Fraction, ...]:
    """Presentation time of every frame, in display order, seconds from the first frame.

    For a constant-rate file these are ``i / fps`` (the container's rounded timestamps are not
    used, so 29.97 fps in Matroska's 1 ms ticks maps back exactly); for a variable-rate file
    the real timestamps.
    """
    scan = _scan(path)
    if scan.ticks is None:
        return tuple(Fraction(i) / scan.info.fps for i in range(scan.info.frame_count))
    return tuple(t * scan.time_base for t in scan.ticks)


@dataclass(frozen=True)
class _Scan:
    info: MediaInfo
    ticks: tuple[int, ...] | None      # variable rate: timestamps from the first frame, in time_base
    time_base: Fraction | None


def _scan(path) -> _Scan:
    p = Path(path)
    if not p.is_file():
        raise PlanError(f"video {str(path)!r} does not exist: check the path")
    stat = p.stat()
    return _scan_cached(str(p.resolve()), stat.st_size, stat.st_mtime_ns)


# Keyed by (resolved path, size, mtime): a rewritten file is a new key and is probed again. Sized
# for a 100-clip join plus its generated transitions, references and outputs (each entry is a
# MediaInfo and, for variable-rate files, one int per frame).
_CACHE_SIZE = 1024


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _scan_cached(path: str, size: int, _mtime_ns: int) -> _Scan:
    if size == 0:
        raise PlanError(f"video {path!r} is an empty file (0 bytes): copy or export it again")
    try:
        with open_media(path, quick=True) as container:     # Segue's own intermediate: one open does it all
            own = _is_own(container) and _scan_opened(container, path)
    except PlanError:
        own = None                                          # a user's file: its full open says what is wrong
    return own or _scan_user_file(path)


def _is_own(container) -> bool:
    key, value = OWN_TIMELINE_TAG
    return container.metadata.get(key) == value and not container.streams.audio and bool(container.streams.video)


def _scan_user_file(path: str) -> _Scan:
    with open_media(path) as container:  # one decoded frame: orientation, and proof that it decodes
        orientation = _orientation(_video_stream(container, path), path)
    with open_media(path) as container:  # one demux pass, no decoding: count and timestamps
        return _scan_opened(container, path, orientation)


def _scan_opened(container, path: str, orientation: Orientation | None = None) -> _Scan | None:
    """The scan of an open file (``orientation`` None: one of ours, whose first frame is decoded
    here; None when its tail does not add up, and the user-file scan runs)."""
    own = orientation is None
    if own:
        orientation = _orientation(_video_stream(container, path), path)
    video = _video_stream(container, path)
    audio = container.streams.audio[0] if container.streams.audio else None
    try:
        counted = packet_scan.own_timeline(container, video, audio, _nominal_rate(video)) if own else None
        if own and counted is None:
            return None
        count, pts, audio_end, torn = counted or packet_scan.demux(container, video, audio)
    except av.FFmpegError as exc:
        raise PlanError(f"video {path!r} cannot be read to its end ({exc.strerror or exc}): the file is "
                        f"damaged; re-export it") from None
    if not count:
        raise PlanError(f"video {path!r} has no frames: re-export it")
    if pts and torn:
        packet_scan.check_tail(container, video, pts, path)
    fps, variable, duration, time_base = _timing(video, count, pts, path)
    ctx = video.codec_context
    sar = video.sample_aspect_ratio or ctx.sample_aspect_ratio
    pixel_aspect = Fraction(sar) if sar and sar > 0 else Fraction(1)
    width, height = orientation.displayed_size(max(1, round(ctx.width * pixel_aspect)), ctx.height)
    info = MediaInfo(path=path, frame_count=count, fps=fps, variable_rate=variable, duration=duration,
                     stored_width=ctx.width, stored_height=ctx.height, width=width, height=height,
                     orientation=orientation, pixel_aspect=pixel_aspect, codec=ctx.name,
                     audio=_audio_info(audio, audio_end, video) if audio is not None else None,
                     own_timeline=own)
    ticks = tuple(t - pts[0] for t in pts) if variable else None
    return _Scan(info=info, ticks=ticks, time_base=time_base)


def _video_stream(container, path: str):
    fmt = container.format.name
    if fmt in _IMAGE_FORMATS or fmt.endswith(_IMAGE_FORMAT_SUFFIX):
        raise PlanError(f"{path!r} is a still image ({fmt}), not a video: use it as a keyframe image, "
                        f"or give a video file")
    if not container.streams.video:
        kind = "only sound" if container.streams.audio else "no video stream"
        raise PlanError(f"{path!r} has {kind}: give a video file (a sound file can be a travel's soundtrack)")
    return container.streams.video[0]


_OPEN_FIX = "it is damaged, truncated or not a video; re-export or re-download it"


# Segue's intermediates describe their one stream in the header: no need to read 5 MB of it.
_QUICK_OPEN = {"probesize": "4096", "analyzeduration": "0"}


def open_media(path, what: str = "video", fix: str = _OPEN_FIX, *, check_exists: bool = False, quick: bool = False):
    """``av.open`` of a user's file (a video, or a sound file: ``what`` names it, ``fix`` says what
    to do), a ``PlanError`` naming it when FFmpeg refuses it (or, ``check_exists``, when there is
    no such file). The one opener of users' media: probe, video_read, audio_io and audio.
    ``quick``: without reading ahead for stream parameters (one of Segue's own files: 12 ms instead
    of 70 for a 1.7 GB intermediate); a user's file opened so is opened again in full."""
    path = str(path)
    if check_exists and not Path(path).is_file():
        raise PlanError(f"{what} {path!r} does not exist: check the path")
    try:
        return av.open(path, options=_QUICK_OPEN) if quick else av.open(path)
    except av.FFmpegError as exc:
        raise PlanError(f"{what} {path!r} cannot be opened ({exc.strerror or exc}): {fix}") from None


def _orientation(video, path: str) -> Orientation:
    """From the display matrix on the first decoded frame (PyAV 18 exposes it there only),
    else from an old-style ``rotate`` tag. Decoding one frame also proves the stream decodes."""
    try:
        frame = next(video.container.decode(video), None)
    except av.FFmpegError as exc:
        raise PlanError(f"video {path!r} cannot be decoded ({exc.strerror or exc}): the file is damaged or "
                        f"uses a codec this FFmpeg lacks; re-export it as H.264") from None
    if frame is None:
        raise PlanError(f"video {path!r} has no decodable frames: re-export it")
    for side in frame.side_data:
        if side.type.name == "DISPLAYMATRIX":
            data = bytes(side)
            matrix = [int.from_bytes(data[4 * i:4 * i + 4], sys.byteorder, signed=True) for i in range(9)]
            return Orientation.from_display_matrix(matrix)
    tag = video.metadata.get("rotate") or video.metadata.get("ROTATE")
    try:
        return Orientation.from_rotation(float(tag)) if tag else Orientation()
    except ValueError:
        return Orientation()


def _nominal_rate(video) -> Fraction | None:
    """The rate the stream's header states (exact), None when it states none."""
    for rate in (video.average_rate, video.base_rate, video.guessed_rate):
        if rate and rate > 0:
            return exact_rate(Fraction(rate))
    return None


def _timing(video, n: int, pts: list[int] | None, path: str) -> tuple[Fraction, bool, Fraction, Fraction | None]:
    """(fps, variable, duration, time base of the real timestamps or None) of ``n`` frames."""
    tb = Fraction(video.time_base) if video.time_base else None
    nominal = _nominal_rate(video)
    span = pts[-1] - pts[0] if pts and tb else 0
    if span == 0:  # one frame, or no timestamps to go by (raw streams, some AVI): the header's rate
        if nominal is None or (pts and n > 1):
            raise PlanError(f"video {path!r} has no usable frame timestamps or rate: re-export it with a "
                            f"constant frame rate")
        return nominal, False, n / nominal, None
    measured = exact_rate(Fraction(n - 1) / (span * tb)) if n > 1 else nominal
    # The header's rate is trusted when the timestamps agree with it (within 1%).
    rate = nominal if nominal and abs(float(nominal / measured) - 1) < 0.01 else measured
    # On the grid when |t*tb*rate - i| <= tolerance (in frames), checked in integers: t*p vs i*q.
    frames_per_tick = tb * rate
    p, q = frames_per_tick.numerator, frames_per_tick.denominator
    tolerance = max(_CFR_TOLERANCE, 2 * frames_per_tick)
    limit = tolerance * q
    first = pts[0]
    if all(abs((t - first) * p - i * q) <= limit for i, t in enumerate(pts)):
        return rate, False, n / rate, None
    intervals = [b - a for a, b in zip(pts, pts[1:])]
    step = Fraction(statistics.median(intervals)) * tb  # the last frame stays up for a typical frame's time
    duration = span * tb + step
    return Fraction(n) / duration, True, duration, tb


def _audio_info(audio, audio_end: int | None, video) -> AudioInfo:
    ctx = audio.codec_context
    tb = Fraction(audio.time_base) if audio.time_base else Fraction(1, ctx.sample_rate or 1)
    start = audio.start_time or 0
    if audio.duration:
        duration = Fraction(audio.duration) * tb
    elif audio_end is not None:
        duration = max(Fraction(0), (audio_end - start) * tb)
    else:
        duration = Fraction(0)
    video_start = Fraction(video.start_time or 0) * Fraction(video.time_base or 0)
    layout = ctx.layout
    return AudioInfo(sample_rate=int(ctx.sample_rate), channels=int(layout.nb_channels), layout=layout.name,
                     duration=float(duration), start=float(start * tb - video_start), codec=ctx.name)


def clear_cache() -> None:
    """Forget cached probes (tests that rewrite a file within one mtime tick)."""
    _scan_cached.cache_clear()

