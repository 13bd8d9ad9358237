"""Files in and out: inputs up to the servers, step outputs down into the run directory.

Before a step runs on a server, the files it reads are put there if missing: the run's keyframes
or clips (``input/segue/<run_id>/``, content-addressed names, so a same-size file is this file)
and earlier steps' outputs made on another server (``output/segue/<run_id>/``).  A finished
step's file is downloaded into the run directory atomically (``video_utils.core.atomic``: a crash or a
full disk leaves the old file or none, never half of one) and its frame count checked against the
plan before the step counts as done.
"""

from __future__ import annotations

from pathlib import Path

from ...video_utils.core import atomic
from ...video_utils.core.errors import PlanError
from ..errors import OutputMissing, StepFailed, write_error
from ..runs.checks import probe_frame_count
from ..runs.models import input_names, sha256_file
from ..runs.steps import server_folder
from .manifest import Manifest, StepState
from .scheduling import Server

class Transfers:
    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        self.folder = server_folder(manifest.run_id)

    def input_names(self) -> list[str]:
        """The inputs as the server's loaders name them (``segue/<run>/key_000_<sha>.png [input]``)."""
        return input_names(self.manifest.run_id, self.manifest.data["inputs"])

    def check_local_inputs(self) -> None:
        """Inputs still on this machine must be the files the run started with."""
        for item in self.manifest.data["inputs"]:
            path = Path(item["path"])
            if path.is_file() and sha256_file(path) != item["sha256"]:
                raise PlanError(f"{path} changed since run {self.manifest.run_id} started: "
                                f"restore it or start a new run")

    def ensure_inputs(self, server: Server) -> None:
        """Upload the keyframes/clips to ``server`` unless it already has them."""
        if server.inputs_ready:
            return
        for item in self.manifest.data["inputs"]:
            path = Path(item["path"])
            remote = server.client.file_size(item["name"], self.folder, "input")
            if path.is_file() and remote == path.stat().st_size or not path.is_file() and remote is not None:
                continue   # names carry the content hash, so a same-size file is this file
            if not path.is_file():
                raise PlanError(f"{path} is gone and {server.label} does not have it: restore the file")
            server.client.upload(path, item["name"], self.folder, "input")
        server.inputs_ready = True

    def ensure_dependencies(self, server: Server, step: StepState) -> None:
        """Upload the step's input files (earlier steps' outputs) to ``server`` if it lacks them."""
        for dep_id in step.depends_on:
            dep = self.manifest.steps[dep_id]
            local = self.manifest.local_file(dep)
            if server.client.file_size(dep.file, self.folder, "output") != local.stat().st_size:
                server.client.upload(local, dep.file, self.folder, "output")

    def on_server(self, step: StepState, server: Server) -> bool:
        """The step's file exists on ``server`` (what a whole-run prompt finished before failing)."""
        return server.client.file_size(step.file, self.folder, "output") is not None

    def fetch(self, step: StepState, server: Server) -> str:
        """Download the step's file into the run directory and check its frames; returns its sha256.

        Raises ``OutputMissing`` (the server has no such file), ``DiskFull`` (nothing is left
        half-written) or ``StepFailed`` (unreadable, or not the planned frame count);
        ``ServerUnreachable`` passes through (the step is looked up again when the server is back).
        """
        local = self.manifest.local_file(step)
        try:
            sha = server.client.download(step.file, self.folder, local)
        except FileNotFoundError:
            raise OutputMissing(f"{step.id} finished on {server.label} but its file {self.folder}/{step.file} "
                                f"is not in its output folder (deleted, or the server writes elsewhere)") from None
        except OSError as e:
            raise write_error(e, local) from None
        try:
            frames = probe_frame_count(local, step.id)
        except PlanError as e:
            local.unlink(missing_ok=True)
            raise StepFailed(f"{step.id}: the file {server.label} wrote is unreadable ({e})", code="output_unreadable",
                             resumable=True, hint="the step runs again on resume") from None
        if frames != step.frames:
            local.unlink(missing_ok=True)
            raise StepFailed(f"{step.id}: {server.label} wrote {frames} frames, the plan needs {step.frames}",
                             code="frame_count_mismatch",
                             hint=f"the Segue nodes on {server.label} do not match this client: install the same "
                                  f"Segue version there and start the run again")
        return sha


def copy_out(src: Path, dest: Path) -> None:
    """Copy the final video to ``--out`` (atomically)."""
    try:
        atomic.copy_file(src, dest)
    except OSError as e:
        raise write_error(e, dest) from None
