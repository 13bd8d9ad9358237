"""Render a travel or a join on this machine with the CPU preview generator.

This is what ``segue travel`` / ``segue join`` (no server) and the demo run: the same planner,
guides, stitch and assembly the ComfyUI nodes use, with ``preview_generate`` standing in for the
Wan sampler.  Segments go through exactly-lossless intermediate files so memory stays bounded by
one segment plus its overlap however long the travel is.
"""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import torch

from .errors import PlanError
from .guides import join_transition_guide, travel_segment_guide
from .join_assembly import assemble_join_files
from .join_plan import JoinPlan
from .preview_generator import preview_generate
from .resize import conform_frames
from .stitch import stitch_segment_files
from .travel_plan import TravelPlan
from .video_io import LOSSLESS_CODEC, LOSSLESS_SUFFIX, probe_video, read_audio, read_frames, write_video

Progress = Callable[[str, int, int], None]   # (stage, done, total)


def _check_generated(frames: torch.Tensor, expected: int, what: str) -> None:
    if frames.shape[0] != expected:
        raise RuntimeError(f"{what}: the generator returned {frames.shape[0]} frames, the plan needs {expected}")


def render_travel(
    keyframes: torch.Tensor,
    plan: TravelPlan,
    out_path: str | Path,
    *,
    fps: Fraction | float = 16,
    method: str = "flow",
    curve: str = "cosine",
    sharpen: float = 0.0,
    crf: int = 19,
    preset: str = "medium",
    work_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Generate every segment of ``plan`` from ``keyframes`` [N,H,W,3] and stitch them to ``out_path``."""
    if keyframes.shape[0] != len(plan.segments) + 1:
        raise PlanError(
            f"the plan has {len(plan.segments)} segments but {keyframes.shape[0]} keyframes were given: "
            f"give {len(plan.segments) + 1} images"
        )
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="segue-travel-", dir=work_dir) as tmp:
        paths: list[Path] = []
        previous: torch.Tensor | None = None
        total = len(plan.segments)
        for segment in plan.segments:
            if progress:
                progress("segments", segment.index, total)
            guide, mask = travel_segment_guide(plan, segment.index, keyframes, previous_output=previous)
            frames = preview_generate(guide, mask, method=method)
            _check_generated(frames, segment.generate_frames, f"segment {segment.index}")
            frames = frames[segment.trim_start:]
            path = Path(tmp) / f"seg_{segment.index:03d}{LOSSLESS_SUFFIX}"
            write_video(path, frames, fps, codec=LOSSLESS_CODEC)
            paths.append(path)
            previous = frames[-segment.overlap_with_next:].clone() if segment.overlap_with_next else None
        if progress:
            progress("segments", total, total)
        written = stitch_segment_files(
            paths, plan.overlaps, out_path, fps=fps, curve=curve, sharpen=sharpen, crf=crf, preset=preset,
            progress=(lambda done, n: progress("stitch", done, n)) if progress else None,
        )
    if written != plan.total_frames:
        raise RuntimeError(f"stitch wrote {written} frames, the plan needs {plan.total_frames}")
    return out_path


def render_join(
    clip_paths: Sequence[str | Path],
    plan: JoinPlan,
    out_path: str | Path,
    *,
    size: tuple[int, int] | None = None,
    fit: str = "crop",
    method: str = "flow",
    bridging: bool = False,
    curve: str = "cosine",
    sharpen: float = 0.0,
    crf: int = 19,
    preset: str = "medium",
    keep_audio: bool = True,
    work_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Generate a transition for every join of ``plan`` and assemble ``clip_paths`` into ``out_path``.

    Clips are brought to ``size`` (default: the first clip's size snapped to 16) and the first
    clip's frame rate; clips that need it are rewritten losslessly first.
    """
    from .sizes import wan_size

    infos = [probe_video(p) for p in clip_paths]
    width, height = size or wan_size(infos[0].width, infos[0].height)
    fps = infos[0].fps
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="segue-join-", dir=work_dir) as tmp:
        sources: list[Path] = []
        for k, (path, info) in enumerate(zip(clip_paths, infos)):
            if (info.width, info.height) == (width, height):
                sources.append(Path(path))
                continue
            frames = conform_frames(read_frames(path), width, height, fit)
            conformed = Path(tmp) / f"clip_{k:03d}{LOSSLESS_SUFFIX}"
            write_video(conformed, frames, fps, codec=LOSSLESS_CODEC)
            sources.append(conformed)
        transitions: list[Path] = []
        for spec in plan.joins:
            if progress:
                progress("transitions", spec.index, len(plan.joins))
            context_a = read_frames(sources[spec.index], spec.context_a_start,
                                    spec.context_a_start + spec.context_frames_a)
            context_b = read_frames(sources[spec.index + 1], spec.context_b_start,
                                    spec.context_b_start + spec.context_frames_b)
            guide, mask = join_transition_guide(spec, context_a, context_b, bridging=bridging)
            frames = preview_generate(guide, mask, method=method)
            _check_generated(frames, spec.transition_frames, f"transition {spec.index}")
            path = Path(tmp) / f"transition_{spec.index:03d}{LOSSLESS_SUFFIX}"
            write_video(path, frames, fps, codec=LOSSLESS_CODEC)
            transitions.append(path)
        if progress:
            progress("transitions", len(plan.joins), len(plan.joins))
        audio = read_audio(clip_paths[0]) if keep_audio else None
        written = assemble_join_files(
            sources, transitions, plan, out_path, fps=fps, audio=audio, crf=crf, preset=preset,
            curve=curve, sharpen=sharpen,
            progress=(lambda done, n: progress("assemble", done, n)) if progress else None,
        )
    if written != plan.total_frames:
        raise RuntimeError(f"assembly wrote {written} frames, the plan needs {plan.total_frames}")
    return out_path
