"""Cross-fade stitch of consecutive segments, in memory or streamed.

Segments ``0..S-1`` (already trimmed) are laid end to end; boundary ``i`` cross-fades the last
``overlaps[i]`` frames of segment ``i`` with the first ``overlaps[i]`` frames of segment ``i+1``
(see ``crossfade``), so the result has ``sum(lengths) - sum(overlaps)`` frames.

The in-memory stitch writes into ONE preallocated output (a growing ``torch.cat`` per segment
costs 10x the time and several GB of peak RAM).  The streamed stitch passes the sources' own
chunks on as views and copies only what it must keep: the tail of each segment (the overlap with
the next one), into one buffer allocated once, where the next segment's head is blended in place
as it arrives.  It never holds more than that buffer and one decoded chunk, so a long travel is
bounded by the encoder, not by RAM (measured in ``bench/bench_stitch.py``).  Both stitches blend
with the same per-frame kernel (``crossfade.blend_frame``), so their frames are identical.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Iterator, Sequence, Union

import torch

from ..core.constants import DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_PRESET
from ..core.errors import PlanError
from ..core.probe import probe as probe_video
from ..core.step_settings import check_blend
from .crossfade import blend_frame, frame_weights
from .video_read import iter_frames
from .video_write import VideoWriter

Progress = Callable[[int, int], None]
# A source of frames: a tensor [N,H,W,3], an iterable of such chunks, or a zero-argument callable
# returning one (opened only when the stitch reaches it, so files are read one at a time).
Source = Union[torch.Tensor, Iterable[torch.Tensor], Callable[[], Iterable[torch.Tensor]]]


def stitch_length(lengths: Sequence[int], overlaps: Sequence[int], names: Sequence[str] | None = None) -> int:
    """Validated output length ``sum(lengths) - sum(overlaps)``.

    Each overlap must fit in both neighbours, and a middle segment must hold its two overlaps
    without them crossing (otherwise a frame would be blended twice).
    """
    lengths = [int(n) for n in lengths]
    overlaps = _check_overlaps(len(lengths), overlaps)
    names = list(names) if names else [f"segment {i}" for i in range(len(lengths))]
    for i, n in enumerate(lengths):
        head = overlaps[i - 1] if i else 0
        tail = overlaps[i] if i < len(overlaps) else 0
        if head + tail > n:
            raise PlanError(
                f"{names[i]} has {n} frames but its overlaps need {head} + {tail}: lower the overlaps "
                f"around it or pass the full segment"
            )
    return sum(lengths) - sum(overlaps)


def _check_overlaps(count: int, overlaps: Sequence[int]) -> list[int]:
    overlaps = [int(o) for o in overlaps]
    if count < 1:
        raise PlanError("nothing to stitch: give at least one segment")
    if len(overlaps) != count - 1:
        raise PlanError(
            f"overlaps has {len(overlaps)} values but {count} segments have {count - 1} "
            f"boundaries: give one overlap per boundary"
        )
    for i, o in enumerate(overlaps):
        if o < 0:
            raise PlanError(f"overlaps[{i}]={o} is negative: use 0 (plain cut) or more frames")
    return overlaps


def stitch_stream(
    sources: Sequence[Source],
    overlaps: Sequence[int],
    sink: Callable[[torch.Tensor], None],
    *,
    lengths: Sequence[int] | None = None,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    progress: Progress | None = None,
    names: Sequence[str] | None = None,
) -> int:
    """Stream the stitch of ``sources`` into ``sink`` in output order; returns frames sent.

    ``sink`` receives [n,H,W,3] chunks (views of a source's chunk or of the stitch's own overlap
    buffer: consume or copy them before returning).  ``lengths`` (frames each source yields) are optional: given, the layout
    is validated before anything reaches the sink and each source's count is checked; without
    them a source that is too short fails when it ends.  ``progress(done, total)`` gets total 0
    when ``lengths`` are unknown.
    """
    names = list(names) if names else [f"segment {i}" for i in range(len(sources))]
    overlaps = _check_overlaps(len(sources), overlaps)
    total = 0
    if lengths is not None:
        if len(lengths) != len(sources):
            raise PlanError(f"lengths has {len(lengths)} values for {len(sources)} sources: give one per source")
        total = stitch_length(lengths, overlaps, names)
    written = 0

    def emit(frames: torch.Tensor) -> None:
        nonlocal written
        if frames.shape[0]:
            sink(frames)
            written += frames.shape[0]
            if progress:
                progress(written, total)

    check_blend(curve, sharpen)     # reject a bad curve before anything reaches the sink
    shape: tuple | None = None
    tail = _Tail(max(overlaps, default=0))
    for i, source in enumerate(sources):
        head_n = overlaps[i - 1] if i else 0
        tail_n = overlaps[i] if i < len(overlaps) else 0
        expected = int(lengths[i]) if lengths is not None else None
        weights = frame_weights(head_n, curve, sharpen)
        if not head_n:
            tail.clear()
        count = 0                       # frames of this source seen so far
        for chunk in iter_chunks(source):
            shape = _check_frames(names[i], chunk, shape)
            n = chunk.shape[0]
            if expected is not None and count + n > expected:
                count += n              # too long: only count, the error below names it
                continue
            if count < head_n:          # head: blend into the held tail in place, pass it on
                take = min(head_n - count, n)
                for k in range(take):
                    frame = tail.frame(count + k)
                    blend_frame(frame, chunk[k], *weights[count + k], out=frame)
                for run in tail.runs(count, count + take):
                    emit(run)
                chunk, count = chunk[take:], count + take
                if count == head_n:
                    tail.clear()
                n = chunk.shape[0]
            if not n:
                continue
            if expected is not None:    # known length: only the real tail is copied
                body = max(0, min(n, expected - tail_n - count))
                emit(chunk[:body])
                tail.put(chunk[body:], count + body - (expected - tail_n))
            else:                       # unknown length: hold back the latest tail_n frames
                tail.hold(chunk, tail_n, emit)
            count += n
        if count < head_n + tail_n:
            raise PlanError(
                f"{names[i]} has {count} frames but its overlaps need {head_n} + {tail_n}: "
                f"lower the overlaps around it or check that the whole segment was written"
            )
        if expected is not None and count != expected:
            raise PlanError(
                f"{names[i]} yielded {count} frames but {expected} were expected: the file or "
                f"source changed or its frame count is wrong"
            )
    return written


def stitch_segment_files(
    paths: Sequence[str | os.PathLike],
    overlaps: Sequence[int],
    out_path: str | os.PathLike,
    *,
    fps,
    trim_start: int | Sequence[int] = 0,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    codec: str = "h264",
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    audio=None,
    chunk: int = 16,
    progress: Progress | None = None,
) -> int:
    """Stitch video files into ``out_path`` chunk by chunk; returns the frames written.

    ``trim_start`` drops leading frames before stitching: an int applies to the FIRST file only
    (a travel's segment-0 lead-in), a sequence gives one value per file.  The output is written
    atomically by ``VideoWriter`` and its frames equal ``stitch_segments`` on the decoded inputs.
    """

    paths = [os.fspath(p) for p in paths]
    if isinstance(trim_start, int):
        trims = [trim_start] + [0] * (len(paths) - 1)
    else:
        trims = [int(t) for t in trim_start]
        if len(trims) != len(paths):
            raise PlanError(f"trim_start has {len(trims)} values for {len(paths)} files: give one per file or one int")
    if not paths:
        raise PlanError("nothing to stitch: give at least one segment file")
    infos = [probe_video(p) for p in paths]
    # The stored size: what ``iter_frames`` decodes (a display matrix is not applied), so the
    # size the writer is opened at and the size every file's frames arrive at.
    size = infos[0].stored_size
    for p, info in zip(paths, infos):
        if info.stored_size != size:
            raise PlanError(
                f"{p} is {info.stored_width}x{info.stored_height} but {paths[0]} is {size[0]}x{size[1]} (as stored): "
                f"all segments must have one size"
            )
    lengths = []
    for p, info, trim in zip(paths, infos, trims):
        if not 0 <= trim <= info.frame_count:
            raise PlanError(f"trim_start {trim} for {p} is outside its {info.frame_count} frames")
        lengths.append(info.frame_count - trim)
    names = [os.path.basename(p) for p in paths]
    stitch_length(lengths, overlaps, names)
    sources = [_file_source(iter_frames, p, t, chunk) for p, t in zip(paths, trims)]
    with VideoWriter(out_path, fps, *size,
                     codec=codec, crf=crf, preset=preset, audio=audio) as writer:
        return stitch_stream(sources, overlaps, writer.write, lengths=lengths, curve=curve,
                             sharpen=sharpen, progress=progress, names=names)


def _file_source(iter_frames, path: str, start: int, chunk: int) -> Callable[[], Iterator[torch.Tensor]]:
    return lambda: iter_frames(path, start=start, chunk=chunk)


def iter_chunks(source: Source) -> Iterator[torch.Tensor]:
    """The [n,H,W,3] chunks of a source (a tensor is one chunk; a callable is opened now)."""
    if isinstance(source, torch.Tensor):
        return iter((source,))
    if callable(source):
        source = source()
    return (chunk if chunk.dim() == 4 else chunk[None] for chunk in source)


def _check_frames(name: str, frames: torch.Tensor, shape: tuple | None) -> tuple:
    """Frames must be floating [n,H,W,3] of the first frames' ``(H, W, 3)``; returns that shape."""
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or frames.shape[-1] != 3:
        got = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise PlanError(f"{name} must be IMAGE frames [n,H,W,3], got {got}")
    if not frames.is_floating_point():
        raise PlanError(f"{name} has dtype {frames.dtype}: pass IMAGE frames as floats in 0..1")
    if shape is not None and tuple(frames.shape[1:]) != shape:
        raise PlanError(
            f"{name} is {frames.shape[2]}x{frames.shape[1]} but the first segment is "
            f"{shape[1]}x{shape[0]}: resize all segments to one size"
        )
    return tuple(frames.shape[1:])


class _Tail:
    """The frames kept for the next overlap: a ring of ``capacity`` frames allocated once.

    Frames are copied in (a source may reuse its chunk buffer); logical frame k is the k-th oldest
    held frame.  The next segment's head is blended into these frames in place and passed on.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity, self.buf, self.start, self.count = capacity, None, 0, 0

    def clear(self) -> None:
        self.start = self.count = 0

    def frame(self, k: int) -> torch.Tensor:
        return self.buf[(self.start + k) % self.capacity]

    def runs(self, a: int, b: int) -> list[torch.Tensor]:
        """Logical frames [a, b) as at most two contiguous views of the buffer."""
        out = []
        while a < b:
            p = (self.start + a) % self.capacity
            n = min(b - a, self.capacity - p)
            out.append(self.buf[p: p + n])
            a += n
        return out

    def put(self, frames: torch.Tensor, at: int) -> None:
        """Copy ``frames`` to logical positions ``at, at+1, ...``."""
        n = frames.shape[0]
        if not n:
            return
        if self.buf is None:
            self.buf = torch.empty((self.capacity, *frames.shape[1:]), dtype=torch.float32, device=frames.device)
        done = 0
        for run in self.runs(at, at + n):
            run.copy_(frames[done: done + run.shape[0]])
            done += run.shape[0]
        self.count = max(self.count, at + n)

    def hold(self, chunk: torch.Tensor, keep: int, emit: Callable[[torch.Tensor], None]) -> None:
        """Pass on all but the latest ``keep`` frames seen (held ones first), keep those."""
        n = chunk.shape[0]
        if keep == 0:
            emit(chunk)
        elif n >= keep:
            for run in self.runs(0, self.count):
                emit(run)
            emit(chunk[: n - keep])
            self.clear()
            self.put(chunk[n - keep:], 0)
        else:
            excess = self.count + n - keep
            if excess > 0:
                for run in self.runs(0, excess):
                    emit(run)
                self.start = (self.start + excess) % self.capacity
                self.count -= excess
            self.put(chunk, self.count)
