"""A ``join_clips_orchestrator`` payload (``../shared/spec/original-system.md`` §1.2) as a join
plan's fields: clips, contexts and gaps, per-join settings, the generation and output sizes
(``resolution``, ``aspect_ratio``), rates, seeds and loops, with a warning for every field Segue
cannot honour as the original did.
"""

from __future__ import annotations

import os
from typing import Any

from ...video_utils.core.errors import PlanError, brief
from ...video_utils.core.join_plan import JOIN_OVERRIDE_KEYS, JOIN_PROMPT_KEYS, SEED_JOIN_KEYS
from ...video_utils.core.probe import probe
from .fields import PayloadFields, resolution


def join_fields(f: PayloadFields, w: list[str]) -> dict:
    """The join plan's fields (the generator apart); ``w`` collects the warnings."""
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
    first = _first_clip(entries[0]["path"])
    own_size = f.get("use_input_video_resolution", False)
    if f.get("resolution") is not None:              # the generation size
        data["work_width"], data["work_height"] = resolution(f.get("resolution"), "resolution")
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
        info = probe(path)
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
        entry = {} if entry is None else entry          # null = no override (every path's rule)
        if not isinstance(entry, dict):
            raise PlanError(f"per_join_settings[{i}]={brief(entry)} must be an object (or null)")
        kept = {}
        for key, v in entry.items():
            if SEED_JOIN_KEYS.get(key, key) in JOIN_OVERRIDE_KEYS + JOIN_PROMPT_KEYS:
                kept[key] = v
            else:
                w.append(f"per_join_settings[{i}].{key}: a join's own {key} is not supported (every join uses the "
                         f"run's); ignored")
        out.append(kept)
    return out
