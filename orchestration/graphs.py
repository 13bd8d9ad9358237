"""Plans -> ComfyUI API-format prompts.

One prompt per step (``step_prompt``): a travel segment, a join transition, or the final
stitch/assembly.  Each step ends in a Segue saving node with an EXACT file name
(``output/segue/<run_id>/<step>``), so a step's output is known before it runs, the next step
loads it by name, and memory is freed between steps.  ``detached_prompt`` builds the whole run as
one graph for ``--detach``.

Format rules (docs/node-contract.md, spec §1.1): string node ids, links ``[id, output_index]``,
only declared inputs, JSON booleans, ``_meta.title`` for labels only.  ``validate_prompt`` checks a
prompt against a server's ``/object_info`` before anything is submitted.

Generators (the chain between the guide and the saving node):

* ``preview``: ``SeguePreviewGenerator`` (CPU, deterministic);
* ``wan21-vace``: UNETLoader -> ModelSamplingSD3; CLIPLoader -> CLIPTextEncode x2; VAELoader;
  WanVaceToVideo -> KSampler -> TrimVideoLatent -> VAEDecode;
* ``wan22-vace``: the same with two experts and two KSamplerAdvanced split at ``split_step``;
* ``template``: a user API-format prompt; its ``SegueGuideSlot`` outputs are rewired to the real
  guide node's outputs and the input of its ``SegueFramesSlot`` goes into ``SegueSaveSegment``.
  String values ``{{prompt}}``, ``{{negative_prompt}}``, ``{{seed}}`` and ``{{index}}`` are
  filled per step (a value that is exactly ``{{seed}}`` or ``{{index}}`` becomes a number).
  Template node ids are prefixed (``tpl.<id>``) so they never clash with Segue's.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..video_utils.errors import PlanError
from ..video_utils.join_plan import JoinPlan
from ..video_utils.travel_plan import TravelPlan
from .plan_files import GeneratorConfig, JoinRun, Run, TravelRun
from .steps import (LOSSLESS_EXT, StepSpec, annotated_output, join_steps, segment_id, server_filename, server_folder,
                    transition_id, travel_steps)

Link = list  # [node_id: str, output_index: int]

GUIDE_SLOT = "SegueGuideSlot"
FRAMES_SLOT = "SegueFramesSlot"
# Inputs whose combo lists are model files, and the option that sets each.
MODEL_INPUTS = {("UNETLoader", "unet_name"): "--unet / --unet-low", ("VAELoader", "vae_name"): "--vae",
                ("CLIPLoader", "clip_name"): "--clip"}


class Graph:
    """A tiny GraphBuilder: named nodes, ``[id, index]`` links, optional de-duplication."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict] = {}
        self._shared: dict[str, str] = {}

    def add(self, node_id: str, class_type: str, title: str | None = None, **inputs: Any) -> str:
        if node_id in self.nodes:
            raise ValueError(f"duplicate node id {node_id!r}")
        self.nodes[node_id] = {"class_type": class_type,
                               "inputs": {k: v for k, v in inputs.items() if v is not None}}
        if title:
            self.nodes[node_id]["_meta"] = {"title": title}
        return node_id

    def shared(self, node_id: str, class_type: str, **inputs: Any) -> str:
        """Add a node once per identical ``(class_type, inputs)`` (model loaders in whole-run graphs)."""
        key = json.dumps([class_type, inputs], sort_keys=True)
        if key not in self._shared:
            self._shared[key] = self.add(node_id, class_type, **inputs)
        return self._shared[key]

    def prompt(self) -> dict:
        return self.nodes


def out(node_id: str, index: int) -> Link:
    return [node_id, index]


# --- generators --------------------------------------------------------------------------------

def add_generator(g: Graph, gen: GeneratorConfig, guide: str, prefix: str, prompt: str, negative: str,
                  seed: int, index: int, template: dict | None = None) -> Link:
    """Nodes that turn the guide node's ``control_video``/``control_masks`` into frames."""
    if gen.kind == "preview":
        return out(g.add(f"{prefix}generate", "SeguePreviewGenerator", control_video=out(guide, 0),
                         control_masks=out(guide, 1), method=gen.preview_method), 0)
    if gen.kind in ("wan21-vace", "wan22-vace"):
        return _add_wan(g, gen, guide, prefix, prompt, negative, seed)
    if gen.kind == "template":
        return splice_template(g, template if template is not None else load_template(gen.template),
                               guide, prefix, {"prompt": prompt, "negative_prompt": negative,
                                               "seed": seed, "index": index})
    raise PlanError(f"generator={gen.kind!r} is not a generator")


def _add_wan(g: Graph, gen: GeneratorConfig, guide: str, prefix: str, prompt: str, negative: str, seed: int) -> Link:
    def model(node: str, unet_name: str) -> str:
        unet = g.shared(f"{node}_unet", "UNETLoader", unet_name=unet_name, weight_dtype=gen.weight_dtype)
        return g.shared(f"{node}_sampling", "ModelSamplingSD3", model=out(unet, 0), shift=float(gen.shift))

    clip = g.shared("wan_clip", "CLIPLoader", clip_name=gen.clip, type="wan")
    vae = g.shared("wan_vae", "VAELoader", vae_name=gen.vae)
    pos = g.shared(f"{prefix}positive", "CLIPTextEncode", text=prompt, clip=out(clip, 0))
    neg = g.shared(f"{prefix}negative", "CLIPTextEncode", text=negative, clip=out(clip, 0))
    vace = g.add(f"{prefix}vace", "WanVaceToVideo", positive=out(pos, 0), negative=out(neg, 0), vae=out(vae, 0),
                 width=out(guide, 3), height=out(guide, 4), length=out(guide, 2), batch_size=1,
                 strength=float(gen.vace_strength), control_video=out(guide, 0), control_masks=out(guide, 1))
    common = dict(cfg=float(gen.cfg), sampler_name=gen.sampler, scheduler=gen.scheduler,
                  positive=out(vace, 0), negative=out(vace, 1))
    if gen.kind == "wan21-vace":
        sampled = g.add(f"{prefix}sample", "KSampler", model=out(model("wan", gen.unet), 0), seed=int(seed),
                        steps=int(gen.steps), latent_image=out(vace, 2), denoise=1.0, **common)
    else:
        split = gen.effective_split()
        high = g.add(f"{prefix}sample_high", "KSamplerAdvanced", model=out(model("wan_high", gen.unet), 0),
                     add_noise="enable", noise_seed=int(seed), steps=int(gen.steps), latent_image=out(vace, 2),
                     start_at_step=0, end_at_step=split, return_with_leftover_noise="enable", **common)
        sampled = g.add(f"{prefix}sample_low", "KSamplerAdvanced", model=out(model("wan_low", gen.unet_low), 0),
                        add_noise="disable", noise_seed=int(seed), steps=int(gen.steps), latent_image=out(high, 0),
                        start_at_step=split, end_at_step=10000, return_with_leftover_noise="disable", **common)
    trim = g.add(f"{prefix}trim", "TrimVideoLatent", samples=out(sampled, 0), trim_amount=out(vace, 3))
    return out(g.add(f"{prefix}decode", "VAEDecode", samples=out(trim, 0), vae=out(vae, 0)), 0)


# --- templates ---------------------------------------------------------------------------------

def load_template(path: str | Path) -> dict:
    """Read and check a user's API-format template (one guide slot, one frames slot)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise PlanError(f"template {str(path)!r} cannot be read ({e.strerror}): check the path") from None
    except json.JSONDecodeError as e:
        raise PlanError(f"template {str(path)!r} is not JSON (line {e.lineno}: {e.msg})") from None
    check_template(data, str(path))
    return data


def check_template(data: Any, label: str = "template") -> None:
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        raise PlanError(f"{label} is a UI workflow, not an API-format prompt: in ComfyUI use "
                        f"Workflow > Export (API) and pass that file")
    if not isinstance(data, dict) or not all(isinstance(n, dict) and "class_type" in n for n in data.values()):
        raise PlanError(f"{label} is not an API-format prompt (an object of node id -> "
                        f"{{\"class_type\", \"inputs\"}}): export it with Workflow > Export (API)")
    for slot, what in ((GUIDE_SLOT, "where the guide enters (its outputs feed WanVaceToVideo)"),
                       (FRAMES_SLOT, "where the generated frames leave (after VAEDecode)")):
        count = sum(1 for n in data.values() if n["class_type"] == slot)
        if count != 1:
            raise PlanError(f"{label} has {count} {slot} nodes: it needs exactly one, {what}")
    frames = next(n for n in data.values() if n["class_type"] == FRAMES_SLOT)
    images = frames.get("inputs", {}).get("images")
    if not _is_link(images) or str(images[0]) not in data:
        raise PlanError(f"{label}: the {FRAMES_SLOT} node's images input must be linked to the node that "
                        f"makes the frames (e.g. VAEDecode)")


def splice_template(g: Graph, template: dict, guide: str, prefix: str, values: Mapping[str, Any]) -> Link:
    """Copy the template's nodes into ``g`` (ids prefixed), wired to ``guide``; return the frames link."""
    slot_id = next(k for k, n in template.items() if n["class_type"] == GUIDE_SLOT)
    frames_id = next(k for k, n in template.items() if n["class_type"] == FRAMES_SLOT)

    def rewire(value: Any) -> Any:
        if _is_link(value):
            src = str(value[0])
            if src == slot_id:
                return out(guide, int(value[1]))
            if src == frames_id or src not in template:
                raise PlanError(f"template links to node {src!r}, which it does not contain (or to the frames slot)")
            return out(f"{prefix}tpl.{src}", int(value[1]))
        if isinstance(value, str):
            return _fill(value, values)
        return copy.deepcopy(value)

    for node_id, node in template.items():
        if node_id in (slot_id, frames_id):
            continue
        inputs = {name: rewire(v) for name, v in node.get("inputs", {}).items()}
        g.add(f"{prefix}tpl.{node_id}", node["class_type"], title=node.get("_meta", {}).get("title"), **inputs)
    return rewire(template[frames_id]["inputs"]["images"])


def _fill(text: str, values: Mapping[str, Any]) -> Any:
    for key in ("seed", "index"):
        if text == "{{" + key + "}}":
            return int(values[key])
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    return text


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)) \
        and isinstance(value[1], int) and not isinstance(value[1], bool)


# --- travel ------------------------------------------------------------------------------------

def _csv(values: Sequence[int] | int) -> str:
    return str(values) if isinstance(values, int) else ", ".join(str(v) for v in values)


def _travel_segment(g: Graph, run: TravelRun, plan: TravelPlan, i: int, keyframes: str, prefix: str,
                    previous: tuple[str, Link] | None, template: dict | None) -> str:
    """Guide -> generator -> SegueSaveSegment for segment ``i``; returns the save node id.

    ``previous`` is ``("previous_segment", IMAGE link)`` or ``("previous_video", VIDEO link)``.
    """
    seg = plan.segments[i]
    extra = {previous[0]: previous[1]} if previous else {}
    guide = g.add(f"{prefix}guide", "SegueTravelGuide", title=f"guide segment {i}",
                  keyframes=out(keyframes, 0), segment_index=i, segment_frames=_csv(run.segment_frames),
                  overlap=_csv(run.overlap), mode=run.mode, exact_keyframes=bool(run.exact_keyframes),
                  strength=float(run.strength), desaturate=float(run.desaturate), darken=float(run.darken), **extra)
    frames = add_generator(g, run.generator, guide, prefix, run.segment_prompts()[i],
                           run.segment_negative_prompts()[i], run.segment_seed(i), i, template)
    # Segment 0's lead-in (exact keyframes) is dropped at save, so every file holds only frames
    # that land in the video and the stitch needs no trim.
    return g.add(f"{prefix}save", "SegueSaveSegment", title=f"save segment {i}", images=frames,
                 filename=f"{server_folder(run.run_id)}/{segment_id(i)}", fps=float(run.fps), trim_start=seg.trim_start,
                 expected_frames=seg.generate_frames - seg.trim_start)


def _keyframes_node(g: Graph, run: TravelRun, images: Sequence[str], node_id: str = "keyframes") -> str:
    return g.add(node_id, "SegueLoadImages", title="keyframes", images="\n".join(images),
                 width=int(run.width), height=int(run.height), fit=run.fit)


def _travel_final(g: Graph, run: TravelRun, plan: TravelPlan, prefix: str = "", files: Link | None = None) -> str:
    """SegueStitchFiles over the segment files (by name, or ``files`` linked from SegueFileList)."""
    steps = travel_steps(plan)
    names = "\n".join(annotated_output(run.run_id, s.file) for s in steps[:-1])
    return g.add(f"{prefix}stitch", "SegueStitchFiles", title="stitch", segment_files=files or names,
                 overlaps=_csv(plan.overlaps) or "0", trim_start=0, curve=run.curve,
                 sharpen=float(run.sharpen), fps=float(run.fps), filename=server_filename(run.run_id, steps[-1]),
                 crf=int(run.crf), preset=run.preset)


# --- join --------------------------------------------------------------------------------------

def _join_transition(g: Graph, run: JoinRun, plan: JoinPlan, j: int, clips: Sequence[str], prefix: str,
                     template: dict | None) -> str:
    spec = plan.joins[j]
    # A: from its first context frame to its end (context + frames replaced on A's side);
    # B: from the start to the end of its context.  The guide node takes A's context from A's end
    # and B's from B's start (after the replaced frames), so it sees exactly the planned frames.
    a = g.add(f"{prefix}clip_a", "SegueLoadVideo", title=f"clip {j} tail", video=clips[j],
              start=spec.context_a_start, frame_count=spec.context_frames_a + spec.trim_from_a, last_frames=0)
    b = g.add(f"{prefix}clip_b", "SegueLoadVideo", title=f"clip {j + 1} head", video=clips[j + 1],
              start=0, frame_count=spec.context_b_start + spec.context_frames_b, last_frames=0)
    guide = g.add(f"{prefix}guide", "SegueJoinGuide", title=f"guide join {j}", clip_a=out(a, 0), clip_b=out(b, 0),
                  context=spec.context_frames_a, gap=spec.gap_frames, replace=bool(spec.replace),
                  bridging=bool(run.bridging))
    prompt, negative = run.join_prompt(j)
    frames = add_generator(g, run.generator, guide, prefix, prompt, negative, run.join_seed(j), j, template)
    return g.add(f"{prefix}save", "SegueSaveSegment", title=f"save transition {j}", images=frames,
                 filename=f"{server_folder(run.run_id)}/{transition_id(j)}", fps=float(run.fps) if run.fps else out(a, 1),
                 trim_start=0, expected_frames=spec.transition_frames)


def join_per_join_json(plan: JoinPlan) -> str:
    """Every join's final settings, explicit, so the assembly re-plans exactly this plan."""
    return json.dumps([{"context": j.context_frames_a, "gap": j.gap_frames, "replace": j.replace,
                        "blend": j.blend_frames} for j in plan.joins])


def _join_final(g: Graph, run: JoinRun, plan: JoinPlan, clips: Sequence[str], prefix: str = "",
                files: Link | None = None) -> str:
    """SegueJoinAssembleFiles with every join's settings explicit (``per_join``)."""
    steps = join_steps(plan)
    first = plan.joins[0]
    names = "\n".join(annotated_output(run.run_id, s.file) for s in steps[:-1])
    return g.add(f"{prefix}assemble", "SegueJoinAssembleFiles", title="assemble",
                 clip_files="\n".join(clips), transition_files=files or names,
                 context=first.context_frames_a, gap=first.gap_frames, replace=bool(first.replace),
                 blend=first.blend_frames, per_join=join_per_join_json(plan), fps=float(run.fps),
                 filename=server_filename(run.run_id, steps[-1]), crf=int(run.crf), preset=run.preset,
                 keep_audio=bool(run.keep_audio), curve=run.curve, sharpen=float(run.sharpen))


# --- public builders ---------------------------------------------------------------------------

def step_prompt(run: Run, plan: TravelPlan | JoinPlan, step: StepSpec, inputs: Sequence[str],
                template: dict | None = None) -> dict:
    """The API prompt of one step.  ``inputs``: annotated names of the keyframes / clips on the server."""
    g = Graph()
    if isinstance(run, TravelRun):
        if step.kind == "final":
            _travel_final(g, run, plan)
        else:
            keyframes = _keyframes_node(g, run, inputs)
            previous = None
            seg = plan.segments[step.index]
            if seg.context_frames:
                prev_file = segment_id(step.index - 1) + LOSSLESS_EXT
                load = g.add("previous", "SegueLoadVideo", title=f"segment {step.index - 1} tail",
                             video=annotated_output(run.run_id, prev_file), start=0, frame_count=0,
                             last_frames=seg.context_frames)
                previous = ("previous_segment", out(load, 0))
            _travel_segment(g, run, plan, step.index, keyframes, "", previous, template)
    else:
        if step.kind == "final":
            _join_final(g, run, plan, inputs)
        else:
            _join_transition(g, run, plan, step.index, inputs, "", template)
    return g.prompt()


def all_step_prompts(run: Run, plan, inputs: Sequence[str]) -> dict[str, dict]:
    steps = travel_steps(plan) if isinstance(run, TravelRun) else join_steps(plan)
    template = load_template(run.generator.template) if run.generator.kind == "template" else None
    return {s.id: step_prompt(run, plan, s, inputs, template) for s in steps}


def detached_prompt(run: Run, plan, inputs: Sequence[str]) -> dict:
    """The whole run as one prompt for ``--detach``: ComfyUI's executor chains the steps itself.

    The same per-step nodes, ids prefixed per step (``s003.`` / ``j001.`` / ``final.``).  Chained
    segments take the previous segment through ``SegueSaveSegment``'s VIDEO output, and the final
    node's file list is linked through a ``SegueFileList`` chain fed by every save, so it runs
    after all of them.  Files keep the exact per-step names, so status/resume find them.
    """
    g = Graph()
    template = load_template(run.generator.template) if run.generator.kind == "template" else None
    files: Link | None = None
    if isinstance(run, TravelRun):
        keyframes = _keyframes_node(g, run, inputs)
        save = None
        for seg in plan.segments:
            previous = ("previous_video", out(save, 0)) if seg.context_frames else None
            save = _travel_segment(g, run, plan, seg.index, keyframes, f"s{seg.index:03d}.", previous, template)
            files = out(g.add(f"s{seg.index:03d}.list", "SegueFileList", video=out(save, 0), files=files), 0)
        _travel_final(g, run, plan, "final.", files)
    else:
        for spec in plan.joins:
            save = _join_transition(g, run, plan, spec.index, inputs, f"j{spec.index:03d}.", template)
            files = out(g.add(f"j{spec.index:03d}.list", "SegueFileList", video=out(save, 0), files=files), 0)
        _join_final(g, run, plan, inputs, "final.", files)
    return g.prompt()


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
            if _is_link(value):
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
    flag = MODEL_INPUTS.get((cls, name))
    if flag:
        where = {"unet_name": "models/diffusion_models", "vae_name": "models/vae", "clip_name": "models/text_encoders"}[name]
        listing = f"it has: {shown}" if options else "it has none"
        return (f"unknown model file {value!r} for {cls}.{name} on {server} ({listing}): put the file in "
                f"ComfyUI's {where} or fix {flag}")
    return f"node {node_id} ({cls}): {name}={value!r} is not one of: {shown}"
