"""``segue status`` / ``resume`` / ``cancel``: commands on existing run directories.

They read the run directory's manifest (``manifest``) rather than a plan: ``status`` reports it
(asking the servers about steps in flight unless ``--offline``), ``resume`` continues it under
its lock, ``cancel`` removes or interrupts this run's prompts only, never anyone else's.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ..errors import EXIT_OK, ServerUnreachable, guarded
from ..server.client import ComfyClient
from ..server.manifest import Manifest, lock_run_dir
from ..server.start import ConnectionOptions, execute_run, server_clients
from .build import absolute
from .options import add_connection_arguments, from_namespace
from .status import run_dirs, status_lines


@dataclass(frozen=True)
class RunDirCommand:
    """``status`` / ``resume`` / ``cancel`` on an existing run directory (``status``: several,
    or a folder of them)."""

    run_dir: Path
    out: Path | None = None          # resume: also copy the final video here
    offline: bool = False            # status: do not ask the servers
    connection: ConnectionOptions = ConnectionOptions()
    more: tuple[Path, ...] = ()      # status: further run directories


def register_run_dir_commands(sub) -> None:
    """Add ``status`` / ``resume`` / ``cancel`` (each sets ``command``: the handler of its namespace)."""
    p = sub.add_parser("status", help="show runs' steps and frame tables")
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                   help="run directories (<runs-dir>/<run_id>), or folders of them")
    p.add_argument("--offline", action="store_true", help="do not ask the servers about steps in flight")
    p.set_defaults(command=lambda ns: cmd_status(_run_dir_command(ns)))
    p = sub.add_parser("resume", help="continue a run (finished steps are skipped)")
    _run_dir_argument(p)
    add_connection_arguments(p)
    p.add_argument("--out", type=Path, default=None, help="also copy the final video here")
    p.set_defaults(command=lambda ns: cmd_resume(_run_dir_command(ns)))
    p = sub.add_parser("cancel", help="cancel a run's prompts on its servers (only this run's)")
    _run_dir_argument(p)
    p.set_defaults(command=lambda ns: cmd_cancel(_run_dir_command(ns)))


def _run_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory (<runs-dir>/<run_id>) with manifest.json")


def _run_dir_command(ns: argparse.Namespace) -> RunDirCommand:
    dirs = list(getattr(ns, "run_dirs", None) or [ns.run_dir])
    return RunDirCommand(dirs[0], getattr(ns, "out", None), getattr(ns, "offline", False),
                         from_namespace(ConnectionOptions, ns), tuple(dirs[1:]))


@guarded
def cmd_resume(cmd: RunDirCommand) -> int:
    """``segue resume RUN_DIR``"""
    Manifest.load(cmd.run_dir)                         # "not a run directory" before any lock file
    with lock_run_dir(Path(cmd.run_dir)):
        manifest = Manifest.load(cmd.run_dir)         # read under the lock: no other process writes it now
        if cmd.out:
            manifest.data["plan"]["out"] = absolute(cmd.out)
        return execute_run(manifest, server_clients(cmd.connection, manifest), cmd.connection)


@guarded
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


@guarded
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
