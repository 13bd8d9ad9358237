"""The one graph builder: recipes -> core-node chains, for the nodes AND the orchestrator.

Every segment / transition is a *step*: a ``SegueTravelStep`` / ``SegueJoinStep`` node describes
it (a small STEP value: which frames to keep, where they come from, how long, which size), and
the recipe's chain turns it into a saved lossless file:

* preview:  ``SeguePreviewStep(step)``;
* wan-vace: ``SegueVaceEncode(step)`` (the guide built and fed to core ``WanVaceToVideo`` inside one
  node) -> ``KSampler`` or ``KSamplerAdvanced`` per phase -> ``TrimVideoLatent`` ->
  ``SegueSaveStep(samples)`` (core ``VAEDecode`` and the lossless save inside one node);
* wan-flf:  ``SegueFirstLastEncode(step)`` (core ``WanFirstLastFrameToVideo``) -> samplers ->
  ``SegueSaveStep(samples)``;
* template: ``SegueStepGuide(step)`` -> the user's graph -> ``SegueSaveStep(images)``.

No full-size frame batch is ever a node output inside these chains (ComfyUI keeps every output
of a prompt until it ends): guides are built where they are consumed and frames leave as files,
so a one-prompt travel's memory does not grow with its length.  Models arrive as links
(``Sources``): to the user's loader nodes in a node expansion, to loaders this module adds
(``file_sources``) in the orchestrator's prompts.  Pure standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .prompt_graph import Graph, Link, out, splice_template
from .recipe import Lora, Recipe
from .step_settings import EncodeSettings, ExtendStepSettings, JoinStepSettings, TravelDelivery, TravelStepSettings


@dataclass(frozen=True)
class Sources:
    """Links the chains read models and conditioning from (None = not connected)."""

    model: Link | None = None            # the model, or Wan 2.2's high-noise expert
    model_low: Link | None = None        # Wan 2.2's low-noise expert
    vae: Link | None = None
    clip: Link | None = None             # text encoder, for the prompts
    positive: Link | None = None         # ready conditioning instead of clip + prompts
    negative: Link | None = None
    clip_vision: Link | None = None      # wan-flf: CLIP vision model for the start/end frames
    reference: Link | None = None        # VACE reference IMAGE (one image, or one per item)
    template: dict | None = None         # template generator: the loaded API-format graph


@dataclass(kw_only=True)
class ModelFiles:
    """Model file names, for prompts that load their own models (the orchestrator's, whose
    ``GeneratorConfig`` is one)."""

    unet: str = ""
    unet_low: str = ""
    vae: str = ""
    clip: str = ""
    clip_vision: str = ""
    weight_dtype: str = "default"


@dataclass(frozen=True)
class SaveTo:
    """Where a step's file goes: ``filename`` exact (annotated name, no extension), or "" for a
    fresh automatic name in ``folder`` (one-node runs: nothing a cached result points at is
    ever overwritten)."""

    filename: str = ""
    folder: str = "temp"


@dataclass(frozen=True)
class Texts:
    """Per-item prompts (one entry per segment / transition)."""

    prompts: tuple[str, ...]
    negatives: tuple[str, ...]


def file_sources(g: Graph, files: ModelFiles, recipe: Recipe, reference: Link | None = None,
                 template: dict | None = None) -> Sources:
    """Loader nodes for ``files`` (added once per graph) and the links to them."""
    if recipe.kind in ("preview", "template"):
        return Sources(reference=reference, template=template)

    def unet(name: str, node: str) -> Link:
        return out(g.shared(node, "UNETLoader", unet_name=name, weight_dtype=files.weight_dtype), 0)

    clip_vision = None
    if recipe.kind == "wan-flf" and files.clip_vision:
        clip_vision = out(g.shared("clip_vision", "CLIPVisionLoader", clip_name=files.clip_vision), 0)
    return Sources(
        model=unet(files.unet, "unet"), model_low=unet(files.unet_low, "unet_low") if files.unet_low else None,
        vae=out(g.shared("vae", "VAELoader", vae_name=files.vae), 0),
        clip=out(g.shared("clip", "CLIPLoader", clip_name=files.clip, type="wan"), 0),
        clip_vision=clip_vision, reference=reference, template=template)


# --- one step ------------------------------------------------------------------------------------

def post_inputs(recipe: Recipe, index: int, is_join: bool) -> dict:
    """What happens to item ``index``'s generated frames before they are saved (SegueSaveStep /
    SeguePreviewStep inputs): the colour match, and saturation and brightness only on every segment
    after the first (the original system's ``after_first_post_generation_*``) and every join
    transition."""
    adjust = is_join or index > 0
    return {"colour_match": recipe.colour_match, "colour_method": recipe.colour_method,
            "colour_strength": float(recipe.colour_strength),
            "saturation": float(recipe.saturation) if adjust else 1.0,
            "brightness": float(recipe.brightness) if adjust else 0.0}


def step_chain(g: Graph, recipe: Recipe, sources: Sources, step: Link, index: int, seed: int, texts: Texts,
               save: SaveTo, prefix: str, is_join: bool = False) -> Link:
    """The recipe's chain from ``step`` (a STEP link) to its saved file; returns the VIDEO link."""
    post = post_inputs(recipe, index, is_join)
    target = {"filename": save.filename, "folder": save.folder}
    if recipe.kind == "preview":
        return out(g.add(f"{prefix}save", "SeguePreviewStep", step=step, method=recipe.preview_method,
                         **target, **post), 0)
    if recipe.kind == "template":
        guide = g.add(f"{prefix}guide", "SegueStepGuide", step=step)
        frames = splice_template(g, sources.template, guide, prefix, {
            "prompt": texts.prompts[index], "negative_prompt": texts.negatives[index], "seed": seed, "index": index})
        return out(g.add(f"{prefix}save", "SegueSaveStep", step=step, images=frames, **target, **post), 0)
    positive, negative = conditioning(g, sources, texts, index)
    if recipe.kind == "wan-vace":
        encode = g.add(f"{prefix}encode", "SegueVaceEncode", positive=positive, negative=negative, vae=sources.vae,
                       step=step, strength=float(recipe.vace_strength), reference_image=sources.reference)
    else:
        encode = g.add(f"{prefix}encode", "SegueFirstLastEncode", positive=positive, negative=negative,
                       vae=sources.vae, step=step, clip_vision=sources.clip_vision)
    samples = samplers(g, recipe, sources, index, seed, out(encode, 0), out(encode, 1), out(encode, 2), prefix)
    if recipe.kind == "wan-vace":
        samples = out(g.add(f"{prefix}trim", "TrimVideoLatent", samples=samples, trim_amount=out(encode, 3)), 0)
    return out(g.add(f"{prefix}save", "SegueSaveStep", step=step, samples=samples, vae=sources.vae,
                     **target, **post), 0)


def conditioning(g: Graph, sources: Sources, texts: Texts, index: int) -> tuple[Link, Link]:
    """(positive, negative) for item ``index``: the given conditioning, or one text encode per
    distinct text (shared between items)."""
    positive = sources.positive or out(g.shared("prompt", "CLIPTextEncode", text=texts.prompts[index],
                                                clip=sources.clip), 0)
    negative = sources.negative or out(g.shared("negative_prompt", "CLIPTextEncode", text=texts.negatives[index],
                                                clip=sources.clip), 0)
    return positive, negative


def model_chain(g: Graph, recipe: Recipe, base: Link, loras: Sequence[Lora], expert: str) -> Link:
    """``base`` -> one ``LoraLoaderModelOnly`` per LoRA -> ``ModelSamplingSD3`` (shift > 0)."""
    link = base
    for lora in loras:
        link = out(g.shared(f"lora_{expert}", "LoraLoaderModelOnly", model=link, lora_name=lora.name,
                            strength_model=float(lora.strength)), 0)
    if recipe.shift > 0:
        link = out(g.shared(f"model_sampling_{expert}", "ModelSamplingSD3", model=link, shift=float(recipe.shift)), 0)
    return link


def samplers(g: Graph, recipe: Recipe, sources: Sources, index: int, seed: int, positive: Link, negative: Link,
             latent: Link, prefix: str) -> Link:
    """One ``KSampler`` for a single-phase recipe, else a ``KSamplerAdvanced`` per phase over
    contiguous step ranges (noise added by the first, leftover noise passed on but by the last)."""
    runs = recipe.sampling(has_low=sources.model_low is not None)
    common = {"positive": positive, "negative": negative}
    if len(runs) == 1:
        run = runs[0]
        model = model_chain(g, recipe, sources.model, recipe.item_loras(index) + run.loras, "high")
        return out(g.add(f"{prefix}sample", "KSampler", model=model, seed=int(seed), steps=int(recipe.steps),
                         cfg=run.cfg, sampler_name=run.sampler, scheduler=run.scheduler, latent_image=latent,
                         denoise=1.0, **common), 0)
    for k, run in enumerate(runs):
        base = sources.model if run.model == "high" else sources.model_low
        model = model_chain(g, recipe, base, recipe.item_loras(index) + run.loras, run.model)
        latent = out(g.add(f"{prefix}sample_{k}", "KSamplerAdvanced", model=model,
                           add_noise="enable" if run.first else "disable", noise_seed=int(seed),
                           steps=int(recipe.steps), cfg=run.cfg, sampler_name=run.sampler, scheduler=run.scheduler,
                           latent_image=latent, start_at_step=run.start, end_at_step=run.end,
                           return_with_leftover_noise="disable" if run.last else "enable", **common), 0)
    return latent


# --- travels -------------------------------------------------------------------------------------

def travel_step(g: Graph, settings: TravelStepSettings, keyframes: Link, index: int, previous: Link | None,
                prefix: str, first: Link | None = None) -> str:
    """``previous``: the previous segment's VIDEO (chained); ``first``: segment 0's (a loop's
    closing segment)."""
    return g.add(f"{prefix}step", "SegueTravelStep", title=f"segment {index}", keyframes=keyframes,
                 segment_index=int(index), previous_video=previous, first_video=first, **settings.inputs())


def travel_graph(g: Graph, settings: TravelStepSettings, segments: Sequence[Any], overlaps: Sequence[int],
                 recipe: Recipe, sources: Sources, texts: Texts, keyframes: Link, saves: Sequence[SaveTo],
                 encode: EncodeSettings, fps: float, delivery: TravelDelivery = TravelDelivery()) -> Link:
    """A whole travel: every segment's chain (each chained one reading the previous segment's
    file), the files listed as they are saved, then ``SegueStitchFiles``; returns its VIDEO link.
    ``segments`` are the plan's (``context_frames`` says which read the previous file)."""
    seeds = recipe.item_seeds(len(segments))
    previous = files = first = None
    for seg in segments:
        prefix = f"seg_{seg.index:03d}."
        step = travel_step(g, settings, keyframes, seg.index, previous if seg.context_frames else None, prefix,
                           first if seg.end_context_frames else None)
        previous = step_chain(g, recipe, sources, out(step, 0), seg.index, seeds[seg.index], texts,
                              saves[seg.index], prefix)
        first = first or previous
        files = out(g.add(f"{prefix}list", "SegueFileList", video=previous, files=files), 0)
    return out(stitch(g, files, overlaps, encode, fps, delivery=delivery), 0)


def stitch(g: Graph, files: Link | str, overlaps: Sequence[int], encode: EncodeSettings, fps: float,
           prefix: str = "", delivery: TravelDelivery = TravelDelivery()) -> str:
    return g.add(f"{prefix}stitch", "SegueStitchFiles", title="stitch", segment_files=files,
                 overlaps=", ".join(str(int(v)) for v in overlaps) or "0", trim_start=0, fps=float(fps),
                 **encode.inputs(), **delivery.inputs())


# --- joins ---------------------------------------------------------------------------------------

def join_step(g: Graph, settings: JoinStepSettings, clip_files: Sequence[str], index: int, prefix: str) -> str:
    return g.add(f"{prefix}step", "SegueJoinStep", title=f"join {index}", clip_files="\n".join(clip_files),
                 join_index=int(index), **settings.inputs())


def join_graph(g: Graph, settings: JoinStepSettings, join_count: int, recipe: Recipe, sources: Sources,
               texts: Texts, clip_files: Sequence[str], saves: Sequence[SaveTo], encode: EncodeSettings,
               keep_audio: bool, seeds: Sequence[int] | None = None) -> Link:
    """Every join's transition chain, then ``SegueJoinAssembleFiles``; returns its VIDEO link.
    ``seeds``: per join (default: the recipe's seed policy)."""
    seeds = list(seeds) if seeds is not None else recipe.item_seeds(join_count)
    files = None
    for j in range(join_count):
        prefix = f"join_{j:03d}."
        step = join_step(g, settings, clip_files, j, prefix)
        video = step_chain(g, recipe, sources, out(step, 0), j, seeds[j], texts, saves[j], prefix, is_join=True)
        files = out(g.add(f"{prefix}list", "SegueFileList", video=video, files=files), 0)
    return out(assemble(g, settings, clip_files, files, encode, keep_audio), 0)


def assemble(g: Graph, settings: JoinStepSettings, clip_files: Sequence[str], files: Link | str,
             encode: EncodeSettings, keep_audio: bool, prefix: str = "") -> str:
    return g.add(f"{prefix}assemble", "SegueJoinAssembleFiles", title="assemble", clip_files="\n".join(clip_files),
                 transition_files=files, keep_audio=bool(keep_audio), **settings.assembly_inputs(),
                 **encode.inputs())


# --- extending a clip ----------------------------------------------------------------------------

def extend_step(g: Graph, settings: ExtendStepSettings, clip_file: str, keyframes: Link | None, index: int,
                previous_files: Link | str | None, prefix: str) -> str:
    """``SegueExtendStep`` of segment ``index``; ``previous_files``: the earlier segments' files
    (a ``SegueFileList`` link, or their annotated names one per line), None for segment 0."""
    return g.add(f"{prefix}step", "SegueExtendStep", title=f"extension segment {index}", clip_file=clip_file,
                 keyframes=keyframes, segment_index=int(index), previous_files=previous_files or None,
                 **settings.inputs())


def extend_graph(g: Graph, settings: ExtendStepSettings, segment_count: int, recipe: Recipe, sources: Sources,
                 texts: Texts, clip_file: str, keyframes: Link | None, keyframe_count: int, saves: Sequence[SaveTo],
                 encode: EncodeSettings, keep_audio: bool = True, seeds: Sequence[int] | None = None) -> Link:
    """A whole extension: every segment's chain (each reading the files listed before it), then
    ``SegueExtendAssemble``; returns its VIDEO link.  ``seeds``: per segment (default: the recipe's)."""
    seeds = list(seeds) if seeds is not None else recipe.item_seeds(segment_count)
    files = None
    for i in range(segment_count):
        prefix = f"ext_{i:03d}."
        step = extend_step(g, settings, clip_file, keyframes, i, files, prefix)
        video = step_chain(g, recipe, sources, out(step, 0), i, seeds[i], texts, saves[i], prefix)
        files = out(g.add(f"{prefix}list", "SegueFileList", video=video, files=files), 0)
    return out(extend_assemble(g, settings, clip_file, files, keyframe_count, encode, keep_audio), 0)


def extend_assemble(g: Graph, settings: ExtendStepSettings, clip_file: str, files: Link | str, keyframe_count: int,
                    encode: EncodeSettings, keep_audio: bool = True, prefix: str = "") -> str:
    return g.add(f"{prefix}assemble", "SegueExtendAssemble", title="assemble", clip_file=clip_file,
                 segment_files=files, keyframe_count=int(keyframe_count), keep_audio=bool(keep_audio),
                 **settings.plan_inputs(), **encode.inputs())
