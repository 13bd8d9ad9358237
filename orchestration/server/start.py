"""Starting and resuming runs on ComfyUI servers: validate everything that can be checked
without a server, create (or reopen, same plan only) the run directory under its lock,
preflight, then run it, detach it, or queue a batch of runs over the same servers.

Nothing is written or submitted before a run validates and preflights: a bad plan or a missing
model leaves no run directory behind.  Failures while running name the run directory, so the
error says which ``segue resume`` continues it.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ...video_utils.core.errors import PlanError
from ...video_utils.core.recipe import finite, whole
from ..errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, OrchestrationError, error_lines,
                      exit_code_for, guarded)
from ..progress import Progress
from ..runs.models import Run, run_inputs, validate_run
from ..runs.plan_files import PlanSource
from ..runs.steps import run_steps
from .batch import drive, shared_load
from .client import ComfyClient, normalize_url
from .manifest import Manifest, lock_run_dir
from .runner import Runner
from .transfers import copy_out


@dataclass(frozen=True)
class ConnectionOptions:
    """The servers and the runner's knobs (every command that runs or resumes a run)."""

    servers: list[str] = field(default_factory=list)
    retries: int = 0                  # times a failed step is re-submitted
    server_timeout: float = 60.0      # give up on a server unreachable or silent for this long
    window: int = 2                   # prompts of one run queued per server at once
    no_progress: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "servers", list(self.servers or []))   # argparse's append starts at None
        whole(self.retries, "--retries", 0, 100)
        whole(self.window, "--window", 1, 1000)
        finite(self.server_timeout, "--server-timeout", 0.1, 7 * 24 * 3600.0)


def server_clients(connection: ConnectionOptions, manifest: Manifest | None = None) -> list[ComfyClient]:
    """A client per server: ``--server`` URLs, else the run directory's (resume), each once."""
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


def validate_all(sources: Sequence[PlanSource]) -> list:
    """Every plan of a batch checked; all problems reported together, each naming its plan."""
    plans, problems = [], []
    for source in sources:
        try:
            plans.append(validate_run(source.run))
        except PlanError as e:
            problems.extend(f"{source.label}: {line}" for line in str(e).splitlines())
    if problems:
        raise PlanError("\n".join(problems))
    return plans


def start_run(run: Run, connection: ConnectionOptions, detach: bool = False) -> int:
    """Validate, then create (or resume) the run directory and run it."""
    frame_plan = validate_run(run)
    run_dir = Path(run.output_dir) / run.run_id
    clients = server_clients(connection)
    if not Manifest.exists(run_dir):
        manifest = Manifest.create(run_dir, run, frame_plan.to_dict(), run_steps(frame_plan), run_inputs(run),
                                   clients[0].client_id, save=False)
        runner = make_runner(manifest, clients, connection)
        runner.preflight()            # nothing is written or submitted before this passes
        with lock_run_dir(run_dir):
            if not Manifest.exists(run_dir):     # (another process may have created it meanwhile)
                manifest.save()
                return execute_run(manifest, clients, connection, detach, runner)
    with lock_run_dir(run_dir):
        manifest = _existing(run, run_dir)
        return execute_run(manifest, clients, connection, detach)


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
    plans = validate_all(sources)
    server_clients(connection)                        # a missing/bad --server before anything else
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
        load = shared_load(runners)
        for manifest in manifests:
            runners.append(make_runner(manifest, server_clients(connection, manifest), connection, load, tty=False))
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
        outcome = drive(runners)
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


def make_runner(manifest: Manifest, clients: list[ComfyClient], connection: ConnectionOptions, load=None,
                tty: bool | None = None) -> Runner:
    """The run's runner with its progress display and the connection's knobs."""
    progress = Progress(f"{manifest.data['kind']} {manifest.run_id}", list(manifest.steps),
                        enabled=not connection.no_progress, tty=tty)
    return Runner(manifest, clients, progress, window=connection.window, server_timeout=connection.server_timeout,
                  retries=connection.retries, load=load)


def execute_run(manifest: Manifest, clients: list[ComfyClient], connection: ConnectionOptions, detach: bool = False,
                runner: Runner | None = None) -> int:
    """Run (the caller holds the run directory's lock); failures name the run directory."""
    runner = runner or make_runner(manifest, clients, connection)
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


def run_plan(run: Run, servers: Sequence[str], *, detach: bool = False, progress: bool = True, **connection) -> int:
    """Python entry point: run (or resume) ``run`` on ``servers``; returns the CLI's exit code.
    ``connection``: ``ConnectionOptions`` fields (``retries``, ``server_timeout``, ``window``)."""
    options = ConnectionOptions(servers=list(servers), no_progress=not progress, **connection)
    return guarded(start_run)(run, options, detach)
