"""Resume: what a (re)started run does with each step of its manifest.

ComfyUI keeps queue and history in memory only, so a restarted run asks each step's server about
the step's prompt and combines the answer with the manifest (``resume_action``, a pure function):
done steps are verified by checksum and skipped, steps the server still has are waited for (never
submitted twice while their server knows them), finished ones collected, lost ones submitted again.
"""

from __future__ import annotations

from typing import Iterator

from ..errors import ServerUnreachable
from .manifest import Manifest, StepState
from .scheduling import ServerPool


def resume_action(state: str, local_ok: bool, server_status: str | None) -> str:
    """What to do with a step when a run is (re)started.

    ``state``: the manifest state.  ``local_ok``: the step's file is in the run directory with its
    recorded checksum.  ``server_status``: what the step's server says about its prompt
    (``queued``/``running``/``success``/``error``/``interrupted``/``unknown``, ``unreachable``;
    ``None`` when the step has no prompt).

    Returns ``skip`` (done and verified), ``refetch`` (done but the local file is gone or
    changed: download it again if its server still has the same file, else run it again),
    ``wait`` (the server still has it queued or running: never submit twice), ``collect``
    (finished on the server: download its file), ``resubmit`` (lost in a server restart, failed
    or interrupted), ``submit`` (not yet submitted) or ``wait_server`` (its server is unreachable:
    it may still be running there).
    """
    if state == "done":
        return "skip" if local_ok else "refetch"
    if state == "pending":
        return "submit"
    if state == "failed":
        return "resubmit"
    # submitted / running
    return {"queued": "wait", "running": "wait", "success": "collect", "error": "resubmit",
            "interrupted": "resubmit", "unknown": "resubmit", "unreachable": "wait_server",
            None: "resubmit"}[server_status]


def reconcile(manifest: Manifest, pool: ServerPool) -> Iterator[tuple[StepState, str]]:
    """Each step with its ``resume_action``, asking the servers about prompts in flight."""
    for step in manifest.ordered():
        server = pool.get(step.server) if step.server else None
        local_ok = manifest.verify(step.id) if step.state == "done" else False
        status = None
        if step.state in ("submitted", "running") and step.prompt_id:
            if server is None:
                status = "unknown"   # its server is not in this session's --server list
            elif not server.alive:
                status = "unreachable"
            else:
                try:
                    status, _ = server.client.prompt_status(step.prompt_id)
                except ServerUnreachable as e:
                    status = "unreachable"
                    pool.mark_down(server, e)
        yield step, resume_action(step.state, local_ok, status)


def is_detached(manifest: Manifest, step: StepState) -> bool:
    """The step's prompt is a ``--detach`` whole-run prompt."""
    detached = manifest.data.get("detached") or {}
    return step.prompt_id in (detached.get("prompts") or [])
