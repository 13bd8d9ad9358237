"""The run directory and its ``manifest.json``: what is done, where, and with which checksum.

ComfyUI keeps its queue, history and caches in memory only (a restart loses them), so the
manifest is the resume mechanism.  ``<output_dir>/<run_id>/manifest.json`` holds the plan, the
frame plan and every step's state, prompt id, server, output file and sha256; it is rewritten
atomically (temp file + ``os.replace``) after every change, so a crash leaves the previous or the
new version, never half of one (``video_utils.core.atomic``).  Step outputs are downloaded into the run directory as soon as
they finish.

Step states::

    pending --submit--> submitted --execution_start--> running --collect--> done
        ^                   |  \\________________________________________/^
        |                   v                         |
        +------------- (lost / cancelled) <-----------+--> failed --(resume)--> pending
    done --(file missing or checksum mismatch)--> pending

The state is written *before* the prompt is posted: a crash in between leaves a ``submitted``
step whose prompt the server does not know, which resume re-submits; a crash after posting leaves
one the server knows, which resume waits for (``resume.py`` makes those decisions).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from ...video_utils.core import atomic
from ...video_utils.core.errors import PlanError
from ..errors import RunBusy, write_error
from ..runs.models import Run, run_from_dict, sha256_file
from ..runs.steps import StepSpec

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
STATES = ("pending", "submitted", "running", "done", "failed")
TRANSITIONS = {
    "pending": {"submitted"},
    "submitted": {"running", "done", "failed", "pending"},
    "running": {"done", "failed", "pending", "submitted"},
    "done": {"pending"},
    "failed": {"pending"},
}


@dataclass
class StepState:
    id: str
    kind: str
    index: int
    depends_on: list[str]
    file: str
    frames: int
    state: str = "pending"
    prompt_id: str | None = None
    server: str | None = None
    sha256: str | None = None
    size: int | None = None
    attempts: int = 0
    error: str | None = None
    updated: float = field(default_factory=time.time)

    @classmethod
    def from_spec(cls, spec: StepSpec) -> "StepState":
        return cls(spec.id, spec.kind, spec.index, list(spec.depends_on), spec.file, spec.frames)


class IllegalTransition(ValueError):
    pass


class Manifest:
    def __init__(self, run_dir: Path, data: dict):
        self.run_dir = Path(run_dir)
        self.data = data
        self.steps: dict[str, StepState] = {k: StepState(**v) for k, v in data.pop("steps").items()}

    # --- construction ---
    @classmethod
    def create(cls, run_dir: str | os.PathLike, run: Run, frame_plan: dict, steps: list[StepSpec],
               inputs: list[dict], client_id: str, save: bool = True) -> "Manifest":
        """A new manifest; with ``save=False`` nothing is written until ``save()`` (preflight first)."""
        run_dir = Path(run_dir)
        data = {
            "segue_manifest": MANIFEST_VERSION,
            "run_id": run.run_id,
            "kind": run.kind,
            "created": time.time(),
            "client_id": client_id,
            "status": "running",
            "plan": run.to_dict(),
            "frame_plan": frame_plan,
            "inputs": inputs,          # [{"path", "sha256", "name"}]: keyframes or clips
            "detached": None,          # {"server", "prompts": [prompt ids]} for --detach
            "servers": [],             # the servers of the last session (resume/cancel default)
            "steps": {s.id: asdict(StepState.from_spec(s)) for s in steps},
        }
        manifest = cls(run_dir, data)
        if save:
            manifest.save()
        return manifest

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> "Manifest":
        run_dir = Path(run_dir)
        path = run_dir / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PlanError(f"{str(run_dir)!r} is not a Segue run directory (no {MANIFEST}): "
                            f"give the folder <output>/<run_id> that `segue run` created") from None
        except json.JSONDecodeError as e:
            raise PlanError(f"{path} is damaged (line {e.lineno}: {e.msg})") from None
        if data.get("segue_manifest") != MANIFEST_VERSION:
            raise PlanError(f"{path} has manifest version {data.get('segue_manifest')!r}; this Segue reads {MANIFEST_VERSION}")
        return cls(run_dir, data)

    @staticmethod
    def exists(run_dir: str | os.PathLike) -> bool:
        return (Path(run_dir) / MANIFEST).is_file()

    # --- persistence ---
    @property
    def path(self) -> Path:
        return self.run_dir / MANIFEST

    def to_dict(self) -> dict:
        return {**self.data, "updated": time.time(), "steps": {k: asdict(v) for k, v in self.steps.items()}}

    def save(self) -> None:
        try:
            atomic.write_text(self.path, json.dumps(self.to_dict(), indent=1) + "\n")
        except OSError as e:
            raise write_error(e, self.path) from None

    # --- accessors ---
    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def client_id(self) -> str:
        return self.data["client_id"]

    def run(self) -> Run:
        return run_from_dict(dict(self.data["plan"]))

    def ordered(self) -> list[StepState]:
        return list(self.steps.values())

    def in_state(self, *states: str) -> list[StepState]:
        return [s for s in self.steps.values() if s.state in states]

    def ready(self) -> list[StepState]:
        """Pending steps whose inputs are all done, in plan order."""
        return [s for s in self.steps.values()
                if s.state == "pending" and all(self.steps[d].state == "done" for d in s.depends_on)]

    def all_done(self) -> bool:
        return all(s.state == "done" for s in self.steps.values())

    def local_file(self, step: StepState) -> Path:
        return self.run_dir / step.file

    def set_status(self, status: str) -> None:
        self.data["status"] = status
        self.save()

    # --- the state machine ---
    def transition(self, step_id: str, new: str, **fields) -> StepState:
        step = self.steps[step_id]
        if new not in STATES:
            raise IllegalTransition(f"unknown state {new!r}")
        if new != step.state and new not in TRANSITIONS[step.state]:
            raise IllegalTransition(f"{step_id}: {step.state} -> {new} is not allowed")
        step.state = new
        for key, value in fields.items():
            if not hasattr(step, key):
                raise AttributeError(key)
            setattr(step, key, value)
        if new == "submitted" and "attempts" not in fields:
            step.attempts += 1
        if new in ("pending", "submitted", "running", "done") and "error" not in fields:
            step.error = None
        step.updated = time.time()
        self.save()
        return step

    def mark_done(self, step_id: str, sha256: str) -> StepState:
        path = self.local_file(self.steps[step_id])
        return self.transition(step_id, "done", sha256=sha256, size=path.stat().st_size)

    def verify(self, step_id: str) -> bool:
        """A done step's file is in the run directory with the recorded size and sha256."""
        step = self.steps[step_id]
        path = self.local_file(step)
        if step.state != "done" or not step.sha256 or not path.is_file():
            return False
        if step.size is not None and path.stat().st_size != step.size:
            return False
        return sha256_file(path) == step.sha256


@contextlib.contextmanager
def lock_run_dir(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    lock_path = run_dir / ".lock"
    with open(lock_path, "a+") as f:
        try:
            import fcntl  # optional: POSIX only
        except ImportError:  # pragma: no cover - Windows: no advisory lock, run unguarded
            yield
            return
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunBusy(f"{run_dir} is in use by another segue process") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
