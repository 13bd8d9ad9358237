"""A ``travel_orchestrator`` payload (``../shared/spec/original-system.md`` §1.1) as a travel
plan's fields: keyframes, prompts (enhanced-prompt overrides, base-prompt fallback, the
before/after texts), frames and overlaps, per-segment overrides, seeds, rates and guide
adjustments, with a warning for every field Segue cannot honour as the original did.
"""

from __future__ import annotations

from typing import Any

from ...video_utils.core.errors import PlanError, brief
from .fields import PayloadFields, number, resolution, text
from .generator import lora_list


def travel_fields(f: PayloadFields, w: list[str]) -> dict:
    """The travel plan's fields (the generator apart; per-segment LoRAs under ``_segment_loras``);
    ``w`` collects the warnings."""
    images = f.get("input_image_paths_resolved")
    if not isinstance(images, list) or not images:
        raise PlanError("input_image_paths_resolved must list the keyframe images (paths) of the travel")
    count = max(1, len(images) - 1)
    data: dict[str, Any] = {"kind": "travel", "images": list(images)}
    asked = f.get("num_new_segments_to_generate")
    if asked is not None and asked != count:
        w.append(f"num_new_segments_to_generate={asked!r}: Segue makes the {count} segment(s) of the "
                 f"{len(images)} images")

    base = text(f.get("base_prompt", ""), "base_prompt")
    prompts = _per_segment(f, "base_prompts_expanded", count, w) or [base] * count
    enhanced = _per_segment(f, "enhanced_prompts_expanded", count, w) or [""] * count
    before, after = text(f.get("text_before_prompts", ""), "text_before_prompts"), \
        text(f.get("text_after_prompts", ""), "text_after_prompts")
    negative = text(f.get("negative_prompt", ""), "negative_prompt")
    negatives = _per_segment(f, "negative_prompts_expanded", count, w) or [negative] * count
    frames = _per_segment(f, "segment_frames_expanded", count, w)
    overrides = _segment_overrides(f, count, w)
    seed = f.get("seed_base")
    segment_loras: list[list] = [[] for _ in range(count)]
    for i, o in overrides.items():
        if o.get("base_prompt") or o.get("prompt"):
            prompts[i] = text(o.get("base_prompt") or o.get("prompt"), f"individual_segment_params[{i}].base_prompt")
            enhanced[i] = ""
        if o.get("negative_prompt") is not None:
            negatives[i] = text(o["negative_prompt"], f"individual_segment_params[{i}].negative_prompt")
        if o.get("num_frames") is not None:
            if frames is None:
                frames = [32] * count
            frames[i] = o["num_frames"]
        if o.get("seed_to_use") is not None and o["seed_to_use"] != seed:
            w.append(f"individual_segment_params[{i}].seed_to_use={o['seed_to_use']!r}: a travel's segments take "
                     f"the run's seed ({seed}); set seed_mode or run that segment separately")
        if o.get("additional_loras"):
            segment_loras[i] = lora_list(o["additional_loras"], f"individual_segment_params[{i}].additional_loras", w)
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
        data["width"], data["height"] = resolution(f.get("parsed_resolution_wh"), "parsed_resolution_wh")
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
        adjustment = number(f.get("subsequent_starting_strength_adjustment"), "subsequent_starting_strength_adjustment")
        data["strength"] = min(max(1.0 + adjustment, 0.0), 1.0)
    if any(segment_loras):
        data["_segment_loras"] = segment_loras
    _travel_unsupported(f, w)
    return data


_SEGMENT_KEYS = {"base_prompt", "prompt", "negative_prompt", "num_frames", "seed_to_use", "additional_loras",
                 "phase_config", "input_image_paths_resolved", "start_image_url", "end_image_url"}


def _travel_unsupported(f: PayloadFields, w: list[str]) -> None:
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


def _per_segment(f: PayloadFields, key: str, count: int, w: list[str]) -> list | None:
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


def _segment_overrides(f: PayloadFields, count: int, w: list[str]) -> dict[int, dict]:
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
