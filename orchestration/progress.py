"""Progress of one run: an overall bar plus one line per server (its step, node, sampler step).

On a TTY the block is redrawn in place (at most ~10 times a second); elsewhere (CI logs, pipes)
a line is printed for every step state change and for sampler progress every 25 %, so logs stay
short.  The runner calls ``step_state`` / ``step_progress`` / ``step_node`` / ``note``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO


@dataclass
class _Step:
    id: str
    state: str = "pending"
    server: str = ""
    node: str = ""
    value: int = 0
    max: int = 0


class RunProgress:
    def __init__(self, title: str, step_ids: list[str], stream: TextIO | None = None, enabled: bool = True,
                 width: int = 24):
        self.title = title
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self.steps = {s: _Step(s) for s in step_ids}
        self.started = time.monotonic()
        self._drawn_lines = 0
        self._last_draw = 0.0
        self._last_quarter: dict[str, int] = {}

    # --- events ---
    def step_state(self, step_id: str, state: str, server: str = "", detail: str = "") -> None:
        step = self.steps[step_id]
        changed = state != step.state or (server and server != step.server)
        step.state = state
        if server:
            step.server = server
        if state != "running":
            step.node, step.value, step.max = "", 0, 0
        if changed and not self.tty:
            self._line(f"{self._counts()} {step_id} {state}" + (f" on {step.server}" if step.server else "")
                       + (f": {detail}" if detail else ""))
        self._draw(force=True)

    def step_progress(self, step_id: str, value: int, maximum: int) -> None:
        step = self.steps[step_id]
        step.value, step.max = int(value), int(maximum)
        if not self.tty and maximum:
            quarter = int(4 * value / maximum)
            key = f"{step_id}:{step.node}"
            if self._last_quarter.get(key) != quarter:
                self._last_quarter[key] = quarter
                self._line(f"{self._counts()} {step_id} on {step.server}: {step.node or 'node'} {value}/{maximum}")
        self._draw()

    def step_node(self, step_id: str, node: str) -> None:
        step = self.steps[step_id]
        step.node, step.value, step.max = node, 0, 0
        self._draw()

    def note(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn_lines = 0
        self._draw(force=True)

    def close(self) -> None:
        self._draw(force=True)
        self._drawn_lines = 0

    # --- rendering ---
    def _counts(self) -> str:
        done = sum(1 for s in self.steps.values() if s.state == "done")
        return f"[{self.title} {done}/{len(self.steps)}]"

    def lines(self) -> list[str]:
        """The block as text (also what tests read)."""
        total = len(self.steps)
        done = sum(1 for s in self.steps.values() if s.state == "done")
        failed = sum(1 for s in self.steps.values() if s.state == "failed")
        filled = int(self.width * done / max(total, 1))
        head = (f"{self.title} [{'#' * filled}{'-' * (self.width - filled)}] {done}/{total} steps"
                + (f", {failed} failed" if failed else "") + f"  {time.monotonic() - self.started:6.1f}s")
        out = [head]
        by_server: dict[str, list[_Step]] = {}
        for s in self.steps.values():
            if s.state in ("submitted", "running") and s.server:
                by_server.setdefault(s.server, []).append(s)
        for server in sorted(by_server):
            active = by_server[server]
            running = [s for s in active if s.state == "running"]
            queued = [s for s in active if s.state == "submitted"]
            parts = []
            for s in running:
                index = list(self.steps).index(s.id) + 1
                detail = f" {s.node}" if s.node else ""
                if s.max:
                    detail += f" {s.value}/{s.max}"
                parts.append(f"step {index}/{total} {s.id}{detail}")
            if queued:
                parts.append("queued: " + ", ".join(s.id for s in queued))
            out.append(f"  {server}: " + "; ".join(parts))
        return out

    def _line(self, text: str) -> None:
        if self.enabled:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _clear(self) -> None:
        if self.tty and self._drawn_lines:
            self.stream.write(f"\x1b[{self._drawn_lines}F\x1b[J")

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self._clear()
        block = self.lines()
        self.stream.write("\n".join(block) + "\n")
        self.stream.flush()
        self._drawn_lines = len(block)
