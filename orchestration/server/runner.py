"""Run a plan's steps on one or several ComfyUI servers, with resume.

The runner owns the loop: submit ready steps (``scheduling``), follow each server's events
(``events``; falling back to ``/history`` + ``/queue`` polling while a websocket is down, and as a
safety net after ``silence_s`` without messages), download each step's file into the run
directory as soon as it is written (``transfers``), and record every change in the manifest.
Restarting it on the same run directory resumes (``resume``): done steps are verified by checksum
and skipped, steps the server still has are waited for, steps a restarted server lost are
submitted again.  Nothing is submitted twice while its server still knows it.

A step is ready when the steps it reads are done (chained segments wait for their predecessor;
join transitions and independent segments are ready at once).

The loop is exposed in pieces (``start`` / ``tick`` / ``complete`` / ``interrupt`` / ``close``) so
a batch (``batch.py``) can drive several runs in one thread over the same servers; ``load`` then
counts the prompts of the whole batch on a server, so ``window`` bounds them all together.

The runner owns every prompt's flow too: submitting it (recorded in the manifest before it is
posted), following its server's events, looking it up when they may have been missed, then
collecting the file, retrying or failing the step; and the detached submission (the whole run as
one prompt).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Sequence

from ...video_utils.core.errors import PlanError
from ..errors import OrchestrationError, PromptRejected, ServerUnreachable, StepFailed
from ..progress import Progress
from ..runs.prompts import detached_prompt, load_template, saving_nodes, step_prompt, validate_prompt
from ..runs.steps import StepSpec, run_steps
from .client import ComfyClient
from .events import Event, Listener, step_for_node
from .manifest import Manifest, StepState
from .records import history_error, step_error
from .resume import is_detached, reconcile
from .scheduling import Server, ServerLoad, ServerPool, choose_server
from .transfers import Transfers


class Runner:
    """One run's loop over its servers (see the module docstring)."""

    def __init__(self, manifest: Manifest, clients: Sequence[ComfyClient], progress: Progress | None = None,
                 window: int = 2, poll_s: float = 0.5, silence_s: float = 20.0, server_timeout: float = 60.0,
                 retries: int = 0, log: Callable[[str], None] | None = None,
                 load: Callable[[str], int] | None = None):
        if not clients:
            raise PlanError("no server given: pass --server URL (e.g. http://127.0.0.1:8188)")
        self.manifest = manifest
        self.run = manifest.run()
        self.plan = self.run.plan()
        self.specs: dict[str, StepSpec] = {s.id: s for s in run_steps(self.plan)}
        self.load = load or (lambda url: len(self.in_flight(url)))   # prompts counted against ``window``
        for c in clients:
            c.client_id = manifest.client_id
        self.progress = progress or Progress(f"{self.run.kind} {self.run.run_id}", list(self.specs), enabled=False)
        self.log = log or self.progress.note
        self.pool = ServerPool(clients, poll_s, silence_s, server_timeout, self.log)
        manifest.data["servers"] = list(self.pool.servers)   # what resume/cancel/status use by default
        self.transfers = Transfers(manifest)
        self.window, self.poll_s, self.retries = window, poll_s, retries
        self.events: queue.Queue[Event] = queue.Queue()
        self.stop = threading.Event()
        self.template = load_template(self.run.generator.template) if self.run.generator.kind == "template" else None
        self.prompts: dict[str, dict] = {}             # prompt id -> prompt (node titles for the display)
        self.output_nodes: dict[str, dict[str, str]] = {}  # prompt id -> {saving node id: step id}
        self.to_check: set[str] = set()                 # prompt ids to look up in /queue + /history
        self.errors: dict[str, dict] = {}               # prompt id -> execution error record (websocket)
        self.failure: OrchestrationError | None = None
        self._preflighted = False

    @property
    def servers(self) -> dict[str, Server]:
        return self.pool.servers

    def in_flight(self, server_url: str | None = None) -> list[StepState]:
        return [s for s in self.manifest.in_state("submitted", "running")
                if server_url is None or s.server == server_url]

    def steps_of(self, prompt_id: str | None) -> list[StepState]:
        return [s for s in self.manifest.in_state("submitted", "running") if s.prompt_id == prompt_id]

    # --- preflight: everything that can fail before submitting ---
    def preflight(self) -> None:
        if self._preflighted:
            return
        for server in self.pool:
            server.client.system_stats()        # raises ServerUnreachable naming the server
        self.transfers.check_local_inputs()
        todo = [self.specs[s.id] for s in self.manifest.ordered() if s.state != "done"]
        problems: list[str] = []
        for server in self.pool:
            info = server.client.object_info()
            for spec in todo:
                prompt = step_prompt(self.run, self.plan, spec, self.transfers.input_names(), self.template)
                for line in validate_prompt(prompt, info, server.label):
                    if line not in problems:
                        problems.append(line)
        if problems:
            raise PlanError("\n".join(problems))
        self._preflighted = True

    # --- resume ---
    def reconcile(self) -> None:
        for step, action in list(reconcile(self.manifest, self.pool)):
            server = self.pool.get(step.server)
            if action == "skip":
                self.progress.step_state(step.id, "done", step.server or "")
            elif action == "refetch":
                self._refetch(step, server)
            elif action == "resubmit":
                self.manifest.transition(step.id, "pending", prompt_id=None)
            elif action in ("collect", "wait", "wait_server"):
                self._watch(step)
                self.to_check.add(step.prompt_id)
                self.progress.step_state(step.id, step.state, server.label if server else "")

    def _refetch(self, step: StepState, server: Server | None) -> None:
        if server is not None and server.alive:
            try:
                if self.transfers.fetch(step, server) == step.sha256:
                    self.progress.step_state(step.id, "done", server.label)
                    return
            except (OrchestrationError, PlanError):
                pass
        self.log(f"{step.id}: its file is missing or changed in {self.manifest.run_dir}; running it again")
        self.manifest.transition(step.id, "pending", prompt_id=None, sha256=None, size=None)

    def _watch(self, step: StepState) -> None:
        """Rebuild what the event handlers need for a prompt submitted by an earlier process."""
        self.prompts.setdefault(step.prompt_id, {})
        nodes = self.output_nodes.setdefault(step.prompt_id, {})
        nodes.update(saving_nodes(step, detached=is_detached(self.manifest, step)))

    # --- the loop ---
    def execute(self) -> Path:
        """Run (or resume) to the end; returns the final video in the run directory."""
        self.start()
        try:
            while not self.finished():
                self.tick(self.poll_s if not self.to_check else 0.05)
        except KeyboardInterrupt:
            self.interrupt()
            raise
        except OrchestrationError:
            self.manifest.set_status("failed")
            raise
        finally:
            self.close()
        return self.complete()

    def start(self) -> None:
        """Preflight, reconcile with the servers (resume), start listening to their events."""
        self.preflight()
        self.reconcile()
        for server in self.pool:
            Listener(server.client, self.events, self.stop).start()

    def finished(self) -> bool:
        return self.manifest.all_done()

    def tick(self, timeout: float) -> None:
        """One round: submit what is ready, handle events (waiting up to ``timeout``), look up
        prompts, check servers.  Raises the run's failure once nothing of it is in flight."""
        if self.failure is not None and not self.in_flight():
            raise self.failure
        if self.failure is None:
            self.schedule()
        self.pump(timeout)
        self.check_prompts()
        self.poll_servers()

    def interrupt(self) -> None:
        """Ctrl-C: cancel this run's prompts (only ours) and record it."""
        self.cancel_in_flight()
        self.manifest.set_status("interrupted")

    def close(self) -> None:
        self.stop.set()
        self.progress.close()

    def complete(self) -> Path:
        """Mark the run done; the final video in the run directory."""
        self.manifest.set_status("done")
        return self.manifest.local_file(self.manifest.steps["final"])

    def schedule(self) -> None:
        ready = self.manifest.ready()
        live = self.pool.usable()
        if not ready or not any(self.load(s.url) < self.window for s in live):
            return
        if len(live) > 1:
            self.pool.refresh_loads(live)      # once per round: other users' queues change too
        for step in ready:
            affinity: dict[str, int] = {}
            for dep in step.depends_on:
                url = self.manifest.steps[dep].server
                if url:
                    affinity[url] = affinity.get(url, 0) + 1
            server = self.pool.pick(self.load, self.window, affinity)
            if server is None:
                return
            self.submit(step, server)
            if self.failure is not None:
                return                         # a rejected prompt: submit nothing else

    # --- one prompt: submit, follow, look up, collect or fail ---
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

    # --- servers going away ---
    def poll_servers(self) -> None:
        now = time.monotonic()
        for server in self.pool:
            flight = self.in_flight(server.url)
            if not server.alive:
                state = self.pool.check_down(server, now)
                if state == "back":
                    self.to_check.update(s.prompt_id for s in flight)
                elif state == "expired":
                    self._give_up(server)
            elif flight and self.pool.needs_lookup(server, now):
                self.to_check.update(s.prompt_id for s in flight)

    def _give_up(self, server: Server) -> None:
        if not any(s.alive and s is not server for s in self.pool):
            raise self.pool.gone_error(server)
        if not server.retired:
            server.retired = True
            for step in self.in_flight(server.url):
                self.log(f"{step.id}: moving it off {server.label} (unreachable)")
                self.manifest.transition(step.id, "pending", prompt_id=None)
                self.progress.step_state(step.id, "pending")

    def cancel_in_flight(self) -> list[str]:
        """Remove/interrupt our prompts (only ours) and set their steps back to pending."""
        done, seen = [], set()
        for step in self.in_flight():
            server = self.pool.get(step.server)
            if server is not None and step.prompt_id not in seen:
                seen.add(step.prompt_id)
                try:
                    done.append(f"{step.id}: {server.client.cancel(step.prompt_id)}")
                except ServerUnreachable:
                    done.append(f"{step.id}: server unreachable")
            self.manifest.transition(step.id, "pending", prompt_id=None, error="cancelled")
        return done
