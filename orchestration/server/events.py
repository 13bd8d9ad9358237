"""Listening to the servers: each server's ``/ws`` messages as typed events on one queue.

One ``Listener`` thread per server keeps a websocket open (reconnecting with backoff) and puts
``Event``s on the runner's queue; the runner handles them on its own thread, so the manifest and
the display are only ever touched there.  ``connected`` / ``disconnected`` tell the runner when
to fall back to polling ``/queue`` + ``/history``: messages sent while the socket was down are
lost, so everything in flight is looked up once after a reconnect.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass

from ..errors import ServerUnreachable
from .client import ComfyClient, EventsClosed
from .manifest import StepState


@dataclass(frozen=True)
class Event:
    server: str                    # the server's URL
    kind: str                      # connected, disconnected, queue, started, node, progress, written, idle, finished
    prompt_id: str | None = None
    node: str | None = None
    value: int = 0
    max: int = 0
    remaining: int | None = None   # queue: the server's queue length
    outcome: str = ""              # finished: success / error / interrupted
    record: dict | None = None     # finished with error / interrupted: ComfyUI's record


def parse_message(server: str, message: dict) -> Event | None:
    """The event in one ComfyUI websocket message, ``None`` for messages the runner does not use."""
    kind, data = message.get("type"), message.get("data") or {}
    prompt_id = data.get("prompt_id")
    if kind == "status":
        remaining = ((data.get("status") or {}).get("exec_info") or {}).get("queue_remaining")
        return Event(server, "queue", remaining=int(remaining)) if remaining is not None else None
    if not prompt_id:
        return None
    if kind == "execution_start":
        return Event(server, "started", prompt_id)
    if kind == "executing":
        node = data.get("node")
        # ``node: null`` comes after the history entry is written: the prompt is over.
        return Event(server, "idle", prompt_id) if node is None else Event(server, "node", prompt_id, str(node))
    if kind == "progress":
        return Event(server, "progress", prompt_id, str(data.get("node") or ""), int(data.get("value") or 0),
                     int(data.get("max") or 0))
    if kind == "executed":
        return Event(server, "written", prompt_id, str(data.get("node")))
    if kind in ("execution_success", "execution_error", "execution_interrupted"):
        outcome = {"execution_success": "success", "execution_error": "error"}.get(kind, "interrupted")
        record = None if outcome == "success" else {**data, "event": kind}
        return Event(server, "finished", prompt_id, outcome=outcome, record=record)
    return None


def step_for_node(node: str | None, steps: list[StepState]) -> StepState:
    """The step a node's event belongs to: by id prefix in a whole-run (``--detach``) prompt
    (``seg_003.`` segment 3, ``join_001.`` join 1, anything else the final step), else the
    prompt's only step."""
    if len(steps) > 1 and node:
        head = str(node).split(".", 1)[0]
        kind, _, number = head.partition("_")
        wanted = {"seg": "segment", "join": "transition"}.get(kind) if "." in str(node) else None
        for s in steps:
            if (s.kind == wanted and number == f"{s.index:03d}") or (wanted is None and s.kind == "final"):
                return s
    return steps[0]


class Listener(threading.Thread):
    """Follows one server's websocket and puts its events on ``events``."""

    def __init__(self, client: ComfyClient, events: "queue.Queue[Event]", stop: threading.Event,
                 recv_timeout: float = 0.5):
        super().__init__(daemon=True, name=f"segue-ws-{client.label}")
        self.client, self.events, self.stop_event = client, events, stop
        self.recv_timeout = recv_timeout

    def run(self) -> None:
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                ws = self.client.websocket(timeout=5)
            except ServerUnreachable:
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.5
            self.events.put(Event(self.client.url, "connected"))
            try:
                while not self.stop_event.is_set():
                    message = ws.recv(timeout=self.recv_timeout)
                    if not isinstance(message, str):
                        continue        # silence, or a binary preview image
                    try:
                        event = parse_message(self.client.url, json.loads(message))
                    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                        continue
                    if event is not None:
                        self.events.put(event)
            except EventsClosed:
                pass
            finally:
                ws.close()
            self.events.put(Event(self.client.url, "disconnected"))
