"""``segue travel`` / ``join`` / ``extend`` / ``demo`` on this machine, with the CPU preview generator.

The run is the one ``build`` makes from the command line (the same a plan file or a server run
starts from), checked here for this machine (only the preview generator runs locally, and the
server-only flags are refused), then rendered by ``server.local.render_locally``: the run's step
prompts, run by the pixel engine's executor of Segue's own nodes.
"""

from __future__ import annotations

from ...video_utils.core.errors import PlanError
from ...video_utils.core.probe import probe
from ..errors import EXIT_OK
from ..progress import Progress
from ..runs.checks import image_size
from ..runs.extend import ExtendRun
from ..runs.models import Run
from ..runs.steps import run_steps
from ..runs.travel import TravelRun
from ..server.local import render_locally
from .build import Launch


def render_here(run: Run, launch: Launch | None) -> int:
    """Check ``run`` for this machine (the preview generator), plan it, render it and report it
    (``launch``: the command line's server flags, refused here; None for the demo)."""
    for flag, given in (("--detach", launch is not None and launch.detach), ("--run-id", run.run_id)):
        if given:
            raise PlanError(f"{flag} applies to runs on a ComfyUI server: add --server URL, or leave {flag} out")
    if run.generator.kind != "preview":
        raise PlanError(f"--generator {run.generator.kind} runs on a ComfyUI server: add --server URL (or "
                        f"--export-prompts DIR); on this machine only the preview generator runs")
    plan = run.validate()
    if isinstance(run, (TravelRun, ExtendRun)):
        _readable_images(run.images if isinstance(run, TravelRun) else run.keyframes)
    progress = Progress(run.kind, [s.id for s in run_steps(plan)])
    try:
        out = render_locally(run, plan, progress)
    finally:
        progress.close()
    info = probe(out)
    print(f"wrote {out}")
    print(f"frames: {info.frame_count} ({info.width}x{info.height} at {float(info.fps):g} fps)")
    print(_landmarks(run, plan))
    return EXIT_OK


def _landmarks(run: Run, plan) -> str:
    """Where the keyframes / transitions / new frames are in the delivered video."""
    loop = " (a seamless loop)" if getattr(plan, "loop", False) else ""
    if run.kind == "travel":
        return "keyframes at frames: " + " ".join(map(str, plan.output_keyframe_frames)) + loop
    if run.kind == "join":
        return "transitions at frames: " + " ".join(str(j.transition_start) for j in plan.joins) + loop
    landing = f"; keyframes at frames: {' '.join(map(str, plan.keyframe_frames))}" if plan.keyframe_frames else ""
    return f"clip frames 0..{plan.clip_frames - 1}, new frames {plan.clip_frames}..{plan.total_frames - 1}" + landing


def _readable_images(paths) -> None:
    """Each image's header reads (before the decoder, whose own complaints are not one line)."""
    for i, path in enumerate(paths):
        if image_size(path) is None:
            raise PlanError(f"image {i} {str(path)!r} is not a readable image: give a PNG, JPEG, WebP, TIFF or "
                            f"similar file")

