"""``segue`` subcommands that talk to ComfyUI servers (cli.py parses and dispatches to these).

* ``segue travel IMAGES... --server URL`` / ``segue join CLIPS... --server URL``: the local
  commands' options plus the server options (``options.add_server_arguments``); the run goes
  through ``/prompt`` and the result is still written to ``--out``.  ``--detach`` submits the
  whole run as one prompt and exits.
* ``segue run PLAN.json --server URL``: run a plan file; an existing run id resumes.
* ``segue status RUN_DIR``: each step's state and the frame table.
* ``segue resume RUN_DIR``: continue (finished steps skipped, lost ones re-submitted).
* ``segue cancel RUN_DIR``: remove/interrupt this run's prompts (only ours) on its servers.

Every command takes its typed options object (``options.py``).  Exit codes are in ``errors.py``;
each failure prints ``segue: error: ...`` (one line per problem) and, where there is one,
``segue: hint: ...`` (what to do; ``segue resume`` only when a resume can cure it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from ..video_utils.errors import PlanError
from ..video_utils.sizes import parse_size
from .client import ComfyClient, normalize_url, sha256_file
from .errors import EXIT_OK, OrchestrationError, ServerUnreachable, error_lines, exit_code_for
from .graphs import load_template
from .manifest import Manifest, lock_run_dir
from .options import (ConnectionOptions, JoinCommand, PlanFileCommand, RunDirCommand, RunOptions, TravelCommand,
                      one_or_list, plan_file_command, run_dir_command)
from .plan_files import ClipRef, GeneratorConfig, JoinRun, Run, TravelRun, finalize_run, load_plan
from .progress import Progress
from .runner import Runner
from .steps import join_steps, server_folder, travel_steps
from .transfers import copy_out


def register_subcommands(sub) -> None:
    """Add ``run``/``status``/``resume``/``cancel`` (each sets ``command`` = (build, handler))."""
    p = sub.add_parser("run", help="run a plan file through ComfyUI (an existing run id resumes)")
    p.add_argument("plan", type=Path, help="plan file (JSON, \"kind\": travel or join)")
    RunOptions.add_arguments(p, runs_dir_default=None)
    p.add_argument("--out", type=Path, default=None, help="also copy the final video here")
    ConnectionOptions.add_arguments(p)
    p.set_defaults(command=(plan_file_command, cmd_run))
    p = sub.add_parser("status", help="show a run's steps and frame table")
    _run_dir_argument(p)
    p.add_argument("--offline", action="store_true", help="do not ask the servers about steps in flight")
    p.set_defaults(command=(run_dir_command, cmd_status))
    p = sub.add_parser("resume", help="continue a run (finished steps are skipped)")
    _run_dir_argument(p)
    ConnectionOptions.add_arguments(p)
    p.add_argument("--out", type=Path, default=None, help="also copy the final video here")
    p.set_defaults(command=(run_dir_command, cmd_resume))
    p = sub.add_parser("cancel", help="cancel a run's prompts on its servers (only this run's)")
    _run_dir_argument(p)
    p.set_defaults(command=(run_dir_command, cmd_cancel))


def _run_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory (<runs-dir>/<run_id>) with manifest.json")


# --- building runs from the travel/join command lines -----------------------------------------

def generator_config(cmd: TravelCommand | JoinCommand) -> GeneratorConfig:
    g = cmd.generation
    return GeneratorConfig.from_name(
        g.generator or "preview", unet=g.unet, unet_low=g.unet_low, vae=g.vae, clip=g.clip,
        weight_dtype=g.weight_dtype, steps=g.steps, cfg=g.cfg, shift=g.shift, split_step=g.split_step,
        sampler=g.sampler, scheduler=g.scheduler, preview_method=cmd.render.method)


def travel_run(cmd: TravelCommand) -> TravelRun:
    """A TravelRun from ``segue travel``'s options."""
    width, height = parse_size(cmd.render.size) if cmd.render.size else (0, 0)
    g, r = cmd.generation, cmd.render
    return TravelRun(
        images=[str(Path(p).resolve()) for p in cmd.images], segment_frames=one_or_list(cmd.plan.frames),
        overlap=one_or_list(cmd.plan.overlap), mode=cmd.plan.mode, exact_keyframes=cmd.plan.exact_keyframes,
        prompts=one_or_list(g.prompt) or "", negative_prompts=one_or_list(g.negative_prompt) or "",
        width=width, height=height, fit=r.fit, fps=float(cmd.fps), seed=g.seed, seed_mode=g.seed_mode,
        curve=r.curve, sharpen=float(r.sharpen), crf=int(r.crf), preset=r.preset, generator=generator_config(cmd),
        run_id=cmd.run.run_id, output_dir=_abs(cmd.run.runs_dir), out=_abs(r.out))


def join_run(cmd: JoinCommand) -> JoinRun:
    """A JoinRun from ``segue join``'s options."""
    g, r, plan = cmd.generation, cmd.render, cmd.plan
    prompt, negative = one_or_list(g.prompt), one_or_list(g.negative_prompt)
    return JoinRun(
        clips=[ClipRef(str(Path(p).resolve()), Path(p).stem) for p in cmd.clips],
        context=plan.context, gap=plan.gap, replace=plan.replace, blend=plan.blend, per_join=list(plan.per_join),
        allow_shrink=plan.allow_shrink, bridging=cmd.bridging,
        prompt=prompt if isinstance(prompt, str) else "smooth transition",
        negative_prompt=negative if isinstance(negative, str) else "",
        seed=g.seed, seed_mode=g.seed_mode, curve=r.curve, sharpen=float(r.sharpen), crf=int(r.crf),
        preset=r.preset, keep_audio=not cmd.no_audio, generator=generator_config(cmd),
        run_id=cmd.run.run_id, output_dir=_abs(cmd.run.runs_dir), out=_abs(r.out))


def _abs(path) -> str:
    """Command-line paths are relative to the working directory; the manifest keeps them absolute."""
    return str(Path(path).resolve()) if path else ""


# --- commands ------------------------------------------------------------------------------------

def _guarded(fn: Callable[..., int]) -> Callable[..., int]:
    """Expected failures become ``segue: error:`` / ``segue: hint:`` lines and an exit code;
    bugs keep their traceback."""
    def wrapper(cmd) -> int:
        try:
            return fn(cmd)
        except (PlanError, OrchestrationError, KeyboardInterrupt) as e:
            for line in error_lines(e, getattr(e, "run_dir", None)):
                print(f"segue: {line}", file=sys.stderr)
            return exit_code_for(e)
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@_guarded
def cmd_travel(cmd: TravelCommand) -> int:
    """``segue travel IMAGES --server URL ...``"""
    return start_run(travel_run(cmd), cmd.connection, detach=cmd.run.detach)


@_guarded
def cmd_join(cmd: JoinCommand) -> int:
    """``segue join CLIPS --server URL ...``"""
    return start_run(join_run(cmd), cmd.connection, detach=cmd.run.detach)


@_guarded
def cmd_run(cmd: PlanFileCommand) -> int:
    """``segue run PLAN.json --server URL``"""
    run = load_plan(cmd.plan)
    if cmd.run.run_id:
        run.run_id = cmd.run.run_id
    if cmd.run.runs_dir:
        run.output_dir = _abs(cmd.run.runs_dir)
    if cmd.run.out:
        run.out = _abs(cmd.run.out)
    return start_run(run, cmd.connection, detach=cmd.run.detach)


@_guarded
def cmd_resume(cmd: RunDirCommand) -> int:
    """``segue resume RUN_DIR``"""
    Manifest.load(cmd.run_dir)                         # "not a run directory" before any lock file
    with lock_run_dir(Path(cmd.run_dir)):
        manifest = Manifest.load(cmd.run_dir)         # read under the lock: no other process writes it now
        if cmd.out:
            manifest.data["plan"]["out"] = _abs(cmd.out)
        return _execute(manifest, _clients(cmd.connection, manifest), cmd.connection)


@_guarded
def cmd_cancel(cmd: RunDirCommand) -> int:
    """``segue cancel RUN_DIR``: remove pending / interrupt running prompts of this run only."""
    Manifest.load(cmd.run_dir)
    with lock_run_dir(Path(cmd.run_dir)):             # a run in progress owns its prompts: refuse
        manifest = Manifest.load(cmd.run_dir)
        clients: dict[str, ComfyClient] = {}
        seen: set[str] = set()
        for step in manifest.in_state("submitted", "running"):
            client = clients.setdefault(step.server, ComfyClient(step.server, manifest.client_id, timeout=10))
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
def cmd_status(cmd: RunDirCommand) -> int:
    """``segue status RUN_DIR``: steps (done/running/failed, server) and the frame table."""
    print("\n".join(status_lines(Manifest.load(cmd.run_dir), live=not cmd.offline)))
    return EXIT_OK


def run_plan(run: Run, servers: Sequence[str], *, detach: bool = False, progress: bool = True, **connection) -> int:
    """Python entry point: run (or resume) ``run`` on ``servers``; returns the CLI's exit code.
    ``connection``: ``ConnectionOptions`` fields (``retries``, ``server_timeout``, ``window``)."""
    options = ConnectionOptions(servers=list(servers), no_progress=not progress, **connection)
    return _guarded(lambda _: start_run(run, options, detach=detach))(None)


# --- implementation ------------------------------------------------------------------------------

def _clients(connection: ConnectionOptions, manifest: Manifest | None = None) -> list[ComfyClient]:
    urls = connection.servers or (manifest.data.get("servers") if manifest else None) or []
    if not urls:
        raise PlanError("no server given: pass --server URL (e.g. --server http://127.0.0.1:8188)")
    try:
        urls = list(dict.fromkeys(normalize_url(u) for u in urls))
    except ValueError as e:
        raise PlanError(str(e)) from None
    client_id = manifest.client_id if manifest else None
    return [ComfyClient(url, client_id) for url in urls]


def run_inputs(run: Run) -> list[dict]:
    """The files a run sends to its servers, in the order the graphs name them: keyframes (or
    clips), then reference images.  Names are content-addressed, so a changed file never reuses a
    stale upload."""
    items = []
    paths = run.images if isinstance(run, TravelRun) else [c.path for c in run.clips]
    prefix = "key" if isinstance(run, TravelRun) else "clip"
    named = [(f"{prefix}_{i:03d}", p) for i, p in enumerate(paths)]
    named += [(f"ref_{i:03d}", p) for i, p in enumerate(run.generator.reference_paths())]
    for stem, path in named:
        sha = sha256_file(path)
        items.append({"path": str(Path(path).resolve()), "sha256": sha,
                      "name": f"{stem}_{sha[:12]}{Path(path).suffix.lower()}"})
    return items


def _comparable(plan: dict) -> dict:
    return {k: v for k, v in plan.items() if k not in ("out", "clip_frames")}


def start_run(run: Run, connection: ConnectionOptions, detach: bool = False) -> int:
    """Validate, then create (or resume) the run directory and run it."""
    frame_plan = run.validate()
    if run.generator.kind == "template":
        load_template(run.generator.template)
    finalize_run(run)
    run_dir = Path(run.output_dir) / run.run_id
    clients = _clients(connection)
    if not Manifest.exists(run_dir):
        steps = travel_steps(frame_plan) if isinstance(run, TravelRun) else join_steps(frame_plan)
        manifest = Manifest.create(run_dir, run, frame_plan.to_dict(), steps, run_inputs(run),
                                   clients[0].client_id, save=False)
        runner = _runner(manifest, clients, connection)
        runner.preflight()            # nothing is written or submitted before this passes
        with lock_run_dir(run_dir):
            if not Manifest.exists(run_dir):     # (another process may have created it meanwhile)
                manifest.save()
                return _execute(manifest, clients, connection, detach, runner)
    with lock_run_dir(run_dir):
        manifest = Manifest.load(run_dir)
        if _comparable(manifest.data["plan"]) != _comparable(run.to_dict()):
            raise PlanError(f"run {run.run_id!r} already exists in {run_dir} with a different plan: "
                            f"pass another --run-id, or `segue resume {run_dir}`")
        manifest.data["plan"]["out"] = run.out
        print(f"resuming run {run.run_id} in {run_dir}", file=sys.stderr)
        return _execute(manifest, clients, connection, detach)


def _runner(manifest: Manifest, clients: list[ComfyClient], connection: ConnectionOptions) -> Runner:
    progress = Progress(f"{manifest.data['kind']} {manifest.run_id}", list(manifest.steps),
                        enabled=not connection.no_progress)
    return Runner(manifest, clients, progress, window=max(1, connection.window),
                  server_timeout=connection.server_timeout, retries=max(0, connection.retries))


def _execute(manifest: Manifest, clients: list[ComfyClient], connection: ConnectionOptions, detach: bool = False,
             runner: Runner | None = None) -> int:
    """Run (the caller holds the run directory's lock); failures name the run directory."""
    runner = runner or _runner(manifest, clients, connection)
    try:
        if detach:
            prompt_id = runner.submit_detached()
            print(f"submitted run {manifest.run_id} to {manifest.data['detached']['server']} as prompt "
                  f"{prompt_id}; run directory {manifest.run_dir}")
            print(f"  segue status {manifest.run_dir}    segue resume {manifest.run_dir}")
            return EXIT_OK
        final = runner.execute()
        out = manifest.data["plan"].get("out")
        if out:
            copy_out(final, Path(out))
    except (OrchestrationError, KeyboardInterrupt) as e:
        e.run_dir = str(manifest.run_dir)
        raise
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
                if status in ("queued", "running") and data.get("detached"):
                    written = client.file_size(step.file, server_folder(manifest.run_id)) is not None
                    detail = "file written" if written else ""
                state = {"success": "finished", "unknown": "lost"}.get(status, status)
                detail = {"finished": "on the server, not downloaded yet: segue resume collects it",
                          "lost": "the server no longer knows it: segue resume submits it again"}.get(state, detail)
            except ServerUnreachable:
                detail = "server unreachable"
        server = (step.server or "").split("://", 1)[-1]
        lines.append(f"{step.id:<10} {state:<10} {server:<22} {step.frames:>6}  {detail}".rstrip())
    lines.append("")
    lines.extend(frame_table(data["kind"], data["frame_plan"]))
    return lines


def frame_table(kind: str, plan: dict) -> list[str]:
    """The frame plan as a table (``segue plan`` and ``segue status``), from its JSON form."""
    if kind == "travel":
        out = [f"travel: {len(plan['segments'])} segments, mode {plan['mode']}, total {plan['total_frames']} frames",
               f"{'seg':>3} {'generate':>8} {'ovl_prev':>8} {'ovl_next':>8} {'start':>6} {'trim':>4} {'context':>7}"]
        for s in plan["segments"]:
            out.append(f"{s['index']:>3} {s['generate_frames']:>8} {s['overlap_from_previous']:>8} "
                       f"{s['overlap_with_next']:>8} {s['start_frame']:>6} {s['trim_start']:>4} {s['context_frames']:>7}")
        out.append("keyframes at:  " + " ".join(map(str, plan["keyframe_frames"])))
        out.append("requested at:  " + " ".join(map(str, plan["requested_keyframe_frames"])))
    else:
        out = [f"join: {len(plan['clip_frames'])} clips, total {plan['total_frames']} frames",
               f"{'join':>4} {'mode':>7} {'T':>4} {'gap':>4} {'ctx':>4} {'trimA':>5} {'trimB':>5} {'blend':>5} {'at':>6}"]
        for j in plan["joins"]:
            out.append(f"{j['index']:>4} {'replace' if j['replace'] else 'insert':>7} {j['transition_frames']:>4} "
                       f"{j['gap_frames']:>4} {j['context_frames_a']:>4} {j['trim_from_a']:>5} {j['trim_from_b']:>5} "
                       f"{j['blend_frames']:>5} {j['transition_start']:>6}")
        out.append("clips kept: " + " ".join(f"{c['index']}:[{c['keep_start']},{c['keep_end']})@{c['start_frame']}"
                                             for c in plan["clips"]))
    return out + [f"warning: {w}" for w in plan.get("warnings", [])]
