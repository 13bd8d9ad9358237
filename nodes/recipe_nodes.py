"""The Segue Recipe node: how segments and transitions are generated, in one small node.

Core keeps KSampler apart from the loaders; the recipe does the same for Segue: the travel and
join nodes stay short, and one recipe (models, sampler settings, phases, LoRAs, reference image,
colour) can feed several travels and joins.  Its model inputs are lazy and only wired through:
the travel/join node connects its core nodes straight to the loaders connected here.
"""

from __future__ import annotations

import json

from ..video_utils.core import parse
from ..video_utils.core.constants import (COLOUR_MATCH_MODES, COLOUR_METHODS, DEFAULT_SEED_POLICY, PREVIEW_METHODS,
                                          SEED_POLICIES)
from ..video_utils.core.errors import PlanError
from ..video_utils.core.recipe import GENERATORS, Lora, Phase, Recipe, check_choice
from .api import CATEGORY, MAX_SEED, RECIPE, SAMPLERS, SCHEDULERS, advanced, io, model_files
from .expansion import no_lazy_inputs
from .widgets import colour_inputs, validated

DEFAULTS = Recipe()


def _lora_lines(text: str, name: str) -> tuple[Lora, ...]:
    return tuple(Lora.parse(item, f"{name} line {i + 1}") for i, item in enumerate(parse.lines(text, name, required=False)))


def parse_segment_loras(text: str) -> tuple[tuple[Lora, ...], ...]:
    """One line per segment/transition: ``a.safetensors:0.8, b.safetensors``; ``-`` = none."""
    rows = []
    for i, line in enumerate(str(text or "").splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        items = [] if line == "-" else [t.strip() for t in line.split(",") if t.strip()]
        rows.append(tuple(Lora.parse(t, f"segment_loras line {i + 1}") for t in items))
    return tuple(rows)


def parse_phases(text: str) -> tuple[Phase, ...]:
    body = str(text or "").strip()
    if not body:
        return ()
    try:
        value = json.loads(body)
    except json.JSONDecodeError as e:
        raise PlanError(f"phases is not valid JSON ({e.msg} at character {e.pos}): write a list like "
                        f'[{{"model": "high", "end_step": 3, "cfg": 3.5}}, {{"model": "low", "cfg": 1}}]') from None
    if not isinstance(value, list):
        raise PlanError(f"phases must be a JSON list of phases, got {body[:60]!r}")
    return tuple(Phase.parse(p, f"phases[{i}]") for i, p in enumerate(value))


def _check_loras(recipe: Recipe) -> None:
    wanted = {lora.name for lora in recipe.loras}
    wanted |= {lora.name for row in recipe.segment_loras for lora in row}
    wanted |= {lora.name for phase in recipe.phases for lora in phase.loras}
    if not wanted:
        return
    have = set(model_files("loras"))
    missing = sorted(wanted - have)
    if missing:
        shown = ", ".join(sorted(have)[:8]) or "none"
        raise PlanError(f"LoRA file(s) {', '.join(missing)} are not in ComfyUI's models/loras (it has: {shown}): "
                        f"put them there or fix the name")


class SegueRecipe(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        lazy = dict(optional=True, lazy=True)
        return io.Schema(
            node_id="SegueRecipe",
            display_name="Segue Recipe",
            category=CATEGORY,
            description="How Segue Travel / Join Clips generate each segment or transition: the generator, its "
                        "models, sampler settings (optionally per phase, for Wan 2.2's two experts and Lightning "
                        "LoRAs), LoRAs, a reference image and colour correction. One recipe can feed several nodes.",
            inputs=advanced([
                io.Combo.Input("generator", options=list(GENERATORS), default="wan-vace",
                               tooltip="wan-vace: Wan 2.1 VACE or Wan 2.2 VACE-Fun (WanVaceToVideo); wan-flf: a "
                                       "first-last-frame model without VACE (WanFirstLastFrameToVideo); preview: a "
                                       "CPU morph, no model; template: your own sampler graph (the template file)."),
                io.Model.Input("model", tooltip="The Wan model (UNETLoader). With model_low_noise: Wan 2.2's "
                                                "high-noise expert.", **lazy),
                io.Model.Input("model_low_noise", tooltip="Wan 2.2: the low-noise expert. Sampling switches to it "
                                                          "half way (or where the phases say).", **lazy),
                io.Vae.Input("vae", tooltip="The Wan 2.1 VAE (VAELoader).", **lazy),
                io.Clip.Input("clip", tooltip="The umT5 text encoder (CLIPLoader, type wan) that encodes the "
                                              "prompts.", **lazy),
                io.Conditioning.Input("positive", tooltip="Instead of clip: ready positive conditioning, used for "
                                                          "every segment (the prompts are then ignored).", **lazy),
                io.Conditioning.Input("negative", tooltip="Instead of clip: ready negative conditioning.", **lazy),
                io.ClipVision.Input("clip_vision", tooltip="wan-flf only, optional: a CLIP vision model "
                                                           "(CLIPVisionLoader) to encode the start and end frames.",
                                    **lazy),
                io.Image.Input("reference_image", tooltip="wan-vace only, optional: an image of the subject or "
                                                          "style every segment should keep (VACE reference; fights "
                                                          "identity drift). One image for all, or one per segment.",
                               **lazy),
                io.Int.Input("seed", default=0, min=0, max=MAX_SEED, control_after_generate=True,
                             tooltip="Noise seed of the first segment (see seed_policy)."),
                io.Combo.Input("seed_policy", options=list(SEED_POLICIES), default=DEFAULT_SEED_POLICY,
                               tooltip="increment: segment i uses seed + i; fixed: every segment the same seed."),
                io.Int.Input("steps", default=DEFAULTS.steps, min=1, max=10_000,
                             tooltip="Sampling steps in total (all phases together)."),
                io.Float.Input("cfg", default=DEFAULTS.cfg, min=0.0, max=100.0, step=0.1,
                               tooltip="Classifier-free guidance: how strongly the prompt is followed (phases may "
                                       "set their own; Lightning LoRAs want 1)."),
                io.Combo.Input("sampler_name", options=SAMPLERS,
                               default=DEFAULTS.sampler if DEFAULTS.sampler in SAMPLERS else SAMPLERS[0],
                               tooltip="The sampling algorithm (as in KSampler)."),
                io.Combo.Input("scheduler", options=SCHEDULERS,
                               default=DEFAULTS.scheduler if DEFAULTS.scheduler in SCHEDULERS else SCHEDULERS[0],
                               tooltip="How noise is removed over the steps (as in KSampler)."),
                io.Float.Input("shift", default=DEFAULTS.shift, min=0.0, max=100.0, step=0.01,
                               tooltip="ModelSamplingSD3 shift put on every model (Wan: 3 at 480p, 5 at 720p); "
                                       "0 = use the models exactly as connected."),
                io.String.Input("phases", multiline=True, default="",
                                tooltip='Optional per-phase schedule as JSON, e.g. [{"model": "high", "end_step": 2, '
                                        '"cfg": 3}, {"model": "high", "end_step": 4, "cfg": 1, "loras": '
                                        '[{"name": "lightning_high.safetensors", "strength": 1}]}, {"model": "low", '
                                        '"cfg": 1}]. The last phase runs to the end. Empty = one sampler, or '
                                        'with model_low_noise the high-noise expert for the first half of the '
                                        'steps and the low-noise one for the rest.'),
                io.String.Input("loras", multiline=True, default="",
                                tooltip="LoRAs on every model, one per line: file.safetensors:strength "
                                        "(strength 1 if left out). Files from models/loras."),
                io.String.Input("segment_loras", multiline=True, default="",
                                tooltip="Extra LoRAs per segment/transition: line i is for segment i, items "
                                        "separated by commas (a.safetensors:0.8, b.safetensors); '-' = none."),
                io.Float.Input("vace_strength", default=DEFAULTS.vace_strength, min=0.0, max=1000.0, step=0.01,
                               tooltip="How strongly the guide (kept frames) steers VACE (WanVaceToVideo strength)."),
                io.Combo.Input("preview_method", options=list(PREVIEW_METHODS), default=DEFAULTS.preview_method,
                               tooltip="preview generator: flow = optical-flow morph, blend = cross-dissolve."),
                *colour_inputs(DEFAULTS),
                io.Float.Input("saturation", default=DEFAULTS.saturation, min=0.0, max=4.0, step=0.01,
                               tooltip="Saturation of every segment after the first (and every join transition): "
                                       "1 = unchanged, below 1 counters the saturation build-up of long chains."),
                io.Float.Input("brightness", default=DEFAULTS.brightness, min=-1.0, max=1.0, step=0.01,
                               tooltip="Brightness of the same frames: 0 = unchanged, +0.05 = 5 % brighter."),
                io.String.Input("template", default="",
                                tooltip="template generator: an API-format graph (Workflow > Export (API)) in "
                                        "ComfyUI's input folder with a SegueGuideSlot and a SegueFramesSlot node."),
            ], "seed_policy", "phases", "segment_loras", "vace_strength", "preview_method", "colour_method",
                "colour_strength", "saturation", "brightness", "template"),
            outputs=[RECIPE.Output(display_name="recipe", tooltip="Connect to Segue Travel / Segue Join Clips.")],
        )

    @classmethod
    def validate_inputs(cls, generator=None, phases=None, loras=None, segment_loras=None, seed_policy=None,
                        preview_method=None, colour_match=None, colour_method=None):
        return validated(
            lambda: generator is None or check_choice(generator, GENERATORS, "generator"),
            lambda: seed_policy is None or check_choice(seed_policy, SEED_POLICIES, "seed_policy"),
            lambda: preview_method is None or check_choice(preview_method, PREVIEW_METHODS, "preview_method"),
            lambda: colour_match is None or check_choice(colour_match, COLOUR_MATCH_MODES, "colour_match"),
            lambda: colour_method is None or check_choice(colour_method, COLOUR_METHODS, "colour_method"),
            lambda: phases is None or parse_phases(phases),
            lambda: loras is None or _lora_lines(loras, "loras"),
            lambda: segment_loras is None or parse_segment_loras(segment_loras),
        )

    @classmethod
    def check_lazy_status(cls, **kwargs):
        return no_lazy_inputs(**kwargs)

    @classmethod
    def execute(cls, generator, seed, seed_policy, steps, cfg, sampler_name, scheduler, shift, phases,
                loras, segment_loras, vace_strength, preview_method, colour_match, colour_method, colour_strength,
                saturation, brightness, template, **models) -> io.NodeOutput:
        for name, value, options in (("sampler_name", sampler_name, SAMPLERS), ("scheduler", scheduler, SCHEDULERS)):
            check_choice(value, options, name)
        recipe = Recipe(kind=generator, steps=int(steps), cfg=float(cfg), sampler=sampler_name, scheduler=scheduler,
                        shift=float(shift), phases=parse_phases(phases),
                        loras=_lora_lines(loras, "loras"), segment_loras=parse_segment_loras(segment_loras),
                        vace_strength=float(vace_strength), preview_method=preview_method,
                        colour_match=colour_match, colour_method=colour_method, colour_strength=float(colour_strength),
                        saturation=float(saturation), brightness=float(brightness), seed=int(seed),
                        seed_policy=seed_policy, template=str(template).strip())
        recipe.validate("recipe")
        _check_loras(recipe)
        return io.NodeOutput(recipe)


NODES = [SegueRecipe]
