"""Shared inputs and plumbing of the expanding nodes (SegueTravelSegment, SegueTravel, SegueJoinClips).

Model, VAE, CLIP and conditioning inputs are *lazy*: the expanding node never loads them itself,
it hands the links the user drew to the core nodes of its expansion (read from the hidden
DYNPROMPT), so preview runs need no model and ComfyUI loads each model once, where it is used.
"""

from __future__ import annotations

import os

from ..video_utils.errors import PlanError
from ..video_utils.preview_generator import METHODS
from . import parse
from .api import MAX_SEED, SAMPLERS, SCHEDULERS, folders, io
from .graphs import GENERATORS, Conditioning, Generator, Sampling
from .paths import next_counter_name, output_folder, split_annotation, check_relative

LAZY_LINK_INPUTS = ("model", "vae", "clip", "positive", "negative", "model_low_noise")


def generator_inputs(default_generator: str = "wan", prompts_help: str | None = None) -> list:
    """Generator choice, the lazy model inputs, the prompts and the sampler settings."""
    prompt = [] if prompts_help is None else [
        io.String.Input("prompt", multiline=True, default="", tooltip=prompts_help),
    ]
    return [
        io.Combo.Input("generator", options=list(GENERATORS), default=default_generator,
                       tooltip="wan: Wan VACE through WanVaceToVideo + KSampler (connect model, vae and clip or "
                               "positive/negative); preview: the CPU morph, no model needed."),
        io.Model.Input("model", optional=True, lazy=True,
                       tooltip="Wan VACE model (UNETLoader). With model_low_noise: the Wan 2.2 high-noise expert."),
        io.Vae.Input("vae", optional=True, lazy=True, tooltip="Wan 2.1 VAE (VAELoader)."),
        io.Clip.Input("clip", optional=True, lazy=True,
                      tooltip="umT5 text encoder (CLIPLoader type wan), used to encode the prompts."),
        io.Conditioning.Input("positive", optional=True, lazy=True,
                              tooltip="Instead of clip + prompt: ready positive conditioning, used for every item."),
        io.Conditioning.Input("negative", optional=True, lazy=True,
                              tooltip="Instead of clip + negative_prompt: ready negative conditioning."),
        io.Model.Input("model_low_noise", optional=True, lazy=True,
                       tooltip="Wan 2.2 VACE-Fun: the low-noise expert. Sampling switches from model to it at split_step."),
        *prompt,
        io.String.Input("negative_prompt", multiline=True, default="", optional=True,
                        tooltip="What to avoid (encoded with clip), shared by every item."),
        io.Int.Input("seed", default=0, min=0, max=MAX_SEED, control_after_generate=True, optional=True,
                     tooltip="Noise seed (see seed_policy)."),
        io.Combo.Input("seed_policy", options=list(parse.SEED_POLICIES), default="increment", optional=True,
                       tooltip="fixed: the same seed for every segment/transition; increment: seed + index."),
        io.Int.Input("steps", default=20, min=1, max=10000, optional=True, tooltip="Sampling steps."),
        io.Float.Input("cfg", default=5.0, min=0.0, max=100.0, step=0.1, optional=True,
                       tooltip="Classifier-free guidance scale."),
        io.Combo.Input("sampler_name", options=SAMPLERS, default="uni_pc" if "uni_pc" in SAMPLERS else SAMPLERS[0],
                       optional=True, tooltip="KSampler sampler."),
        io.Combo.Input("scheduler", options=SCHEDULERS, default="simple" if "simple" in SCHEDULERS else SCHEDULERS[0],
                       optional=True, tooltip="KSampler scheduler."),
        io.Float.Input("shift", default=5.0, min=0.0, max=100.0, step=0.01, optional=True,
                       tooltip="ModelSamplingSD3 shift applied to the model(s); 0 = use the model as connected."),
        io.Int.Input("split_step", default=0, min=0, max=10000, optional=True,
                     tooltip="With model_low_noise: the step where sampling switches to the low-noise expert "
                             "(0 = half the steps)."),
        io.Float.Input("vace_strength", default=1.0, min=0.0, max=1000.0, step=0.01, optional=True,
                       tooltip="WanVaceToVideo strength."),
        io.Combo.Input("method", options=list(METHODS), default="flow", optional=True,
                       tooltip="Preview generator method: flow (optical-flow morph) or blend (cross-dissolve)."),
    ]


EXPAND_HIDDEN = [io.Hidden.unique_id, io.Hidden.dynprompt]


def generator_check(generator=None):
    """validate_inputs check of the generator combo (V3 combos are not checked by ComfyUI)."""
    return lambda: generator is None or parse.check_choice(generator, GENERATORS, "generator")


def no_lazy_inputs(**kwargs) -> list[str]:
    """check_lazy_status of the expanding nodes: nothing lazy is ever evaluated by the node itself."""
    return []


def input_links(cls) -> dict:
    """The links (``[node_id, index]``) connected to this node, by input name, as the prompt holds
    them: the expansion wires its core nodes to the same sources (lazy inputs were never evaluated)."""
    node = cls.hidden.dynprompt.get_node(cls.hidden.unique_id)
    inputs = node.get("inputs", {})
    return {name: inputs[name] for name in inputs if isinstance(inputs[name], list) and len(inputs[name]) == 2}


def generator_settings(links: dict, kwargs: dict, count: int, prompts: list[str] | None, what: str
                       ) -> tuple[Generator, Conditioning | None, list[int]]:
    """(Generator, Conditioning, per-item seeds) from the node's inputs, with wiring checked."""
    kind = parse.check_choice(kwargs.get("generator", "wan"), GENERATORS, "generator")
    method = parse.check_choice(kwargs.get("method", "flow"), METHODS, "method")
    seeds = parse.segment_seeds(int(kwargs.get("seed", 0)), count, kwargs.get("seed_policy", "increment"))
    sampling = Sampling(
        steps=int(kwargs.get("steps", 20)), cfg=float(kwargs.get("cfg", 5.0)),
        sampler_name=parse.check_choice(kwargs.get("sampler_name", "uni_pc"), SAMPLERS, "sampler_name"),
        scheduler=parse.check_choice(kwargs.get("scheduler", "simple"), SCHEDULERS, "scheduler"),
        shift=float(kwargs.get("shift", 5.0)), split_step=int(kwargs.get("split_step", 0)),
        vace_strength=float(kwargs.get("vace_strength", 1.0)),
    )
    if kind == "preview":
        return Generator(kind="preview", method=method), None, seeds
    missing = [n for n in ("model", "vae") if n not in links]
    if "clip" not in links and not ("positive" in links and "negative" in links):
        missing.append("clip (or positive and negative)")
    if missing:
        raise PlanError(
            f"generator=wan needs {', '.join(missing)} connected on the {what} node: connect the Wan model loaders, "
            f"or set generator to preview"
        )
    if "model_low_noise" in links and sampling.effective_split() >= sampling.steps:
        raise PlanError(
            f"split_step={sampling.split_step} must be below steps={sampling.steps}: the low-noise expert needs "
            f"at least one step"
        )
    gen = Generator(kind="wan", method=method, model=links["model"], vae=links["vae"],
                    model_low_noise=links.get("model_low_noise"), sampling=sampling)
    cond = Conditioning(clip=links.get("clip"), positive=links.get("positive"), negative=links.get("negative"),
                        prompts=tuple(prompts or [""] * count), negative_prompt=str(kwargs.get("negative_prompt", "")))
    if (cond.positive is None or cond.negative is None) and cond.clip is None:
        raise PlanError(f"connect both positive and negative, or clip, on the {what} node")
    return gen, cond, seeds


def run_folder(filename: str, kind: str, what: str = "filename") -> tuple[str, str]:
    """A fresh ``<filename>_NNNNN`` folder under output/ or temp/ for one run's files.

    Every execution gets its own folder, so a cached result never points at files a later run
    overwrote.  Returns ``(relative folder, kind)``.
    """
    relative = check_relative(split_annotation(filename, kind)[0], what)
    parent, stem = os.path.split(relative)
    base = output_folder(parent, folders(), kind, what, filename)
    counter = next_counter_name(stem, os.listdir(base))
    run = f"{parent}/{stem}_{counter:05d}" if parent else f"{stem}_{counter:05d}"
    output_folder(run, folders(), kind, what, filename)
    return run, kind


def folder_input(default: str = "output") -> io.Combo.Input:
    return io.Combo.Input("folder", options=["output", "temp"], default=default,
                          tooltip="Where the lossless intermediate files and the final MP4 go: output/ keeps them "
                                  "(re-stitch later with SegueStitchFiles), temp/ is cleared when ComfyUI restarts.")
