"""``segue status`` / ``resume`` / ``cancel``: commands on existing run directories.

They read the run directory's manifest (``manifest``) rather than a plan: ``status`` reports it
(asking the servers about steps in flight unless ``--offline``), ``resume`` continues it under
its lock, ``cancel`` removes or interrupts this run's prompts only, never anyone else's.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EXIT_OK, ServerUnreachable, guarded
from ..server.client import ComfyClient
from ..server.manifest import Manifest, lock_run_dir
from ..server.start import execute_run, server_clients
from ..server.status import run_dirs, status_lines
from .build import absolute
from .command_options import RunDirCommand


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
