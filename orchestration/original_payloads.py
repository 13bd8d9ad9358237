"""The original queue orchestrator's payloads (``orchestrator_details``) converted to runs.

``from_orchestrator_payload`` reads a ``travel_orchestrator`` or ``join_clips_orchestrator``
payload (``../shared/spec/original-system.md`` §1.1, §1.2: every field listed there is handled)
and returns the run plus a list of warnings: one line per field Segue cannot honour as the
original did, saying what happens instead.  No field is dropped silently: fields that are not in
the spec are named too.  Settings that only restate what Segue does anyway (parallel joins,
debug folders, a false switch) are honoured without a note.

What carries over: images/clips, prompts (with the enhanced-prompt overrides, base-prompt
fallback and the before/after texts), frames and overlaps, resolution, chained/independent,
seeds (the original gives every segment the same seed: ``seed_mode="fixed"``), frame rates,
guide adjustments, post-generation saturation/brightness, cross-fade sharpening, the sampler
schedule (``phase_config`` -> ``phases``; ``model_switch_phase`` -> which phases use the
low-noise expert), LoRAs (``additional_loras``, per-phase LoRAs, per-segment LoRAs: file names
taken from their URLs), steps / CFG / flow shift, per-segment and per-join overrides, bridging
images, a join's ``resolution`` (the generation size), ``aspect_ratio`` (a centre-cropped output
size), output ``fps``, ``loop_first_clip`` (a seamless loop: the last clip joined back to the first).  Model
*names* of the original (Wan2GP presets) are not ComfyUI model files: the generator kind and the
preset's schedule are taken from them, the files must be added (a warning says so).
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from ..video_utils.errors import PlanError
from .plan_files import run_from_dict
from .run_checks import brief, probe_clip
from .run_models import JOIN_OVERRIDE_KEYS, JOIN_PROMPT_KEYS, SEED_JOIN_KEYS, Run

TASK_KINDS = {"travel_orchestrator": "travel", "join_clips_orchestrator": "join"}
DEFAULT_JOIN_MODEL = "wan_2_2_vace_lightning_baseline_2_2_2"
# Wan2GP presets whose sampling schedule is known (Wan2GP/defaults/<name>.json): steps per
# phase, CFG per phase, flow shift, solver, the phase after which the low-noise expert takes over.
MODEL_PRESETS = {
    "wan_2_2_vace_lightning_baseline_2_2_2": {"steps_per_phase": [2, 2, 2], "guidance": [3.0, 1.0, 1.0],
                                              "flow_shift": 5.0, "sample_solver": "euler",
                                              "model_switch_phase": 2},
}
# Wan2GP solver names -> ComfyUI sampler names.
SOLVERS = {"euler": "euler", "unipc": "uni_pc", "": "uni_pc", "dpm++": "dpmpp_2m", "dpm++_sde": "dpmpp_sde"}
# Fields that only restate what Segue does, or bookkeeping with no effect on the video.
NO_EFFECT = {"debug_mode_enabled", "skip_cleanup_enabled", "use_parallel_joins", "vlm_device", "svi_strength",
             "svi_strength_1", "svi_strength_2"}


def is_orchestrator_payload(data: Any) -> bool:
    """A payload of the original system (not a Segue plan)."""
    if not isinstance(data, dict) or "segue_plan" in data:
        return False
    details = _details(data)
    return (data.get("task_type") in TASK_KINDS or "orchestrator_details" in data
            or "input_image_paths_resolved" in details or "clip_list" in details)


def _details(payload: dict) -> dict:
    p = payload
    if isinstance(p.get("params"), dict):
        p = p["params"]
    details = p.get("orchestrator_details", p)
    if not isinstance(details, dict):
        raise PlanError(f"orchestrator_details={brief(details)} must be an object")
    return details


class _Fields:
    """The payload's fields, each marked when it is read, so the unread ones can be named."""

    def __init__(self, details: dict):
        self.details = details
        self.used: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return self.details.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        value = self.details.get(key)
        return default if value is None else value

    def unread(self) -> list[str]:
        return [k for k in self.details if k not in self.used and k not in NO_EFFECT]


def from_orchestrator_payload(payload: dict, kind: str | None = None,
                              base_dir: str | os.PathLike | None = None) -> tuple[Run, list[str]]:
    """Convert the original system's payload into ``(run, warnings)``.

    ``kind`` (travel / join) is taken from ``task_type`` or the fields when not given; the
    payload may be the task (``{"task_type", "params": {"orchestrator_details": ...}}``), its
    ``params``, or the ``orchestrator_details`` object itself.
    """
    if not isinstance(payload, dict):
        raise PlanError(f"an original payload is a JSON object, not {type(payload).__name__}")
    details = _details(payload)
    task_kind = TASK_KINDS.get(payload.get("task_type"))
    guessed = task_kind or ("travel" if "input_image_paths_resolved" in details else
                            "join" if "clip_list" in details or "segment_task_ids" in details else None)
    kind = kind or guessed
    if kind not in ("travel", "join"):
        raise PlanError("the payload is neither a travel_orchestrator (input_image_paths_resolved) nor a "
                        "join_clips_orchestrator (clip_list): give one of those")
    if task_kind and task_kind != kind:
        raise PlanError(f"task_type={payload['task_type']!r} is a {task_kind} payload, not {kind}")
    f = _Fields(details)
    warnings: list[str] = []
    data = _travel(f, warnings) if kind == "travel" else _join(f, warnings)
    data["generator"] = _generator(f, warnings, kind, data.get("_segments", 1))
    data.pop("_segments", None)
    segment_loras = data.pop("_segment_loras", None)
    if segment_loras:
        data["generator"]["segment_loras"] = segment_loras
    for key in f.unread():
        warnings.append(f"{key}: not a field of the original {kind} payload that Segue knows; ignored")
    run = run_from_dict(data, base_dir, warnings)
    return run, warnings


# --- travel -----------------------------------------------------------------------------------------

def _travel(f: _Fields, w: list[str]) -> dict:
    images = f.get("input_image_paths_resolved")
    if not isinstance(images, list) or not images:
        raise PlanError("input_image_paths_resolved must list the keyframe images (paths) of the travel")
    count = max(1, len(images) - 1)
    data: dict[str, Any] = {"kind": "travel", "images": list(images), "_segments": count}
    asked = f.get("num_new_segments_to_generate")
    if asked is not None and asked != count:
        w.append(f"num_new_segments_to_generate={asked!r}: Segue makes the {count} segment(s) of the "
                 f"{len(images)} images")

    base = _text(f.get("base_prompt", ""), "base_prompt")
    prompts = _per_segment(f, "base_prompts_expanded", count, w) or [base] * count
    enhanced = _per_segment(f, "enhanced_prompts_expanded", count, w) or [""] * count
    before, after = _text(f.get("text_before_prompts", ""), "text_before_prompts"), \
        _text(f.get("text_after_prompts", ""), "text_after_prompts")
    negative = _text(f.get("negative_prompt", ""), "negative_prompt")
    negatives = _per_segment(f, "negative_prompts_expanded", count, w) or [negative] * count
    frames = _per_segment(f, "segment_frames_expanded", count, w)
    overrides = _segment_overrides(f, count, w)
    seed = f.get("seed_base")
    segment_loras: list[list] = [[] for _ in range(count)]
    for i, o in overrides.items():
        if o.get("base_prompt") or o.get("prompt"):
            prompts[i] = _text(o.get("base_prompt") or o.get("prompt"), f"individual_segment_params[{i}].base_prompt")
            enhanced[i] = ""
        if o.get("negative_prompt") is not None:
            negatives[i] = _text(o["negative_prompt"], f"individual_segment_params[{i}].negative_prompt")
        if o.get("num_frames") is not None:
            if frames is None:
                frames = [32] * count
            frames[i] = o["num_frames"]
        if o.get("seed_to_use") is not None and o["seed_to_use"] != seed:
            w.append(f"individual_segment_params[{i}].seed_to_use={o['seed_to_use']!r}: a travel's segments take "
                     f"the run's seed ({seed}); set seed_mode or run that segment separately")
        if o.get("additional_loras"):
            segment_loras[i] = _loras(o["additional_loras"], f"individual_segment_params[{i}].additional_loras", w)
        for key in ("phase_config", "input_image_paths_resolved", "start_image_url", "end_image_url"):
            if o.get(key) is not None and not _same_images(key, o[key], images, i):
                w.append(f"individual_segment_params[{i}].{key}: Segue's segments all use the run's "
                         f"{'sampler schedule' if key == 'phase_config' else 'keyframe images'}; ignored")
        for key in sorted(set(o) - _SEGMENT_KEYS):
            w.append(f"individual_segment_params[{i}].{key}: not a per-segment setting Segue knows; ignored")
    data["prompts"] = [" ".join(t for t in (before, (e or p or base), after) if t) for p, e in zip(prompts, enhanced)]
    data["negative_prompts"] = [n or negative for n in negatives]
    if f.get("enhance_prompt", False) and not all(enhanced):
        w.append("enhance_prompt: Segue has no vision-language model to write prompts; the segments without an "
                 "enhanced prompt use their base prompt")
    if frames is not None:
        data["segment_frames"] = frames
    if "frame_overlap_expanded" in f:
        overlap = f.get("frame_overlap_expanded")
        values = [overlap] if not isinstance(overlap, list) else overlap[:max(count - 1, 1)]
        if isinstance(overlap, list) and len(overlap) > max(count - 1, 1):
            w.append(f"frame_overlap_expanded has {len(overlap)} entries for {max(count - 1, 0)} boundaries: the "
                     f"first are used (as the original)")
        if any(v == 0 for v in values):
            w.append("frame_overlap 0 (a hard cut) becomes 1: Segue's segments share their keyframe frame, so the "
                     "cut is at the keyframe and the keyframe is not shown twice (1 frame shorter per cut)")
        values = [1 if v == 0 else v for v in values]
        data["overlap"] = values[0] if not isinstance(overlap, list) or len(values) == 1 else values
    if "parsed_resolution_wh" in f:
        data["width"], data["height"] = _resolution(f.get("parsed_resolution_wh"), "parsed_resolution_wh")
    if "chain_segments" in f:
        data["mode"] = "chained" if f.get("chain_segments") else "independent"
    elif "independent_segments" in f:
        data["mode"] = "independent" if f.get("independent_segments") else "chained"
    if f.get("model_type", "vace") not in ("vace", None):
        w.append(f"model_type={f.get('model_type')!r}: Segue travels are VACE (or wan-flf) generations; "
                 f"generated with the generator below")
    data["seed_mode"] = "fixed"               # the original gives every segment seed_base
    if seed is not None:
        data["seed"] = seed
    for src, dst in (("fps_helpers", "fps"), ("run_id", "run_id"), ("crossfade_sharp_amt", "sharpen"),
                     ("desaturate_subsequent_starting_frames", "desaturate"),
                     ("adjust_brightness_subsequent_starting_frames", "darken"),
                     ("main_output_dir_for_run", "output_dir")):
        if src in f:
            data[dst] = f.get(src)
    if "subsequent_starting_strength_adjustment" in f:
        adjustment = _number(f.get("subsequent_starting_strength_adjustment"), "subsequent_starting_strength_adjustment")
        data["strength"] = min(max(1.0 + adjustment, 0.0), 1.0)
    if any(segment_loras):
        data["_segment_loras"] = segment_loras
    _travel_unsupported(f, w)
    return data


_SEGMENT_KEYS = {"base_prompt", "prompt", "negative_prompt", "num_frames", "seed_to_use", "additional_loras",
                 "phase_config", "input_image_paths_resolved", "start_image_url", "end_image_url"}


def _travel_unsupported(f: _Fields, w: list[str]) -> None:
    if f.get("regenerate_anchors", False):
        w.append("regenerate_anchors: Segue's stitch cross-fades the whole overlap, ending on the keyframe; the "
                 "original's variant (the last overlap frame taken unblended) is not made")
    if f.get("continue_from_video_resolved_path"):
        w.append("continue_from_video_resolved_path: a travel does not continue a video; extend the clip with "
                 "`segue extend CLIP --frames F --to IMAGE ...` instead")
    factor = f.get("upscale_factor", 0.0)
    f.get("upscale_model_name")
    if isinstance(factor, (int, float)) and factor > 1:
        w.append(f"upscale_factor={factor}: Segue does not upscale; upscale the result afterwards")
    if f.get("use_svi", False):
        w.append("use_svi: Stable-Video-Infinity chaining is not made; the travel is a VACE travel")
    for key in ("structure_videos", "structure_video_path", "structure_guidance"):
        if f.get(key):
            w.append(f"{key}: structure guidance (flow/depth/canny) is not made; the segments are guided by the "
                     f"keyframes only")
    if f.get("stitch_config"):
        w.append("stitch_config: the segments are cross-fade stitched; to join them with generated transitions "
                 "instead, run `segue join` on the segment files")
    if f.get("mask_active_frames", True) is False:
        w.append("mask_active_frames=false: VACE always gets a mask (keep the known frames, generate the rest)")
    if f.get("colour_match_videos", False):
        w.append("colour_match_videos: it never ran in the original queue path; not applied (set "
                 "generator.colour_match to use Segue's colour match)")


def _per_segment(f: _Fields, key: str, count: int, w: list[str]) -> list | None:
    if key not in f:
        f.get(key)
        return None
    value = f.get(key)
    if not isinstance(value, list):
        raise PlanError(f"{key}={brief(value)} must be a list, one entry per segment")
    if len(value) == 1:
        return value * count
    if len(value) < count:
        raise PlanError(f"{key} has {len(value)} entries but there are {count} segments: give one per segment")
    if len(value) > count:
        w.append(f"{key} has {len(value)} entries for {count} segments: the first {count} are used (as the original)")
    return list(value[:count])


def _segment_overrides(f: _Fields, count: int, w: list[str]) -> dict[int, dict]:
    value = f.get("individual_segment_params")
    if value is None:
        return {}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
    if items is None:
        raise PlanError(f"individual_segment_params={brief(value)} must be a list (one object per segment) or "
                        f"an object keyed by segment index")
    out: dict[int, dict] = {}
    for key, entry in items:
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise PlanError(f"individual_segment_params key {key!r} is not a segment index") from None
        if not 0 <= index < count:
            raise PlanError(f"individual_segment_params[{index}]: there are only segments 0..{count - 1}")
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise PlanError(f"individual_segment_params[{index}]={brief(entry)} must be an object")
        out[index] = entry
    return out


def _same_images(key: str, value: Any, images: list, i: int) -> bool:
    pair = images[i:i + 2]
    if key == "input_image_paths_resolved":
        return value == pair
    return value == (pair[0] if key == "start_image_url" else pair[-1])


# --- join -------------------------------------------------------------------------------------------

def _join(f: _Fields, w: list[str]) -> dict:
    if f.get("segment_task_ids"):
        raise PlanError("segment_task_ids name tasks of the original system's database: give clip_list with "
                        "the clips' paths instead")
    clips = f.get("clip_list")
    if not isinstance(clips, list) or not clips:
        raise PlanError("clip_list must list the clips to join, each {\"url\" or \"path\", \"name\"}")
    entries = []
    for i, c in enumerate(clips):
        if isinstance(c, str):
            entries.append({"path": c})
        elif isinstance(c, dict) and (c.get("path") or c.get("url")):
            entries.append({"path": c.get("path") or c.get("url"), "name": str(c.get("name") or "")})
        else:
            raise PlanError(f"clip_list[{i}]={brief(c)} must be {{\"url\": path, \"name\": ...}}")
    data: dict[str, Any] = {"kind": "join", "clips": entries}
    for src, dst in (("context_frame_count", "context"), ("gap_frame_count", "gap"), ("replace_mode", "replace"),
                     ("blend_frames", "blend"), ("prompt", "prompt"), ("negative_prompt", "negative_prompt"),
                     ("aspect_ratio", "aspect_ratio"), ("fps", "fps"), ("seed", "seed"), ("run_id", "run_id"),
                     ("output_base_dir", "output_dir"), ("keep_bridging_images", "bridging")):
        if src in f:
            data[dst] = f.get(src)
    if f.get("use_input_video_fps", False):
        data["fps"] = 0.0
    data["seed_mode"] = "fixed"               # every join gets the payload's seed, as the original
    if f.get("loop_first_clip", False):
        data["loop"] = True
        w.append("loop_first_clip: Segue loops by joining the last clip back to the first (a seamless loop of "
                 "all clips), not the original's boomerang of clip 0 with its reverse")
    per_join = f.get("per_join_settings")
    if per_join is not None:
        data["per_join"] = _per_join(per_join, w)
    count = len(entries) if data.get("loop") else len(entries) - 1
    data["_segments"] = max(count, 1)
    first = _first_clip(entries[0]["path"])
    own_size = f.get("use_input_video_resolution", False)
    if f.get("resolution") is not None:              # the generation size
        data["work_width"], data["work_height"] = _resolution(f.get("resolution"), "resolution")
    elif own_size:
        if first:
            data["work_width"], data["work_height"] = first
        else:
            w.append("use_input_video_resolution: the first clip could not be read here, so transitions are "
                     "generated at about 832x480 at its aspect")
    ratio = data.get("aspect_ratio")
    if ratio and first:                               # centre-crop to the ratio: an output size of that shape
        data["width"], data["height"] = _crop_size(first, ratio)
        data["fit"] = "crop"
    if f.get("enhance_prompt", False):
        w.append("enhance_prompt: Segue has no vision-language model to write prompts; every join uses its prompt")
    strength = f.get("vid2vid_init_strength")
    if strength is not None and strength < 1.0 and data.get("replace"):
        w.append(f"vid2vid_init_strength={strength}: replaced frames are generated from noise (strength 1), not "
                 f"initialised from the original frames")
    if f.get("audio_url"):
        w.append(f"audio_url={brief(f.get('audio_url'))}: not muxed; the first clip's sound is kept "
                 f"(keep_audio); mux the track onto the result afterwards")
    if f.get("skip_frame_validation", False):
        w.append("skip_frame_validation: Segue always checks that every clip is long enough before it starts")
    return data


def _first_clip(path: str) -> tuple[int, int] | None:
    """The first clip's displayed size, when the file is here to be probed."""
    if not os.path.isfile(path):
        return None
    try:
        info = probe_clip(path, "clip_list[0]")
    except PlanError:
        return None                                  # validation names the problem
    return info.width, info.height


def _crop_size(size: tuple[int, int], ratio: Any) -> tuple[int, int]:
    """The largest even ``W:H`` = ``ratio`` size inside ``size`` (what a centre crop keeps)."""
    try:
        aw, ah = (int(v) for v in str(ratio).split(":"))
        if aw <= 0 or ah <= 0:
            raise ValueError
    except ValueError:
        raise PlanError(f"aspect_ratio={brief(ratio)} is not W:H: write it like 16:9") from None
    width, height = size
    if width * ah > height * aw:
        width = height * aw // ah
    else:
        height = width * ah // aw
    return max(2, width // 2 * 2), max(2, height // 2 * 2)


def _per_join(value: Any, w: list[str]) -> list[dict]:
    if not isinstance(value, list):
        raise PlanError(f"per_join_settings={brief(value)} must be a list of objects, one per join")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise PlanError(f"per_join_settings[{i}]={brief(entry)} must be an object")
        kept = {}
        for key, v in entry.items():
            if SEED_JOIN_KEYS.get(key, key) in JOIN_OVERRIDE_KEYS + JOIN_PROMPT_KEYS:
                kept[key] = v
            else:
                w.append(f"per_join_settings[{i}].{key}: a join's own {key} is not supported (every join uses the "
                         f"run's); ignored")
        out.append(kept)
    return out


# --- the generator ------------------------------------------------------------------------------------

def _generator(f: _Fields, w: list[str], kind: str, items: int) -> dict:
    model = f.get("model_name" if kind == "travel" else "model")
    if model is None and kind == "join":
        model = DEFAULT_JOIN_MODEL
    name = str(model or "").lower()
    gen: dict[str, Any] = {}
    if "flf" in name or "first_last" in name:
        gen["kind"] = "wan-flf"
    elif "2_2" in name or "2.2" in name:
        gen["kind"] = "wan22-vace"
    else:
        gen["kind"] = "wan21-vace"
    if model is not None and "vace" not in name and gen["kind"] != "wan-flf":
        w.append(f"model={model!r} is not a VACE model Segue knows: generated with {gen['kind']}")
    if model is not None:
        w.append(f"model={model!r} is a Wan2GP model name, not ComfyUI model files: set generator.unet"
                 f"{', unet_low' if gen['kind'] == 'wan22-vace' else ''}, vae and clip (or --unet ... on the "
                 f"command line)")
    schedule = f.get("phase_config") or MODEL_PRESETS.get(str(model))
    if schedule is not None:
        gen.update(_phases(schedule, gen["kind"], w, "phase_config" if f.get("phase_config") else f"model {model}"))
    for src, dst in (("num_inference_steps", "steps"), ("guidance_scale", "cfg"), ("flow_shift", "shift")):
        if src in f:
            value = f.get(src)
            if dst == "steps" and "steps" in gen and value != gen["steps"]:
                raise PlanError(f"num_inference_steps={value!r} but phase_config's steps_per_phase sum to "
                                f"{gen['steps']}: make them agree")
            if dst == "cfg" and gen.get("phases"):
                continue        # each phase has its own guidance_scale
            gen[dst] = value
    loras = f.get("additional_loras")
    if loras:
        gen["loras"] = _loras(loras, "additional_loras", w)
    saturation = f.get("after_first_post_generation_saturation")
    if saturation is not None and _number(saturation, "after_first_post_generation_saturation") >= 0:
        gen["saturation"] = saturation
    if "after_first_post_generation_brightness" in f:
        gen["brightness"] = f.get("after_first_post_generation_brightness")
    return gen


def _phases(pc: Any, kind: str, w: list[str], where: str) -> dict:
    """``phase_config`` (``steps_per_phase``, ``phases[i].guidance_scale/loras``, ``flow_shift``,
    ``sample_solver``, ``model_switch_phase``) -> recipe settings with ``phases``."""
    if not isinstance(pc, dict):
        raise PlanError(f"phase_config={brief(pc)} must be an object with steps_per_phase and phases")
    steps = pc.get("steps_per_phase")
    phases = pc.get("phases", [{} for _ in steps] if isinstance(steps, list) else None)
    if "guidance" in pc:                       # a preset of this module
        phases = [{"guidance_scale": g} for g in pc["guidance"]]
    if not isinstance(steps, list) or not steps or not all(isinstance(s, int) and s > 0 for s in steps):
        raise PlanError(f"{where}.steps_per_phase={brief(steps)} must be a list of step counts, e.g. [2, 2, 2]")
    if not isinstance(phases, list) or len(phases) != len(steps):
        raise PlanError(f"{where} has {len(steps)} steps_per_phase but {brief(phases)} phases: give one phase "
                        f"object per entry")
    if pc.get("num_phases") not in (None, len(steps)):
        w.append(f"{where}.num_phases={pc['num_phases']!r} but {len(steps)} phases are given: {len(steps)} used "
                 f"(as the original)")
    switch = pc.get("model_switch_phase", 2 if len(steps) >= 3 else 1)
    two_experts = kind == "wan22-vace"
    if not two_experts and "model_switch_phase" in pc:
        w.append(f"{where}.model_switch_phase={switch}: one model ({kind}) samples every phase")
    solver = pc.get("sample_solver", "euler")
    sampler = SOLVERS.get(solver)
    if sampler is None:
        sampler = "euler"
        w.append(f"{where}.sample_solver={solver!r} has no ComfyUI sampler: euler is used")
    settings: dict[str, Any] = {"steps": sum(steps), "sampler": sampler}
    if pc.get("flow_shift") is not None:
        settings["shift"] = pc["flow_shift"]
    out, end = [], 0
    for i, (count, phase) in enumerate(zip(steps, phases)):
        if not isinstance(phase, dict):
            raise PlanError(f"{where}.phases[{i}]={brief(phase)} must be an object")
        end += count
        entry: dict[str, Any] = {"model": "low" if two_experts and i + 1 > switch else "high"}
        if i < len(steps) - 1:
            entry["end_step"] = end
        if phase.get("guidance_scale") is not None:
            entry["cfg"] = phase["guidance_scale"]
        loras = [lora for lora in (_phase_lora(v, f"{where}.phases[{i}].loras[{k}]", w)
                                   for k, v in enumerate(phase.get("loras") or [])) if lora]
        if loras:
            entry["loras"] = loras
        for key in sorted(set(phase) - {"guidance_scale", "loras", "phase"}):
            w.append(f"{where}.phases[{i}].{key}: not a phase setting Segue knows; ignored")
        out.append(entry)
    for key in sorted(set(pc) - {"steps_per_phase", "phases", "num_phases", "model_switch_phase", "sample_solver",
                                 "flow_shift", "guidance"}):
        w.append(f"{where}.{key}: not a phase_config setting Segue knows; ignored")
    settings["phases"] = out
    return settings


def _phase_lora(value: Any, where: str, w: list[str]) -> dict | None:
    if not isinstance(value, dict):
        raise PlanError(f"{where}={brief(value)} must be {{\"url\": ..., \"multiplier\": ...}}")
    url = value.get("url") or value.get("name") or value.get("path")
    if not url or not str(url).strip():
        return None                             # the original skips empty entries
    strength = _multiplier(value.get("multiplier", value.get("strength", 1.0)), where, w)
    if strength == 0:
        return None                             # a 0 multiplier means "not in this phase"
    return {"name": lora_file_name(str(url)), "strength": strength}


def _loras(value: Any, where: str, w: list[str]) -> list[dict]:
    """``additional_loras``: ``{url: strength}`` or a list of ``{url|name, multiplier|strength}``."""
    items = list(value.items()) if isinstance(value, dict) else None
    if items is None and isinstance(value, list):
        items = [((v.get("url") or v.get("name") or v.get("path")) if isinstance(v, dict) else v,
                  (v.get("multiplier", v.get("strength", 1.0)) if isinstance(v, dict) else 1.0)) for v in value]
    if items is None:
        raise PlanError(f"{where}={brief(value)} must be {{\"lora url or file\": strength}}")
    out = []
    for k, (url, strength) in enumerate(items):
        if not isinstance(url, str) or not url.strip():
            raise PlanError(f"{where}[{k}] has no LoRA file or URL")
        name = lora_file_name(url)
        if name != url:
            w.append(f"{where}: LoRA {url!r} is used as the file {name!r}: put it in ComfyUI's models/loras")
        out.append({"name": name, "strength": _multiplier(strength, f"{where}[{k}]", w)})
    return out


def lora_file_name(url: str) -> str:
    """A LoRA URL's file name (what ComfyUI lists under models/loras); a plain name is kept."""
    if "://" not in url:
        return url
    return PurePosixPath(urlparse(url).path).name or url


def _multiplier(value: Any, where: str, w: list[str]) -> float:
    text = str(value)
    if "," in text:                             # one multiplier per step of the phase
        first = text.split(",")[0].strip()
        w.append(f"{where}: per-step multipliers {text!r} become one strength per phase ({first})")
        text = first
    try:
        return float(text)
    except ValueError:
        raise PlanError(f"{where} multiplier={brief(value)} is not a number") from None


# --- values -------------------------------------------------------------------------------------------

def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise PlanError(f"{name}={brief(value)} must be text")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{name}={brief(value)} must be a number")
    return float(value)


def _resolution(value: Any, name: str) -> tuple[int, int]:
    """``"832x480"`` or ``[832, 480]``."""
    try:
        if isinstance(value, str):
            w, h = (int(v) for v in value.lower().split("x"))
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            w, h = (int(v) for v in value)
        else:
            raise ValueError
    except (TypeError, ValueError):
        raise PlanError(f"{name}={brief(value)} is not a size: write it like \"832x480\"") from None
    return w, h
