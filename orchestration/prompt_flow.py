"""A step's prompt from submission to its file, for the ``Runner``: submit it (recorded in the
manifest before it is posted), follow its server's events, look it up when they may have been
missed, then collect the file, retry or fail the step.  Also the detached submission (the whole
run as one prompt).

Apart from the loop (``runner``) because this is what happens to one prompt, the loop decides
when; it works on the runner's state (manifest, pool, transfers, the prompt bookkeeping set up
in ``Runner.__init__``).
"""

from __future__ import annotations

import queue
import time
import uuid

from ..video_utils.core.errors import PlanError
from .errors import PromptRejected, ServerUnreachable, StepFailed
from .events import Event, step_for_node
from .graphs import detached_prompt, saving_nodes, step_prompt, validate_prompt
from .manifest import StepState
from .records import history_error, step_error
from .resume import is_detached
from .scheduling import Server, ServerLoad, choose_server


class PromptFlow:
    """The per-prompt half of ``Runner`` (a mixin: the state is the runner's)."""

    def submit(self, step: StepState, server: Server) -> None:
        spec = self.specs[step.id]
        try:
            self.transfers.ensure_inputs(server)
            self.transfers.ensure_dependencies(server, step)
        except ServerUnreachable as e:
            self.pool.mark_down(server, e)
            return
        prompt = step_prompt(self.run, self.plan, spec, self.transfers.input_names(), self.template)
        prompt_id = str(uuid.uuid4())
        # Recorded before posting: a crash in between leaves a prompt the server does not know,
        # which resume submits again; a crash after leaves one it knows, which resume waits for.
        self.manifest.transition(step.id, "submitted", prompt_id=prompt_id, server=server.url)
        self.prompts[prompt_id] = prompt
        self.output_nodes[prompt_id] = saving_nodes(step, detached=False)
        try:
            returned = server.client.submit(prompt, prompt_id)
        except ServerUnreachable as e:
            # It may have arrived: the step keeps its prompt id and is looked up when the server
            # answers again (submitted again only if the server does not know it).
            self.pool.mark_down(server, e)
            self.to_check.add(prompt_id)
            return
        except PromptRejected as e:
            self.manifest.transition(step.id, "failed", error=str(e))
            self.progress.step_state(step.id, "failed", server.label, str(e).splitlines()[0])
            self.failure = self.failure or e
            return
        if returned != prompt_id:   # servers before 0.3.45 choose their own id
            self.manifest.transition(step.id, "submitted", prompt_id=returned, attempts=step.attempts)
            self.prompts[returned] = self.prompts.pop(prompt_id)
            self.output_nodes[returned] = self.output_nodes.pop(prompt_id)
        server.queue_remaining += 1
        self.progress.step_state(step.id, "submitted", server.label)

    def pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for an event, then handle every one already queued."""
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self.handle(event)
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return

    def handle(self, event: Event) -> None:
        server = self.pool.get(event.server)
        if server is None:
            return
        server.last_message = time.monotonic()
        if event.kind == "connected":
            server.ws_connected = True
            # Messages sent while the socket was down are lost: look everything up once.
            self.to_check.update(s.prompt_id for s in self.in_flight(server.url))
            return
        if event.kind == "disconnected":
            server.ws_connected = False
            return
        if event.kind == "queue":
            server.queue_remaining = event.remaining or 0
            return
        steps = self.steps_of(event.prompt_id)
        if not steps:
            return
        if event.kind == "started":
            for s in steps:
                self._set_running(s, server)
        elif event.kind == "node":
            step = step_for_node(event.node, steps)
            self._set_running(step, server)
            info = (self.prompts.get(event.prompt_id) or {}).get(event.node) or {}
            label = (info.get("_meta") or {}).get("title") or info.get("class_type") or str(event.node)
            self.progress.step_node(step.id, label)
        elif event.kind == "progress":
            step = step_for_node(event.node, steps)
            self.progress.step_progress(step.id, event.value, event.max)
        elif event.kind == "written":
            step_id = self.output_nodes.get(event.prompt_id, {}).get(event.node or "")
            if step_id and self.manifest.steps[step_id].state in ("submitted", "running"):
                self.collect(self.manifest.steps[step_id], server)
        elif event.kind in ("idle", "finished"):
            if event.record is not None:
                self.errors[event.prompt_id] = event.record
            self.to_check.add(event.prompt_id)

    def _set_running(self, step: StepState, server: Server) -> None:
        if step.state == "submitted":
            self.manifest.transition(step.id, "running")
            self.progress.step_state(step.id, "running", server.label)

    # --- completion ---
    def check_prompts(self) -> None:
        """Look up prompts that may have finished (after a terminal event, a reconnect or silence)."""
        for prompt_id in list(self.to_check):
            steps = self.steps_of(prompt_id)
            if not steps:
                self.to_check.discard(prompt_id)
                continue
            server = self.pool.get(steps[0].server)
            if server is None or not server.alive:
                continue
            try:
                status, entry = server.client.prompt_status(prompt_id)
            except ServerUnreachable as e:
                self.pool.mark_down(server, e)
                continue
            self.to_check.discard(prompt_id)
            if status in ("queued", "running"):
                # Still going: the websocket says when it ends; without one, poll_servers asks again.
                if status == "running" and len(steps) == 1:
                    self._set_running(steps[0], server)
                continue
            self.finish_prompt(prompt_id, status, entry, server)

    def finish_prompt(self, prompt_id: str, status: str, entry: dict | None, server: Server) -> None:
        steps = self.steps_of(prompt_id)
        if status == "unknown":
            # The server forgot it (restarted) or never got it: submit again.
            for s in steps:
                self.log(f"{s.id}: {server.label} does not know its prompt (restarted?); submitting it again")
                self.manifest.transition(s.id, "pending", prompt_id=None)
                self.progress.step_state(s.id, "pending")
            return
        if status == "success":
            for s in steps:
                self.collect(s, server)
            return
        record = self.errors.pop(prompt_id, None) or (history_error(entry) if entry else {})
        whole_run = len(steps) > 1 or is_detached(self.manifest, steps[0])
        for s in steps:
            try:
                if whole_run and self.transfers.on_server(s, server):
                    self.collect(s, server)      # a whole-run prompt: keep what it finished
                    continue
            except ServerUnreachable as e:
                self.pool.mark_down(server, e)
                self.to_check.add(prompt_id)
                return
            self._fail(s, server, step_error(s.id, server.label, record))

    def collect(self, step: StepState, server: Server) -> None:
        """Download the step's file into the run directory, check it, and mark the step done."""
        try:
            sha = self.transfers.fetch(step, server)
        except ServerUnreachable as e:
            self.pool.mark_down(server, e)
            self.to_check.add(step.prompt_id)
            return
        except StepFailed as e:
            self._fail(step, server, e)
            return
        self.manifest.mark_done(step.id, sha)
        self.progress.step_state(step.id, "done", server.label)

    def _fail(self, step: StepState, server: Server, error: StepFailed) -> None:
        retry = error.resumable or error.code == "execution_error"
        if retry and step.attempts <= self.retries:
            self.log(f"{error}; retrying ({step.attempts}/{self.retries})")
            self.manifest.transition(step.id, "pending", prompt_id=None, error=str(error))
            self.progress.step_state(step.id, "pending")
            return
        self.manifest.transition(step.id, "failed", error=str(error))
        self.progress.step_state(step.id, "failed", server.label, str(error))
        self.failure = self.failure or error

    def submit_detached(self) -> str:
        """Submit the whole run as one prompt to the least loaded server; returns its prompt id."""
        self.preflight()
        live = list(self.pool)
        self.pool.refresh_loads(live)
        url = choose_server([ServerLoad(s.url, s.queue_remaining, 0, s.alive) for s in live], window=1)
        server = self.servers[url or live[0].url]
        prompt = detached_prompt(self.run, self.plan, self.transfers.input_names())
        problems = validate_prompt(prompt, server.client.object_info(), server.label)
        if problems:
            raise PlanError("\n".join(dict.fromkeys(problems)))
        self.transfers.ensure_inputs(server)
        prompt_id = str(uuid.uuid4())
        self.manifest.data["detached"] = {"server": server.url, "prompts": [prompt_id]}
        owned = self.manifest.in_state("pending")
        for s in owned:
            self.manifest.transition(s.id, "submitted", prompt_id=prompt_id, server=server.url)
        try:
            returned = server.client.submit(prompt, prompt_id)
        except PromptRejected:
            for s in owned:
                self.manifest.transition(s.id, "pending", prompt_id=None)
            self.manifest.data["detached"] = None
            self.manifest.save()
            raise
        if returned != prompt_id:
            self.manifest.data["detached"]["prompts"] = [returned]
            for s in owned:
                self.manifest.transition(s.id, "submitted", prompt_id=returned, attempts=s.attempts)
        self.manifest.set_status("detached")
        return returned
