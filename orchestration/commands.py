"""``segue`` subcommands that talk to ComfyUI servers (cli.py parses and dispatches to these).

* ``segue travel IMAGES... --server URL`` / ``segue join CLIPS... --server URL``: the local
  commands' options plus ``add_server_arguments``; the run goes through ``/prompt`` and the result
  is still written to ``--out``.  ``--detach`` submits the whole run as one prompt and exits.
* ``segue run PLAN.json --server URL``: run a plan file; an existing run id resumes.
* ``segue status RUN_DIR``: each step's state and the frame table.
* ``segue resume RUN_DIR``: continue (finished steps skipped, lost ones re-submitted).
* ``segue cancel RUN_DIR``: remove/interrupt this run's prompts (only ours) on its servers.

Exit codes (also in ``errors.py``):

| code | meaning |
|---|---|
| 0 | finished (``--detach``: submitted; ``status``/``cancel``: done) |
| 1 | the run failed: a step failed on a server; ``segue resume RUN_DIR`` retries it |
| 2 | bad input, nothing submitted: bad plan (missing image, 1 image, overlap >= segment, clip too short), unknown model file or node, prompt rejected by the server, run directory busy |
| 3 | a server is unreachable (at start, or for longer than ``--server-timeout``); ``segue resume RUN_DIR`` continues |
| 130 | interrupted (Ctrl-C); our prompts were cancelled; ``segue resume RUN_DIR`` continues |

Each command prints one ``segue: error: ...`` line per problem on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from ..video_utils.errors import PlanError
from .client import ComfyClient, normalize_url, sha256_file
from .errors import EXIT_OK, OrchestrationError, ServerUnreachable, exit_code_for
from .graphs import load_template
from .manifest import Manifest, lock_run_dir
from .plan_files import (ClipRef, GeneratorConfig, JoinRun, Run, TravelRun, finalize_run, load_plan)
from .progress import RunProgress
from .runner import Runner, copy_atomic
from .steps import join_steps, travel_steps

GENERATOR_HELP = "preview (CPU, default), wan21-vace, wan22-vace, or an API-format TEMPLATE.json"


# --- argparse helpers ---------------------------------------------------------------------------

def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """--server and the runner's knobs (for run/resume and the rendering commands)."""
    g = parser.add_argument_group("ComfyUI servers")
    g.add_argument("--server", dest="servers", action="append", default=None, metavar="URL",
                   help="ComfyUI server (repeat for several; independent steps are spread over them)")
    g.add_argument("--retries", type=int, default=0, help="times a failed step is re-submitted (default 0)")
    g.add_argument("--server-timeout", type=float, default=60.0, metavar="S",
                   help="give up on a server unreachable for this long (default 60; exit 3, resume later)")
    g.add_argument("--window", type=int, default=2, metavar="N",
                   help="prompts of this run queued per server at once (default 2)")
    g.add_argument("--no-progress", action="store_true", help="no progress display")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segue travel`` / ``segue join`` for running through ComfyUI servers."""
    add_connection_arguments(parser)
    g = parser.add_argument_group("generation on the server")
    g.add_argument("--generator", default="preview", metavar="NAME", help=GENERATOR_HELP)
    g.add_argument("--unet", default="", help="diffusion model file (wan: the VACE model; wan22: high-noise expert)")
    g.add_argument("--unet-low", default="", help="wan22-vace: low-noise expert model file")
    g.add_argument("--vae", default="", help="VAE file (Wan 2.1 VAE)")
    g.add_argument("--clip", default="", help="text encoder file (umT5)")
    g.add_argument("--weight-dtype", default="default", help="UNETLoader weight_dtype (default, fp8_e4m3fn, ...)")
    g.add_argument("--steps", type=int, default=20, help="sampler steps (default 20)")
    g.add_argument("--cfg", type=float, default=5.0, help="CFG scale (default 5)")
    g.add_argument("--shift", type=float, default=5.0, help="ModelSamplingSD3 shift (default 5)")
    g.add_argument("--split-step", type=int, default=None, help="wan22-vace: step where the low-noise expert takes over (default steps/2)")
    g.add_argument("--sampler", default="uni_pc", help="sampler name (default uni_pc)")
    g.add_argument("--scheduler", default="simple", help="scheduler (default simple)")
    g.add_argument("--seed", type=int, default=0, help="seed (-1 = random, fixed in the manifest; default 0)")
    g.add_argument("--seed-mode", choices=("fixed", "increment"), default="fixed",
                   help="fixed: same seed for every step; increment: seed + step index")
    g.add_argument("--prompt", action="append", default=None, metavar="TEXT",
                   help="prompt; travel: repeat once per segment or give one for all")
    g.add_argument("--negative-prompt", action="append", default=None, metavar="TEXT", help="negative prompt")
    g.add_argument("--run-id", default="", help="run id (default: generated); an existing one resumes")
    g.add_argument("--runs-dir", default="segue_runs", metavar="DIR",
                   help="where run directories <DIR>/<run_id>/ are kept (default segue_runs)")
    g.add_argument("--detach", action="store_true",
                   help="submit the whole run as one prompt and exit; pick it up with segue status/resume RUN_DIR")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", type=Path, help="plan file (JSON, \"kind\": travel or join)")
    parser.add_argument("--run-id", default="", help="override the plan's run id")
    parser.add_argument("--runs-dir", default=None, metavar="DIR", help="override the plan's output_dir")
    parser.add_argument("--out", type=Path, default=None, help="also copy the final video here")
    parser.add_argument("--detach", action="store_true", help="submit the whole run as one prompt and exit")
    add_connection_arguments(parser)


def add_run_dir_arguments(parser: argparse.ArgumentParser, servers: bool = False) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory (<runs-dir>/<run_id>) with manifest.json")
    if servers:
        add_connection_arguments(parser)


def register_subcommands(sub) -> None:
    """Add ``run``/``status``/``resume``/``cancel`` to an argparse subparsers object (``func`` set)."""
    p = sub.add_parser("run", help="run a plan file through ComfyUI (an existing run id resumes)")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("status", help="show a run's steps and frame table")
    add_run_dir_arguments(p)
    p.add_argument("--offline", action="store_true", help="do not ask the servers")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("resume", help="continue a run (finished steps are skipped)")
    add_run_dir_arguments(p, servers=True)
    p.add_argument("--out", type=Path, default=None, help="also copy the final video here")
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("cancel", help="cancel a run's prompts on its servers (only this run's)")
    add_run_dir_arguments(p)
    p.set_defaults(func=cmd_cancel)


def wants_server(args: argparse.Namespace) -> bool:
    """True when ``segue travel/join`` should go through ComfyUI (``--server`` given)."""
    return bool(getattr(args, "servers", None))


# --- building runs from the travel/join command lines -----------------------------------------

def generator_from_args(args: argparse.Namespace) -> GeneratorConfig:
    return GeneratorConfig.from_name(
        getattr(args, "generator", "preview") or "preview", unet=args.unet, unet_low=args.unet_low, vae=args.vae,
        clip=args.clip, weight_dtype=args.weight_dtype, steps=args.steps, cfg=args.cfg, shift=args.shift,
        split_step=args.split_step, sampler=args.sampler, scheduler=args.scheduler,
        preview_method=getattr(args, "method", "flow"))


def _one_or_list(values):
    if values is None:
        return None
    values = list(values)
    return values[0] if len(values) == 1 else values


def travel_run_from_args(args: argparse.Namespace) -> TravelRun:
    """A TravelRun from ``segue travel``'s options (cli.py's names plus ``add_server_arguments``)."""
    width = height = 0
    if getattr(args, "size", None):
        from ..video_utils.sizes import parse_size
        width, height = parse_size(args.size)
    run = TravelRun(
        images=[str(Path(p).resolve()) for p in args.images],
        segment_frames=_one_or_list(args.frames), overlap=_one_or_list(getattr(args, "overlap", [8])),
        mode=getattr(args, "mode", "chained"), exact_keyframes=bool(getattr(args, "exact_keyframes", False)),
        prompts=_one_or_list(args.prompt) or "", negative_prompts=_one_or_list(args.negative_prompt) or "",
        width=width, height=height, fit=getattr(args, "fit", "crop"), fps=float(getattr(args, "fps", 16.0)),
        seed=args.seed, seed_mode=args.seed_mode, curve=getattr(args, "curve", "cosine"),
        sharpen=float(getattr(args, "sharpen", 0.0)), crf=int(getattr(args, "crf", 19)),
        preset=getattr(args, "preset", "medium"), generator=generator_from_args(args),
        run_id=args.run_id, output_dir=_abs(args.runs_dir), out=_abs(getattr(args, "out", None)))
    return run


def join_run_from_args(args: argparse.Namespace) -> JoinRun:
    per_join = []
    if getattr(args, "per_join", None):
        try:
            per_join = json.loads(args.per_join)
        except json.JSONDecodeError as e:
            raise PlanError(f"--per-join {args.per_join!r} is not JSON ({e.msg}): write a list like '[{{}}, {{\"gap\": 21}}]'") from None
        if not isinstance(per_join, list):
            raise PlanError(f"--per-join {args.per_join!r} must be a JSON list of objects, one per join")
    prompt = _one_or_list(args.prompt)
    negative = _one_or_list(args.negative_prompt)
    return JoinRun(
        clips=[ClipRef(str(Path(p).resolve()), Path(p).stem) for p in args.clips],
        context=args.context, gap=args.gap, replace=bool(args.replace), blend=args.blend, per_join=per_join,
        allow_shrink=bool(getattr(args, "allow_shrink", False)), bridging=bool(getattr(args, "bridging", False)),
        prompt=prompt if isinstance(prompt, str) else "smooth transition",
        negative_prompt=negative if isinstance(negative, str) else "",
        fps=float(getattr(args, "fps", 0.0) or 0.0), seed=args.seed, seed_mode=args.seed_mode,
        curve=getattr(args, "curve", "cosine"), sharpen=float(getattr(args, "sharpen", 0.0)),
        crf=int(getattr(args, "crf", 19)), preset=getattr(args, "preset", "medium"),
        keep_audio=not getattr(args, "no_audio", False), generator=generator_from_args(args),
        run_id=args.run_id, output_dir=_abs(args.runs_dir), out=_abs(getattr(args, "out", None)))


def _abs(path) -> str:
    """Command-line paths are relative to the working directory; the manifest keeps them absolute."""
    return str(Path(path).resolve()) if path else ""


# --- commands ------------------------------------------------------------------------------------

def _guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Expected failures become ``segue: error:`` lines and an exit code; bugs keep their traceback."""
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (PlanError, OrchestrationError, KeyboardInterrupt) as e:
            message = "interrupted; this run's prompts were cancelled" if isinstance(e, KeyboardInterrupt) else str(e)
            for line in message.splitlines() or [type(e).__name__]:
                print(f"segue: error: {line}", file=sys.stderr)
            return exit_code_for(e)
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@_guarded
def cmd_travel(args: argparse.Namespace) -> int:
    """``segue travel IMAGES --server URL ...``"""
    return start_run(travel_run_from_args(args), args)


@_guarded
def cmd_join(args: argparse.Namespace) -> int:
    """``segue join CLIPS --server URL ...``"""
    return start_run(join_run_from_args(args), args)


@_guarded
def cmd_run(args: argparse.Namespace) -> int:
    """``segue run PLAN.json --server URL``"""
    run = load_plan(args.plan)
    if args.run_id:
        run.run_id = args.run_id
    if args.runs_dir:
        run.output_dir = _abs(args.runs_dir)
    if args.out:
        run.out = _abs(args.out)
    return start_run(run, args)


@_guarded
def cmd_resume(args: argparse.Namespace) -> int:
    """``segue resume RUN_DIR``"""
    manifest = Manifest.load(args.run_dir)
    if getattr(args, "out", None):
        manifest.data["plan"]["out"] = _abs(args.out)
    return _execute(manifest, _clients(args, manifest), args)


@_guarded
def cmd_cancel(args: argparse.Namespace) -> int:
    """``segue cancel RUN_DIR``: remove pending / interrupt running prompts of this run only."""
    manifest = Manifest.load(args.run_dir)
    clients = {url: ComfyClient(url, manifest.client_id, timeout=10) for url in manifest.data.get("servers", [])}
    seen: set[str] = set()
    for step in manifest.in_state("submitted", "running"):
        client = clients.get(step.server or "") or ComfyClient(step.server, manifest.client_id, timeout=10)
        if step.prompt_id not in seen:
            seen.add(step.prompt_id)
            try:
                print(f"{step.id}: {client.cancel(step.prompt_id)} on {client.label}")
            except ServerUnreachable as e:
                print(f"{step.id}: {e}")
        manifest.transition(step.id, "pending", prompt_id=None, error="cancelled")
    manifest.set_status("cancelled")
    print(f"run {manifest.run_id} cancelled; `segue resume {manifest.run_dir}` continues it")
    return EXIT_OK


@_guarded
def cmd_status(args: argparse.Namespace) -> int:
    """``segue status RUN_DIR``: steps (done/running/failed, server) and the frame table."""
    manifest = Manifest.load(args.run_dir)
    print("\n".join(status_lines(manifest, live=not getattr(args, "offline", False))))
    return EXIT_OK


# --- implementation ------------------------------------------------------------------------------

def _clients(args: argparse.Namespace, manifest: Manifest | None = None) -> list[ComfyClient]:
    urls = getattr(args, "servers", None) or (manifest.data.get("servers") if manifest else None) or []
    if not urls:
        raise PlanError("no server given: pass --server URL (e.g. --server http://127.0.0.1:8188)")
    try:
        urls = list(dict.fromkeys(normalize_url(u) for u in urls))
    except ValueError as e:
        raise PlanError(str(e)) from None
    client_id = manifest.client_id if manifest else None
    return [ComfyClient(url, client_id) for url in urls]


def _inputs(run: Run) -> list[dict]:
    """Keyframes / clips with content-addressed names (a changed file never reuses a stale upload)."""
    items = []
    paths = run.images if isinstance(run, TravelRun) else [c.path for c in run.clips]
    prefix = "key" if isinstance(run, TravelRun) else "clip"
    for i, path in enumerate(paths):
        sha = sha256_file(path)
        items.append({"path": str(Path(path).resolve()), "sha256": sha,
                      "name": f"{prefix}_{i:03d}_{sha[:12]}{Path(path).suffix.lower()}"})
    return items


def _comparable(plan: dict) -> dict:
    return {k: v for k, v in plan.items() if k not in ("out", "clip_frames")}


def run_plan(run: Run, servers: Sequence[str], *, detach: bool = False, progress: bool = True) -> int:
    """Python entry point: run (or resume) ``run`` on ``servers``; returns the CLI's exit code."""
    return start_run(run, argparse.Namespace(servers=list(servers), detach=detach, no_progress=not progress))


def start_run(run: Run, args: argparse.Namespace) -> int:
    """Validate, then create (or resume) the run directory and run it."""
    frame_plan = run.validate()
    if run.generator.kind == "template":
        load_template(run.generator.template)
    finalize_run(run)
    run_dir = Path(run.output_dir) / run.run_id
    clients = _clients(args)
    if Manifest.exists(run_dir):
        manifest = Manifest.load(run_dir)
        if _comparable(manifest.data["plan"]) != _comparable(run.to_dict()):
            raise PlanError(f"run {run.run_id!r} already exists in {run_dir} with a different plan: "
                            f"pass another --run-id, or `segue resume {run_dir}`")
        manifest.data["plan"]["out"] = run.out
        print(f"resuming run {run.run_id} in {run_dir}", file=sys.stderr)
        return _execute(manifest, clients, args)
    steps = travel_steps(frame_plan) if isinstance(run, TravelRun) else join_steps(frame_plan)
    manifest = Manifest.create(run_dir, run, frame_plan.to_dict(), steps, _inputs(run),
                               clients[0].client_id, save=False)
    return _execute(manifest, clients, args, fresh=True)


def _execute(manifest: Manifest, clients: list[ComfyClient], args: argparse.Namespace, fresh: bool = False) -> int:
    progress = RunProgress(f"{manifest.data['kind']} {manifest.run_id}", list(manifest.steps),
                           enabled=not getattr(args, "no_progress", False))
    runner = Runner(manifest, clients, progress, window=max(1, getattr(args, "window", 2)),
                    server_timeout=getattr(args, "server_timeout", 60.0), retries=max(0, getattr(args, "retries", 0)))
    if fresh:
        runner.preflight()            # nothing is written or submitted before this passes
    with lock_run_dir(manifest.run_dir):
        manifest.save()
        if getattr(args, "detach", False):
            prompt_id = runner.submit_detached()
            print(f"submitted run {manifest.run_id} to {manifest.data['detached']['server']} as prompt "
                  f"{prompt_id}; run directory {manifest.run_dir}")
            print(f"  segue status {manifest.run_dir}    segue resume {manifest.run_dir}")
            return EXIT_OK
        final = runner.execute()
    out = manifest.data["plan"].get("out")
    if out:
        copy_atomic(final, Path(out))
    step = manifest.steps["final"]
    print(f"wrote {out or final} ({step.frames} frames); run directory {manifest.run_dir}")
    return EXIT_OK


def status_lines(manifest: Manifest, live: bool = True) -> list[str]:
    """``segue status``: the run, each step (asking its server when ``live``), the frame table."""
    data = manifest.data
    lines = [f"run {manifest.run_id} ({data['kind']}): {data.get('status', '?')}  [{manifest.run_dir}]"]
    if data.get("detached"):
        lines.append(f"detached on {data['detached']['server']}: prompts {', '.join(data['detached']['prompts'])}")
    clients: dict[str, ComfyClient] = {}
    lines.append(f"{'step':<10} {'state':<10} {'server':<22} {'frames':>6}  detail")
    for step in manifest.ordered():
        detail = step.error or ""
        state = step.state
        if step.state == "done":
            detail = f"sha256 {step.sha256[:12]}" + ("" if manifest.verify(step.id) else "  (file missing or changed: resume re-fetches)")
        elif live and step.state in ("submitted", "running") and step.server and step.prompt_id:
            client = clients.setdefault(step.server, ComfyClient(step.server, manifest.client_id, timeout=5))
            try:
                status, _ = client.prompt_status(step.prompt_id)
                folder = f"segue/{manifest.run_id}"
                if status in ("queued", "running") and data.get("detached"):
                    status += ", file written" if client.file_size(step.file, folder) is not None else ""
                state = {"success": "finished", "unknown": "lost"}.get(status.split(",")[0], status.split(",")[0])
                detail = {"finished": "on the server, not downloaded yet: segue resume collects it",
                          "lost": "the server no longer knows it: segue resume submits it again"}.get(state, status)
            except ServerUnreachable:
                detail = "server unreachable"
        server = (step.server or "").split("://", 1)[-1]
        lines.append(f"{step.id:<10} {state:<10} {server:<22} {step.frames:>6}  {detail}".rstrip())
    lines.append("")
    lines.extend(frame_table(data["kind"], data["frame_plan"]))
    return lines


def frame_table(kind: str, plan: dict) -> list[str]:
    if kind == "travel":
        out = [f"travel: {len(plan['segments'])} segments, mode {plan['mode']}, total {plan['total_frames']} frames",
               f"{'seg':>3} {'generate':>8} {'ovl_prev':>8} {'ovl_next':>8} {'start':>6} {'trim':>4} {'context':>7}"]
        for s in plan["segments"]:
            out.append(f"{s['index']:>3} {s['generate_frames']:>8} {s['overlap_from_previous']:>8} "
                       f"{s['overlap_with_next']:>8} {s['start_frame']:>6} {s['trim_start']:>4} {s['context_frames']:>7}")
        out.append("keyframes at: " + " ".join(map(str, plan["keyframe_frames"])))
        return out
    out = [f"join: {len(plan['clip_frames'])} clips, total {plan['total_frames']} frames",
           f"{'join':>4} {'mode':>7} {'T':>4} {'gap':>4} {'ctx':>4} {'trimA':>5} {'trimB':>5} {'blend':>5} {'at':>6}"]
    for j in plan["joins"]:
        out.append(f"{j['index']:>4} {'replace' if j['replace'] else 'insert':>7} {j['transition_frames']:>4} "
                   f"{j['gap_frames']:>4} {j['context_frames_a']:>4} {j['trim_from_a']:>5} {j['trim_from_b']:>5} "
                   f"{j['blend_frames']:>5} {j['transition_start']:>6}")
    out.append("clips kept: " + " ".join(f"{c['index']}:[{c['keep_start']},{c['keep_end']})@{c['start_frame']}"
                                         for c in plan["clips"]))
    return out
