"""Assemble joined clips and their generated transitions, frame-exact against a ``JoinPlan``.

A join is a stitch: the output is ``clip0 | T0 | clip1 | T1 | ...`` where transition ``j`` is cut
to ``[c_a - blend, T - c_b + blend)`` and overlaps its neighbours by ``blend`` frames on each
side.  So over A's last ``c_a`` kept frames the first ``c_a - blend`` stay A's own pixels and the
last ``blend`` fade A -> transition (the last one fully the transition); the gap is the
transition's; over B's first ``c_b`` frames the first ``blend`` fade transition -> B and the rest
are B's.  Reusing the travel stitch keeps the in-memory and streamed paths identical.

A loop plan (``plan.loop``) wraps around: the video begins inside the loop transition (its B
side fading into clip 0) and ends with the rest of it, see ``join_layout``.  Everything here is in
the OUTPUT timeline: transitions generated at another rate are retimed to ``transition_frames``
first (``JoinSpec.retime_sources``).

Transitions must have exactly the planned length: a transition a few frames short shifts every
later frame and shows as ghosting in the blends, so it is an error naming the join.
"""

from __future__ import annotations

import os
from typing import Sequence


from ..core.constants import (DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_FIT, DEFAULT_GAP_AUDIO, DEFAULT_PRESET,
                              DEFAULT_RETIME)
from ..core.errors import PlanError
from ..core.join_plan import JoinPlan
from ..core.probe import probe
from ..core.retime import conformed_frame_count
from ..core.sizes import check_fit, even_size
from ..core.sound_timeline import join_timeline
from .conform import conform_frames, conform_video
from .retimer import Retimer
from .sound import assemble_soundtrack
from .stitch import Progress, stitch_length, stitch_stream
from .video_read import iter_frames
from .video_write import VideoWriter


def join_layout(plan: JoinPlan) -> tuple[list[tuple[str, int, int, int]], list[int]]:
    """Pieces in output order, ``(kind, index, start, end)`` with kind "clip" or "transition",
    and the overlaps (blend frames) between consecutive pieces.

    A loop plan starts with the loop transition's first ``blend`` B-context frames (fading into
    clip 0's head) and ends with that transition cut where its B context begins, so the loop
    transition appears twice, as two disjoint windows of one source.
    """
    pieces: list[tuple[str, int, int, int]] = []
    overlaps: list[int] = []
    last = len(plan.joins) - 1
    for j in plan.joins:
        if not 0 <= j.blend_frames <= min(j.context_frames_a, j.context_frames_b):
            raise PlanError(f"join {j.index} blends {j.blend_frames} frames but its contexts are "
                            f"{j.context_frames_a}/{j.context_frames_b}")
    if plan.loop and plan.joins[last].blend_frames:
        j = plan.joins[last]
        b_start = j.transition_frames - j.context_frames_b
        pieces.append(("transition", last, b_start, b_start + j.blend_frames))
    for k, span in enumerate(plan.clips):
        if pieces:
            overlaps.append(plan.joins[k - 1].blend_frames if k else plan.joins[last].blend_frames)
        pieces.append(("clip", k, span.keep_start, span.keep_end))
        if k < len(plan.joins):
            j = plan.joins[k]
            blend = j.blend_frames
            closing = plan.loop and k == last
            end = j.transition_frames - j.context_frames_b + (0 if closing else blend)
            pieces.append(("transition", k, j.context_frames_a - blend, end))
            overlaps.append(blend)
    total = stitch_length([end - start for _, _, start, end in pieces], overlaps, [_name(p) for p in pieces])
    if total != plan.total_frames:
        raise PlanError(f"join plan is inconsistent: its pieces give {total} frames, the plan says {plan.total_frames}")
    return pieces, overlaps


def assemble_join_files(
    clip_paths: Sequence[str | os.PathLike],
    transition_paths: Sequence[str | os.PathLike],
    plan: JoinPlan,
    out_path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    fit: str = DEFAULT_FIT,
    retime: str = DEFAULT_RETIME,
    audio=None,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    codec: str = "h264",
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    chunk: int = 16,
    progress: Progress | None = None,
) -> int:
    """Stream the joined video from files into ``out_path`` (atomic); returns frames written.

    The output is at ``plan.output_fps`` and ``size`` (default: the first clip's size as
    displayed, made even for H.264).  Clips pass through the one conform stage (orientation,
    ``fit``, frame rate) straight from their own files: pictures that are not regenerated never
    go through the generation size.  Transitions (``generation_frames`` at the generation rate
    and size) are retimed to the output rate (``retime``: nearest or blend) and brought to the
    output size with the same ``fit`` (a working size of a slightly different aspect, its sides
    multiples of 16, is cropped or padded as the clips are, never stretched unless ``fit`` says
    so).  Every file is checked against the plan before anything is decoded.
    """

    check_fit(fit)
    clip_paths = [os.fspath(p) for p in clip_paths]
    transition_paths = [os.fspath(p) for p in transition_paths]
    _check_counts(len(clip_paths), len(transition_paths), plan)
    fps = plan.output_fps
    for k, p in enumerate(clip_paths):
        _check_length(f"clip {k} ({p})", conformed_frame_count(p, fps), plan.clip_frames[k])
    for j, p in enumerate(transition_paths):
        _check_generated(j, probe(p).frame_count, plan, p)
    if size is None:
        first = probe(clip_paths[0])
        size = even_size(first.width, first.height)
    width, height = size

    def clip(k: int, start: int, end: int):
        return lambda: conform_video(clip_paths[k], width, height, fps=fps, fit=fit, start=start, end=end,
                                     chunk=chunk)

    def transition(j: int, start: int, end: int):
        def frames():
            for part in _retimed(transition_paths[j], plan.joins[j].retime_sources()[start:end], retime, chunk):
                yield conform_frames(part, width, height, fit)
        return frames

    pieces, overlaps = join_layout(plan)
    sources = [(clip if kind == "clip" else transition)(i, start, end) for kind, i, start, end in pieces]
    with VideoWriter(out_path, fps, width, height, codec=codec, crf=crf, preset=preset, audio=audio) as writer:
        return stitch_stream(sources, overlaps, writer.write, lengths=[e - s for _, _, s, e in pieces],
                             curve=curve, sharpen=sharpen, progress=progress, names=[_name(p) for p in pieces])


def _retimed(path: str, positions, mode: str, chunk: int):
    """The generated frames of ``path`` shown at ``positions`` (generation frames), streamed."""

    ready: list = []
    retimer = Retimer(positions, ready.append, mode, chunk=chunk)
    needed = max((int(p) + 2 for p in positions), default=0)
    for part in iter_frames(path, chunk=chunk):
        retimer.push(part)
        yield from ready
        ready.clear()
        if retimer.seen >= needed:
            break
    retimer.close()
    yield from ready


def _check_generated(index: int, frames: int, plan: JoinPlan, path: str) -> None:
    j = plan.joins[index]
    if frames != j.generation_frames:
        raise PlanError(
            f"transition of join {index} ({path}) has {frames} frames but the plan generates {j.generation_frames} "
            f"(a 4n+1 length at the generation rate): generate it with the join's step (its length) and do not "
            f"change the batch in between")


def _check_counts(n_clips: int, n_transitions: int, plan: JoinPlan) -> None:
    if n_clips != len(plan.clips):
        raise PlanError(f"{n_clips} clips given but the plan joins {len(plan.clips)}: pass the clips the plan was made for")
    if n_transitions != len(plan.joins):
        raise PlanError(
            f"{n_transitions} transitions given but the plan has {len(plan.joins)} joins: generate one transition per join"
        )


def _check_length(name: str, frames: int, expected: int) -> None:
    if frames != expected:
        raise PlanError(
            f"{name} has {frames} frames but the join plan was made for {expected}: re-plan with the "
            f"clip's real length (e.g. after an fps change)"
        )


def _name(piece: tuple[str, int, int, int]) -> str:
    kind, index, start, end = piece
    return f"{kind} {index} (frames {start}..{end - 1})"


def join_soundtrack(clip_paths: Sequence[str | os.PathLike], plan: JoinPlan, gap_audio: str = DEFAULT_GAP_AUDIO):
    """The joined video's sound (``audio_io.AudioClip``), or None when no clip has any.

    Every clip's sound plays under its own kept pictures (``audio.join_timeline``: what the
    generated gaps sound like is ``gap_audio``: a cross-fade of the neighbours, the clips' own
    cut, or silence); a clip without sound is silent there, never another clip's sound; the
    result lasts exactly as long as the video.  A loop's closing transition (the end of the
    video) is silent: the sound fades out into it.
    """

    paths = [os.fspath(p) for p in clip_paths]
    if not any(probe(p).has_audio for p in paths):
        return None
    fps = plan.output_fps
    order = [c.index for c in sorted(plan.clips, key=lambda c: c.start_frame)]   # clip 0 starts at 0
    durations = [plan.clip_frames[k] / fps for k in order]
    kept = [(plan.clips[k].keep_start / fps, plan.clips[k].keep_end / fps) for k in order]
    starts = [plan.clips[k].start_frame for k in order]
    gaps = [(starts[i + 1] - starts[i] - (plan.clips[order[i]].keep_end - plan.clips[order[i]].keep_start)) / fps
            for i in range(len(order) - 1)]
    spans = join_timeline([float(d) for d in durations], [(float(a), float(b)) for a, b in kept],
                          [float(g) for g in gaps], gap_audio=gap_audio)
    sources = [paths[k] if probe(paths[k]).has_audio else None for k in order]
    return assemble_soundtrack(sources, spans, plan.total_frames / fps)
