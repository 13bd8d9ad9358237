"""``segue`` subcommands that talk to ComfyUI servers, or export what they would send.

* ``segue travel IMAGES... --server URL`` / ``segue join CLIPS... --server URL`` / ``segue extend
  CLIP --server URL``: the run ``build`` makes, through ``/prompt`` (``start``); the result is
  still written to ``--out``.  ``--detach`` submits the whole run as one prompt and exits;
  ``--export-prompts DIR`` writes the prompts and contacts no server.
* ``segue run PLAN.json [PLAN ...] --server URL``: run plan files (an existing run id resumes);
  several plans, a folder of them or a JSONL file are a batch (``server.batch``), each with its
  own run directory.  Original orchestrator payloads are converted on the way, their warnings
  printed.
* ``segue convert PAYLOAD.json --out PLAN.json``: an original payload as a plan file.

The run-directory commands (status, resume, cancel) are ``run_dirs``.  Exit codes are in
``orchestration.errors``; each failure prints ``segue: error: ...`` (one line per problem) and,
where there is one, ``segue: hint: ...`` (what to do; ``segue resume`` only when a resume can
cure it).  Warnings (``segue: warning: ...``) never change the exit code.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ...video_utils.core.errors import PlanError
from ..errors import EXIT_OK, guarded, print_lines
from ..runs.export import export_prompts
from ..runs.generator import FILE_KEYS
from ..runs.models import Run
from ..runs.plan_files import PlanSource, from_orchestrator_payload, read_batch, read_json, read_plan, save_plan
from ..server.start import ConnectionOptions, run_batch, start_run, validate_all
from .build import Launch, absolute
from .options import add_connection_arguments, add_model_file_arguments, add_run_arguments, from_namespace


@dataclass(frozen=True)
class RunOptions:
    """Where a plan file's run lives and how it is started (``segue run``): these override the plan's."""

    run_id: str = ""
    runs_dir: str | None = None
    out: Path | None = None
    detach: bool = False
    export_prompts: Path | None = None


@dataclass(frozen=True)
class ModelFileOptions:
    """Model files for a plan that names none (a converted original payload): ``segue run`` /
    ``segue convert``.  ``files``: ``(name, file)`` of the ``--unet`` ... flags given (the rest
    keep the plan's)."""

    files: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace) -> "ModelFileOptions":
        return cls(tuple((name, getattr(ns, name)) for name in FILE_KEYS if getattr(ns, name, None) is not None))

    def apply(self, generator) -> None:
        for name, value in self.files:
            setattr(generator, name, value)


@dataclass(frozen=True)
class PlanFileCommand:
    """``segue run PLAN.json [PLAN ...]`` (several, a folder or a JSONL file: a batch)."""

    plan: Path
    run: RunOptions = RunOptions()
    connection: ConnectionOptions = ConnectionOptions()
    more: tuple[Path, ...] = ()
    models: ModelFileOptions = ModelFileOptions()


@dataclass(frozen=True)
class ConvertCommand:
    """``segue convert PAYLOAD.json --out PLAN.json``: an original payload as a plan file."""

    payload: Path
    out: Path
    models: ModelFileOptions = ModelFileOptions()


def register_plan_file_commands(sub) -> None:
    """Add ``run`` and ``convert`` (each sets ``command``: the handler of its namespace)."""
    p = sub.add_parser("run", help="run plan files through ComfyUI (several, a folder or a JSONL file: a batch)")
    p.add_argument("plans", type=Path, nargs="+", metavar="PLAN",
                   help="plan file (JSON, \"kind\": travel, join or extend; or an original orchestrator payload), "
                        "a folder of plan files, or a JSONL file of plans")
    add_run_arguments(p, runs_dir_default=None)
    p.add_argument("--out", type=Path, default=None, help="also copy the final video here (one plan only)")
    add_connection_arguments(p)
    add_model_file_arguments(p)
    p.set_defaults(command=lambda ns: cmd_run(_plan_file_command(ns)))
    p = sub.add_parser("convert", help="convert an original orchestrator payload into a plan file")
    p.add_argument("payload", type=Path, help="travel_orchestrator / join_clips_orchestrator payload (JSON)")
    p.add_argument("--out", type=Path, required=True, help="the plan file to write")
    add_model_file_arguments(p)
    p.set_defaults(command=lambda ns: cmd_convert(ConvertCommand(ns.payload, ns.out,
                                                                  ModelFileOptions.from_namespace(ns))))


def _plan_file_command(ns: argparse.Namespace) -> PlanFileCommand:
    return PlanFileCommand(ns.plans[0], from_namespace(RunOptions, ns), from_namespace(ConnectionOptions, ns),
                           tuple(ns.plans[1:]), ModelFileOptions.from_namespace(ns))


@guarded
def start(run: Run, launch: Launch) -> int:
    """``travel``/``join``/``extend`` with ``--server`` or ``--export-prompts``."""
    if launch.export_prompts:
        return _export(run, launch.export_prompts, launch.detach)
    return start_run(run, launch.connection, detach=launch.detach)


def _export(run: Run, folder: Path, detach: bool) -> int:
    if detach:
        raise PlanError("--export-prompts and --detach both given: export writes the prompts and submits nothing; "
                        "give one of them")
    for line in export_prompts(run, folder):
        print(line)
    return EXIT_OK


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
            return _export(sources[0].run, cmd.run.export_prompts, cmd.run.detach)
        for source in sources:
            _export(source.run, Path(cmd.run.export_prompts) / source.run.run_id, cmd.run.detach)
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
