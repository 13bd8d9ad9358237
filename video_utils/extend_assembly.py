"""Assemble an extended clip: the clip's own frames, then every segment's new frames, streamed.

The pieces are ``ExtendPlan.layout()``: the whole clip, then generated frames
``[context - blend, context + new)`` of each segment, overlapping the video before by ``blend``
(0 by default: a plain cut, the clip untouched).  A saved segment file holds exactly those
frames (``ExtendStep.trim_start`` dropped the rest), so every file is read once, whole.

The clip's frames are decoded and written as they are, never resized; segments generated at
another size (``sizes.generation_size``) are scaled back to the clip's size chunk by chunk
with ``ROUND_TRIP_FIT``.  Memory stays at one chunk plus the blend frames however long the
clip or the extension.  The clip's audio is kept for its own duration (the new frames are silent).
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, Sequence

import torch

from .conform import conform_frames
from .errors import PlanError
from .extend_plan import ROUND_TRIP_FIT, ExtendPlan
from .stitch import Progress, stitch_stream
from .probe import probe
from .video_read import iter_frames
from .video_write import H264_CODEC, VideoWriter


def extend_pieces(plan: ExtendPlan) -> tuple[list[int], list[int]]:
    """``(lengths, overlaps)`` of the assembly's sources: the clip, then each saved segment."""
    pieces, overlaps = plan.layout()
    lengths = [end - start for _, _, start, end in pieces]
    for (kind, index, start, end), saved in zip(pieces[1:], lengths[1:]):
        seg = plan.segments[index]
        if saved != seg.blend_frames + seg.new_frames or start != seg.context_frames - seg.blend_frames:
            raise PlanError(f"extension plan is inconsistent: segment {index}'s piece [{start}, {end}) is not its "
                            f"blend + new frames")
    return lengths, overlaps


def assemble_extend_files(
    clip_path: str | os.PathLike,
    segment_paths: Sequence[str | os.PathLike],
    plan: ExtendPlan,
    out_path: str | os.PathLike,
    *,
    audio=None,
    curve: str = "cosine",
    sharpen: float = 0.0,
    codec: str = H264_CODEC,
    crf: int = 19,
    preset: str = "medium",
    chunk: int = 16,
    progress: Progress | None = None,
) -> int:
    """Write clip + new frames to ``out_path`` (atomic) at the clip's size and rate; returns the
    frames written (``plan.total_frames``).  Every file is probed first, so a clip or segment of
    the wrong length fails before anything is encoded."""
    clip_path = os.fspath(clip_path)
    segment_paths = [os.fspath(p) for p in segment_paths]
    if len(segment_paths) != len(plan.segments):
        raise PlanError(f"{len(segment_paths)} segment files given but the extension has {len(plan.segments)} "
                        f"segments: generate every segment first")
    lengths, overlaps = extend_pieces(plan)
    clip = probe(clip_path)
    if clip.frame_count != plan.clip_frames:
        raise PlanError(f"the clip {clip_path!r} has {clip.frame_count} frames but the extension was planned for "
                        f"{plan.clip_frames}: plan with the clip's real length")
    infos = [probe(p) for p in segment_paths]
    for k, (path, info) in enumerate(zip(segment_paths, infos)):
        if info.frame_count != lengths[k + 1]:
            raise PlanError(f"segment {k}'s file {path!r} has {info.frame_count} frames but the plan saves "
                            f"{lengths[k + 1]} (blend {plan.segments[k].blend_frames} + new "
                            f"{plan.segments[k].new_frames}): regenerate it with the same settings")
        if info.stored_size != infos[0].stored_size:
            raise PlanError(f"segment {k}'s file {path!r} is {info.stored_width}x{info.stored_height} but segment 0's is "
                            f"{infos[0].stored_width}x{infos[0].stored_height}: generate every segment at one size")
    size = clip.stored_size  # the clip's frames as decoded
    sources = [lambda: iter_frames(clip_path, chunk=chunk)]
    sources += [_scaled(p, size, chunk) for p in segment_paths]
    names = ["the clip"] + [f"extension segment {k}" for k in range(len(segment_paths))]
    with VideoWriter(out_path, clip.fps, *size, codec=codec, crf=crf, preset=preset,
                     audio=audio) as writer:
        written = stitch_stream(sources, overlaps, writer.write, lengths=lengths, curve=curve, sharpen=sharpen,
                                progress=progress, names=names)
    if written != plan.total_frames:
        raise PlanError(f"the assembly wrote {written} frames but the plan has {plan.total_frames}")
    return written


def _scaled(path: str, size: tuple[int, int], chunk: int) -> Callable[[], Iterator[torch.Tensor]]:
    def frames():
        for piece in iter_frames(path, chunk=chunk):
            yield conform_frames(piece, size[0], size[1], ROUND_TRIP_FIT)
    return frames
