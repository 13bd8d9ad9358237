"""An original payload's model and sampler settings as a plan's ``generator``: the generator
kind from the Wan2GP model name, the sampler schedule (``phase_config`` or the preset's ->
``phases``; ``model_switch_phase`` -> which phases use the low-noise expert), steps / CFG / flow
shift, LoRAs (file names taken from their URLs) and the post-generation colour settings.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from ...video_utils.core.errors import PlanError, brief
from .fields import PayloadFields, number

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


def generator_settings(f: PayloadFields, w: list[str], kind: str) -> dict:
    """The plan's ``generator`` object for a ``kind`` (travel / join) payload."""
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
        gen["loras"] = lora_list(loras, "additional_loras", w)
    saturation = f.get("after_first_post_generation_saturation")
    if saturation is not None and number(saturation, "after_first_post_generation_saturation") >= 0:
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


def lora_list(value: Any, where: str, w: list[str]) -> list[dict]:
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
