"""``segue`` subcommands that talk to ComfyUI servers, or export what they would send
(cli.py parses and dispatches to these).

* ``segue travel IMAGES... --server URL`` / ``segue join CLIPS... --server URL`` / ``segue extend
  CLIP --server URL``: the local commands' options plus the server options
  (``options.add_server_arguments``); the run goes through ``/prompt`` and the result is still
  written to ``--out``.  ``--detach`` submits the whole run as one prompt and exits;
  ``--export-prompts DIR`` writes the prompts and contacts no server.
* ``segue run PLAN.json [PLAN ...] --server URL``: run plan files (an existing run id resumes);
  several plans, a folder of them or a JSONL file are a batch (``batch.py``), each with its own
  run directory.  Original orchestrator payloads are converted on the way, their warnings printed.
* ``segue convert PAYLOAD.json --out PLAN.json``: an original payload as a plan file.
* ``segue status RUN_DIR [RUN_DIR ...]``: each step's state and the frame table (a folder of run
  directories: all of them).
* ``segue resume RUN_DIR``: continue (finished steps skipped, lost ones re-submitted).
* ``segue cancel RUN_DIR``: remove/interrupt this run's prompts (only ours) on its servers.

Every command takes its typed options object (``options.py``).  Exit codes are in ``errors.py``;
each failure prints ``segue: error: ...`` (one line per problem) and, where there is one,
``segue: hint: ...`` (what to do; ``segue resume`` only when a resume can cure it).  Warnings
(``segue: warning: ...``) never change the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import uuid
from pathlib import Path
from typing import Callable, Sequence

from ..video_utils.errors import PlanError
from ..video_utils.sizes import generation_size, parse_size
from . import batch
from .client import ComfyClient, normalize_url
from .errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, OrchestrationError, ServerUnreachable,
                     error_lines, exit_code_for)
from .export import export_prompts, run_inputs
from .graphs import load_template
from .manifest import Manifest, lock_run_dir
from .options import (ConnectionOptions, ConvertCommand, ExtendCommand, JoinCommand, ModelFileOptions,
                      PlanFileCommand, RunDirCommand, RunOptions, TravelCommand, convert_command, json_or_file,
                      one_or_list, plan_file_command, run_dir_command)
from .original_payloads import from_orchestrator_payload
from .plan_files import PlanSource, read_batch, read_json, read_plan, save_plan
from .progress import Progress
from .run_models import ClipRef, ExtendRun, GeneratorConfig, JoinRun, Run, TravelRun, finalize_run
from .runner import Runner
from .status import frame_table, run_dirs, status_lines
from .steps import run_steps
from .transfers import copy_out

__all__ = ["register_subcommands", "run_plan", "run_inputs", "start_run", "status_lines", "frame_table"]


def register_subcommands(sub) -> None:
    """Add ``run``/``convert``/``status``/``resume``/``cancel`` (each sets ``command`` = (build, handler))."""
    p = sub.add_parser("run", help="run plan files through ComfyUI (several, a folder or a JSONL file: a batch)")
    p.add_argument("plans", type=Path, nargs="+", metavar="PLAN",
                   help="plan file (JSON, \"kind\": travel, join or extend; or an original orchestrator payload), "
                        "a folder of plan files, or a JSONL file of plans")
    RunOptions.add_arguments(p, runs_dir_default=None)
    p.add_argument("--out", type=Path, default=None, help="also copy the final video here (one plan only)")
    ConnectionOptions.add_arguments(p)
    ModelFileOptions.add_arguments(p)
    p.set_defaults(command=(plan_file_command, cmd_run))
    p = sub.add_parser("convert", help="convert an original orchestrator payload into a plan file")
    p.add_argument("payload", type=Path, help="travel_orchestrator / join_clips_orchestrator payload (JSON)")
    p.add_argument("--out", type=Path, required=True, help="the plan file to write")
    ModelFileOptions.add_arguments(p)
    p.set_defaults(command=(convert_command, cmd_convert))
    p = sub.add_parser("status", help="show runs' steps and frame tables")
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                   help="run directories (<runs-dir>/<run_id>), or folders of them")
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


# --- building runs from the travel/join/extend command lines -----------------------------------

def generator_config(cmd: TravelCommand | JoinCommand | ExtendCommand) -> GeneratorConfig:
    g = cmd.generation
    return GeneratorConfig.from_name(
        g.generator or "preview", unet=g.unet, unet_low=g.unet_low, vae=g.vae, clip=g.clip,
        clip_vision=g.clip_vision, weight_dtype=g.weight_dtype, steps=g.steps, cfg=g.cfg, shift=g.shift,
        split_step=g.split_step, sampler=g.sampler, scheduler=g.scheduler, preview_method=cmd.render.method,
        phases=json_or_file(g.phases, "--phases", '[{"model": "high", "end_step": 2, "cfg": 3}, {"cfg": 1}]'),
        loras=g.lora, reference_image=_abs(g.reference_image) or None, colour_match=g.colour_match,
        colour_method=g.colour_method, saturation=g.saturation, brightness=g.brightness)


def _output_size(cmd) -> tuple[int, int]:
    """``--size``: the delivered size, as given (1920x1080 stays; the generation size is chosen from it)."""
    if not cmd.render.size:
        return 0, 0
    parse_size(cmd.render.size)                 # the format and sign checks
    width, height = (int(v) for v in cmd.render.size.lower().replace(" ", "").split("x"))
    return width, height


def _common(cmd) -> dict:
    g, r = cmd.generation, cmd.render
    return dict(seed=g.seed, seed_mode=g.seed_mode, curve=r.curve, sharpen=r.sharpen, crf=r.crf, preset=r.preset,
                generator=generator_config(cmd), run_id=cmd.run.run_id, output_dir=_abs(cmd.run.runs_dir),
                out=_abs(r.out))


def travel_run(cmd: TravelCommand) -> TravelRun:
    """A TravelRun from ``segue travel``'s options: ``--size`` is the delivered size, the
    generation size ``--work-size`` or derived from it (at most about 832x480 pixels)."""
    out_width, out_height = _output_size(cmd)
    d, g = cmd.delivery, cmd.generation
    if d.work_size:
        width, height = parse_size(d.work_size)
    elif out_width:
        width, height = generation_size(out_width, out_height)
    else:
        width = height = 0
    return TravelRun(
        images=[str(Path(p).resolve()) for p in cmd.images], segment_frames=one_or_list(cmd.plan.frames),
        overlap=one_or_list(cmd.plan.overlap), mode=cmd.plan.mode, exact_keyframes=cmd.plan.exact_keyframes,
        loop=cmd.plan.loop, prompts=one_or_list(g.prompt) or "", negative_prompts=one_or_list(g.negative_prompt) or "",
        width=width, height=height, fit=cmd.render.fit, fps=d.fps, out_width=out_width, out_height=out_height,
        retime=d.retime, soundtrack=_abs(d.soundtrack), **_common(cmd))


def join_run(cmd: JoinCommand) -> JoinRun:
    """A JoinRun from ``segue join``'s options; several ``--prompt`` are one per join."""
    g, plan = cmd.generation, cmd.plan
    per_join = [dict(entry) for entry in plan.per_join]
    width, height = _output_size(cmd)
    run = JoinRun(
        clips=[ClipRef(str(Path(p).resolve()), Path(p).stem) for p in cmd.clips], width=width, height=height,
        fit=cmd.render.fit,
        context=plan.context, gap=plan.gap, replace=plan.replace, blend=plan.blend, per_join=per_join,
        allow_shrink=plan.allow_shrink, bridging=cmd.bridging, loop=plan.loop, keep_audio=not cmd.no_audio,
        **_common(cmd))
    for name, values in (("prompt", g.prompt), ("negative_prompt", g.negative_prompt)):
        if not values:
            continue
        if len(values) == 1:
            setattr(run, name, values[0])
            continue
        if len(values) != run.join_count:
            raise PlanError(f"--{name.replace('_', '-')} was given {len(values)} times but {len(cmd.clips)} clips "
                            f"make {run.join_count} joins: give one (for all) or one per join")
        while len(per_join) < len(values):
            per_join.append({})
        for entry, value in zip(per_join, values):
            entry.setdefault(name, value)
    return run


def extend_run(cmd: ExtendCommand) -> ExtendRun:
    """An ExtendRun from ``segue extend``'s options."""
    if cmd.render.size:
        raise PlanError(f"--size {cmd.render.size} does not apply to extend: the result has the clip's size "
                        f"(and is generated at it, snapped to 16); leave --size out")
    g, plan = cmd.generation, cmd.plan
    return ExtendRun(
        clip=ClipRef(str(Path(cmd.clip).resolve()), Path(cmd.clip).stem), frames=one_or_list(plan.frames),
        overlap=plan.overlap, keyframes=[str(Path(p).resolve()) for p in plan.to],
        max_generation=plan.max_generation, blend=plan.blend, prompts=one_or_list(g.prompt) or "",
        negative_prompts=one_or_list(g.negative_prompt) or "", keep_audio=not cmd.no_audio, **_common(cmd))


def _abs(path) -> str:
    """Command-line paths are relative to the working directory; the manifest keeps them absolute."""
    return str(Path(path).resolve()) if path else ""


# --- commands ------------------------------------------------------------------------------------

def print_lines(prefix: str, lines: Sequence[str]) -> None:
    for line in lines:
        print(f"segue: {prefix}: {line}", file=sys.stderr)


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


def _start(run: Run, cmd) -> int:
    """``travel``/``join``/``extend`` with ``--server`` or ``--export-prompts``."""
    if cmd.run.export_prompts:
        return _export(run, cmd.run)
    return start_run(run, cmd.connection, detach=cmd.run.detach)


def _export(run: Run, options: RunOptions, folder: Path | None = None) -> int:
    if options.detach:
        raise PlanError("--export-prompts and --detach both given: export writes the prompts and submits nothing; "
                        "give one of them")
    for line in export_prompts(run, folder or options.export_prompts):
        print(line)
    return EXIT_OK


@_guarded
def cmd_travel(cmd: TravelCommand) -> int:
    """``segue travel IMAGES --server URL ...``"""
    return _start(travel_run(cmd), cmd)


@_guarded
def cmd_join(cmd: JoinCommand) -> int:
    """``segue join CLIPS --server URL ...``"""
    return _start(join_run(cmd), cmd)


@_guarded
def cmd_extend(cmd: ExtendCommand) -> int:
    """``segue extend CLIP --frames F --server URL ...``"""
    return _start(extend_run(cmd), cmd)


def _single_plan(paths: Sequence[Path]) -> bool:
    return len(paths) == 1 and not Path(paths[0]).is_dir() and Path(paths[0]).suffix.lower() != ".jsonl"


@_guarded
def cmd_run(cmd: PlanFileCommand) -> int:
    """``segue run PLAN.json [PLAN ...] --server URL``"""
    paths = [cmd.plan, *cmd.more]
    if _single_plan(paths):
        run, notes = read_plan(cmd.plan)
        sources = [PlanSource(Path(cmd.plan).name, run, notes)]
    else:
        if cmd.run.run_id or cmd.run.out:
            flag = "--run-id" if cmd.run.run_id else "--out"
            raise PlanError(f"{flag} names one run but {', '.join(str(p) for p in paths)} is a batch: each plan "
                            f"has its own run_id and out (or none)")
        sources = read_batch(paths)
    for source in sources:
        print_lines("warning", source.warnings)
        cmd.models.apply(source.run.generator)
        if cmd.run.run_id:
            source.run.run_id = cmd.run.run_id
        if cmd.run.runs_dir:
            source.run.output_dir = _abs(cmd.run.runs_dir)
        if cmd.run.out:
            source.run.out = _abs(cmd.run.out)
    _validate_all(sources)                       # every problem named with its plan, before any server
    if cmd.run.export_prompts:
        if len(sources) == 1:
            return _export(sources[0].run, cmd.run)
        for source in sources:
            _export(source.run, cmd.run, Path(cmd.run.export_prompts) / source.run.run_id)
        return EXIT_OK
    if len(sources) == 1:
        return start_run(sources[0].run, cmd.connection, detach=cmd.run.detach)
    return run_batch(sources, cmd.connection, detach=cmd.run.detach)


@_guarded
def cmd_convert(cmd: ConvertCommand) -> int:
    """``segue convert PAYLOAD.json --out PLAN.json``"""
    run, notes = from_orchestrator_payload(read_json(cmd.payload), base_dir=Path(cmd.payload).resolve().parent)
    cmd.models.apply(run.generator)
    print_lines("warning", notes)
    if Path(cmd.out).is_dir():
        raise PlanError(f"--out {str(cmd.out)!r} is a folder: give the plan file to write")
    try:
        run.validate()
    except PlanError as e:
        print_lines("warning", [f"the plan does not run as it is: {line}" for line in str(e).splitlines()])
    save_plan(run, cmd.out)
    print(f"wrote {cmd.out} ({run.kind} plan, {len(notes)} warnings)")
    return EXIT_OK


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
    """``segue status RUN_DIR [...]``: steps (done/running/failed, server) and the frame table."""
    dirs = run_dirs([cmd.run_dir, *cmd.more])
    manifests = [Manifest.load(d) for d in dirs]
    if len(manifests) == 1:
        print("\n".join(status_lines(manifests[0], live=not cmd.offline)))
        return EXIT_OK
    for manifest in manifests:
        print("\n".join(status_lines(manifest, live=not cmd.offline, table=False)))
        print()
    states = [m.data.get("status", "?") for m in manifests]
    print(f"{len(manifests)} runs: " + ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states)))
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
        raise PlanError("no server given: pass --server URL (e.g. --server http://127.0.0.1:8188), or "
                        "--export-prompts DIR to write the prompts without one")
    try:
        urls = list(dict.fromkeys(normalize_url(u) for u in urls))
    except ValueError as e:
        raise PlanError(str(e)) from None
    client_id = manifest.client_id if manifest else None
    return [ComfyClient(url, client_id) for url in urls]


def _comparable(plan: dict) -> dict:
    return {k: v for k, v in plan.items() if k not in ("out", "clip_frames", "clip_fps")}


def _validate(run: Run):
    """Everything that can be checked without a server; the frame plan."""
    frame_plan = run.validate()
    if run.generator.kind == "template":
        load_template(run.generator.template)
    finalize_run(run)
    return frame_plan


def _validate_all(sources: Sequence[PlanSource]) -> list:
    """Every plan of a batch checked; all problems reported together, each naming its plan."""
    plans, problems = [], []
    for source in sources:
        try:
            plans.append(_validate(source.run))
        except PlanError as e:
            problems.extend(f"{source.label}: {line}" for line in str(e).splitlines())
    if problems:
        raise PlanError("\n".join(problems))
    return plans


def start_run(run: Run, connection: ConnectionOptions, detach: bool = False) -> int:
    """Validate, then create (or resume) the run directory and run it."""
    frame_plan = _validate(run)
    run_dir = Path(run.output_dir) / run.run_id
    clients = _clients(connection)
    if not Manifest.exists(run_dir):
        manifest = Manifest.create(run_dir, run, frame_plan.to_dict(), run_steps(frame_plan), run_inputs(run),
                                   clients[0].client_id, save=False)
        runner = _runner(manifest, clients, connection)
        runner.preflight()            # nothing is written or submitted before this passes
        with lock_run_dir(run_dir):
            if not Manifest.exists(run_dir):     # (another process may have created it meanwhile)
                manifest.save()
                return _execute(manifest, clients, connection, detach, runner)
    with lock_run_dir(run_dir):
        manifest = _existing(run, run_dir)
        return _execute(manifest, clients, connection, detach)


def _existing(run: Run, run_dir: Path) -> Manifest:
    """The manifest of a run being resumed (the caller holds its lock): the same plan only."""
    manifest = Manifest.load(run_dir)
    if _comparable(manifest.data["plan"]) != _comparable(run.to_dict()):
        raise PlanError(f"run {run.run_id!r} already exists in {run_dir} with a different plan: "
                        f"pass another --run-id, or `segue resume {run_dir}`")
    manifest.data["plan"]["out"] = run.out
    print(f"resuming run {run.run_id} in {run_dir}", file=sys.stderr)
    return manifest


def run_batch(sources: Sequence[PlanSource], connection: ConnectionOptions, detach: bool = False) -> int:
    """Several plans as one queue (``batch.py``): all validated and preflighted before anything is
    written or submitted; each run keeps its own run directory."""
    plans = _validate_all(sources)
    _clients(connection)                               # a missing/bad --server before anything else
    with contextlib.ExitStack() as locks:
        manifests, new = [], []
        for source, frame_plan in zip(sources, plans):
            run, run_dir = source.run, Path(source.run.output_dir) / source.run.run_id
            if Manifest.exists(run_dir):
                locks.enter_context(lock_run_dir(run_dir))
                manifests.append(_existing(run, run_dir))
            else:
                manifests.append(Manifest.create(run_dir, run, frame_plan.to_dict(), run_steps(frame_plan),
                                                 run_inputs(run), f"segue-{uuid.uuid4().hex[:12]}", save=False))
                new.append(manifests[-1])
        runners: list[Runner] = []
        load = batch.shared_load(runners)
        for manifest in manifests:
            runners.append(_runner(manifest, _clients(connection, manifest), connection, load, tty=False))
        for runner, source in zip(runners, sources):
            try:
                runner.preflight()
            except PlanError as e:
                raise PlanError("\n".join(f"{source.label}: {line}" for line in str(e).splitlines())) from None
        for manifest in new:
            locks.enter_context(lock_run_dir(manifest.run_dir))
            manifest.save()
        if detach:
            for runner in runners:
                prompt_id = runner.submit_detached()
                print(f"submitted run {runner.manifest.run_id} as prompt {prompt_id}; run directory "
                      f"{runner.manifest.run_dir}")
            return EXIT_OK
        outcome = batch.drive(runners)
    return _batch_report(runners, outcome)


def _batch_report(runners: Sequence[Runner], outcome: dict) -> int:
    codes = []
    for runner in runners:
        manifest = runner.manifest
        result = outcome.get(manifest.run_id)
        if isinstance(result, Path):
            out = manifest.data["plan"].get("out")
            try:
                if out:
                    copy_out(result, Path(out))
            except OrchestrationError as e:
                result = e
            else:
                print(f"run {manifest.run_id}: wrote {out or result} ({manifest.steps['final'].frames} frames)")
                codes.append(EXIT_OK)
                continue
        for line in error_lines(result, str(manifest.run_dir)):
            print(f"segue: run {manifest.run_id}: {line}", file=sys.stderr)
        codes.append(exit_code_for(result))
    done = codes.count(EXIT_OK)
    print(f"batch: {done} of {len(codes)} runs done")
    for code in (EXIT_INTERRUPTED, EXIT_UNREACHABLE, EXIT_FAILED):
        if code in codes:
            return code
    return max(codes, default=EXIT_OK)


def _runner(manifest: Manifest, clients: list[ComfyClient], connection: ConnectionOptions, load=None,
            tty: bool | None = None) -> Runner:
    progress = Progress(f"{manifest.data['kind']} {manifest.run_id}", list(manifest.steps),
                        enabled=not connection.no_progress, tty=tty)
    return Runner(manifest, clients, progress, window=connection.window, server_timeout=connection.server_timeout,
                  retries=connection.retries, load=load)


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
