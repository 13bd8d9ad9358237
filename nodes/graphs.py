"""Subgraphs the expanding nodes (SegueTravelSegment, SegueTravel, SegueJoinClips) return.

Node expansion hands ComfyUI a graph of ordinary nodes, so sampling shows ComfyUI's own
progress, honours Cancel and is cached node by node.  These functions only describe the graph:
``g`` is anything with ``node(class_type, id=None, **inputs) -> handle`` and ``handle.out(i)``
(ComfyUI's ``GraphBuilder`` in the server, a stand-in in unit tests), and model/VAE/CLIP inputs
arrive as links to the nodes the user connected.  Pure Python: no torch, no ComfyUI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..video_utils.join_plan import JoinPlan
from ..video_utils.travel_plan import TravelPlan

Link = list  # [node_id, output_index]
GENERATORS = ("preview", "wan")

# Output indices of the guide nodes (docs/node-contract.md).
GUIDE_VIDEO, GUIDE_MASKS, GUIDE_LENGTH, GUIDE_WIDTH, GUIDE_HEIGHT = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Sampling:
    """KSampler settings shared by every segment / transition (the seed varies per item)."""

    steps: int = 20
    cfg: float = 5.0
    sampler_name: str = "uni_pc"
    scheduler: str = "simple"
    shift: float = 5.0           # ModelSamplingSD3 shift; 0 = use the model as connected
    split_step: int = 0          # two experts: high-noise steps [0, split); 0 = steps // 2
    vace_strength: float = 1.0

    def effective_split(self) -> int:
        return self.split_step if self.split_step > 0 else max(1, self.steps // 2)


@dataclass(frozen=True)
class Generator:
    """Which chain fills the guide: ``preview`` (CPU morph) or ``wan`` (VACE + KSampler)."""

    kind: str = "preview"
    method: str = "flow"                 # preview method
    model: Link | None = None            # wan: links to the user's nodes
    vae: Link | None = None
    model_low_noise: Link | None = None
    sampling: Sampling = Sampling()


@dataclass(frozen=True)
class Conditioning:
    """Per-item conditioning for wan: given CONDITIONING links, or CLIP + text per item."""

    clip: Link | None = None
    positive: Link | None = None
    negative: Link | None = None
    prompts: tuple[str, ...] = ()
    negative_prompt: str = ""


def _id(tag: str, name: str) -> str:
    return f"{tag}.{name}" if tag else name


def models(g, gen: Generator) -> tuple[Link, Link | None]:
    """The (high/only, low-noise) model links, patched with ModelSamplingSD3 when shift > 0."""
    def patch(link: Link, name: str) -> Link:
        if gen.sampling.shift <= 0:
            return link
        return g.node("ModelSamplingSD3", id=name, model=link, shift=float(gen.sampling.shift)).out(0)

    high = patch(gen.model, "model_sampling")
    low = patch(gen.model_low_noise, "model_sampling_low") if gen.model_low_noise is not None else None
    return high, low


def conditioning(g, cond: Conditioning, index: int) -> tuple[Link, Link]:
    """(positive, negative) links for item ``index``; text encodes are shared between items."""
    if cond.positive is not None:
        positive = cond.positive
    else:
        text = cond.prompts[index] if cond.prompts else ""
        key = cond.prompts.index(text) if cond.prompts else 0
        positive = g.node("CLIPTextEncode", id=f"prompt_{key}", text=text, clip=cond.clip).out(0)
    if cond.negative is not None:
        negative = cond.negative
    else:
        negative = g.node("CLIPTextEncode", id="negative_prompt", text=cond.negative_prompt, clip=cond.clip).out(0)
    return positive, negative


def generate(g, guide, gen: Generator, cond: Conditioning | None, index: int, seed: int, tag: str) -> Link:
    """Frames IMAGE link made from ``guide``'s outputs by the chosen generator."""
    if gen.kind == "preview":
        return g.node("SeguePreviewGenerator", id=_id(tag, "preview"), control_video=guide.out(GUIDE_VIDEO),
                      control_masks=guide.out(GUIDE_MASKS), method=gen.method).out(0)
    s = gen.sampling
    high, low = models(g, gen)
    positive, negative = conditioning(g, cond, index)
    vace = g.node("WanVaceToVideo", id=_id(tag, "vace"), positive=positive, negative=negative, vae=gen.vae,
                  width=guide.out(GUIDE_WIDTH), height=guide.out(GUIDE_HEIGHT), length=guide.out(GUIDE_LENGTH),
                  batch_size=1, strength=float(s.vace_strength),
                  control_video=guide.out(GUIDE_VIDEO), control_masks=guide.out(GUIDE_MASKS))
    common = dict(cfg=float(s.cfg), sampler_name=s.sampler_name, scheduler=s.scheduler,
                  positive=vace.out(0), negative=vace.out(1))
    if low is None:
        sampled = g.node("KSampler", id=_id(tag, "sample"), model=high, seed=int(seed), steps=int(s.steps),
                         latent_image=vace.out(2), denoise=1.0, **common)
    else:
        split = s.effective_split()
        first = g.node("KSamplerAdvanced", id=_id(tag, "sample_high"), model=high, add_noise="enable",
                       noise_seed=int(seed), steps=int(s.steps), latent_image=vace.out(2), start_at_step=0,
                       end_at_step=split, return_with_leftover_noise="enable", **common)
        sampled = g.node("KSamplerAdvanced", id=_id(tag, "sample_low"), model=low, add_noise="disable",
                         noise_seed=int(seed), steps=int(s.steps), latent_image=first.out(0),
                         start_at_step=split, end_at_step=10000, return_with_leftover_noise="disable", **common)
    trim = g.node("TrimVideoLatent", id=_id(tag, "trim"), samples=sampled.out(0), trim_amount=vace.out(3))
    return g.node("VAEDecode", id=_id(tag, "decode"), samples=trim.out(0), vae=gen.vae).out(0)


def checked(g, frames: Link, expected: int, what: str, tag: str, trim_start: int = 0) -> Link:
    """Pass ``frames`` through SegueCheckFrames: the run fails loudly on a frame-count mismatch;
    ``trim_start`` leading frames are dropped after the check."""
    return g.node("SegueCheckFrames", id=_id(tag, "check"), images=frames, expected_frames=int(expected),
                  what=what, trim_start=int(trim_start)).out(0)


@dataclass(frozen=True)
class TravelFiles:
    """Where a travel expansion writes: ``<folder>/seg_NNN`` and the final ``<folder>/<final>``."""

    segment_stems: tuple[str, ...]   # filename inputs of SegueSaveSegment (annotated, no extension)
    final_stem: str                  # filename input of SegueStitchFiles


def _csv(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def travel_segment(g, plan: TravelPlan, index: int, keyframes: Link, settings: dict, gen: Generator,
                   cond: Conditioning | None, seed: int, previous: dict, tag: str, stem: str, fps: float):
    """Guide -> generator -> check (lead-in trimmed) -> lossless save for one segment.

    Returns ``(frames link, save node)``: the frames that land in the video and the
    SegueSaveSegment node whose output 0 is the file-backed VIDEO.  ``previous`` holds the
    ``previous_segment`` / ``previous_video`` links (empty for segment 0 or independent mode).
    """
    seg = plan.segments[index]
    guide = g.node("SegueTravelGuide", id=_id(tag, "guide"), keyframes=keyframes, segment_index=int(index),
                   **settings, **previous)
    frames = generate(g, guide, gen, cond, index, seed, tag)
    frames = checked(g, frames, seg.generate_frames, f"travel segment {index}", tag, seg.trim_start)
    save = g.node("SegueSaveSegment", id=_id(tag, "save"), images=frames, filename=stem, fps=float(fps),
                  trim_start=0, expected_frames=int(seg.generate_frames - seg.trim_start))
    return frames, save


def travel_graph(g, plan: TravelPlan, keyframes: Link, settings: dict, gen: Generator, cond: Conditioning | None,
                 seeds: Sequence[int], files: TravelFiles, fps: float, stitch: dict) -> Link:
    """The whole travel: every segment saved losslessly, each chained guide reading only the
    previous file's tail, the list of files built as the saves finish, then a streamed stitch.

    Returns the stitch's VIDEO link.  ``settings`` are the SegueTravelGuide widget values shared by
    all segments; ``stitch`` the SegueStitchFiles curve/sharpen/crf/preset values.
    """
    previous_save = None
    file_list = None
    for seg in plan.segments:
        tag = f"seg_{seg.index:03d}"
        previous = {"previous_video": previous_save.out(0)} if seg.context_frames else {}
        _, previous_save = travel_segment(g, plan, seg.index, keyframes, settings, gen, cond, seeds[seg.index],
                                          previous, tag, files.segment_stems[seg.index], fps)
        inputs: dict[str, Any] = {"video": previous_save.out(0)}
        if file_list is not None:
            inputs["files"] = file_list.out(0)
        file_list = g.node("SegueFileList", id=_id(tag, "list"), **inputs)
    final = g.node("SegueStitchFiles", id="stitch", segment_files=file_list.out(0), overlaps=_csv(plan.overlaps) or "0",
                   trim_start=0, fps=float(fps), filename=files.final_stem, **stitch)
    return final.out(0)


def join_graph(g, plan: JoinPlan, clip_names: Sequence[str], gen: Generator, cond: Conditioning | None,
               seeds: Sequence[int], transition_stems: Sequence[str], final_stem: str, fps: float,
               bridging: bool, assemble: dict) -> Link:
    """Every join's transition (contexts read from the clip files by SegueLoadVideo), saved
    losslessly, then a streamed SegueJoinAssembleFiles; returns its VIDEO link.

    SegueJoinGuide plans from the frames it is given, so A is passed from its first context frame
    to its end and B from its start to the end of its context: exactly the planned windows.
    ``assemble`` holds SegueJoinAssembleFiles' context/gap/replace/blend/per_join/crf/preset/keep_audio.
    """
    file_list = None
    for spec in plan.joins:
        tag = f"join_{spec.index:03d}"
        a = g.node("SegueLoadVideo", id=_id(tag, "clip_a"), video=clip_names[spec.index],
                   start=int(spec.context_a_start), frame_count=int(spec.context_frames_a + spec.trim_from_a),
                   last_frames=0)
        b = g.node("SegueLoadVideo", id=_id(tag, "clip_b"), video=clip_names[spec.index + 1], start=0,
                   frame_count=int(spec.context_b_start + spec.context_frames_b), last_frames=0)
        guide = g.node("SegueJoinGuide", id=_id(tag, "guide"), clip_a=a.out(0), clip_b=b.out(0),
                       context=int(spec.context_frames_a), gap=int(spec.gap_frames), replace=bool(spec.replace),
                       bridging=bool(bridging))
        frames = generate(g, guide, gen, cond, spec.index, seeds[spec.index], tag)
        frames = checked(g, frames, spec.transition_frames, f"join {spec.index} transition", tag)
        save = g.node("SegueSaveSegment", id=_id(tag, "save"), images=frames, filename=transition_stems[spec.index],
                      fps=float(fps), trim_start=0, expected_frames=int(spec.transition_frames))
        inputs: dict[str, Any] = {"video": save.out(0)}
        if file_list is not None:
            inputs["files"] = file_list.out(0)
        file_list = g.node("SegueFileList", id=_id(tag, "list"), **inputs)
    final = g.node("SegueJoinAssembleFiles", id="assemble", clip_files="\n".join(clip_names),
                   transition_files=file_list.out(0), fps=float(fps), filename=final_stem, **assemble)
    return final.out(0)
