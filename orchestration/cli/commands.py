"""``segue`` subcommands that talk to ComfyUI servers, or export what they would send
(cli.py parses and dispatches to these).

* ``segue travel IMAGES... --server URL`` / ``segue join CLIPS... --server URL`` / ``segue extend
  CLIP --server URL``: the local commands' options plus the server options
  (``server_options.add_server_arguments``); the run goes through ``/prompt`` and the result is still
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

Every command takes its typed options object (``command_options``); the runs are built from
them by ``run_builders``, started or resumed by ``run_start``, and the run-directory commands
(status, resume, cancel) are ``run_dir_commands``.  Exit codes are in ``errors.py``;
each failure prints ``segue: error: ...`` (one line per problem) and, where there is one,
``segue: hint: ...`` (what to do; ``segue resume`` only when a resume can cure it).  Warnings
(``segue: warning: ...``) never change the exit code.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ...video_utils.core.errors import PlanError
from ..errors import EXIT_OK, guarded, print_lines
from ..original.payloads import from_orchestrator_payload
from ..runs.export import export_prompts
from ..runs.models import Run
from ..runs.plan_files import PlanSource, read_batch, read_json, read_plan, save_plan
from ..server.start import run_batch, start_run, validate_all
from .build import absolute, extend_run, join_run, travel_run
from .command_options import (ConvertCommand, ExtendCommand, JoinCommand, PlanFileCommand, TravelCommand,
                              convert_command, plan_file_command, run_dir_command)
from .run_dirs import cmd_cancel, cmd_resume, cmd_status
from .server_options import ConnectionOptions, ModelFileOptions, RunOptions

__all__ = ["register_subcommands", "run_plan", "cmd_travel", "cmd_join", "cmd_extend", "cmd_run", "cmd_convert",
           "cmd_status", "cmd_resume", "cmd_cancel"]


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


@guarded
def cmd_travel(cmd: TravelCommand) -> int:
    """``segue travel IMAGES --server URL ...``"""
    return _start(travel_run(cmd), cmd)


@guarded
def cmd_join(cmd: JoinCommand) -> int:
    """``segue join CLIPS --server URL ...``"""
    return _start(join_run(cmd), cmd)


@guarded
def cmd_extend(cmd: ExtendCommand) -> int:
    """``segue extend CLIP --frames F --server URL ...``"""
    return _start(extend_run(cmd), cmd)


def _single_plan(paths: Sequence[Path]) -> bool:
    return len(paths) == 1 and not Path(paths[0]).is_dir() and Path(paths[0]).suffix.lower() != ".jsonl"


@guarded
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
            source.run.output_dir = absolute(cmd.run.runs_dir)
        if cmd.run.out:
            source.run.out = absolute(cmd.run.out)
    validate_all(sources)                       # every problem named with its plan, before any server
    if cmd.run.export_prompts:
        if len(sources) == 1:
            return _export(sources[0].run, cmd.run)
        for source in sources:
            _export(source.run, cmd.run, Path(cmd.run.export_prompts) / source.run.run_id)
        return EXIT_OK
    if len(sources) == 1:
        return start_run(sources[0].run, cmd.connection, detach=cmd.run.detach)
    return run_batch(sources, cmd.connection, detach=cmd.run.detach)


@guarded
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


def run_plan(run: Run, servers: Sequence[str], *, detach: bool = False, progress: bool = True, **connection) -> int:
    """Python entry point: run (or resume) ``run`` on ``servers``; returns the CLI's exit code.
    ``connection``: ``ConnectionOptions`` fields (``retries``, ``server_timeout``, ``window``)."""
    options = ConnectionOptions(servers=list(servers), no_progress=not progress, **connection)
    return guarded(lambda _: start_run(run, options, detach=detach))(None)
