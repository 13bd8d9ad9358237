"""This machine instead of a ComfyUI server: a run's step prompts executed in-process.

``render_locally`` builds every step prompt of a run with the one graph builder
(``runs.prompts.step_prompt``, exactly what a server receives) and runs it with the pixel engine's
executor of Segue's own step nodes (``video_utils.engine.executor``), in the order of the run's
steps (``runs.steps``), over a folder laid out like a server's (``input/``, ``output/``,
``temp/``): the inputs are linked in under their names, each step writes its file under
``output/segue/<run_id>/``, the next step reads it by name, and the final video is moved to the
run's ``out``.  The same prompts and the same node code as a server run, so the same bytes; only
the preview generator runs here (a Wan recipe needs a server's models).

The folder is temporary unless a ``work_dir`` is given; the executor only needs a ``Folders``, so
a run directory with a manifest (resume, status) can host it the way a server's folders do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from ...video_utils.core import atomic
from ...video_utils.core.folders import Folders, annotate
from ...video_utils.core.prompt_graph import load_template
from ..progress import Progress
from ..runs.models import Run, finalize_run, run_inputs_paths
from ..runs.prompts import step_prompt
from ..runs.steps import run_steps, server_folder

HERE = "this machine"


def render_locally(run: Run, plan=None, progress: Progress | None = None, work_dir: str | os.PathLike | None = None,
                   ) -> Path:
    """Render ``run`` on this machine into ``run.out``; returns it.  ``plan``: ``run.validate()``'s
    (validated here when not given); ``progress``: the display that follows the steps;
    ``work_dir``: the server-like folder to use and keep (its ``output/segue/<run_id>/`` holds
    every step's lossless file), else a temporary one."""
    # The pixel engine (torch) is imported here only: the orchestrator imports no torch, and a
    # local render is the one place it runs pixels (the seam between the two).
    from ...video_utils.engine.executor import Executor

    plan = plan if plan is not None else run.validate()
    finalize_run(run)
    out = Path(run.out)
    steps = run_steps(plan)
    template = load_template(run.generator.template) if run.generator.kind == "template" else None
    with contextlib.ExitStack() as stack:
        root = work_dir if work_dir is not None else stack.enter_context(tempfile.TemporaryDirectory(prefix="segue-"))
        folders = Folders(*(os.path.join(root, kind) for kind in ("input", "output", "temp")))
        names = _stage_inputs(run, folders)
        for step in steps:
            if progress:
                progress.step_state(step.id, "running", HERE)
            node = (lambda label, step_id=step.id: progress.step_node(step_id, label)) if progress else None
            Executor(folders, _bar(progress, step.id), node).run(step_prompt(run, plan, step, names, template))
            if progress:
                progress.step_state(step.id, "done", HERE)
        final = os.path.join(folders.output, server_folder(run.run_id), steps[-1].file)
        out.parent.mkdir(parents=True, exist_ok=True)
        if work_dir is not None:
            atomic.copy_file(final, out)
            return out
        try:
            os.replace(final, out)          # same disk: atomic, no copy
        except OSError:
            atomic.copy_file(final, out)
    return out


def _bar(progress: Progress | None, step_id: str):
    """A node's progress bars, shown as its step's progress."""
    def bar(total: int):
        def update(done: int, n: int | None = None) -> None:
            if progress:
                progress.step_progress(step_id, int(done), int(n or total))
        return update
    return bar


def _stage_inputs(run: Run, folders: Folders) -> list[str]:
    """Link (or copy) the run's input files into the folder's ``input/segue/<run_id>/``; their
    annotated names, in the order the prompts name them."""
    folder = os.path.join(folders.input, server_folder(run.run_id))
    os.makedirs(folder, exist_ok=True)
    names = []
    for stem, path in run_inputs_paths(run):
        name = f"{stem}{Path(path).suffix.lower()}"
        target = os.path.join(folder, name)
        try:
            os.link(os.path.realpath(path), target)
        except OSError:                 # another disk (or no hard links): a copy
            shutil.copyfile(path, target)
        names.append(annotate(f"{server_folder(run.run_id)}/{name}", "input"))
    return names
