"""Runs -> ComfyUI API-format prompts, through the one graph builder (``video_utils.core.chains``).

One prompt per step (``step_prompt``): a travel segment, a join transition, an extension segment,
or the final stitch/assembly.  Each step ends in a Segue saving node with an EXACT file name
(``output/segue/<run_id>/<step>``), so a step's output is known before it runs, the next step
loads it by name, and memory is freed between steps.  ``detached_prompt`` builds the whole run
as one prompt for ``--detach``: the same graph ``SegueTravel`` / ``SegueJoinClips`` expand into,
with the per-step file names, so ``segue status`` / ``resume`` find every file.

``inputs`` are the annotated names of the run's files on the server, in
``runs.models.run_inputs_paths`` order: the keyframes (or clips; an extension's clip then its
``--to`` keyframes), then the reference images in ``GeneratorConfig.reference_paths()`` order.
``validate_prompt`` checks a prompt against a server's ``/object_info`` before anything is
submitted.  Torch-free.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from ...video_utils.core.chains import (SaveTo, Sources, Texts, assemble, extend_assemble, extend_graph, extend_step,
                                        file_sources, join_graph, join_step, step_chain, stitch, travel_graph,
                                        travel_step)
from ...video_utils.core.constants import DEFAULT_FIT, FINAL_SUFFIX, GENERATION_FPS, LOSSLESS_SUFFIX
from ...video_utils.core.errors import PlanError
from ...video_utils.core.join_plan import JoinPlan
from ...video_utils.core.lengths import as_fps
from ...video_utils.core.prompt_graph import Graph, Link, is_link, load_template, out
from ...video_utils.core.step_settings import (EncodeSettings, ExtendStepSettings, JoinStepSettings, TravelDelivery,
                                               TravelStepSettings)
from ...video_utils.core.travel_plan import TravelPlan
from .models import ExtendRun, JoinRun, Run, TravelRun, run_inputs_paths
from .steps import (StepSpec, annotated_output, extension_id, join_steps, run_steps, segment_id, server_filename,
                    server_folder, transition_id, travel_steps)

__all__ = ["step_prompt", "all_step_prompts", "detached_prompt", "validate_prompt", "load_template",
           "saving_nodes", "join_per_join_json"]

# Inputs whose combo lists are model files, the option that sets each and the models folder.
MODEL_INPUTS = {("UNETLoader", "unet_name"): ("--unet / --unet-low", "models/diffusion_models"),
                ("VAELoader", "vae_name"): ("--vae", "models/vae"),
                ("CLIPLoader", "clip_name"): ("--clip", "models/text_encoders"),
                ("CLIPVisionLoader", "clip_name"): ("--clip-vision", "models/clip_vision"),
                ("LoraLoaderModelOnly", "lora_name"): ("generator.loras / --lora", "models/loras")}


def _split_inputs(run: Run, inputs: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """(keyframe/clip names, reference file -> server name); a travel's soundtrack is last."""
    references = run.generator.reference_paths()
    sound = 1 if isinstance(run, TravelRun) and run.soundtrack else 0
    count = len(run_inputs_paths(run)) - len(references) - sound
    if len(inputs) < count + len(references) + sound:
        raise ValueError(f"{len(inputs)} input names for {count} inputs and {len(references)} reference images")
    return list(inputs[:count]), dict(zip(references, inputs[count:count + len(references)]))


def _delivery(run: TravelRun, inputs: Sequence[str]) -> TravelDelivery:
    """How the stitch (at the generation rate) is delivered: the run's rate and size, its soundtrack."""
    rate = 0.0 if as_fps(run.fps) == GENERATION_FPS else float(run.fps)
    return TravelDelivery(rate, int(run.out_width), int(run.out_height), run.retime, bool(run.loop),
                          inputs[-1] if run.soundtrack else "", run.fit)


def _sources(g: Graph, run: Run, references: dict[str, str], template: dict | None, index: int | None) -> Sources:
    """Loaders for the run's model files, and the reference image(s): the item's own for a
    per-step prompt, or every item's (one batch) for the whole-run prompt."""
    gen = run.generator
    if index is not None:
        paths = [gen.reference_for(index)] if gen.reference_for(index) else []
    elif gen.segment_reference_images:
        count = run.join_count if isinstance(run, JoinRun) else run.segment_count
        paths = [gen.reference_for(i) for i in range(count)]
        if not all(paths):
            raise PlanError("segment_reference_images: a detached run needs a reference image for every item "
                            "(or a run-level reference_image for the others)")
    else:
        paths = [gen.reference_image] if gen.reference_image else []
    reference = None
    if paths:
        node = g.add("reference", "SegueLoadImages", title="reference image",
                     images="\n".join(references[p] for p in paths), width=0, height=0, fit=DEFAULT_FIT)
        reference = out(node, 0)
    return file_sources(g, gen, _recipe(run), reference, template)


def _recipe(run: Run):
    return run.generator.recipe(run.seed, run.seed_mode)


def _travel_settings(run: TravelRun) -> TravelStepSettings:
    def csv(values) -> str:
        return str(values) if isinstance(values, int) else ", ".join(str(v) for v in values)
    return TravelStepSettings(csv(run.segment_frames), csv(run.overlap), run.mode, bool(run.exact_keyframes),
                              float(run.strength), float(run.desaturate), float(run.darken), bool(run.loop))


def _travel_texts(run: TravelRun) -> Texts:
    return Texts(tuple(run.segment_prompts()), tuple(run.segment_negative_prompts()))


def _join_texts(run: JoinRun, count: int) -> Texts:
    pairs = [run.join_prompt(j) for j in range(count)]
    return Texts(tuple(p for p, _ in pairs), tuple(n for _, n in pairs))


def _encode(run: Run, filename: str) -> EncodeSettings:
    return EncodeSettings(run.curve, float(run.sharpen), int(run.crf), run.preset, filename=filename)


def _keyframes(g: Graph, run: TravelRun, names: Sequence[str]) -> Link:
    return out(g.add("keyframes", "SegueLoadImages", title="keyframes", images="\n".join(names),
                     width=int(run.width), height=int(run.height), fit=run.fit), 0)


def join_per_join_json(plan: JoinPlan) -> str:
    """Every join's final settings, explicit, so every node re-plans exactly this plan."""
    return json.dumps([{"context": j.context_frames_a, "gap": j.gap_frames, "replace": j.replace,
                        "blend": j.blend_frames} for j in plan.joins])


def _join_settings(run: JoinRun, plan: JoinPlan) -> JoinStepSettings:
    first = plan.joins[0]
    return JoinStepSettings(first.context_frames_a, first.gap_frames, bool(first.replace), first.blend_frames,
                            join_per_join_json(plan), bool(run.bridging), width=int(run.width),
                            height=int(run.height), fit=run.fit, loop=bool(run.loop), fps=float(run.fps or 0),
                            work_width=int(run.work_width), work_height=int(run.work_height),
                            retime=run.retime, gap_audio=run.gap_audio)


def _extend_settings(run: ExtendRun) -> ExtendStepSettings:
    frames = run.frames if isinstance(run.frames, int) else ", ".join(str(v) for v in run.frames)
    return ExtendStepSettings(str(frames), int(run.overlap), int(run.max_generation), int(run.blend),
                              float(run.strength), float(run.desaturate), float(run.darken))


def _extend_texts(run: ExtendRun, plan) -> Texts:
    count = len(plan.segments)
    return Texts(tuple(run.segment_prompts(count)), tuple(run.segment_negative_prompts(count)))


def _extend_keyframes(g: Graph, names: Sequence[str]) -> Link | None:
    """The ``--to`` images (any size: each step conforms them to its generation size)."""
    if not names:
        return None
    return out(g.add("keyframes", "SegueLoadImages", title="keyframes", images="\n".join(names), width=0, height=0,
                     fit=DEFAULT_FIT), 0)


def _extend_step_prompt(g: Graph, run: ExtendRun, plan, step: StepSpec, names: Sequence[str],
                        references: dict[str, str], template: dict | None) -> dict:
    clip, keyframes = names[0], names[1:]
    settings = _extend_settings(run)
    if step.kind == "final":
        files = "\n".join(annotated_output(run.run_id, s.file) for s in run_steps(plan)[:-1])
        extend_assemble(g, settings, clip, files, len(keyframes), _encode(run, server_filename(run.run_id, step)),
                        bool(run.keep_audio))
        return g.prompt()
    previous = "\n".join(annotated_output(run.run_id, extension_id(k) + LOSSLESS_SUFFIX) for k in range(step.index))
    node = extend_step(g, settings, clip, _extend_keyframes(g, keyframes), step.index, previous or None, "")
    step_chain(g, _recipe(run), _sources(g, run, references, template, step.index), out(node, 0), step.index,
               run.segment_seed(step.index), _extend_texts(run, plan),
               SaveTo(f"{server_folder(run.run_id)}/{extension_id(step.index)}", "output"), "")
    return g.prompt()



# --- public builders ---------------------------------------------------------------------------

def step_prompt(run: Run, plan: TravelPlan | JoinPlan, step: StepSpec, inputs: Sequence[str],
                template: dict | None = None) -> dict:
    """The API prompt of one step (its saving node has the id ``saving_nodes`` names)."""
    g = Graph()
    names, references = _split_inputs(run, inputs)
    if isinstance(run, ExtendRun):
        return _extend_step_prompt(g, run, plan, step, names, references, template)
    if isinstance(run, TravelRun):
        if step.kind == "final":
            files = "\n".join(annotated_output(run.run_id, s.file) for s in travel_steps(plan)[:-1])
            stitch(g, files, plan.overlaps, _encode(run, server_filename(run.run_id, step)), float(GENERATION_FPS),
                   delivery=_delivery(run, inputs))
            return g.prompt()
        seg = plan.segments[step.index]

        def segment_video(node_id: str, index: int) -> Link:
            return out(g.add(node_id, "SegueLoadVideo", title=f"segment {index}", start=0, frame_count=0,
                             video=annotated_output(run.run_id, segment_id(index) + LOSSLESS_SUFFIX), last_frames=1), 3)

        previous = segment_video("previous", step.index - 1) if seg.context_frames else None
        first = segment_video("first", 0) if seg.end_context_frames else None
        node = travel_step(g, _travel_settings(run), _keyframes(g, run, names), step.index, previous, "", first)
        step_chain(g, _recipe(run), _sources(g, run, references, template, step.index), out(node, 0), step.index,
                   run.segment_seed(step.index), _travel_texts(run),
                   SaveTo(f"{server_folder(run.run_id)}/{segment_id(step.index)}", "output"), "")
        return g.prompt()
    settings = _join_settings(run, plan)
    if step.kind == "final":
        files = "\n".join(annotated_output(run.run_id, s.file) for s in join_steps(plan)[:-1])
        assemble(g, settings, names, files, _encode(run, server_filename(run.run_id, step)), bool(run.keep_audio))
        return g.prompt()
    node = join_step(g, settings, names, step.index, "")
    step_chain(g, _recipe(run), _sources(g, run, references, template, step.index), out(node, 0), step.index,
               run.join_seed(step.index), _join_texts(run, len(plan.joins)),
               SaveTo(f"{server_folder(run.run_id)}/{transition_id(step.index)}", "output"), "", is_join=True)
    return g.prompt()


def all_step_prompts(run: Run, plan, inputs: Sequence[str]) -> dict[str, dict]:
    template = load_template(run.generator.template) if run.generator.kind == "template" else None
    return {s.id: step_prompt(run, plan, s, inputs, template) for s in run_steps(plan)}


def detached_prompt(run: Run, plan, inputs: Sequence[str]) -> dict:
    """The whole run as one prompt for ``--detach``: the graph a one-node travel/join expands
    into (same builder), with every step's exact file name."""
    g = Graph()
    names, references = _split_inputs(run, inputs)
    template = load_template(run.generator.template) if run.generator.kind == "template" else None
    sources = _sources(g, run, references, template, None)
    final = server_filename(run.run_id, StepSpec("final", "final", -1, (), "final" + FINAL_SUFFIX, 0))
    if isinstance(run, TravelRun):
        saves = [SaveTo(f"{server_folder(run.run_id)}/{segment_id(s.index)}", "output") for s in plan.segments]
        travel_graph(g, _travel_settings(run), plan.segments, plan.overlaps, _recipe(run), sources,
                     _travel_texts(run), _keyframes(g, run, names), saves, _encode(run, final), float(GENERATION_FPS),
                     _delivery(run, inputs))
    elif isinstance(run, ExtendRun):
        saves = [SaveTo(f"{server_folder(run.run_id)}/{extension_id(s.index)}", "output") for s in plan.segments]
        extend_graph(g, _extend_settings(run), len(plan.segments), _recipe(run), sources, _extend_texts(run, plan),
                     names[0], _extend_keyframes(g, names[1:]), len(names) - 1, saves, _encode(run, final),
                     bool(run.keep_audio), [run.segment_seed(s.index) for s in plan.segments])
    else:
        saves = [SaveTo(f"{server_folder(run.run_id)}/{transition_id(j.index)}", "output") for j in plan.joins]
        join_graph(g, _join_settings(run, plan), len(plan.joins), _recipe(run), sources,
                   _join_texts(run, len(plan.joins)), names, saves, _encode(run, final), bool(run.keep_audio),
                   [run.join_seed(j.index) for j in plan.joins])
    return g.prompt()


def saving_nodes(step: StepSpec, detached: bool) -> dict[str, str]:
    """Ids of the node that writes ``step``'s file (its ``executed`` message = file written)."""
    if step.kind == "final":
        return {"stitch": step.id, "assemble": step.id}
    if detached:
        prefix = {"segment": "seg", "transition": "join", "extension": "ext"}[step.kind]
        return {f"{prefix}_{step.index:03d}.save": step.id}
    return {"save": step.id}


# --- validation against /object_info ---------------------------------------------------------

def validate_prompt(prompt: dict, object_info: Mapping[str, dict], server: str = "the server") -> list[str]:
    """Problems that would make ``prompt`` fail on a server with this ``/object_info``, one line each.

    Checks: every class is installed; model files exist ("unknown model file"); other combo
    values are allowed; required inputs are present; no undeclared inputs; links point at existing
    nodes and outputs of a compatible type.
    """
    errors: list[str] = []
    for node_id, node in prompt.items():
        if not isinstance(node_id, str):
            errors.append(f"node id {node_id!r} is not a string")
            continue
        cls = node["class_type"]
        info = object_info.get(cls)
        if not info:
            hint = "install/update the Segue pack on it" if cls.startswith("Segue") else "install the node pack that provides it"
            errors.append(f"node {node_id}: {cls} is not installed on {server}: {hint}")
            continue
        declared = {**info.get("input", {}).get("required", {}), **info.get("input", {}).get("optional", {})}
        required = info.get("input", {}).get("required", {})
        inputs = node.get("inputs", {})
        for name in required:
            if name not in inputs:
                errors.append(f"node {node_id} ({cls}): required input {name!r} is missing")
        for name, value in inputs.items():
            spec = declared.get(name)
            if spec is None:
                errors.append(f"node {node_id} ({cls}): input {name!r} is not declared by {cls} on {server}")
                continue
            kind, options = _input_kind(spec)
            if is_link(value):
                errors.extend(_check_link(prompt, object_info, node_id, cls, name, kind, value))
            elif isinstance(kind, list):
                if value not in kind:
                    errors.append(_combo_error(node_id, cls, name, value, kind, server))
            elif kind == "BOOLEAN" and not isinstance(value, bool):
                errors.append(f"node {node_id} ({cls}): {name}={value!r} must be a JSON boolean")
            elif kind in ("INT", "FLOAT") and (isinstance(value, bool) or not isinstance(value, (int, float))):
                errors.append(f"node {node_id} ({cls}): {name}={value!r} must be a number")
            elif kind in ("INT", "FLOAT"):
                lo, hi = options.get("min"), options.get("max")
                if lo is not None and value < lo or hi is not None and value > hi:
                    errors.append(f"node {node_id} ({cls}): {name}={value} is outside {lo}..{hi}")
    return errors


def _input_kind(spec: Any) -> tuple[Any, dict]:
    """``(type or list of combo options, options dict)`` from an object_info input spec."""
    if not isinstance(spec, (list, tuple)) or not spec:
        return "*", {}
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if kind == "COMBO":
        return list(options.get("options", [])), options
    return kind, options


def _check_link(prompt, object_info, node_id, cls, name, kind, value) -> list[str]:
    src, index = str(value[0]), int(value[1])
    if not isinstance(value[0], str):
        return [f"node {node_id} ({cls}): input {name} links to {value[0]!r}: node ids in links must be strings"]
    if src not in prompt:
        return [f"node {node_id} ({cls}): input {name} links to node {src!r}, which is not in the prompt"]
    src_info = object_info.get(prompt[src]["class_type"])
    if not src_info:
        return []  # reported for the source node itself
    outputs = src_info.get("output", [])
    if not 0 <= index < len(outputs):
        return [f"node {node_id} ({cls}): input {name} links to output {index} of {src} "
                f"({prompt[src]['class_type']} has {len(outputs)} outputs)"]
    produced = outputs[index]
    if isinstance(kind, str) and not _types_match(produced, kind):
        return [f"node {node_id} ({cls}): input {name} expects {kind} but output {index} of {src} "
                f"({prompt[src]['class_type']}) is {produced}"]
    return []


def _types_match(produced: Any, expected: str) -> bool:
    if isinstance(produced, list):
        produced = "COMBO"
    if "*" in (produced, expected) or expected == "COMBO":
        return True
    return bool(set(str(produced).split(",")) & set(expected.split(",")))


def _combo_error(node_id: str, cls: str, name: str, value: Any, options: list, server: str) -> str:
    shown = ", ".join(map(str, options[:8])) + (", ..." if len(options) > 8 else "")
    model = MODEL_INPUTS.get((cls, name))
    if model:
        flag, where = model
        listing = f"it has: {shown}" if options else "it has none"
        return (f"unknown model file {value!r} for {cls}.{name} on {server} ({listing}): put the file in "
                f"ComfyUI's {where} or fix {flag}")
    return f"node {node_id} ({cls}): {name}={value!r} is not one of: {shown}"
