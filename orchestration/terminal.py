"""A dependency-free progress bar for the terminal (stderr).

On a TTY it redraws one line; otherwise (CI logs, pipes) it prints a line only every 10 % so logs
stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, width: int = 28):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_decile: dict[str, int] = {}
        self._started = time.monotonic()
        self._open_line = False

    def update(self, stage: str, done: int, total: int, detail: str = "") -> None:
        total = max(total, 1)
        frac = min(max(done / total, 0.0), 1.0)
        if self.tty:
            filled = int(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            elapsed = time.monotonic() - self._started
            self.stream.write(f"\r{stage:<12} [{bar}] {done}/{total} {detail} {elapsed:5.1f}s\x1b[K")
            self._open_line = True
            if done >= total:
                self.stream.write("\n")
                self._open_line = False
        else:
            decile = int(frac * 10)
            if self._last_decile.get(stage) == decile:
                return
            self._last_decile[stage] = decile
            self.stream.write(f"{stage}: {done}/{total} {detail}".rstrip() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.update(stage, done, total)
