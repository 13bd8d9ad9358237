"""Every VIDEO a ComfyUI hands over, read as it is meant: the one adapter all Segue nodes read
VIDEO inputs through (no node looks at a VIDEO's class itself).

What arrives (core ``comfy_api`` video types, 0.3.64 up to 0.27 and the releases after it):

* ``VideoFromFile`` of a path (Load Video, Segue's savers): the plain file, read straight from
  disk over the frames asked for (seeking for a tail), never decoded whole.
* the same with a **trim window** (0.27's Trim Video, ``get_active_trim_window()``): the file's
  frames inside the window, exactly those core's ``get_components`` keeps, and its sound over the
  same window (``video_utils.engine.trim_window``); still read from the file with a seek.
* ``VideoFromComponents`` (Create Video): the tensors it holds.
* anything else — a ``VideoFromFile`` of an in-memory buffer, a cropped one (``as_cropped`` in
  later releases), ``VideoFromList`` (core "Concatenate Video" in later releases, whose
  ``get_components`` raises ``NotImplementedError``), other packs' VIDEO types: written once into
  ComfyUI's temp folder (``temp/segue/videos/``, atomically: a buffer's bytes as they are, the
  rest through the VIDEO's own ``save_to``) and read from that file like a plain one.

``get_components()`` is never called on a file: it decodes the whole clip to float32, which is
how peers run out of RAM on long clips.  Nodes that take clips by file name (join, extend, the
step chain, file lists) call ``video_file_name``: the file itself when the VIDEO is a whole file
inside ComfyUI's folders, otherwise a lossless copy of exactly its frames and sound.
"""

from __future__ import annotations

import hashlib
import io as _io
import os
import uuid
import weakref
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator

import torch

from ..video_utils.core.atomic import atomic_path
from ..video_utils.core.constants import LOSSLESS_SUFFIX
from ..video_utils.core.errors import PlanError
from ..video_utils.core.folders import PathError, resolve_output, to_annotated
from ..video_utils.core.probe import probe
from ..video_utils.engine.audio_io import AudioClip, read_audio
from ..video_utils.engine.trim_window import TrimWindow, copy_frames, window_audio, window_frames
from ..video_utils.engine.video_read import iter_frames, read_frames, read_last_frames
from ..video_utils.engine.video_write import LOSSLESS_CODEC, VideoWriter
from .api import VIDEO_CROP, InputImpl, folders

COPIES = "segue/videos"       # under temp/: materialised VIDEOs and lossless copies
CHUNK = 16


@dataclass(frozen=True)
class VideoInfo:
    """The frames a VIDEO yields: count, rate and their size (a file's stored size, as decoded;
    ``probe.probe`` has the rest of a file's facts)."""

    frame_count: int
    fps: Fraction
    width: int
    height: int


@dataclass(frozen=True)
class _Source:
    """Where a VIDEO's pictures come from: frames ``[first, end)`` of ``path`` (with the sound
    cut to ``window`` when there is one), or the tensors of an in-memory VIDEO."""

    path: str | None = None
    first: int = 0
    end: int = 0
    window: TrimWindow | None = None
    audio_start: float | None = None
    components: object = None

    @property
    def whole_file(self) -> bool:
        return self.path is not None and self.window is None


# Per VIDEO object (ComfyUI hands the same object to every node that reads it, and keeps it while
# it caches the producing node's output): what it resolved to, and the files written for it.
_resolved: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def _memo(video) -> dict:
    try:
        return _resolved.setdefault(video, {})
    except TypeError:                 # not weak-referenceable: resolved again each time
        return {}


def file_video(path: str):
    """A lazy, file-backed VIDEO of ``path`` (nothing is decoded until someone reads it)."""
    return InputImpl.VideoFromFile(path)


def _trim_window(video) -> TrimWindow:
    getter = getattr(video, "get_active_trim_window", None)       # 0.27 and later
    if getter is None:
        return TrimWindow()
    start, duration = getter()
    return TrimWindow(float(start), float(duration))


def _cropped(video, path: str) -> bool:
    """A later release's ``VideoFromFile.as_cropped``: its reported size is the crop's, not the file's."""
    return VIDEO_CROP and tuple(video.get_dimensions()) != probe(path).stored_size


def _source(video) -> _Source:
    memo = _memo(video)
    source, stamp = memo.get("source", (None, None))
    if source is not None and source.path is not None and _stamp(source.path) == stamp:
        return source
    if source is not None and source.path is None:
        return source
    source = _resolve(video)
    memo["source"] = (source, _stamp(source.path) if source.path is not None else None)
    return source


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _resolve(video) -> _Source:
    if isinstance(video, InputImpl.VideoFromComponents):
        return _Source(components=video.get_components())
    if isinstance(video, InputImpl.VideoFromFile):
        stream = video.get_stream_source()
        path = None
        if isinstance(stream, (str, os.PathLike)):
            path = os.fspath(stream)
        elif isinstance(stream, _io.BytesIO):
            path = _materialise(video, stream)
        if path is not None and not _cropped(video, path):
            return _file_source(path, _trim_window(video))
        return _file_source(_materialise(video, None), TrimWindow())      # save_to applies window and crop
    try:
        stream = video.get_stream_source()
    except NotImplementedError:
        stream = None
    if isinstance(stream, (str, os.PathLike)):
        return _file_source(os.fspath(stream), _trim_window(video))
    buffer = stream if isinstance(stream, _io.BytesIO) else None
    return _file_source(_materialise(video, buffer), _trim_window(video) if buffer is not None else TrimWindow())


def _file_source(path: str, window: TrimWindow) -> _Source:
    if window.whole:
        return _Source(path=path, first=0, end=probe(path).frame_count)
    frames = window_frames(path, window)
    return _Source(path=path, first=frames.first, end=frames.end, window=window, audio_start=frames.audio_start)


def _materialise(video, buffer: _io.BytesIO | None) -> str:
    """The VIDEO as one file in temp/segue/videos/, written once per VIDEO object: a buffer's
    bytes as they are (a file held in memory), anything else through its own ``save_to`` (which
    applies its window and crop; a cropped file is re-encoded losslessly where ``save_to`` takes
    a ``crf``)."""
    memo = _memo(video)
    kind = "buffer" if buffer is not None else "saved"
    known = memo.get(kind)
    if known and os.path.isfile(known):
        return known
    if buffer is not None:
        data = buffer.getvalue()
        name = f"{COPIES}/buffer_{hashlib.sha256(data).hexdigest()[:20]}.mp4 [temp]"
    else:
        name = f"{COPIES}/{type(video).__name__}_{uuid.uuid4().hex}.mp4 [temp]"
    path, _, _ = resolve_output(name, folders(), "video")
    if not os.path.isfile(path):
        with atomic_path(path) as tmp:
            if buffer is not None:
                tmp.write_bytes(data)
            else:
                _save_to(video, str(tmp))
    memo[kind] = path
    return path


def _save_to(video, path: str) -> None:
    kwargs = {"crf": 0} if VIDEO_CROP and isinstance(video, InputImpl.VideoFromFile) else {}
    try:
        video.save_to(path, **kwargs)
    except NotImplementedError:
        raise PlanError(f"this VIDEO ({type(video).__name__}) can neither be read nor saved: save it with Save "
                        f"Video and load the file with Load Video") from None


def video_info(video) -> VideoInfo:
    source = _source(video)
    if source.path is not None:
        info = probe(source.path)
        return VideoInfo(source.end - source.first, info.fps, info.stored_width, info.stored_height)
    images = source.components.images
    return VideoInfo(int(images.shape[0]), Fraction(source.components.frame_rate), int(images.shape[2]),
                     int(images.shape[1]))


def _check_range(count: int, start: int, end: int | None) -> int:
    end = count if end is None else end
    if not 0 <= start <= end <= count:
        raise PlanError(f"frame range [{start}, {end}) is outside the VIDEO's {count} frames: use "
                        f"0 <= start <= end <= {count}")
    return end


def read_range(video, start: int = 0, end: int | None = None) -> torch.Tensor:
    """Frames ``[start, end)`` of the VIDEO as IMAGE (float32 [n,H,W,3])."""
    source = _source(video)
    if source.path is not None:
        end = _check_range(source.end - source.first, start, end)
        return read_frames(source.path, source.first + start, source.first + end)
    return source.components.images[start:end].to(torch.float32)


def read_tail(video, count: int) -> torch.Tensor:
    """The last ``count`` frames (a file is read by seeking near the window's end)."""
    source = _source(video)
    if source.path is not None:
        if source.end == probe(source.path).frame_count:
            tail = read_last_frames(source.path, count)
            return tail[max(0, tail.shape[0] - (source.end - source.first)):]
        return read_frames(source.path, max(source.first, source.end - count), source.end)
    images = source.components.images
    return images[max(0, images.shape[0] - count):].to(torch.float32)


def chunk_source(video, start: int = 0, end: int | None = None, chunk: int = CHUNK
                 ) -> Callable[[], Iterator[torch.Tensor]]:
    """A zero-argument callable yielding frame chunks, opened only when a stitch reaches it."""
    source = _source(video)
    if source.path is not None:
        end = _check_range(source.end - source.first, start, end)
        return lambda: iter_frames(source.path, source.first + start, source.first + end, chunk=chunk)

    def frames():
        images = source.components.images[start:end]
        for i in range(0, images.shape[0], chunk):
            yield images[i:i + chunk].to(torch.float32)
    return frames


def _audio(source: _Source) -> AudioClip | None:
    if source.path is not None:
        clip = read_audio(source.path)
        return clip if source.window is None else window_audio(clip, source.window, source.audio_start)
    audio = source.components.audio
    return AudioClip.from_comfy(audio) if audio is not None else None


def video_audio(video):
    """The VIDEO's sound as core AUDIO (``{"waveform", "sample_rate"}``) or None."""
    clip = _audio(_source(video))
    return clip.as_comfy() if clip is not None else None


def video_file_path(video, label: str) -> str:
    """The path of a file holding exactly this VIDEO's frames and sound: the file itself when the
    VIDEO is a whole file, otherwise a lossless copy in temp/segue/videos/."""
    source = _source(video)
    return source.path if source.whole_file else _copy(video, source, label)


def video_file_name(video, label: str) -> str:
    """``video_file_path`` as an annotated name, for the nodes that read clips by name: a whole
    file outside ComfyUI's input/output/temp folders is copied into temp/ too."""
    source = _source(video)
    if source.whole_file:
        try:
            return to_annotated(source.path, folders())
        except PathError:
            pass
    return to_annotated(_copy(video, source, label), folders())


def _copy(video, source: _Source, label: str) -> str:
    """A lossless copy of a source's frames (upright) and sound in temp/segue/videos/; a file's
    copy is named after the file and its frames, so a second run finds it instead of writing it."""
    if source.path is not None:
        stat = os.stat(source.path)
        key = hashlib.sha256(repr((os.path.realpath(source.path), stat.st_size, stat.st_mtime_ns, source.first,
                                   source.end, source.window)).encode()).hexdigest()[:20]
        stem = os.path.splitext(os.path.basename(source.path))[0][:40]
        path, _, _ = resolve_output(f"{COPIES}/{stem}_{key} [temp]", folders(), label, suffix=LOSSLESS_SUFFIX)
        if not os.path.isfile(path):
            copy_frames(source.path, source.first, source.end, path, _audio(source))
        return path
    memo = _memo(video)
    if memo.get("copy") and os.path.isfile(memo["copy"]):
        return memo["copy"]
    path, _, _ = resolve_output(f"{COPIES}/frames_{uuid.uuid4().hex} [temp]", folders(), label,
                                suffix=LOSSLESS_SUFFIX)
    images = source.components.images
    with VideoWriter(path, Fraction(source.components.frame_rate), int(images.shape[2]), int(images.shape[1]),
                     codec=LOSSLESS_CODEC, audio=_audio(source)) as writer:
        for i in range(0, images.shape[0], CHUNK):
            writer.write(images[i:i + CHUNK, ..., :3].to(torch.float32))
    memo["copy"] = path
    return path


def file_of(video, name: str) -> str | None:
    """A file holding exactly a VIDEO input's frames (None when not connected): its own file, or a
    copy of a trimmed or in-memory VIDEO."""
    if video is None:
        return None
    return video_file_path(video, name)
