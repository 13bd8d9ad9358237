"""Assemble an extended clip: the clip's own frames, then every segment's new frames, streamed.

The clip goes through the one conform stage (``conform.conform_video``, as a join's clips):
rotation applied, its rate conformed to the output rate by real timestamps, fitted to the output
size (``extend_format``: the clip's size as displayed and its rate, by default).  Nothing else
touches its frames (unless ``blend`` cross-fades its last ones).

The pieces are ``ExtendPlan.layout()`` in output frames: the whole clip, then each segment's
saved frames (blend + new, generated at 16 fps at the working size) retimed to the output rate
(``retime.Retimer`` at the plan's ``retime_sources``, the join transitions' mode
``DEFAULT_RETIME``) and scaled to the output size with ``ROUND_TRIP_FIT``.  Memory stays at one
chunk plus the blend frames however long the clip or the extension.

The sound (``extend_soundtrack``) is the clip's own, conformed like a join clip's
(``audio.join_timeline`` / ``assemble_soundtrack``: 48 kHz stereo, its offset from the pictures
honoured) under the clip's pictures; the new frames are silent; it lasts exactly as long as the
video.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, Sequence

import torch

from ..core.constants import DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_FIT, DEFAULT_PRESET, DEFAULT_RETIME
from ..core.errors import PlanError
from ..core.extend_plan import ROUND_TRIP_FIT, ExtendPlan
from ..core.output_format import extend_format
from ..core.probe import probe
from ..core.retime import conformed_frame_count
from ..core.sound_timeline import join_timeline
from .conform import conform_frames, conform_video
from .retimer import Retimer
from .sound import assemble_soundtrack
from .stitch import Progress, stitch_stream
from .video_read import iter_frames, read_last_frames
from .video_write import H264_CODEC, VideoWriter


def conformed_clip(clip_path: str, plan: ExtendPlan, start: int = 0, end: int | None = None,
                   chunk: int = 16) -> Iterator[torch.Tensor]:
    """Output frames ``[start, end)`` of the clip as the extension shows them (``conform_video``
    at ``extend_format``'s size and the plan's output rate): what the assembly writes and what
    the segments' context frames are taken from."""
    fmt = extend_format(clip_path)
    return conform_video(clip_path, fmt.width, fmt.height, fps=plan.output_fps, fit=DEFAULT_FIT, start=start,
                         end=end, chunk=chunk)


def check_clip(clip_path: str, plan: ExtendPlan) -> None:
    """The clip, conformed to the plan's output rate, must have the planned length."""
    frames = conformed_frame_count(clip_path, plan.output_fps)
    if frames != plan.clip_frames:
        raise PlanError(f"the clip {clip_path!r} has {frames} frames but the extension was planned for "
                        f"{plan.clip_frames}: plan with the clip's real length")


def assemble_extend_files(
    clip_path: str | os.PathLike,
    segment_paths: Sequence[str | os.PathLike],
    plan: ExtendPlan,
    out_path: str | os.PathLike,
    *,
    audio=None,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    codec: str = H264_CODEC,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    chunk: int = 16,
    progress: Progress | None = None,
) -> int:
    """Write clip + new frames to ``out_path`` (atomic) at ``extend_format``'s size and the plan's
    output rate with ``audio`` (``extend_soundtrack``); returns the frames written
    (``plan.total_frames``).  Every file is probed first, so a clip or segment of the wrong
    length or size fails before anything is encoded."""
    clip_path = os.fspath(clip_path)
    segment_paths = [os.fspath(p) for p in segment_paths]
    if len(segment_paths) != len(plan.segments):
        raise PlanError(f"{len(segment_paths)} segment files given but the extension has {len(plan.segments)} "
                        f"segments: generate every segment first")
    check_clip(clip_path, plan)
    fmt = extend_format(clip_path)
    work = (fmt.work_width, fmt.work_height)
    for k, path in enumerate(segment_paths):
        info, (start, end) = probe(path), plan.saved_window(k)
        if info.frame_count != end - start:
            raise PlanError(f"segment {k}'s file {path!r} has {info.frame_count} frames but the plan saves "
                            f"{end - start} (blend {plan.segments[k].blend_frames} + new "
                            f"{plan.segments[k].new_frames}): regenerate it with the same settings")
        if info.stored_size != work:
            raise PlanError(f"segment {k}'s file {path!r} is {info.stored_width}x{info.stored_height} but the "
                            f"extension generates at {work[0]}x{work[1]}: regenerate it with its extend step")
    pieces, overlaps = plan.layout()
    size = (fmt.width, fmt.height)
    last: list[torch.Tensor] = []          # the clip's last frame, the first segment's lead-in

    def clip_frames() -> Iterator[torch.Tensor]:
        for part in conformed_clip(clip_path, plan, chunk=chunk):
            last[:] = [part[-1:].clone()]
            yield part

    def lead(k: int) -> torch.Tensor:
        if k == 0:
            return conform_frames(last[0], *work, ROUND_TRIP_FIT)
        return read_last_frames(segment_paths[k - 1], 1)

    sources = [clip_frames] + [_retimed(plan, k, segment_paths[k], lead, size, chunk)
                               for k in range(len(segment_paths))]
    names = ["the clip"] + [f"extension segment {k}" for k in range(len(segment_paths))]
    with VideoWriter(out_path, plan.output_fps, *size, codec=codec, crf=crf, preset=preset,
                     audio=audio) as writer:
        written = stitch_stream(sources, overlaps, writer.write, lengths=[e - s for _, _, s, e in pieces],
                                curve=curve, sharpen=sharpen, progress=progress, names=names)
    if written != plan.total_frames:
        raise PlanError(f"the assembly wrote {written} frames but the plan has {plan.total_frames}")
    return written


def _retimed(plan: ExtendPlan, k: int, path: str, lead: Callable[[int], torch.Tensor], size: tuple[int, int],
             chunk: int) -> Callable[[], Iterator[torch.Tensor]]:
    """Segment ``k``'s piece: its saved frames (after ``lead(k)`` when it has no blend) at the
    plan's positions, scaled to the output ``size``."""
    def frames():
        ready: list[torch.Tensor] = []
        retimer = Retimer(plan.retime_sources(k), ready.append, DEFAULT_RETIME, chunk=chunk)
        if not plan.segments[k].blend_frames:
            retimer.push(lead(k))
        for part in iter_frames(path, chunk=chunk):
            retimer.push(part)
            yield from _scaled(ready, size)
        retimer.close()
        yield from _scaled(ready, size)
    return frames


def _scaled(ready: list[torch.Tensor], size: tuple[int, int]) -> Iterator[torch.Tensor]:
    while ready:
        yield conform_frames(ready.pop(0), size[0], size[1], ROUND_TRIP_FIT)


def extend_soundtrack(clip_path: str | os.PathLike, plan: ExtendPlan):
    """The extended clip's sound (``audio_io.AudioClip``), or None when the clip has none: the
    clip's own sound under its pictures (a one-clip join's timeline), then silence under the new
    frames, exactly as long as the video."""
    clip_path = os.fspath(clip_path)
    if not probe(clip_path).has_audio:
        return None
    duration = float(plan.clip_frames / plan.output_fps)
    spans = join_timeline([duration], [(0.0, duration)], [])
    return assemble_soundtrack([clip_path], spans, plan.total_frames / plan.output_fps)
