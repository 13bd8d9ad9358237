"""The original queue orchestrator's payloads (``orchestrator_details``) converted to runs.

``payload_plan`` reads a ``travel_orchestrator`` or ``join_clips_orchestrator``
payload (``../shared/spec/original-system.md`` §1.1, §1.2: every field listed there is handled)
and returns the plan object plus a list of warnings: one line per field Segue cannot honour as the
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

from typing import Any

from ...video_utils.core.errors import PlanError
from .fields import PayloadFields, payload_details
from .generator import generator_settings
from .join import join_fields
from .travel import travel_fields

TASK_KINDS = {"travel_orchestrator": "travel", "join_clips_orchestrator": "join"}


def is_orchestrator_payload(data: Any) -> bool:
    """A payload of the original system (not a Segue plan)."""
    if not isinstance(data, dict) or "segue_plan" in data:
        return False
    details = payload_details(data)
    return (data.get("task_type") in TASK_KINDS or "orchestrator_details" in data
            or "input_image_paths_resolved" in details or "clip_list" in details)


def payload_plan(payload: dict, kind: str | None = None) -> tuple[dict, list[str]]:
    """Convert the original system's payload into ``(plan object, warnings)``: the JSON object of
    a Segue plan file (``runs.plan_files.from_orchestrator_payload`` makes the run of it).

    ``kind`` (travel / join) is taken from ``task_type`` or the fields when not given; the
    payload may be the task (``{"task_type", "params": {"orchestrator_details": ...}}``), its
    ``params``, or the ``orchestrator_details`` object itself.
    """
    if not isinstance(payload, dict):
        raise PlanError(f"an original payload is a JSON object, not {type(payload).__name__}")
    details = payload_details(payload)
    task_kind = TASK_KINDS.get(payload.get("task_type"))
    guessed = task_kind or ("travel" if "input_image_paths_resolved" in details else
                            "join" if "clip_list" in details or "segment_task_ids" in details else None)
    kind = kind or guessed
    if kind not in ("travel", "join"):
        raise PlanError("the payload is neither a travel_orchestrator (input_image_paths_resolved) nor a "
                        "join_clips_orchestrator (clip_list): give one of those")
    if task_kind and task_kind != kind:
        raise PlanError(f"task_type={payload['task_type']!r} is a {task_kind} payload, not {kind}")
    f = PayloadFields(details)
    warnings: list[str] = []
    data = travel_fields(f, warnings) if kind == "travel" else join_fields(f, warnings)
    data["generator"] = generator_settings(f, warnings, kind)
    segment_loras = data.pop("_segment_loras", None)
    if segment_loras:
        data["generator"]["segment_loras"] = segment_loras
    for key in f.unread():
        warnings.append(f"{key}: not a field of the original {kind} payload that Segue knows; ignored")
    return data, warnings
