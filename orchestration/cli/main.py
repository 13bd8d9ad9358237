"""The ``segue`` command.

``segue plan travel|join`` prints a frame plan (pure Python, no torch).  ``segue travel``,
``segue join`` and ``segue extend`` render on this machine with the CPU preview generator, or
through ComfyUI servers with ``--server`` (see ``commands.py``), or write the prompts with
``--export-prompts DIR``; ``segue run|convert|status|resume|cancel`` drive plan files and run
directories; ``segue demo`` renders the bundled keyframes.  Torch and the video engine are
imported only by the commands that render locally.

Every input is checked before anything is loaded, written or submitted, by the same run models
(``run_models``) on every path, local or server.

Exit codes: 0 success, 1 the work failed, 2 bad input (one line on stderr per problem naming the
argument, the value and the fix), 3 a server unreachable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...video_utils.core.constants import BUNDLED_KEYFRAMES, GENERATION_FPS
from ...video_utils.core.errors import PlanError
from ...video_utils.core.lengths import as_fps
from ..runs.checks import check_fps
from ..runs.models import ClipRef, JoinRun, Run
from ..server.status import frame_table
from .build import extend_run, join_run, travel_run
from .command_options import TravelCommand, extend_command, join_command, travel_command
from .commands import cmd_extend, cmd_join, cmd_travel, register_subcommands
from .plan_options import (ExtendPlanOptions, JoinDeliveryOptions, JoinPlanOptions, RenderOptions,
                           TravelDeliveryOptions, TravelPlanOptions)
from .server_options import add_server_arguments

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (``segue: error: ...``), like every other bad input."""

    def error(self, message: str):
        print(f"segue: error: {self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        self.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="segue", description="Travel between images, join and extend clips with Wan VACE.")
    sub = parser.add_subparsers(dest="command_name", required=True)

    plan = sub.add_parser("plan", help="print the frame plan of a travel or a join").add_subparsers(dest="kind", required=True)
    pt = plan.add_parser("travel", help="plan a travel between keyframes")
    TravelPlanOptions.add_arguments(pt)
    pt.add_argument("--keyframes", type=int, default=None,
                    help="number of keyframes (default: one more than the number of --frames values, at least 2)")
    pt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pt.set_defaults(command=(lambda ns: ns, _cmd_plan))
    pj = plan.add_parser("join", help="plan joining clips (files, or their frame counts with --clips)")
    pj.add_argument("files", nargs="*", type=Path, metavar="CLIP",
                    help="the clips, in order: their frame counts at the output rate are probed (as segue join does)")
    pj.add_argument("--clips", type=int, nargs="+", metavar="LEN",
                    help="instead of files: the frame count of each clip at the output rate, in order")
    pj.add_argument("--fps", type=float, default=0.0,
                    help="output frame rate (default: the first clip's; with --clips the generation rate, 16)")
    JoinPlanOptions.add_arguments(pj)
    pj.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pj.set_defaults(command=(lambda ns: ns, _cmd_plan))

    tr = sub.add_parser("travel", help="render a travel between images (one image: a free-ending clip)")
    tr.add_argument("images", nargs="+", type=Path, help="keyframe images in timeline order (or one image)")
    TravelPlanOptions.add_arguments(tr)
    TravelDeliveryOptions.add_arguments(tr)
    RenderOptions.add_arguments(tr)
    add_server_arguments(tr)
    tr.set_defaults(command=(travel_command, _cmd_travel))

    jn = sub.add_parser("join", help="join clips with generated transitions (this machine, or ComfyUI with --server)")
    jn.add_argument("clips", nargs="+", type=Path, help="video clips in order")
    JoinPlanOptions.add_arguments(jn)
    jn.add_argument("--bridging", action="store_true", help="pin A's last and B's first context frame inside the gap")
    jn.add_argument("--no-audio", action="store_true", help="do not pass the clips' sound through")
    JoinDeliveryOptions.add_arguments(jn)
    RenderOptions.add_arguments(jn)
    add_server_arguments(jn)
    jn.set_defaults(command=(join_command, _cmd_join))

    ex = sub.add_parser("extend", help="add generated frames after a clip, optionally landing on images (--to)")
    ex.add_argument("clip_path", type=Path, metavar="CLIP", help="the clip to extend")
    ExtendPlanOptions.add_arguments(ex)
    ex.add_argument("--no-audio", action="store_true", help="do not keep the clip's sound")
    RenderOptions.add_arguments(ex)
    add_server_arguments(ex)
    ex.set_defaults(command=(extend_command, _cmd_extend))
    register_subcommands(sub)

    demo = sub.add_parser("demo", help="render a travel between the bundled keyframes")
    demo.add_argument("--out", type=Path, default=Path("demo_output/segue_demo.mp4"), help="output path (default demo_output/segue_demo.mp4)")
    TravelPlanOptions.add_arguments(demo, frames_required=False)
    demo.set_defaults(command=(lambda ns: ns, _cmd_demo))
    return parser


def _cmd_plan(args) -> int:
    if args.kind == "travel":
        options = TravelPlanOptions.from_namespace(args)
        plan = options.plan(args.keyframes or max(2, len(options.frames) + 1))
    else:
        plan = _join_plan(args)
    print(json.dumps(plan.to_dict(), indent=2) if args.json else "\n".join(frame_table(args.kind, plan.to_dict())))
    return EXIT_OK


def _join_plan(args):
    """``segue plan join``: of clip files (probed and conformed as ``segue join`` does), or of
    frame counts (``--clips``) at ``--fps``."""
    options = JoinPlanOptions.from_namespace(args)
    if bool(args.files) == bool(args.clips):
        raise PlanError("segue plan join needs the clips: give the clip files, or their frame counts with "
                        "--clips (not both)")
    if args.clips:
        fps = check_fps(args.fps, "--fps") if args.fps else GENERATION_FPS
        return options.plan(args.clips, output_fps=fps)
    run = JoinRun(clips=[ClipRef(str(p), p.stem) for p in args.files], fps=args.fps, context=options.context,
                  gap=options.gap, replace=options.replace, blend=options.blend,
                  per_join=[dict(e) for e in options.per_join], allow_shrink=options.allow_shrink, loop=options.loop)
    return run.validate()


def _remote(cmd) -> bool:
    return bool(cmd.connection.servers or cmd.run.export_prompts)


def _local(run: Run, cmd):
    """Check a run for this machine (the preview generator) and plan it."""
    for flag, given in (("--detach", cmd.run.detach), ("--run-id", cmd.run.run_id)):
        if given:
            raise PlanError(f"{flag} applies to runs on a ComfyUI server: add --server URL, or leave {flag} out")
    if run.generator.kind != "preview":
        raise PlanError(f"--generator {run.generator.kind} runs on a ComfyUI server: add --server URL (or "
                        f"--export-prompts DIR); on this machine only the preview generator runs")
    return run.validate()


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


def _render_command(remote, build, render):
    """A ``travel`` / ``join`` / ``extend`` handler: through ComfyUI (``--server`` or
    ``--export-prompts``: ``remote``), else the run ``build`` makes, checked for this machine and
    rendered here by ``render``."""
    def handler(cmd) -> int:
        if _remote(cmd):
            return remote(cmd)
        run = build(cmd)
        return render(run, _local(run, cmd))
    return handler


_cmd_travel = _render_command(cmd_travel, travel_run, _render_travel)
_cmd_join = _render_command(cmd_join, join_run, _render_join)
_cmd_extend = _render_command(cmd_extend, extend_run, _render_extend)


def _cmd_demo(args) -> int:
    images = sorted(BUNDLED_KEYFRAMES.glob("*.png"))
    plan = TravelPlanOptions.from_namespace(args, mode="chained", exact_keyframes=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return _cmd_travel(TravelCommand(images, plan, RenderOptions(out=args.out)))


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:                 # --help (0) or a bad argument (2, already printed)
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    build, handler = args.command
    try:
        return handler(build(args))
    except PlanError as e:
        for line in str(e).splitlines():
            print(f"segue: error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("segue: interrupted", file=sys.stderr)
        return 130

