"""Segue's orchestrator: plans -> API prompts -> ComfyUI ``/prompt``, with resume and several
servers, and the ``segue`` command.  Never imports torch (the local renderer reaches the pixel
engine at one seam, ``cli.local``).

The Python API (what the README shows)::

    from segue.orchestration import GeneratorConfig, TravelRun, run_plan
    run = TravelRun(images=["a.png", "b.png"], segment_frames=48, out="travel.mp4",
                    generator=GeneratorConfig.from_name("wan21-vace", unet=..., vae=..., clip=...))
    exit_code = run_plan(run, ["http://127.0.0.1:8188"])

Sub-packages: ``runs`` (the run and its plan files), ``original`` (the original system's
payloads), ``server`` (client, runner, manifest), ``cli`` (the command).
"""

from .runs import (ClipRef, ExtendRun, GeneratorConfig, JoinRun, Run, TravelRun, load_plan, read_plan, run_from_dict,
                   save_plan)
from .server import run_plan

__all__ = ["Run", "TravelRun", "JoinRun", "ExtendRun", "ClipRef", "GeneratorConfig", "load_plan", "read_plan",
           "run_from_dict", "save_plan", "run_plan"]
