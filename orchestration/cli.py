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
from ..video_utils.join_plan import plan_join
from ..video_utils.sizes import DEFAULT_FIT, FIT_MODES, parse_size
from ..video_utils.travel_plan import MODES, plan_travel
from . import commands

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _travel_plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", type=int, nargs="+", required=True, metavar="F",
                   help="frames between successive keyframes (segment_frames): one value for all segments or one per segment")
    p.add_argument("--overlap", type=int, nargs="+", default=[8], metavar="O",
                   help="frames cross-faded at each boundary: one value or one per boundary (default 8)")
    p.add_argument("--mode", choices=MODES, default="chained",
                   help="chained: each segment continues the previous one's last frames (sequential); "
                        "independent: each segment anchored on its own keyframes (parallel)")
    p.add_argument("--exact-keyframes", action="store_true",
                   help="flex each overlap by up to 2 frames so every keyframe lands exactly on its requested frame")


def _join_plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--context", type=int, default=8, help="frames of each clip around a join kept as context (default 8)")
    p.add_argument("--gap", type=int, default=53, help="frames generated between the contexts (default 53; absorbs 4n+1 rounding)")
    p.add_argument("--replace", action="store_true",
                   help="replace mode: the gap replaces frames around the cut, total length unchanged (default: insert)")
    p.add_argument("--blend", type=int, default=None, help="frames cross-faded on each side (default: the whole context)")
    p.add_argument("--per-join", default=None, metavar="JSON",
                   help='per-join overrides as a JSON list, e.g. \'[{}, {"gap": 21, "replace": true}]\'')
    p.add_argument("--allow-shrink", action="store_true",
                   help="shrink context and gap of joins around a too-short clip instead of failing")


def _render_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output .mp4 path")
    p.add_argument("--size", default=None, metavar="WxH", help="output size, snapped to multiples of 16 (default: the first input's)")
    p.add_argument("--fit", choices=FIT_MODES, default=DEFAULT_FIT,
                   help="how inputs of another shape are brought to the size: crop = centre-crop to the aspect then resize (default), stretch")
    p.add_argument("--method", choices=("flow", "blend"), default="flow", help="preview generator: optical-flow morph (default) or cross-dissolve")
    p.add_argument("--curve", choices=("cosine", "linear"), default="cosine", help="cross-fade curve (default cosine)")
    p.add_argument("--sharpen", type=float, default=0.0, help="sharpening inside cross-fades, 0..1 (default 0)")
    p.add_argument("--crf", type=int, default=19, help="H.264 quality, lower is better (default 19)")
    p.add_argument("--preset", default="medium", help="H.264 preset (default medium)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segue", description="Travel between images and join clips with Wan VACE.")
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="print the frame plan of a travel or a join").add_subparsers(dest="kind", required=True)
    pt = plan.add_parser("travel", help="plan a travel between keyframes")
    _travel_plan_args(pt)
    pt.add_argument("--keyframes", type=int, default=None,
                    help="number of keyframes (default: one more than the number of --frames values, at least 2)")
    pt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pj = plan.add_parser("join", help="plan joining clips")
    pj.add_argument("--clips", type=int, nargs="+", required=True, metavar="LEN", help="frame count of each clip, in order")
    _join_plan_args(pj)
    pj.add_argument("--json", action="store_true", help="print JSON instead of a table")

    tr = sub.add_parser("travel", help="render a travel between images on this machine (preview generator)")
    tr.add_argument("images", nargs="+", type=Path, help="keyframe images in timeline order")
    _travel_plan_args(tr)
    tr.add_argument("--fps", type=float, default=16.0, help="output frame rate (default 16)")
    _render_args(tr)
    commands.add_server_arguments(tr)

    jn = sub.add_parser("join", help="join clips with generated transitions on this machine (preview generator)")
    jn.add_argument("clips", nargs="+", type=Path, help="video clips in order")
    _join_plan_args(jn)
    jn.add_argument("--bridging", action="store_true", help="pin A's last and B's first context frame inside the gap")
    jn.add_argument("--no-audio", action="store_true", help="do not pass the first clip's audio through")
    _render_args(jn)
    commands.add_server_arguments(jn)
    commands.register_subcommands(sub)

    demo = sub.add_parser("demo", help="render a travel between the bundled keyframes")
    demo.add_argument("--out", type=Path, default=Path("demo_output/segue_demo.mp4"), help="output path (default demo_output/segue_demo.mp4)")
    demo.add_argument("--frames", type=int, nargs="+", default=[32], help="frames between keyframes (default 32)")
    demo.add_argument("--overlap", type=int, nargs="+", default=[8], help="overlap (default 8)")
    return parser


def _print_travel_table(plan) -> None:
    print(f"travel: {len(plan.segments)} segments, mode {plan.mode}, total {plan.total_frames} frames")
    print(f"{'seg':>3} {'generate':>8} {'ovl_prev':>8} {'ovl_next':>8} {'start':>6} {'trim':>4}")
    for s in plan.segments:
        print(f"{s.index:>3} {s.generate_frames:>8} {s.overlap_from_previous:>8} {s.overlap_with_next:>8} "
              f"{s.start_frame:>6} {s.trim_start:>4}")
    print("keyframes at:  " + " ".join(map(str, plan.keyframe_frames)))
    print("requested at:  " + " ".join(map(str, plan.requested_keyframe_frames)))
    for w in plan.warnings:
        print(f"warning: {w}")


def _print_join_table(plan) -> None:
    print(f"join: {len(plan.clip_frames)} clips, total {plan.total_frames} frames")
    print(f"{'join':>4} {'mode':>7} {'T':>4} {'gap':>4} {'ctx':>4} {'trimA':>5} {'trimB':>5} {'blend':>5} {'at':>6}")
    for j in plan.joins:
        print(f"{j.index:>4} {'replace' if j.replace else 'insert':>7} {j.transition_frames:>4} {j.gap_frames:>4} "
              f"{j.context_frames_a:>4} {j.trim_from_a:>5} {j.trim_from_b:>5} {j.blend_frames:>5} {j.transition_start:>6}")
    for w in plan.warnings:
        print(f"warning: {w}")


def _travel_plan_from(args, keyframes: int):
    return plan_travel(keyframes, _scalar_or_list(args.frames), _scalar_or_list(args.overlap),
                       args.mode, args.exact_keyframes)


def _join_plan_from(args, lengths, names=None):
    per_join = None
    if args.per_join:
        try:
            per_join = json.loads(args.per_join)
        except json.JSONDecodeError as e:
            raise PlanError(f"--per-join {args.per_join!r} is not JSON ({e.msg}): write a list like '[{{}}, {{\"gap\": 21}}]'") from None
        if not isinstance(per_join, list) or not all(isinstance(d, dict) for d in per_join):
            raise PlanError(f"--per-join {args.per_join!r} must be a JSON list of objects, one per join")
    return plan_join(lengths, args.context, args.gap, args.replace, args.blend, per_join,
                     args.allow_shrink, names)


def _scalar_or_list(values: list[int]):
    return values[0] if len(values) == 1 else values


def _cmd_plan(args) -> int:
    if args.kind == "travel":
        keyframes = args.keyframes or max(2, len(args.frames) + 1)
        plan = _travel_plan_from(args, keyframes)
        print(json.dumps(plan.to_dict(), indent=2)) if args.json else _print_travel_table(plan)
    else:
        plan = _join_plan_from(args, args.clips)
        print(json.dumps(plan.to_dict(), indent=2)) if args.json else _print_join_table(plan)
    return EXIT_OK


def _check_inputs_exist(paths, what: str) -> None:
    for p in paths:
        if not p.is_file():
            raise PlanError(f"{what} {str(p)!r} does not exist: check the path")


def _render_travel(images, args, fps) -> int:
    from fractions import Fraction

    from ..video_utils.local_render import render_travel
    from ..video_utils.resize import conform_keyframes, load_image
    from ..video_utils.video_io import probe_video
    from .terminal import ProgressBar

    _check_inputs_exist(images, "image")
    plan = _travel_plan_from(args, len(images))
    size = parse_size(args.size) if getattr(args, "size", None) else None
    keyframes = conform_keyframes([load_image(p) for p in images], size, getattr(args, "fit", DEFAULT_FIT))
    bar = ProgressBar()
    try:
        out = render_travel(keyframes, plan, args.out, fps=Fraction(fps).limit_denominator(1001),
                            method=getattr(args, "method", "flow"), curve=getattr(args, "curve", "cosine"),
                            sharpen=getattr(args, "sharpen", 0.0), crf=getattr(args, "crf", 19),
                            preset=getattr(args, "preset", "medium"), progress=bar)
    finally:
        bar.close()
    info = probe_video(out)
    print(f"wrote {out}")
    print(f"frames: {info.frame_count} ({info.width}x{info.height} at {float(info.fps):g} fps)")
    print("keyframes at frames: " + " ".join(map(str, plan.keyframe_frames)))
    return EXIT_OK


def _cmd_join(args) -> int:
    from ..video_utils.local_render import render_join
    from ..video_utils.video_io import probe_video
    from .terminal import ProgressBar

    _check_inputs_exist(args.clips, "clip")
    lengths = [probe_video(p).frame_count for p in args.clips]
    plan = _join_plan_from(args, lengths, [p.name for p in args.clips])
    bar = ProgressBar()
    try:
        out = render_join(args.clips, plan, args.out, size=parse_size(args.size) if args.size else None,
                          fit=args.fit, method=args.method, bridging=args.bridging, curve=args.curve,
                          sharpen=args.sharpen, crf=args.crf, preset=args.preset,
                          keep_audio=not args.no_audio, progress=bar)
    finally:
        bar.close()
    info = probe_video(out)
    print(f"wrote {out}")
    print(f"frames: {info.frame_count} ({info.width}x{info.height} at {float(info.fps):g} fps)")
    print("transitions at frames: " + " ".join(str(j.transition_start) for j in plan.joins))
    return EXIT_OK


def _cmd_demo(args) -> int:
    images = sorted((ASSETS / "keyframes").glob("*.png"))
    args.mode, args.exact_keyframes = "chained", True
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return _render_travel(images, args, 16.0)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "plan":
            return _cmd_plan(args)
        if args.command in ("travel", "join") and commands.wants_server(args):
            return commands.cmd_travel(args) if args.command == "travel" else commands.cmd_join(args)
        if args.command == "travel":
            return _render_travel(args.images, args, args.fps)
        if args.command == "join":
            return _cmd_join(args)
        if args.command == "demo":
            return _cmd_demo(args)
        return args.func(args)
    except PlanError as e:
        print(f"segue: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("segue: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
