"""Cross-fade stitch of consecutive segments, in memory or streamed.

Segments ``0..S-1`` (already trimmed) are laid end to end; boundary ``i`` cross-fades the last
``overlaps[i]`` frames of segment ``i`` with the first ``overlaps[i]`` frames of segment ``i+1``
(see ``crossfade``), so the result has ``sum(lengths) - sum(overlaps)`` frames.

The in-memory stitch writes into ONE preallocated output (a growing ``torch.cat`` per segment
costs 10x the time and several GB of peak RAM).  The streamed stitch never holds more than one
overlap tail, one overlap head and one decoded chunk, so a long travel is bounded by the encoder,
not by RAM.  Both blend whole overlaps with the same kernel call, so their frames are identical.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Iterator, Sequence, Union

import numpy as np
import torch

from .crossfade import crossfade, crossfade_weights
from .errors import PlanError
from .travel_plan import TravelPlan

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


def stitch_segments(
    segments: Sequence[torch.Tensor],
    overlaps: Sequence[int],
    curve: str = "cosine",
    sharpen: float = 0.0,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Stitch in-memory segments [N_i,H,W,3] into one new float32 tensor."""
    crossfade_weights(0, curve)     # reject a bad curve before any work
    shape = None
    for i, seg in enumerate(segments):
        shape = _check_frames(f"segment {i}", seg, shape)
    total = stitch_length([s.shape[0] for s in segments], overlaps)
    _, h, w, _ = segments[0].shape
    out = _allocate(total, h, w, segments[0].device)
    pos = 0
    for i, seg in enumerate(segments):
        head = int(overlaps[i - 1]) if i else 0
        tail = int(overlaps[i]) if i < len(overlaps) else 0
        if head:
            crossfade(segments[i - 1][-head:], seg[:head], curve, sharpen, out=out[pos: pos + head])
            pos += head
        body = seg[head: seg.shape[0] - tail]
        out[pos: pos + body.shape[0]].copy_(body)
        pos += body.shape[0]
        if progress:
            progress(pos, total)
    return out


def stitch_stream(
    sources: Sequence[Source],
    overlaps: Sequence[int],
    sink: Callable[[torch.Tensor], None],
    *,
    lengths: Sequence[int] | None = None,
    curve: str = "cosine",
    sharpen: float = 0.0,
    progress: Progress | None = None,
    names: Sequence[str] | None = None,
) -> int:
    """Stream the stitch of ``sources`` into ``sink`` in output order; returns frames sent.

    ``sink`` receives [n,H,W,3] chunks (often views of a source's chunk: consume or copy them
    before returning).  ``lengths`` (frames each source yields) are optional: given, the layout
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

    crossfade_weights(0, curve)     # reject a bad curve before anything reaches the sink
    shape: tuple | None = None
    prev_tail: torch.Tensor | None = None
    for i, source in enumerate(sources):
        head_n = overlaps[i - 1] if i else 0
        tail_n = overlaps[i] if i < len(overlaps) else 0
        head = _Head(head_n)
        hold = _Holdback(tail_n)
        count = 0
        for chunk in iter_chunks(source):
            shape = _check_frames(names[i], chunk, shape)
            count += chunk.shape[0]
            rest = head.fill(chunk)
            if head.just_filled:
                emit(crossfade(prev_tail, head.frames, curve, sharpen))
            for piece in hold.push(rest):
                emit(piece)
        if count < head_n + tail_n:
            raise PlanError(
                f"{names[i]} has {count} frames but its overlaps need {head_n} + {tail_n}: "
                f"lower the overlaps around it or check that the whole segment was written"
            )
        if lengths is not None and count != int(lengths[i]):
            raise PlanError(
                f"{names[i]} yielded {count} frames but {int(lengths[i])} were expected: the file or "
                f"source changed or its frame count is wrong"
            )
        prev_tail = hold.frames()
    return written


def stitch_segment_files(
    paths: Sequence[str | os.PathLike],
    overlaps: Sequence[int],
    out_path: str | os.PathLike,
    *,
    fps,
    trim_start: int | Sequence[int] = 0,
    curve: str = "cosine",
    sharpen: float = 0.0,
    codec: str = "h264",
    crf: int = 19,
    preset: str = "medium",
    audio=None,
    chunk: int = 16,
    progress: Progress | None = None,
) -> int:
    """Stitch video files into ``out_path`` chunk by chunk; returns the frames written.

    ``trim_start`` drops leading frames before stitching: an int applies to the FIRST file only
    (a travel's segment-0 lead-in), a sequence gives one value per file.  The output is written
    atomically by ``VideoWriter`` and its frames equal ``stitch_segments`` on the decoded inputs.
    """
    from .video_io import VideoWriter, iter_frames, probe_video  # PyAV only for the file path

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
    for p, info in zip(paths, infos):
        if (info.width, info.height) != (infos[0].width, infos[0].height):
            raise PlanError(
                f"{p} is {info.width}x{info.height} but {paths[0]} is {infos[0].width}x{infos[0].height}: "
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
    with VideoWriter(out_path, fps, infos[0].width, infos[0].height,
                     codec=codec, crf=crf, preset=preset, audio=audio) as writer:
        return stitch_stream(sources, overlaps, writer.write, lengths=lengths, curve=curve,
                             sharpen=sharpen, progress=progress, names=names)


def plan_segment_trims(plan: TravelPlan) -> tuple[list[int], list[int]]:
    """``(trim_starts, overlaps)`` to stitch a travel's generated segments: each segment drops its
    first ``trim_start`` frames (only segment 0's exact-keyframes lead-in is non-zero)."""
    return [s.trim_start for s in plan.segments], list(plan.overlaps)


def _file_source(iter_frames, path: str, start: int, chunk: int) -> Callable[[], Iterator[torch.Tensor]]:
    return lambda: iter_frames(path, start=start, chunk=chunk)


def iter_chunks(source: Source) -> Iterator[torch.Tensor]:
    """The [n,H,W,3] chunks of a source (a tensor is one chunk; a callable is opened now)."""
    if isinstance(source, torch.Tensor):
        return iter((source,))
    if callable(source):
        source = source()
    return (chunk if chunk.dim() == 4 else chunk[None] for chunk in source)


def _allocate(frames: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """Uninitialised float32 [frames,h,w,3]; numpy's allocator faults fresh pages in about twice
    as fast as torch's for big CPU buffers (the first write dominates a stitch's cost)."""
    if device.type == "cpu":
        return torch.from_numpy(np.empty((frames, h, w, 3), dtype=np.float32))
    return torch.empty((frames, h, w, 3), dtype=torch.float32, device=device)


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


class _Head:
    """Collects a segment's first ``n`` frames (copied: a source may reuse its chunk buffer)."""

    def __init__(self, n: int) -> None:
        self.n, self.have, self.frames, self.just_filled = n, 0, None, False

    def fill(self, chunk: torch.Tensor) -> torch.Tensor:
        """Take what the head still needs from ``chunk``; returns the rest."""
        self.just_filled = False
        take = min(self.n - self.have, chunk.shape[0])
        if take <= 0:
            return chunk
        if self.frames is None:
            self.frames = torch.empty((self.n, *chunk.shape[1:]), dtype=torch.float32, device=chunk.device)
        self.frames[self.have: self.have + take].copy_(chunk[:take])
        self.have += take
        self.just_filled = self.have == self.n
        return chunk[take:]


class _Holdback:
    """Passes frames through but always holds back the latest ``keep`` (the overlap tail)."""

    def __init__(self, keep: int) -> None:
        self.keep, self.parts, self.count = keep, [], 0

    def push(self, chunk: torch.Tensor) -> list[torch.Tensor]:
        if self.keep == 0:
            return [chunk]
        if chunk.shape[0] == 0:
            return []
        self.parts.append(chunk)
        self.count += chunk.shape[0]
        new = len(self.parts) - 1           # index of the part that is a view of this chunk
        out = []
        excess = self.count - self.keep
        while excess > 0:
            part = self.parts[0]
            if part.shape[0] <= excess:
                out.append(part)
                self.parts.pop(0)
                new -= 1
                taken = part.shape[0]
            else:
                out.append(part[:excess])
                self.parts[0] = part[excess:]
                taken = excess
            self.count -= taken
            excess -= taken
        if new >= 0:
            self.parts[new] = self.parts[new].clone()
        return out

    def frames(self) -> torch.Tensor | None:
        if not self.keep:
            return None
        return self.parts[0] if len(self.parts) == 1 else torch.cat(self.parts)
