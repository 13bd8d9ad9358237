"""Render a travel, a join or an extension on this machine with the CPU preview generator.

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

from ..core.chains import tone_applies
from ..core.constants import (DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_FIT, DEFAULT_GAP_AUDIO, DEFAULT_PRESET,
                              DEFAULT_PREVIEW_METHOD, DEFAULT_RETIME, LOSSLESS_SUFFIX)
from ..core.errors import PlanError
from ..core.extend_plan import ExtendPlan
from ..core.join_plan import JoinPlan
from ..core.lengths import retime_count
from ..core.travel_plan import TravelPlan
from .delivery import Output, deliver_segments
from .guides import OverlapAdjust
from .join_assembly import assemble_join_files, join_soundtrack
from .postprocess import PostSettings, finish_frames
from .preview_generator import preview_generate
from .steps import ExtendStep, JoinStep, TravelStep
from .video_write import LOSSLESS_CODEC, write_video

Progress = Callable[[str, int, int], None]   # (stage, done, total)


def _item_post(post: PostSettings, index: int, is_join: bool = False) -> PostSettings:
    """Item ``index``'s post-processing: saturation and brightness only where the prompts apply
    them (``chains.tone_applies``), the colour match everywhere."""
    if tone_applies(index, is_join):
        return post
    return PostSettings(post.colour_match, post.colour_method, post.colour_strength)


def _generate(step, method: str, post: PostSettings, path: Path) -> Path:
    """What SeguePreviewStep does on a server: guide, preview, finish, lossless file."""
    guide, mask = step.guide()
    frames = finish_frames(preview_generate(guide, mask, method=method), step, post)
    write_video(path, frames, step.fps, codec=LOSSLESS_CODEC)
    return path


def render_travel(
    keyframes: torch.Tensor,
    plan: TravelPlan,
    out_path: str | Path,
    *,
    fps: Fraction | float = 16,
    method: str = DEFAULT_PREVIEW_METHOD,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    adjust: OverlapAdjust | None = None,
    post: PostSettings | None = None,
    output: Output = Output(),
    soundtrack: str | Path | None = None,
    work_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Generate every segment of ``plan`` from ``keyframes`` [N,H,W,3] and stitch them to ``out_path``
    (the steps, guides and post-processing of the nodes, so the result is theirs bit for bit);
    ``fps`` is the generation rate, ``output`` how the stitch is delivered."""
    if keyframes.shape[0] != plan.keyframe_count:   # one image: 1 segment; a loop: as many segments
        raise PlanError(
            f"the plan has {plan.keyframe_count} keyframes but {keyframes.shape[0]} were given: "
            f"give {plan.keyframe_count} images"
        )
    out_path = Path(out_path)
    post = post or PostSettings()
    with tempfile.TemporaryDirectory(prefix="segue-travel-", dir=work_dir) as tmp:
        paths: list[Path] = []
        total = len(plan.segments)
        for segment in plan.segments:
            if progress:
                progress("segments", segment.index, total)
            previous = str(paths[-1]) if segment.context_frames else None
            first = str(paths[0]) if segment.end_context_frames else None    # a loop's closing segment
            step = TravelStep(plan, segment.index, keyframes, previous, adjust or OverlapAdjust(), Fraction(fps),
                              first)
            paths.append(_generate(step, method, _item_post(post, segment.index),
                                   Path(tmp) / f"seg_{segment.index:03d}{LOSSLESS_SUFFIX}"))
        if progress:
            progress("segments", total, total)
        written = deliver_segments(
            paths, plan.overlaps, out_path, fps=fps, output=output, soundtrack=soundtrack, curve=curve,
            sharpen=sharpen, crf=crf, preset=preset,
            progress=(lambda done, n: progress("stitch", done, n)) if progress else None,
        )
    expected = retime_count(plan.total_frames, fps, output.fps or fps, output.loop)
    if written != expected:
        raise RuntimeError(f"stitch wrote {written} frames, the plan needs {expected}")
    return out_path


def render_join(
    clip_paths: Sequence[str | Path],
    plan: JoinPlan,
    out_path: str | Path,
    *,
    size: tuple[int, int] | None = None,
    work_size: tuple[int, int] | None = None,
    fit: str = DEFAULT_FIT,
    method: str = DEFAULT_PREVIEW_METHOD,
    bridging: bool = False,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    keep_audio: bool = True,
    gap_audio: str = DEFAULT_GAP_AUDIO,
    retime: str = DEFAULT_RETIME,
    post: PostSettings | None = None,
    work_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Generate a transition for every join of ``plan`` and assemble ``clip_paths`` into ``out_path``:
    what ``SegueJoinClips`` does (the same steps, conform, assembly and soundtrack).

    ``plan`` is made at the output rate (``JoinPlan.output_fps``) from the clips' conformed frame
    counts.  ``size``: the output size (default: the first clip's, as displayed); ``work_size``:
    where the transitions are generated (default: about 832x480 at the output's aspect).
    """
    from ..core.output_format import output_format

    fmt = output_format(clip_paths[0], width=size[0] if size else 0, height=size[1] if size else 0, fps=plan.output_fps,
                        work_width=work_size[0] if work_size else 0, work_height=work_size[1] if work_size else 0,
                        generation_fps=plan.generation_fps)
    out_path = Path(out_path)
    sources = [str(p) for p in clip_paths]
    with tempfile.TemporaryDirectory(prefix="segue-join-", dir=work_dir) as tmp:
        transitions: list[Path] = []
        for spec in plan.joins:
            if progress:
                progress("transitions", spec.index, len(plan.joins))
            step = JoinStep(plan, spec.index, sources, fmt.work_width, fmt.work_height, fit, bridging,
                            fmt.generation_fps)
            transitions.append(_generate(step, method, _item_post(post or PostSettings(), spec.index, True),
                                         Path(tmp) / f"transition_{spec.index:03d}{LOSSLESS_SUFFIX}"))
        if progress:
            progress("transitions", len(plan.joins), len(plan.joins))
        audio = join_soundtrack(sources, plan, gap_audio) if keep_audio else None
        written = assemble_join_files(
            sources, transitions, plan, out_path, size=(fmt.width, fmt.height), fit=fit, retime=retime, audio=audio,
            crf=crf, preset=preset, curve=curve, sharpen=sharpen,
            progress=(lambda done, n: progress("assemble", done, n)) if progress else None,
        )
    if written != plan.total_frames:
        raise RuntimeError(f"assembly wrote {written} frames, the plan needs {plan.total_frames}")
    return out_path

def render_extend(
    clip_path: str | Path,
    plan: ExtendPlan,
    out_path: str | Path,
    *,
    keyframes: torch.Tensor | None = None,
    method: str = DEFAULT_PREVIEW_METHOD,
    curve: str = DEFAULT_CURVE,
    sharpen: float = 0.0,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    codec: str = "h264",
    keep_audio: bool = True,
    adjust: OverlapAdjust | None = None,
    post: PostSettings | None = None,
    segments_dir: str | Path | None = None,
    work_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Extend ``clip_path`` by ``plan`` (``plan_extend`` of its frame count) into ``out_path``.

    ``keyframes`` [K,H,W,3]: the images the legs land on (any size; centre-cropped to the
    generation size).  The steps, guides and post-processing are the nodes' (``ExtendStep``,
    ``_generate``), so the segment files are SegueExtendClip's bit for bit; ``segments_dir``
    keeps them there as ``seg_NNN.mkv`` (default: a temporary folder).  The output has the clip's
    size as displayed, its rate and its sound (``extend_soundtrack``), and ``plan.total_frames``
    frames; ``codec="lossless"`` (``.mkv``) keeps the conformed clip's frames exact.
    """
    from .extend_assembly import assemble_extend_files, extend_soundtrack

    out_path = Path(out_path)
    post = post or PostSettings()
    with tempfile.TemporaryDirectory(prefix="segue-extend-", dir=work_dir) as tmp:
        folder = Path(segments_dir) if segments_dir is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        total = len(plan.segments)
        for segment in plan.segments:
            if progress:
                progress("segments", segment.index, total)
            step = ExtendStep(plan, segment.index, str(clip_path), [str(p) for p in paths], keyframes,
                              adjust or OverlapAdjust())
            paths.append(_generate(step, method, _item_post(post, segment.index),
                                   folder / f"seg_{segment.index:03d}{LOSSLESS_SUFFIX}"))
        if progress:
            progress("segments", total, total)
        audio = extend_soundtrack(clip_path, plan) if keep_audio else None
        assemble_extend_files(
            clip_path, paths, plan, out_path, audio=audio, curve=curve, sharpen=sharpen, codec=codec, crf=crf,
            preset=preset, progress=(lambda done, n: progress("assemble", done, n)) if progress else None,
        )
    return out_path
