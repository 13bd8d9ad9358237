"""``--export-prompts DIR``: a run's API prompts as JSON files, nothing submitted, no server contacted.

``DIR/<step id>.json`` holds each step's prompt exactly as the runner would post it (``seg_000``,
``trans_001``, ``ext_002``, ``final``), ``DIR/detached.json`` the whole run as one prompt
(``--detach``), and ``DIR/inputs.json`` which local file each input name stands for: upload them
to the server's ``input/segue/<run_id>/`` under those names (``segue run`` does it itself) before
queueing the prompts by hand.  Without a server nothing can be checked against ``/object_info``:
model files, LoRAs and the template's custom nodes are not validated (the summary says so).
"""

from __future__ import annotations

import json
from pathlib import Path

from ...video_utils.core import atomic
from ...video_utils.core.errors import PlanError
from .models import Run, input_names, run_inputs, validate_run
from .prompts import all_step_prompts, detached_prompt
from .steps import server_folder


def export_prompts(run: Run, folder: Path) -> list[str]:
    """Validate ``run`` and write its prompts into ``folder``; returns the summary lines."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise PlanError(f"--export-prompts {str(folder)!r} is a file: give a folder to write the prompts into")
    plan = validate_run(run)
    inputs = run_inputs(run)
    names = input_names(run.run_id, inputs)
    prompts = all_step_prompts(run, plan, names)       # everything is built before anything is written
    files = {f"{step}.json": prompt for step, prompt in prompts.items()}
    notes = []
    try:
        files["detached.json"] = detached_prompt(run, plan, names)
    except PlanError as e:
        notes.append(f"no detached.json: {e}")
    files["inputs.json"] = {"server_folder": f"input/{server_folder(run.run_id)}",
                            "inputs": {item["name"]: item["path"] for item in inputs}}
    for name, content in files.items():
        atomic.write_text(folder / name, json.dumps(content, indent=1) + "\n")
    gen = run.generator
    models = [f"{k}={getattr(gen, k)}" for k in ("unet", "unet_low", "vae", "clip", "clip_vision") if getattr(gen, k)]
    recipe = gen.recipe()
    loras = list(dict.fromkeys(lora.name for lora in (*recipe.loras, *(x for p in recipe.phases for x in p.loras),
                                                      *(x for item in recipe.segment_loras for x in item))))
    lines = [f"exported {len(prompts)} step prompts of {run.kind} run {run.run_id} to {folder} "
             f"(+ detached.json, inputs.json); nothing was submitted, no server was contacted"]
    if models or loras or gen.kind == "template":
        checked = ", ".join(models + [f"lora={n}" for n in loras]) or "the template's nodes"
        lines.append(f"not checked without a server: model files ({checked}) and node types; "
                     f"`segue run` checks them against /object_info before submitting")
    lines.append(f"upload the files in {folder / 'inputs.json'} to the server's input/{server_folder(run.run_id)}/ "
                 f"under their names before queueing these prompts")
    return lines + notes
