"""The one progress display of the ``segue`` command (stderr), for server runs and local renders.

On a terminal it draws ``tqdm`` bars: the run's steps, and one line per server (its running step,
node and sampler step, what is queued behind it; a local render's "server" is this machine).
Elsewhere (CI logs, pipes) tqdm's carriage-return redraws would be unreadable, so it prints plain
lines instead: one per step state change, node progress every quarter.  The runner and the local
renderer call ``step_state`` / ``step_node`` / ``step_progress`` / ``note``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Sequence, TextIO

from tqdm import tqdm


@dataclass
class _Step:
    id: str
    number: int
    state: str = "pending"
    server: str = ""
    node: str = ""
    value: int = 0
    max: int = 0


class Progress:
    def __init__(self, title: str, steps: Sequence[str] = (), stream: TextIO | None = None, enabled: bool = True,
                 tty: bool | None = None):
        self.title = title
        self.stream = stream or sys.stderr
        self.enabled = enabled
        is_tty = getattr(self.stream, "isatty", lambda: False)()
        self.tty = enabled and (is_tty if tty is None else tty)
        self.steps = {s: _Step(s, i + 1) for i, s in enumerate(steps)}
        self._overall: tqdm | None = None
        self._servers: dict[str, tqdm] = {}
        self._logged: dict[str, int] = {}       # non-TTY: the last quarter printed per key

    # --- server runs ---
    def step_state(self, step_id: str, state: str, server: str = "", detail: str = "") -> None:
        step = self.steps[step_id]
        changed = state != step.state or bool(server and server != step.server)
        old_server = step.server
        step.state = state
        if server:
            step.server = server
        if state != "running":
            step.node, step.value, step.max = "", 0, 0
        if not changed:
            return
        if self.tty:
            self._bar().n = self.done
            self._bar().set_postfix_str(f"{self.failed} failed" if self.failed else "", refresh=True)
            for url in {old_server, step.server} - {""}:
                self._draw_server(url)
            if detail:
                self.note(f"{step_id}: {detail}")
        else:
            self._line(f"{self._counts()} {step_id} {state}" + (f" on {step.server}" if step.server else "")
                       + (f": {detail}" if detail else ""))

    def step_node(self, step_id: str, node: str) -> None:
        step = self.steps[step_id]
        step.node, step.value, step.max = node, 0, 0
        if self.tty:
            self._draw_server(step.server)

    def step_progress(self, step_id: str, value: int, maximum: int) -> None:
        step = self.steps[step_id]
        step.value, step.max = int(value), int(maximum)
        if self.tty:
            self._draw_server(step.server)
        elif maximum and self._new_share(f"{step_id}:{step.node}", value, maximum, 4):
            self._line(f"{self._counts()} {step_id} on {step.server}: {step.node or 'node'} {value}/{maximum}")

    @property
    def done(self) -> int:
        return sum(1 for s in self.steps.values() if s.state == "done")

    @property
    def failed(self) -> int:
        return sum(1 for s in self.steps.values() if s.state == "failed")

    def server_line(self, server: str) -> str:
        """What the display shows for ``server``: its running step(s) and node, what is queued."""
        active = [s for s in self.steps.values() if s.server == server and s.state in ("submitted", "running")]
        parts = []
        for s in active:
            if s.state == "running":
                parts.append(f"step {s.number}/{len(self.steps)} {s.id}" + (f" {s.node}" if s.node else "")
                             + (f" {s.value}/{s.max}" if s.max else ""))
        queued = [s.id for s in active if s.state == "submitted"]
        if queued:
            parts.append("queued: " + ", ".join(queued))
        return f"{server}: " + ("; ".join(parts) if parts else "idle")

    # --- both ---
    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            tqdm.write(text, file=self.stream)
        else:
            self._line(text)

    def close(self) -> None:
        for bar in self._servers.values():
            bar.close()
        self._servers.clear()
        if self._overall is not None:
            self._overall.n = self.done
            self._overall.close()
            self._overall = None

    # --- rendering ---
    def _counts(self) -> str:
        return f"[{self.title} {self.done}/{len(self.steps)}]"

    def _bar(self) -> tqdm:
        if self._overall is None:
            self._overall = tqdm(total=len(self.steps), desc=self.title, unit="step", file=self.stream, position=0,
                                 leave=True, dynamic_ncols=True)
        return self._overall

    def _draw_server(self, server: str) -> None:
        if not server:
            return
        self._bar()
        line = self._servers.get(server)
        if line is None:
            line = self._servers[server] = tqdm(total=1, file=self.stream, position=len(self._servers) + 1,
                                                leave=False, dynamic_ncols=True,
                                                bar_format="  {desc}")
        line.set_description_str(self.server_line(server))

    def _new_share(self, key: str, done: int, total: int, parts: int) -> bool:
        share = int(parts * done / total)
        if self._logged.get(key) == share:
            return False
        self._logged[key] = share
        return True

    def _line(self, text: str) -> None:
        if self.enabled:
            self.stream.write(text + "\n")
            self.stream.flush()
