"""Which server gets the next step, and which servers are alive.

A ready step goes to the server with the shortest queue among those with fewer than ``window``
of our prompts in flight; ties go to the server that already holds the step's inputs.  A server
that fails a request is *down*: it gets no work, and is asked (``/system_stats``) every ``poll_s``
whether it is back.  Down for longer than ``server_timeout`` it is *retired* (its steps move to
the other servers), or, when it was the last one, the run stops with the last error it gave
(unreachable / not answering), which ``segue resume`` continues from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..errors import ServerNotAnswering, ServerUnreachable
from .client import ComfyClient


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


@dataclass
class Server:
    client: ComfyClient
    alive: bool = True
    down_since: float | None = None
    down_error: ServerUnreachable | None = None
    retired: bool = False          # down for longer than the server timeout: no new work
    ws_connected: bool = False
    last_message: float = field(default_factory=time.monotonic)
    last_poll: float = 0.0
    queue_remaining: int = 0
    inputs_ready: bool = False

    @property
    def url(self) -> str:
        return self.client.url

    @property
    def label(self) -> str:
        return self.client.label


class ServerPool:
    """The servers of one run and their health."""

    def __init__(self, clients: Sequence[ComfyClient], poll_s: float, silence_s: float, server_timeout: float,
                 log: Callable[[str], None]):
        self.servers = {c.url: Server(c) for c in clients}
        self.poll_s, self.silence_s, self.server_timeout = poll_s, silence_s, server_timeout
        self.log = log

    def get(self, url: str | None) -> Server | None:
        return self.servers.get(url or "")

    def __iter__(self):
        return iter(self.servers.values())

    def usable(self) -> list[Server]:
        return [s for s in self.servers.values() if s.alive and not s.retired]

    def pick(self, in_flight: Callable[[str], int], window: int, affinity: dict[str, int]) -> Server | None:
        live = self.usable()
        loads = [ServerLoad(s.url, s.queue_remaining, in_flight(s.url), s.alive) for s in live]
        url = choose_server(loads, window, affinity)
        return self.servers[url] if url else None

    def refresh_loads(self, servers: Sequence[Server]) -> None:
        """Ask each server for its queue length (other users' prompts count too)."""
        for server in servers:
            try:
                server.queue_remaining = server.client.queue_remaining()
            except ServerUnreachable as e:
                self.mark_down(server, e)

    def mark_down(self, server: Server, error: ServerUnreachable) -> None:
        server.down_error = error
        if server.alive:
            server.alive = False
            server.down_since = time.monotonic()
            server.ws_connected = False
            self.log(f"{error}; waiting up to {self.server_timeout:.0f}s for {server.label}")

    def check_down(self, server: Server, now: float) -> str:
        """For a down server: ``back``, ``down`` (keep waiting) or ``expired`` (past the timeout)."""
        if now - server.last_poll < self.poll_s:
            return "down"
        server.last_poll = now
        try:
            server.client.system_stats()
        except ServerUnreachable as e:
            server.down_error = e
            return "expired" if now - (server.down_since or now) > self.server_timeout else "down"
        server.alive, server.down_since, server.down_error, server.retired = True, None, None, False
        server.inputs_ready = False     # a new server process may have a new disk
        self.log(f"{server.label} is back")
        return "back"

    def needs_lookup(self, server: Server, now: float) -> bool:
        """A live server with our prompts whose websocket is down (poll every ``poll_s``) or has
        been silent for ``silence_s`` (a safety net: messages can be lost)."""
        stale = now - server.last_message > self.silence_s
        if (not server.ws_connected and now - server.last_poll >= self.poll_s) or stale:
            server.last_poll = server.last_message = now
            return True
        return False

    def gone_error(self, server: Server) -> ServerUnreachable:
        """The error that ends a run whose last server stayed down past the timeout."""
        error = server.down_error
        how = "has not answered" if isinstance(error, ServerNotAnswering) else "has been unreachable"
        cls = type(error) if error is not None else ServerUnreachable
        return cls(f"{server.label} {how} for {self.server_timeout:.0f}s (last: {error})",
                   hint=error.hint if error is not None else None)
