"""Reference implementations the tests hold the product against, kept out of the pack because
only the tests use them: the in-memory stitch, cross-fade and join assembly (the product streams
from files; these give the same frames from tensors), the whole-batch retiming behind the
streamed ``Retimer``, the nearest/blend index tables of a retime, and a guide's one-line summary.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np
import torch

from segue.video_utils.core.constants import DEFAULT_CURVE
from segue.video_utils.core.errors import PlanError
from segue.video_utils.core.join_plan import JoinPlan
from segue.video_utils.core.lengths import retime_count, retime_source, round_half_up
from segue.video_utils.core.retime import _count, _rate
from segue.video_utils.core.step_settings import check_blend
from segue.video_utils.core.transition_timeline import transition_lengths
from segue.video_utils.core.travel_plan import TravelPlan
from segue.video_utils.engine.crossfade import blend_frame, frame_weights
from segue.video_utils.engine.guides import kept_frames
from segue.video_utils.engine.join_assembly import _check_counts, _check_length, _name, join_layout
from segue.video_utils.engine.retimer import Retimer
from segue.video_utils.engine.stitch import Progress, Source, _check_frames, iter_chunks, stitch_length, stitch_stream


def _allocate(frames: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """Uninitialised float32 [frames,h,w,3]; numpy's allocator faults fresh pages in about twice
    as fast as torch's for big CPU buffers (the first write dominates a stitch's cost)."""
    if device.type == "cpu":
        return torch.from_numpy(np.empty((frames, h, w, 3), dtype=np.float32))
    return torch.empty((frames, h, w, 3), dtype=torch.float32, device=device)


def stitch_segments(
    segments: Sequence[torch.Tensor],
    overlaps: Sequence[int],
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Stitch in-memory segments [N_i,H,W,3] into one new float32 tensor."""
    check_blend(curve, sharpen)     # reject a bad curve before any work
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


def plan_segment_trims(plan: TravelPlan) -> tuple[list[int], list[int]]:
    """``(trim_starts, overlaps)`` to stitch a travel's generated segments: each segment drops its
    first ``trim_start`` frames (only segment 0's exact-keyframes lead-in is non-zero)."""
    return [s.trim_start for s in plan.segments], list(plan.overlaps)


def crossfade(
    a_tail: torch.Tensor,
    b_head: torch.Tensor,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Blend ``(1-alpha)*a_tail + alpha*b_head`` frame by frame ([n,H,W,3] each).

    ``sharpen`` > 0 adds an unsharp mask (Gaussian sigma 3) of strength ``sharpen*alpha_k``,
    clipped to 0..1 (an unsharpened blend of frames in 0..1 is in 0..1 already).
    ``out`` (same shape, float32, contiguous) receives the result in place, e.g. a slice of a
    preallocated stitch output.
    """
    if a_tail.shape != b_head.shape or a_tail.dim() != 4 or a_tail.shape[-1] != 3:
        raise PlanError(
            f"cross-fade needs two equal [n,H,W,3] frame stacks, got {tuple(a_tail.shape)} and "
            f"{tuple(b_head.shape)}: give both videos the same size and overlap"
        )
    weights = frame_weights(a_tail.shape[0], curve, sharpen)
    if out is None:
        out = torch.empty(a_tail.shape, dtype=torch.float32, device=a_tail.device)
    elif out.shape != a_tail.shape or out.dtype != torch.float32 or not out.is_contiguous():
        raise PlanError(
            f"cross-fade output has shape {tuple(out.shape)} {out.dtype}, needs a contiguous "
            f"{tuple(a_tail.shape)} float32 tensor"
        )
    for k, (alpha, amount) in enumerate(weights):
        blend_frame(a_tail[k], b_head[k], alpha, amount, out[k])
    return out


def assemble_join(
    clips: Sequence[torch.Tensor],
    transitions: Sequence[torch.Tensor],
    plan: JoinPlan,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    progress: Progress | None = None,
) -> torch.Tensor:
    """The joined video in memory: exactly ``plan.total_frames`` frames."""
    _check_counts(len(clips), len(transitions), plan)
    for k, clip in enumerate(clips):
        _check_length(f"clip {k}", clip.shape[0] if clip.dim() == 4 else -1, plan.clip_frames[k])
    for j, transition in enumerate(transitions):
        _check_transition(j, transition.shape[0] if transition.dim() == 4 else -1, plan)
    pieces, overlaps = join_layout(plan)
    sources = {"clip": clips, "transition": transitions}
    segments = [sources[kind][i][start:end] for kind, i, start, end in pieces]
    return stitch_segments(segments, overlaps, curve, sharpen, progress)


def assemble_join_stream(
    clips: Sequence[Source],
    transitions: Sequence[Source],
    plan: JoinPlan,
    sink: Callable[[torch.Tensor], None],
    *,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    progress: Progress | None = None,
) -> int:
    """Stream the joined video into ``sink`` from full-clip sources (tensors, chunk iterables or
    callables returning them, e.g. a ComfyUI VIDEO's frame reader); returns frames sent.  Each
    source's length is checked against the plan as it is read."""
    _check_counts(len(clips), len(transitions), plan)
    pieces, overlaps = join_layout(plan)
    if plan.loop and not (isinstance(transitions[-1], torch.Tensor) or callable(transitions[-1])):
        raise PlanError(
            f"the loop transition (join {len(plan.joins) - 1}) is read twice (the video's start and end): pass it "
            f"as a tensor or a callable that reopens it, not a one-shot iterator"
        )
    sources = []
    for kind, i, start, end in pieces:
        full = clips[i] if kind == "clip" else transitions[i]
        expected = plan.clip_frames[i] if kind == "clip" else plan.joins[i].transition_frames
        sources.append(_checked_window(full, start, end, expected, kind, i, plan))
    return stitch_stream(sources, overlaps, sink, lengths=[e - s for _, _, s, e in pieces], curve=curve,
                         sharpen=sharpen, progress=progress, names=[_name(p) for p in pieces])


def _checked_window(source: Source, start: int, end: int, expected: int, kind: str, index: int, plan: JoinPlan):
    """A callable yielding frames ``[start, end)`` of ``source`` that reads the source to its end
    (a few frames past ``end`` at most) to check its length against the plan."""
    def frames():
        count = 0
        for chunk in iter_chunks(source):
            n = chunk.shape[0]
            lo, hi = max(start - count, 0), min(end - count, n)
            if lo < hi:
                yield chunk[lo:hi]
            count += n
        if kind == "clip":
            _check_length(f"clip {index}", count, expected)
        else:
            _check_transition(index, count, plan)
    return frames


def _positions(n: int, in_fps, out_fps, count: int | None, anchor: str) -> list[Fraction]:
    """Fractional source position of every output frame (frames as samples at instants).

    The count and the start-anchored positions are ``lengths.retime_count`` / ``retime_source``
    (the planners' rule: first and last frames are kept); ``anchor="end"`` mirrors them.
    """
    n = _count(n, "frames")
    src, out = _rate(in_fps, "in_fps"), _rate(out_fps, "out_fps")
    if anchor not in ANCHORS:
        raise PlanError(f"anchor={anchor!r} is not an anchor: use one of {', '.join(ANCHORS)}")
    count = retime_count(n, src, out) if count is None else _count(count, "count")
    if anchor == "start":
        return [retime_source(k, n, src, out) for k in range(count)]
    ratio = src / out
    return [max(Fraction(0), (n - 1) - (count - 1 - k) * ratio) for k in range(count)]


def retime_indices(frames: int, in_fps, out_fps, count: int | None = None, anchor: str = "start") -> list[int]:
    """"nearest": the source frame closest in time to each output frame (ties: the later one)."""
    return [round_half_up(x) for x in _positions(frames, in_fps, out_fps, count, anchor)]


def retime_weights(frames: int, in_fps, out_fps, count: int | None = None,
                   anchor: str = "start") -> list[tuple[int, int, float]]:
    """"blend": per output frame ``(i, j, w)`` = ``(1 - w) * frame[i] + w * frame[j]``, j = i + 1."""
    result = []
    for x in _positions(frames, in_fps, out_fps, count, anchor):
        i = math.floor(x)
        w = x - i
        result.append((i, min(i + 1, frames - 1), float(w)) if w else (i, i, 0.0))
    return result


def retime_frames(frames, in_fps, out_fps, count: int | None = None, mode: str = "nearest",
                  anchor: str = "start"):
    """A batch [N,H,W,3] at ``in_fps`` as [count,H,W,3] at ``out_fps``, covering the same span."""
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4:
        shape = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
        raise PlanError(f"frames {shape} are not an IMAGE batch: expected [frames, height, width, channels]")
    if not frames.is_floating_point():
        frames = frames.float().div_(255)
    parts: list = []
    retimer = Retimer(_positions(int(frames.shape[0]), in_fps, out_fps, count, anchor), parts.append, mode)
    retimer.push(frames)
    retimer.close()
    return torch.cat(parts)


def guide_summary(mask: torch.Tensor, expand: bool = False) -> str:
    """Compact text of a mask: ``K`` = kept frame (mean mask < 0.5), ``.`` = generated.

    Run-length by default (``"10K 78. 1K"``); ``expand=True`` gives one character per frame
    (``"KKKKKKKKKK.....K"``), handy in tests.
    """
    if mask.dim() < 1 or mask.shape[0] == 0:
        return ""
    kept = kept_frames(mask)
    chars = "".join("K" if k else "." for k in kept.tolist())
    if expand:
        return chars
    runs: list[str] = []
    start = 0
    for i in range(1, len(chars) + 1):
        if i == len(chars) or chars[i] != chars[start]:
            runs.append(f"{i - start}{chars[start]}")
            start = i
    return " ".join(runs)


def transition_length(context: int, gap: int) -> tuple[int, int]:
    """``(T, effective_gap)`` with ``T = 2*context + effective_gap`` a 4n+1 length (one rate).

    The gap shrinks by the rounding when it can (the original's rule); a gap too small to absorb
    it grows to the next 4n+1 instead.
    """
    t = transition_lengths(context, gap)
    return t.frames, t.gap


def _check_transition(index: int, frames: int, plan: JoinPlan, path: str | None = None) -> None:
    j = plan.joins[index]
    if frames != j.transition_frames:
        where = f" ({path})" if path else ""
        if j.generation_frames == j.transition_frames:
            fix = (f"generate it with length {j.transition_frames} (a 4n+1 length; other lengths are floored by "
                   f"the sampler)")
        else:
            fix = (f"generate it with length {j.generation_frames} at the generation rate, then retime it to "
                   f"{j.transition_frames} output frames (JoinSpec.retime_sources)")
        raise PlanError(
            f"transition of join {index}{where} has {frames} frames but the plan needs {j.transition_frames} "
            f"(context {j.context_frames_a} + gap {j.gap_frames} + context {j.context_frames_b}): {fix}"
        )


ANCHORS = ("start", "end")
