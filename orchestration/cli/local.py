"""``segue travel`` / ``join`` / ``extend`` on this machine, with the CPU preview generator.

The run is the one ``build`` makes from the command line (the same a plan file or a server run
starts from), checked here for this machine: only the preview generator runs locally, and the
server-only flags are refused.  Torch and the pixel engine are imported only here, when a render
starts.
"""

from __future__ import annotations

from pathlib import Path

from ...video_utils.core.constants import GENERATION_FPS
from ...video_utils.core.errors import PlanError
from ...video_utils.core.lengths import as_fps
from ..errors import EXIT_OK
from ..runs.models import Run
from .build import Launch


def render_here(run: Run, launch: Launch | None) -> int:
    """Check ``run`` for this machine (the preview generator), plan it and render it
    (``launch``: the command line's server flags, refused here; None for the demo)."""
    for flag, given in (("--detach", launch is not None and launch.detach), ("--run-id", run.run_id)):
        if given:
            raise PlanError(f"{flag} applies to runs on a ComfyUI server: add --server URL, or leave {flag} out")
    if run.generator.kind != "preview":
        raise PlanError(f"--generator {run.generator.kind} runs on a ComfyUI server: add --server URL (or "
                        f"--export-prompts DIR); on this machine only the preview generator runs")
    plan = run.validate()
    render = {"travel": _render_travel, "join": _render_join, "extend": _render_extend}[run.kind]
    return render(run, plan)


def _readable_images(paths) -> None:
    """Each image's header reads (before the decoder, whose own complaints are not one line)."""
    from ..runs.checks import image_size

    for i, path in enumerate(paths):
        if image_size(path) is None:
            raise PlanError(f"image {i} {str(path)!r} is not a readable image: give a PNG, JPEG, WebP, TIFF or "
                            f"similar file")


def _post(run: Run):
    from ...video_utils.engine.guides import OverlapAdjust
    from ...video_utils.engine.postprocess import PostSettings

    recipe = run.generator.recipe()
    post = PostSettings(recipe.colour_match, recipe.colour_method, recipe.colour_strength, recipe.saturation,
                        recipe.brightness)
    adjust = OverlapAdjust(run.strength, run.desaturate, run.darken) if hasattr(run, "strength") else None
    return recipe, post, adjust


def _report(out: Path, extra: str) -> None:
    from ...video_utils.core.probe import probe

    info = probe(out)
    print(f"wrote {out}")
    print(f"frames: {info.frame_count} ({info.width}x{info.height} at {float(info.fps):g} fps)")
    print(extra)


def _with_progress(kind: str, render):
    """``render(progress)`` under a progress display that is closed however it ends."""
    from ..progress import Progress

    progress = Progress(kind)
    try:
        return render(progress)
    finally:
        progress.close()


def _render_travel(run, plan) -> int:
    from ...video_utils.engine.conform import conform_keyframes, load_image
    from ...video_utils.engine.delivery import Output
    from ...video_utils.engine.local_render import render_travel

    _readable_images(run.images)
    recipe, post, adjust = _post(run)
    size = (run.width, run.height) if run.width else None
    keyframes = conform_keyframes([load_image(p) for p in run.images], size, run.fit)
    output = Output(as_fps(run.fps), run.out_width, run.out_height, run.retime, run.loop, run.fit)
    out = _with_progress("travel", lambda progress: render_travel(
        keyframes, plan, run.out, fps=GENERATION_FPS, method=recipe.preview_method, curve=run.curve,
        sharpen=run.sharpen, crf=run.crf, preset=run.preset, adjust=adjust, post=post, output=output,
        soundtrack=run.soundtrack or None, progress=progress))
    _report(out, "keyframes at frames: " + " ".join(map(str, plan.output_keyframe_frames))
            + (" (a seamless loop)" if plan.loop else ""))
    return EXIT_OK


def _render_join(run, plan) -> int:
    from ...video_utils.engine.local_render import render_join

    recipe, post, _ = _post(run)
    out = _with_progress("join", lambda progress: render_join(
        [c.path for c in run.clips], plan, run.out, size=(run.width, run.height) if run.width else None,
        work_size=(run.work_width, run.work_height) if run.work_width else None, fit=run.fit,
        method=recipe.preview_method, bridging=run.bridging, curve=run.curve, sharpen=run.sharpen, crf=run.crf,
        preset=run.preset, keep_audio=run.keep_audio, gap_audio=run.gap_audio, retime=run.retime, post=post,
        progress=progress))
    _report(out, "transitions at frames: " + " ".join(str(j.transition_start) for j in plan.joins)
            + (" (a seamless loop)" if plan.loop else ""))
    return EXIT_OK


def _render_extend(run, plan) -> int:
    from ...video_utils.engine.conform import conform_keyframes, load_image
    from ...video_utils.engine.local_render import render_extend

    _readable_images(run.keyframes)
    recipe, post, adjust = _post(run)
    keyframes = conform_keyframes([load_image(p) for p in run.keyframes]) if run.keyframes else None
    out = _with_progress("extend", lambda progress: render_extend(
        run.clip.path, plan, run.out, keyframes=keyframes, method=recipe.preview_method, curve=run.curve,
        sharpen=run.sharpen, crf=run.crf, preset=run.preset, keep_audio=run.keep_audio, adjust=adjust, post=post,
        progress=progress))
    landing = f"; keyframes at frames: {' '.join(map(str, plan.keyframe_frames))}" if plan.keyframe_frames else ""
    _report(out, f"clip frames 0..{plan.clip_frames - 1}, new frames {plan.clip_frames}..{plan.total_frames - 1}"
                 + landing)
    return EXIT_OK
