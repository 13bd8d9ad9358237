"""Retiming frames as they stream: output frame k shows the source position the time maps
(``core.retime``) give it, by the nearest frame or a blend of the two neighbours.

Used by the travel delivery (16 fps -> the output rate), the join assembly (transitions to the
output rate) and the extension assembly.  Memory: two source frames and one output chunk.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import torch

from ..core.constants import DEFAULT_RETIME, RETIME_MODES
from ..core.errors import PlanError
from ..core.lengths import round_half_up

class Retimer:
    """Retime a stream of frames as it arrives: output frame k shows source position
    ``positions[k]`` (in source frames, non-decreasing).  ``nearest`` picks the closest frame
    (halves up), ``blend`` mixes the two neighbours linearly.  Positions past the last frame show
    the last frame, or with ``loop`` lie between the last frame and frame 0 again (a loop's period).
    ``push`` chunks [n,H,W,3] in order, then ``close``; ``emit`` receives output chunks of up to
    ``chunk`` frames.  Memory: two source frames and one output chunk.  Deterministic (fixed
    weights, one ``lerp`` per output frame).
    """

    def __init__(self, positions: Sequence[Fraction], emit, mode: str = DEFAULT_RETIME, *, loop: bool = False,
                 chunk: int = 16):
        if mode not in RETIME_MODES:
            raise PlanError(f"mode={mode!r} is not a retime mode: use one of {', '.join(RETIME_MODES)}")
        self.mode, self.emit, self.loop, self.chunk = mode, emit, loop, chunk
        self.positions = [Fraction(p) for p in positions]
        self.k = 0                            # next output frame
        self.seen = 0                         # source frames received
        self.frames: dict[int, object] = {}   # the source frames still needed
        self.first = None                     # frame 0, for a loop's wrap
        self.out: list = []

    def _sources(self, k: int) -> tuple[int, int, float]:
        x = self.positions[k]
        if self.mode == "nearest":
            return round_half_up(x), round_half_up(x), 0.0
        i = math.floor(x)
        return (i, i + 1, float(x - i)) if x != i else (i, i, 0.0)

    def _get(self, i: int, last: int | None):
        """Source frame ``i``, or None until it has arrived (``last``: the final index, once known)."""
        if i in self.frames:
            return self.frames[i]
        if last is None or i <= last:
            return None
        return self.first if self.loop else self.frames[last]

    def _drain(self, last: int | None) -> None:
        while self.k < len(self.positions):
            i, j, w = self._sources(self.k)
            a, b = self._get(i, last), self._get(j, last)
            if a is None or b is None:
                return                              # wait for more source frames
            self.out.append(a if w == 0.0 else torch.lerp(a, b, w))
            self.k += 1
            if len(self.out) == self.chunk:
                self._flush()
            keep = self._sources(self.k)[0] if self.k < len(self.positions) else self.seen
            for index in [n for n in self.frames if n < keep]:
                del self.frames[index]

    def _flush(self) -> None:
        if self.out:
            self.emit(torch.stack(self.out))
            self.out = []

    def push(self, chunk) -> None:
        for frame in chunk:
            frame = frame.to(torch.float32, copy=True)
            if self.seen == 0:
                self.first = frame
            self.frames[self.seen] = frame
            self.seen += 1
            self._drain(None)

    def close(self) -> int:
        """Emit what is left; returns the frames emitted in all."""
        if self.seen == 0:
            raise PlanError("nothing to retime: the source gave no frames")
        self._drain(self.seen - 1)
        self._flush()
        if self.k != len(self.positions):
            raise PlanError(f"retiming stopped at output frame {self.k} of {len(self.positions)}: the source has "
                            f"only {self.seen} frames")
        return self.k
