"""The ``segue`` command: the parser and the dispatch.

``segue plan travel|join`` prints a frame plan (pure Python, no torch).  ``segue travel``,
``segue join`` and ``segue extend`` render on this machine with the CPU preview generator
(``local``), or through ComfyUI servers with ``--server``, or write the prompts with
``--export-prompts DIR`` (``commands``); ``segue run|convert`` drive plan files, ``segue
status|resume|cancel`` run directories (``run_dirs``); ``segue demo`` renders the bundled
keyframes.  Torch and the pixel engine are imported only by the commands that render locally.

Every input is checked before anything is loaded, written or submitted, by the same run models
(``orchestration.runs``) on every path, local or server: the command line becomes a run
(``build``), and the run reaches the planners (``Run.plan``).

Exit codes are ``orchestration.errors``' table: 0 success, 1 the work failed, 2 bad input (one
line on stderr per problem naming the argument, the value and the fix), 3 a server unreachable,
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...video_utils.core.constants import BUNDLED_KEYFRAMES
from ...video_utils.core.errors import PlanError
from ..errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK
from ..runs.common import ClipRef
from ..runs.join import JoinRun
from ..runs.travel import TravelRun
from .build import extend_run, join_plan_fields, join_run, launch, travel_plan_fields, travel_run
from .commands import register_plan_file_commands, start
from .local import render_here
from .options import (add_extend_plan_arguments, add_join_delivery_arguments, add_join_plan_arguments,
                      add_render_arguments, add_server_arguments, add_travel_delivery_arguments,
                      add_travel_plan_arguments)
from .run_dirs import register_run_dir_commands
from .status import frame_table


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
    add_travel_plan_arguments(pt)
    pt.add_argument("--keyframes", type=int, default=None,
                    help="number of keyframes (default: one more than the number of --frames values, at least 2)")
    pt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pt.set_defaults(command=_cmd_plan)
    pj = plan.add_parser("join", help="plan joining clips (files, or their frame counts with --clips)")
    pj.add_argument("files", nargs="*", type=Path, metavar="CLIP",
                    help="the clips, in order: their frame counts at the output rate are probed (as segue join does)")
    pj.add_argument("--clips", type=int, nargs="+", metavar="LEN",
                    help="instead of files: the frame count of each clip at the output rate, in order")
    pj.add_argument("--fps", type=float, default=0.0,
                    help="output frame rate (default: the first clip's; with --clips the generation rate, 16)")
    add_join_plan_arguments(pj)
    pj.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pj.set_defaults(command=_cmd_plan)

    tr = sub.add_parser("travel", help="render a travel between images (one image: a free-ending clip)")
    tr.add_argument("images", nargs="+", type=Path, help="keyframe images in timeline order (or one image)")
    add_travel_plan_arguments(tr)
    add_travel_delivery_arguments(tr)
    add_render_arguments(tr)
    add_server_arguments(tr)
    tr.set_defaults(command=_render_or_start(travel_run))

    jn = sub.add_parser("join", help="join clips with generated transitions (this machine, or ComfyUI with --server)")
    jn.add_argument("clips", nargs="+", type=Path, help="video clips in order")
    add_join_plan_arguments(jn)
    jn.add_argument("--bridging", action="store_true", help="pin A's last and B's first context frame inside the gap")
    jn.add_argument("--no-audio", action="store_true", help="do not pass the clips' sound through")
    add_join_delivery_arguments(jn)
    add_render_arguments(jn)
    add_server_arguments(jn)
    jn.set_defaults(command=_render_or_start(join_run))

    ex = sub.add_parser("extend", help="add generated frames after a clip, optionally landing on images (--to)")
    ex.add_argument("clip_path", type=Path, metavar="CLIP", help="the clip to extend")
    add_extend_plan_arguments(ex)
    ex.add_argument("--no-audio", action="store_true", help="do not keep the clip's sound")
    add_render_arguments(ex)
    add_server_arguments(ex)
    ex.set_defaults(command=_render_or_start(extend_run))
    register_plan_file_commands(sub)
    register_run_dir_commands(sub)

    demo = sub.add_parser("demo", help="render a travel between the bundled keyframes")
    demo.add_argument("--out", type=Path, default=Path("demo_output/segue_demo.mp4"),
                      help="output path (default demo_output/segue_demo.mp4)")
    add_travel_plan_arguments(demo, frames_required=False)
    demo.set_defaults(command=_cmd_demo)
    return parser


def _plan_of(ns: argparse.Namespace):
    """``segue plan``: the frame plan of the run the flags describe (files probed as a render
    probes them; ``--clips`` are frame counts at ``--fps``)."""
    if ns.kind == "travel":
        return TravelRun(images=[], **travel_plan_fields(ns)).plan(ns.keyframes or max(2, len(ns.frames) + 1))
    if bool(ns.files) == bool(ns.clips):
        raise PlanError("segue plan join needs the clips: give the clip files, or their frame counts with "
                        "--clips (not both)")
    if ns.clips:
        run = JoinRun(clips=[ClipRef("") for _ in ns.clips], clip_frames=list(ns.clips), fps=ns.fps,
                      **join_plan_fields(ns))
        return run.plan()
    run = JoinRun(clips=[ClipRef(str(p), p.stem) for p in ns.files], fps=ns.fps, **join_plan_fields(ns))
    return run.validate()


def _cmd_plan(ns: argparse.Namespace) -> int:
    data = _plan_of(ns).to_dict()
    print(json.dumps(data, indent=2) if ns.json else "\n".join(frame_table(ns.kind, data)))
    return EXIT_OK


def _render_or_start(build):
    """A ``travel`` / ``join`` / ``extend`` handler: the run ``build`` makes from the flags, through
    ComfyUI (``--server``, ``--export-prompts``), else here with the preview generator."""
    def handler(ns: argparse.Namespace) -> int:
        run, how = build(ns), launch(ns)
        return start(run, how) if how.remote else render_here(run, how)
    return handler


def _cmd_demo(ns: argparse.Namespace) -> int:
    """The bundled keyframes, chained with exact keyframes, rendered here."""
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    images = [str(p) for p in sorted(BUNDLED_KEYFRAMES.glob("*.png"))]
    if not images:
        raise PlanError(f"the bundled keyframes are missing from this install (no PNG in {BUNDLED_KEYFRAMES}): "
                        f"reinstall Segue; a retry will not help")
    run = TravelRun(images=images, **{**travel_plan_fields(ns), "mode": "chained", "exact_keyframes": True},
                    out=str(ns.out.resolve()))
    return render_here(run, None)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:                 # --help (0) or a bad argument (2, already printed)
        return e.code if isinstance(e.code, int) else EXIT_BAD_INPUT
    try:
        return args.command(args)
    except PlanError as e:
        for line in str(e).splitlines():
            print(f"segue: error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("segue: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
