"""Run a plan's steps on one or several ComfyUI servers, with resume.

The runner owns the loop: submit ready steps, follow each server's websocket (falling back to
``/history`` + ``/queue`` polling while it is down, and as a safety net after ``silence_s`` without
messages), download each step's file into the run directory as soon as it is written, and record
every change in the manifest.  Restarting it on the same run directory resumes: done steps are
verified by checksum and skipped, steps the server still has are waited for, steps a restarted
server lost are submitted again.  Nothing is submitted twice while its server still knows it.

Scheduling: a step is ready when the steps it reads are done (chained segments wait for their
predecessor; join transitions and independent segments are ready at once).  A ready step goes to
the server with the shortest queue among those with fewer than ``window`` of our prompts in
flight; ties go to the server that already holds the step's inputs.  Before a step runs on a
server, the files it reads (keyframes/clips, previous segments) are uploaded there if missing.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..video_utils.errors import PlanError
from .client import ComfyClient, history_error, sha256_file
from .errors import OrchestrationError, PromptRejected, ServerUnreachable, StepFailed
from .graphs import detached_prompt, load_template, step_prompt, validate_prompt
from .manifest import Manifest, StepState, resume_action
from .plan_files import TravelRun, probe_frame_count
from .progress import RunProgress
from .steps import StepSpec, join_steps, server_folder, travel_steps
from .websocket import WebSocketError

# --- scheduling (pure) ---------------------------------------------------------------------------

@dataclass
class ServerLoad:
    url: str
    queue_remaining: int      # the server's whole queue (running + pending, everyone's)
    in_flight: int            # our prompts on it
    alive: bool = True


def choose_server(loads: Sequence[ServerLoad], window: int, affinity: dict[str, int] | None = None) -> str | None:
    """The server for the next ready step, or ``None`` if every live server has ``window`` of ours.

    Shortest queue first; ties go to the server holding most of the step's inputs (``affinity``:
    url -> count), then to fewer of our prompts, then to the order servers were given in.
    """
    affinity = affinity or {}
    eligible = [(max(load.queue_remaining, load.in_flight), -affinity.get(load.url, 0), load.in_flight, i, load.url)
                for i, load in enumerate(loads) if load.alive and load.in_flight < window]
    return min(eligible)[-1] if eligible else None


# --- per-server state --------------------------------------------------------------------------

@dataclass
class Server:
    client: ComfyClient
    alive: bool = True
    down_since: float | None = None
    retired: bool = False          # down for longer than the server timeout: no new work
    ws_connected: bool = False
    last_message: float = field(default_factory=time.monotonic)
    last_poll: float = 0.0
    queue_remaining: int = 0
    inputs_ready: bool = False
    listener: "Listener | None" = None

    @property
    def url(self) -> str:
        return self.client.url


class Listener(threading.Thread):
    """Follows one server's websocket and forwards its JSON messages to the runner's queue."""

    def __init__(self, server: Server, events: "queue.Queue", stop: threading.Event):
        super().__init__(daemon=True, name=f"segue-ws-{server.client.label}")
        self.server, self.events, self.stop_event = server, events, stop

    def run(self) -> None:
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                ws = self.server.client.websocket(timeout=5)
            except (ServerUnreachable, OSError):
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.5
            self.events.put((self.server.url, {"type": "_connected"}))
            try:
                while not self.stop_event.is_set():
                    message = ws.recv(timeout=0.5)
                    if isinstance(message, str):
                        try:
                            self.events.put((self.server.url, json.loads(message)))
                        except json.JSONDecodeError:
                            pass
            except (WebSocketError, OSError):
                pass
            finally:
                ws.close()
            self.events.put((self.server.url, {"type": "_disconnected"}))


# --- the runner --------------------------------------------------------------------------------

class Runner:
    def __init__(self, manifest: Manifest, clients: Sequence[ComfyClient], progress: RunProgress | None = None,
                 window: int = 2, poll_s: float = 0.5, silence_s: float = 20.0, server_timeout: float = 60.0,
                 retries: int = 0, log: Callable[[str], None] | None = None):
        if not clients:
            raise PlanError("no server given: pass --server URL (e.g. http://127.0.0.1:8188)")
        self.manifest = manifest
        self.run = manifest.run()
        self.plan = self.run.plan()
        self.specs: dict[str, StepSpec] = {
            s.id: s for s in (travel_steps(self.plan) if isinstance(self.run, TravelRun) else join_steps(self.plan))}
        self.servers = {c.url: Server(c) for c in clients}
        for c in clients:
            c.client_id = manifest.client_id
        manifest.data["servers"] = list(self.servers)   # what resume/cancel/status use by default
        self.progress = progress or RunProgress(f"{self.run.kind} {self.run.run_id}", list(self.specs), enabled=False)
        self.window, self.poll_s, self.silence_s = window, poll_s, silence_s
        self.server_timeout, self.retries = server_timeout, retries
        self.log = log or self.progress.note
        self.events: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.template = load_template(self.run.generator.template) if self.run.generator.kind == "template" else None
        self.prompts: dict[str, dict] = {}             # prompt id -> prompt (node labels for progress)
        self.output_nodes: dict[str, dict[str, str]] = {}  # prompt id -> {saving node id: step id}
        self.to_check: set[str] = set()                 # prompt ids to look up in /queue + /history
        self.errors: dict[str, str] = {}                # prompt id -> execution error from the websocket
        self.failure: OrchestrationError | None = None
        self._preflighted = False

    # --- names ---
    @property
    def folder(self) -> str:
        return server_folder(self.run.run_id)

    def input_names(self) -> list[str]:
        return [f"{self.folder}/{item['name']} [input]" for item in self.manifest.data["inputs"]]

    def in_flight(self, server_url: str | None = None) -> list[StepState]:
        return [s for s in self.manifest.in_state("submitted", "running")
                if server_url is None or s.server == server_url]

    # --- preflight: everything that can fail before submitting ---
    def preflight(self) -> None:
        if self._preflighted:
            return
        for server in self.servers.values():
            server.client.system_stats()        # raises ServerUnreachable naming the server
        for item in self.manifest.data["inputs"]:
            path = Path(item["path"])
            if path.is_file() and sha256_file(path) != item["sha256"]:
                raise PlanError(f"{path} changed since run {self.run.run_id} started: restore it or start a new run")
        todo = [self.specs[s.id] for s in self.manifest.ordered() if s.state != "done"]
        problems: list[str] = []
        for server in self.servers.values():
            info = server.client.object_info()
            for spec in todo:
                prompt = step_prompt(self.run, self.plan, spec, self.input_names(), self.template)
                for line in validate_prompt(prompt, info, server.client.label):
                    if line not in problems:
                        problems.append(line)
        if problems:
            raise PlanError("\n".join(problems))
        self._preflighted = True

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
                raise PlanError(f"{path} is gone and {server.client.label} does not have it: restore the file")
            server.client.upload(path, item["name"], self.folder, "input")
        server.inputs_ready = True

    def ensure_dependencies(self, server: Server, step: StepState) -> None:
        """Upload the step's input files (earlier steps' outputs) to ``server`` if it lacks them."""
        for dep_id in step.depends_on:
            dep = self.manifest.steps[dep_id]
            local = self.manifest.local_file(dep)
            if server.client.file_size(dep.file, self.folder, "output") != local.stat().st_size:
                server.client.upload(local, dep.file, self.folder, "output")

    # --- resume ---
    def reconcile(self) -> None:
        """Decide, per step, what a (re)started run does (``manifest.resume_action``)."""
        for step in self.manifest.ordered():
            server = self.servers.get(step.server) if step.server else None
            local_ok = self.manifest.verify(step.id) if step.state == "done" else False
            status = None
            if step.state in ("submitted", "running") and step.prompt_id:
                if server is None:
                    status = "unknown"   # its server is not in this session's --server list
                else:
                    try:
                        status, entry = server.client.prompt_status(step.prompt_id)
                    except ServerUnreachable:
                        status = "unreachable"
                        self._mark_down(server)
            action = resume_action(step.state, local_ok, status)
            if action == "skip":
                self.progress.step_state(step.id, "done", step.server or "")
            elif action == "refetch":
                self._refetch(step)
            elif action == "resubmit":
                self.manifest.transition(step.id, "pending", prompt_id=None)
            elif action == "collect":
                self._watch(step)
                self.to_check.add(step.prompt_id)
            elif action in ("wait", "wait_server"):
                self._watch(step)
                self.progress.step_state(step.id, step.state, server.client.label if server else "")

    def _refetch(self, step: StepState) -> None:
        server = self.servers.get(step.server or "")
        if server is not None:
            try:
                sha = server.client.download(step.file, self.folder, self.manifest.local_file(step))
                if sha == step.sha256:
                    self.progress.step_state(step.id, "done", server.client.label)
                    return
            except OrchestrationError:
                pass
        self.log(f"{step.id}: its file is missing or changed in {self.manifest.run_dir}; running it again")
        self.manifest.transition(step.id, "pending", prompt_id=None, sha256=None, size=None)

    def _watch(self, step: StepState) -> None:
        """Rebuild what the event handlers need for a prompt submitted by an earlier process."""
        if step.prompt_id in self.prompts:
            self.output_nodes[step.prompt_id].update(self._saving_nodes(step, detached=self._is_detached(step)))
            return
        self.prompts[step.prompt_id] = {}
        self.output_nodes[step.prompt_id] = self._saving_nodes(step, detached=self._is_detached(step))

    def _is_detached(self, step: StepState) -> bool:
        detached = self.manifest.data.get("detached") or {}
        return step.prompt_id in (detached.get("prompts") or [])

    @staticmethod
    def _saving_nodes(step: StepState, detached: bool) -> dict[str, str]:
        """Ids of the node that writes ``step``'s file (its ``executed`` message = file written)."""
        if step.kind == "final":
            return {"stitch": step.id, "assemble": step.id, "final.stitch": step.id, "final.assemble": step.id}
        if detached:
            return {f"{'s' if step.kind == 'segment' else 'j'}{step.index:03d}.save": step.id}
        return {"save": step.id}

    # --- the loop ---
    def execute(self) -> Path:
        """Run (or resume) to the end; returns the final video in the run directory."""
        self.preflight()
        self.reconcile()
        for server in self.servers.values():
            server.listener = Listener(server, self.events, self.stop)
            server.listener.start()
        try:
            while not self.manifest.all_done():
                if self.failure is not None and not self.in_flight():
                    raise self.failure
                if self.failure is None:
                    self.schedule()
                self.pump(self.poll_s if not self.to_check else 0.1)
                self.check_prompts()
                self.poll_servers()
        except KeyboardInterrupt:
            self.cancel_in_flight()
            self.manifest.set_status("interrupted")
            raise
        except OrchestrationError:
            self.manifest.set_status("failed")
            raise
        finally:
            self.stop.set()
            self.progress.close()
        self.manifest.set_status("done")
        return self.manifest.local_file(self.manifest.steps["final"])

    def schedule(self) -> None:
        ready = self.manifest.ready()
        if not ready:
            return
        live = [s for s in self.servers.values() if s.alive and not s.retired]
        if not any(len(self.in_flight(s.url)) < self.window for s in live):
            return
        if len(live) > 1:
            self._refresh_loads(live)      # once per round: other users' queues change too
        for step in ready:
            live = [s for s in live if s.alive]
            affinity: dict[str, int] = {}
            for dep in step.depends_on:
                url = self.manifest.steps[dep].server
                if url:
                    affinity[url] = affinity.get(url, 0) + 1
            loads = [ServerLoad(s.url, s.queue_remaining, len(self.in_flight(s.url)), True) for s in live]
            url = choose_server(loads, self.window, affinity)
            if url is None:
                return
            self.submit(step, self.servers[url])

    def _refresh_loads(self, servers: list[Server]) -> None:
        for server in servers:
            try:
                server.queue_remaining = server.client.queue_remaining()
            except ServerUnreachable:
                self._mark_down(server)

    def submit(self, step: StepState, server: Server) -> None:
        spec = self.specs[step.id]
        try:
            self.ensure_inputs(server)
            self.ensure_dependencies(server, step)
        except ServerUnreachable:
            self._mark_down(server)
            return
        prompt = step_prompt(self.run, self.plan, spec, self.input_names(), self.template)
        prompt_id = str(uuid.uuid4())
        # Recorded before posting: a crash in between leaves a prompt the server does not know,
        # which resume submits again; a crash after leaves one it knows, which resume waits for.
        self.manifest.transition(step.id, "submitted", prompt_id=prompt_id, server=server.url)
        try:
            returned = server.client.submit(prompt, prompt_id)
        except ServerUnreachable:
            self.manifest.transition(step.id, "pending", prompt_id=None)
            self._mark_down(server)
            return
        except PromptRejected as e:
            self.manifest.transition(step.id, "failed", error=str(e))
            self.progress.step_state(step.id, "failed", server.client.label, str(e).splitlines()[0])
            self.failure = self.failure or e
            return
        if returned != prompt_id:   # servers before 0.3.45 choose their own id
            self.manifest.transition(step.id, "submitted", prompt_id=returned, attempts=step.attempts)
        self.prompts[returned] = prompt
        self.output_nodes[returned] = self._saving_nodes(step, detached=False)
        server.queue_remaining += 1
        self.progress.step_state(step.id, "submitted", server.client.label)

    # --- events ---
    def pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for a websocket message, then handle every one already queued."""
        try:
            url, message = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self.handle(url, message)
            try:
                url, message = self.events.get_nowait()
            except queue.Empty:
                return

    def steps_of(self, prompt_id: str | None) -> list[StepState]:
        return [s for s in self.manifest.in_state("submitted", "running") if s.prompt_id == prompt_id]

    def handle(self, url: str, message: dict) -> None:
        server = self.servers.get(url)
        if server is None:
            return
        kind, data = message.get("type"), message.get("data") or {}
        server.last_message = time.monotonic()
        if kind == "_connected":
            server.ws_connected = True
            # Messages sent while the socket was down are lost: look everything up once.
            self.to_check.update(s.prompt_id for s in self.in_flight(url))
            return
        if kind == "_disconnected":
            server.ws_connected = False
            return
        if kind == "status":
            remaining = data.get("status", {}).get("exec_info", {}).get("queue_remaining")
            if remaining is not None:
                server.queue_remaining = int(remaining)
            return
        prompt_id = data.get("prompt_id")
        steps = self.steps_of(prompt_id)
        if not steps:
            return
        if kind == "execution_start":
            for s in steps:
                self._set_running(s, server)
        elif kind == "executing":
            node = data.get("node")
            if node is None:
                self.to_check.add(prompt_id)
                return
            step = self._step_for_node(prompt_id, node, steps)
            self._set_running(step, server)
            prompt = self.prompts.get(prompt_id) or {}
            info = prompt.get(node) or {}
            label = (info.get("_meta") or {}).get("title") or info.get("class_type") or str(node)
            self.progress.step_node(step.id, label)
        elif kind == "progress":
            step = self._step_for_node(prompt_id, data.get("node"), steps)
            self.progress.step_progress(step.id, data.get("value", 0), data.get("max", 0))
        elif kind == "executed":
            step_id = self.output_nodes.get(prompt_id, {}).get(str(data.get("node")))
            if step_id and self.manifest.steps[step_id].state in ("submitted", "running"):
                self.collect(self.manifest.steps[step_id], server)
        elif kind in ("execution_success", "execution_error", "execution_interrupted"):
            if kind == "execution_error":
                self.errors[prompt_id] = (f"node {data.get('node_id')} ({data.get('node_type')}): "
                                          f"{data.get('exception_type')}: {str(data.get('exception_message', '')).strip()}")
            self.to_check.add(prompt_id)

    def _step_for_node(self, prompt_id: str, node: str | None, steps: list[StepState]) -> StepState:
        """The step a node belongs to: by prefix in a whole-run prompt, else the prompt's only step."""
        if len(steps) > 1 and node:
            head = str(node).split(".", 1)[0]
            for s in steps:
                if (s.kind == "segment" and head == f"s{s.index:03d}") or \
                   (s.kind == "transition" and head == f"j{s.index:03d}") or (s.kind == "final" and head == "final"):
                    return s
        return steps[0]

    def _set_running(self, step: StepState, server: Server) -> None:
        if step.state == "submitted":
            self.manifest.transition(step.id, "running")
            self.progress.step_state(step.id, "running", server.client.label)

    # --- completion ---
    def check_prompts(self) -> None:
        """Look up prompts that may have finished (after a terminal event, a reconnect or silence)."""
        for prompt_id in list(self.to_check):
            steps = self.steps_of(prompt_id)
            if not steps:
                self.to_check.discard(prompt_id)
                continue
            server = self.servers.get(steps[0].server or "")
            if server is None or not server.alive:
                continue
            try:
                status, entry = server.client.prompt_status(prompt_id)
            except ServerUnreachable:
                self._mark_down(server)
                continue
            self.to_check.discard(prompt_id)
            if status in ("queued", "running"):
                # Still going: the websocket says when it ends (``executing`` with node null comes
                # after the history is written); without one, poll_servers asks again in poll_s.
                if status == "running" and len(steps) == 1:
                    self._set_running(steps[0], server)
                continue
            self.finish_prompt(prompt_id, status, entry, server)

    def finish_prompt(self, prompt_id: str, status: str, entry: dict | None, server: Server) -> None:
        steps = self.steps_of(prompt_id)
        if status == "unknown":
            # The server forgot it (restarted): submit again; nothing of it was recorded as done.
            for s in steps:
                self.log(f"{s.id}: {server.client.label} no longer knows its prompt (restarted?); submitting again")
                self.manifest.transition(s.id, "pending", prompt_id=None)
                self.progress.step_state(s.id, "pending")
            return
        if status == "success":
            for s in steps:
                self.collect(s, server)
            return
        error = self.errors.pop(prompt_id, None) or (history_error(entry) if entry else status)
        whole_run = len(steps) > 1 or self._is_detached(steps[0])
        for s in steps:
            if whole_run and server.client.file_size(s.file, self.folder, "output") is not None:
                self.collect(s, server)      # a whole-run prompt: keep what it finished
                continue
            self._fail(s, server, f"{s.id} failed on {server.client.label}: {error}")

    def _fail(self, step: StepState, server: Server, message: str) -> None:
        if step.attempts <= self.retries:
            self.log(f"{message}; retrying ({step.attempts}/{self.retries})")
            self.manifest.transition(step.id, "pending", prompt_id=None, error=message)
            self.progress.step_state(step.id, "pending")
            return
        self.manifest.transition(step.id, "failed", error=message)
        self.progress.step_state(step.id, "failed", server.client.label, message)
        if self.failure is None:
            self.failure = StepFailed(message + f"\n  (segue resume {self.manifest.run_dir} retries it)")

    def collect(self, step: StepState, server: Server) -> None:
        """Download the step's file into the run directory, check it, and mark the step done."""
        local = self.manifest.local_file(step)
        try:
            sha = server.client.download(step.file, self.folder, local)
        except ServerUnreachable:
            self._mark_down(server)
            self.to_check.add(step.prompt_id)
            return
        except OrchestrationError as e:
            self._fail(step, server, f"{step.id} finished on {server.client.label} but its file is missing ({e})")
            return
        try:
            frames = probe_frame_count(local, step.id)
        except PlanError as e:
            self._fail(step, server, f"{step.id}: the file {server.client.label} wrote is unreadable ({e})")
            return
        if frames != step.frames:
            self._fail(step, server, f"{step.id}: {server.client.label} wrote {frames} frames, the plan needs {step.frames}")
            return
        self.manifest.mark_done(step.id, sha)
        self.progress.step_state(step.id, "done", server.client.label)

    # --- servers going away ---
    def _mark_down(self, server: Server) -> None:
        if server.alive:
            server.alive = False
            server.down_since = time.monotonic()
            self.log(f"{server.client.label} is unreachable; waiting up to {self.server_timeout:.0f}s for it")

    def poll_servers(self) -> None:
        now = time.monotonic()
        for server in self.servers.values():
            if not server.alive:
                if now - server.last_poll >= self.poll_s:
                    server.last_poll = now
                    try:
                        server.client.system_stats()
                    except ServerUnreachable:
                        if now - (server.down_since or now) > self.server_timeout:
                            self._give_up(server)
                        continue
                    server.alive, server.down_since, server.retired = True, None, False
                    server.inputs_ready = False     # a new server process may have a new disk
                    self.log(f"{server.client.label} is back")
                    self.to_check.update(s.prompt_id for s in self.in_flight(server.url))
                continue
            flight = self.in_flight(server.url)
            if not flight:
                continue
            stale = now - server.last_message > self.silence_s
            if (not server.ws_connected and now - server.last_poll >= self.poll_s) or stale:
                server.last_poll = now
                server.last_message = now
                self.to_check.update(s.prompt_id for s in flight)

    def _give_up(self, server: Server) -> None:
        others = [s for s in self.servers.values() if s.alive and s is not server]
        if not others:
            raise ServerUnreachable(f"{server.client.label} has been unreachable for {self.server_timeout:.0f}s; "
                                    f"the manifest keeps every step: run `segue resume {self.manifest.run_dir}` "
                                    f"when it is back")
        if not server.retired:
            server.retired = True
            for step in self.in_flight(server.url):
                self.log(f"{step.id}: moving it off {server.client.label} (unreachable)")
                self.manifest.transition(step.id, "pending", prompt_id=None)
                self.progress.step_state(step.id, "pending")

    def cancel_in_flight(self) -> list[str]:
        """Remove/interrupt our prompts (only ours) and set their steps back to pending."""
        done = []
        for step in self.in_flight():
            server = self.servers.get(step.server or "")
            if server is not None:
                try:
                    result = server.client.cancel(step.prompt_id)
                    done.append(f"{step.id}: {result}")
                except ServerUnreachable:
                    done.append(f"{step.id}: server unreachable")
            self.manifest.transition(step.id, "pending", prompt_id=None, error="cancelled")
        return done

    # --- detached ---
    def submit_detached(self) -> str:
        """Submit the whole run as one prompt to the least loaded server; returns its prompt id."""
        self.preflight()
        live = list(self.servers.values())
        self._refresh_loads(live)
        url = choose_server([ServerLoad(s.url, s.queue_remaining, 0, s.alive) for s in live], window=1)
        server = self.servers[url or live[0].url]
        prompt = detached_prompt(self.run, self.plan, self.input_names())
        problems = validate_prompt(prompt, server.client.object_info(), server.client.label)
        if problems:
            raise PlanError("\n".join(dict.fromkeys(problems)))
        self.ensure_inputs(server)
        prompt_id = str(uuid.uuid4())
        self.manifest.data["detached"] = {"server": server.url, "prompts": [prompt_id]}
        owned = self.manifest.in_state("pending")
        for s in owned:
            self.manifest.transition(s.id, "submitted", prompt_id=prompt_id, server=server.url)
        try:
            returned = server.client.submit(prompt, prompt_id)
        except (ServerUnreachable, PromptRejected):
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


def copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
