"""The ``segue`` command.

``segue plan travel|join`` prints a frame plan (pure Python, no torch).  ``segue travel`` and
``segue join`` render on this machine with the CPU preview generator, or through ComfyUI servers
with ``--server`` (see ``commands.py``); ``segue run|status|resume|cancel`` drive run directories;
``segue demo`` renders the bundled keyframes.  Torch and the video engine are imported only by the
commands that render locally.

Exit codes: 0 success, 1 the work failed, 2 bad input (one line on stderr naming the argument,
the value and the fix), 3 a server unreachable, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..video_utils.errors import PlanError
from ..video_utils.sizes import parse_size
from . import commands
from .options import (JoinCommand, JoinPlanOptions, RenderOptions, TravelCommand, TravelPlanOptions,
                      add_server_arguments, join_command, travel_command)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segue", description="Travel between images and join clips with Wan VACE.")
    sub = parser.add_subparsers(dest="command_name", required=True)

    plan = sub.add_parser("plan", help="print the frame plan of a travel or a join").add_subparsers(dest="kind", required=True)
    pt = plan.add_parser("travel", help="plan a travel between keyframes")
    TravelPlanOptions.add_arguments(pt)
    pt.add_argument("--keyframes", type=int, default=None,
                    help="number of keyframes (default: one more than the number of --frames values, at least 2)")
    pt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pt.set_defaults(command=(lambda ns: ns, _cmd_plan))
    pj = plan.add_parser("join", help="plan joining clips")
    pj.add_argument("--clips", type=int, nargs="+", required=True, metavar="LEN", help="frame count of each clip, in order")
    JoinPlanOptions.add_arguments(pj)
    pj.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pj.set_defaults(command=(lambda ns: ns, _cmd_plan))

    tr = sub.add_parser("travel", help="render a travel between images (this machine, or ComfyUI with --server)")
    tr.add_argument("images", nargs="+", type=Path, help="keyframe images in timeline order")
    TravelPlanOptions.add_arguments(tr)
    tr.add_argument("--fps", type=float, default=TravelCommand.fps, help="output frame rate (default %(default)s)")
    RenderOptions.add_arguments(tr)
    add_server_arguments(tr)
    tr.set_defaults(command=(travel_command, _cmd_travel))

    jn = sub.add_parser("join", help="join clips with generated transitions (this machine, or ComfyUI with --server)")
    jn.add_argument("clips", nargs="+", type=Path, help="video clips in order")
    JoinPlanOptions.add_arguments(jn)
    jn.add_argument("--bridging", action="store_true", help="pin A's last and B's first context frame inside the gap")
    jn.add_argument("--no-audio", action="store_true", help="do not pass the first clip's audio through")
    RenderOptions.add_arguments(jn)
    add_server_arguments(jn)
    jn.set_defaults(command=(join_command, _cmd_join))
    commands.register_subcommands(sub)

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
        plan = JoinPlanOptions.from_namespace(args).plan(args.clips)
    print(json.dumps(plan.to_dict(), indent=2) if args.json else "\n".join(commands.frame_table(args.kind, plan.to_dict())))
    return EXIT_OK


def _check_inputs_exist(paths, what: str) -> None:
    for p in paths:
        if not p.is_file():
            raise PlanError(f"{what} {str(p)!r} does not exist: check the path")


def _cmd_travel(cmd: TravelCommand) -> int:
    if cmd.connection.servers:
        return commands.cmd_travel(cmd)
    from fractions import Fraction

    from ..video_utils.local_render import render_travel
    from ..video_utils.resize import conform_keyframes, load_image
    from ..video_utils.video_io import probe_video
    from .progress import Progress

    r = cmd.render
    _check_inputs_exist(cmd.images, "image")
    plan = cmd.plan.plan(len(cmd.images))
    size = parse_size(r.size) if r.size else None
    keyframes = conform_keyframes([load_image(p) for p in cmd.images], size, r.fit)
    progress = Progress("travel")
    try:
        out = render_travel(keyframes, plan, r.out, fps=Fraction(cmd.fps).limit_denominator(1001), method=r.method,
                            curve=r.curve, sharpen=r.sharpen, crf=r.crf, preset=r.preset, progress=progress)
    finally:
        progress.close()
    info = probe_video(out)
    print(f"wrote {out}")
    print(f"frames: {info.frame_count} ({info.width}x{info.height} at {float(info.fps):g} fps)")
    print("keyframes at frames: " + " ".join(map(str, plan.keyframe_frames)))
    return EXIT_OK


def _cmd_join(cmd: JoinCommand) -> int:
    if cmd.connection.servers:
        return commands.cmd_join(cmd)
    from ..video_utils.local_render import render_join
    from ..video_utils.video_io import probe_video
    from .progress import Progress

    r = cmd.render
    _check_inputs_exist(cmd.clips, "clip")
    lengths = [probe_video(p).frame_count for p in cmd.clips]
    plan = cmd.plan.plan(lengths, [p.name for p in cmd.clips])
    progress = Progress("join")
    try:
        out = render_join(cmd.clips, plan, r.out, size=parse_size(r.size) if r.size else None, fit=r.fit,
                          method=r.method, bridging=cmd.bridging, curve=r.curve, sharpen=r.sharpen, crf=r.crf,
                          preset=r.preset, keep_audio=not cmd.no_audio, progress=progress)
    finally:
        progress.close()
    info = probe_video(out)
    print(f"wrote {out}")
    print(f"frames: {info.frame_count} ({info.width}x{info.height} at {float(info.fps):g} fps)")
    print("transitions at frames: " + " ".join(str(j.transition_start) for j in plan.joins))
    return EXIT_OK


def _cmd_demo(args) -> int:
    images = sorted((ASSETS / "keyframes").glob("*.png"))
    plan = TravelPlanOptions.from_namespace(args, mode="chained", exact_keyframes=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return _cmd_travel(TravelCommand(images, plan, RenderOptions(out=args.out)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    build, handler = args.command
    try:
        return handler(build(args))
    except PlanError as e:
        print(f"segue: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("segue: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
