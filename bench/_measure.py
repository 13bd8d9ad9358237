"""Shared bench code: timing, peak RSS above a baseline, one fresh subprocess per variant.

Peak RSS of a variant is only meaningful on its own: a process that already built (and freed) a
big tensor keeps pages mapped and its allocator warm, so each variant runs in a fresh Python
started by ``run_child``.  Inside the child, ``PeakRSS`` resets the kernel's high-water mark
(``/proc/self/clear_refs``) after the child's setup (imports, input data), so the figure is the
memory the variant itself added; where that file is not writable a 1 ms sampler stands in.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable

MiB = 2 ** 20
GiB = 2 ** 30


def status_bytes(key: str) -> int:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM, ...) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def mem_available() -> int:
    """MemAvailable of the machine in bytes (what a variant may use without swapping others out)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRSS:
    """Peak resident memory above the level at entry (``.delta``, bytes)."""

    def __enter__(self):
        self.base = status_bytes("VmRSS")
        self.sampler = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")                      # resets VmHWM to the current RSS
        except OSError:
            self.peak, self.stop = self.base, threading.Event()
            self.sampler = threading.Thread(target=self._sample, daemon=True)
            self.sampler.start()
        return self

    def _sample(self):
        while not self.stop.wait(0.001):
            self.peak = max(self.peak, status_bytes("VmRSS"))

    def __exit__(self, *exc):
        if self.sampler is None:
            self.peak = status_bytes("VmHWM")
        else:
            self.stop.set()
            self.sampler.join()
        self.delta = max(0, self.peak - self.base)


def measure(fn: Callable[[], object], repeat: int = 3, budget_s: float = 20.0) -> dict:
    """Run ``fn`` up to ``repeat`` times (fewer once ``budget_s`` is spent); median seconds, max peak.

    Returns ``{"seconds": median, "runs": [...], "rss": peak bytes above the level before the
    first run, "result": fn's last return value}``.
    """
    runs, peak, result = [], 0, None
    spent = 0.0
    for _ in range(repeat):
        with PeakRSS() as rss:
            start = time.perf_counter()
            result = fn()
            seconds = time.perf_counter() - start
        runs.append(seconds)
        peak = max(peak, rss.delta)
        spent += seconds
        if spent > budget_s:
            break
    return {"seconds": statistics.median(runs), "runs": runs, "rss": peak, "result": result}


def child_report(values: dict) -> None:
    """Print a child's result as the last stdout line (read back by ``run_child``)."""
    print("@@RESULT " + json.dumps(values), flush=True)


def run_child(script: str, args: list[str], timeout: float = 600.0) -> dict:
    """Run ``python script *args`` in a fresh process and return what it passed to ``child_report``.

    A child that fails returns ``{"error": <last lines of its stderr>}`` instead of raising, so a
    bench can print the other variants.
    """
    env = dict(os.environ)
    try:
        proc = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("@@RESULT "):
            return json.loads(line[len("@@RESULT "):])
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-3:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def natural_frames(count: int, height: int, width: int, seed: int = 0, start: int = 0):
    """Smooth, textured, moving RGB frames, uint8 numpy [count,H,W,3] (frames start..start+count).

    Closer to generated video than noise or a plain pan is (an encoder's and a decoder's speed
    depend on the content; H.264 crf 19 needs about 45 KB a frame at 832x480, a detailed clip): a
    blurred colour field panning one way, fine detail panning another way and slowly morphing
    (a cross-fade between detail fields, which motion search cannot predict), a moving bright
    blob and grain.  Built from crops of canvases made once, a few ms a frame at 832x480.
    """
    import cv2
    import numpy as np
    scene, details, grain = _canvas(height, width, seed)
    sigma = height / 8
    reach = int(3 * sigma)
    colour = np.array([0.9, 0.6, 0.2], np.float32) * 255
    out = np.empty((count, height, width, 3), np.uint8)
    frame = np.empty((height, width, 3), np.float32)
    for k in range(count):
        t = start + k
        ox, oy = (2 * t) % 256, t % 128
        dx, dy = 127 - (t % 128), (3 * t) % 128
        gx, gy = (37 * t) % 64, (53 * t) % 64
        phase = (t % 24) / 24
        d0, d1 = details[(t // 24) % len(details)], details[(t // 24 + 1) % len(details)]
        cv2.addWeighted(d0[dy:dy + height, dx:dx + width], 1 - phase, d1[dy:dy + height, dx:dx + width], phase,
                        0.0, dst=frame)
        frame += scene[oy:oy + height, ox:ox + width]
        frame += grain[gy:gy + height, gx:gx + width]
        cx = int(width * (0.3 + 0.4 * np.sin(t / 20)))
        cy = int(height * (0.5 + 0.3 * np.cos(t / 15)))
        y0, y1, x0, x1 = max(cy - reach, 0), min(cy + reach, height), max(cx - reach, 0), min(cx + reach, width)
        gy_ = np.exp(-((np.arange(y0, y1, dtype=np.float32) - cy) ** 2) / (2 * sigma ** 2))
        gx_ = np.exp(-((np.arange(x0, x1, dtype=np.float32) - cx) ** 2) / (2 * sigma ** 2))
        blob = (gy_[:, None] * gx_[None, :])[..., None]
        region = frame[y0:y1, x0:x1]
        region += blob * (colour - region)
        out[k] = np.clip(frame, 0, 255, out=frame)  # float -> uint8 truncates; the grain dithers
    return out


_CANVASES: dict = {}


def _canvas(height: int, width: int, seed: int):
    """Per size: a panning colour field (0..~190), 4 detail fields (+-~65) and a grain field."""
    key = (height, width, seed)
    if key not in _CANVASES:
        import cv2
        import numpy as np
        rng = np.random.default_rng(seed)
        big = (height + 256, width + 256)
        base = cv2.resize(rng.random((big[0] // 16 + 4, big[1] // 16 + 4, 3), dtype=np.float32),
                          (big[1], big[0]), interpolation=cv2.INTER_CUBIC)
        scene = cv2.GaussianBlur(base, (0, 0), 6) * 190 + 32
        details = []
        for _ in range(4):
            fine = cv2.GaussianBlur(rng.random((height + 128, width + 128, 3), dtype=np.float32), (0, 0), 1.0)
            details.append(((fine - fine.mean()) * 180).astype(np.float32))
        grain = rng.normal(0, 1.5, (height + 64, width + 64, 3)).astype(np.float32)
        _CANVASES.clear()
        _CANVASES[key] = (scene.astype(np.float32), details, grain)
    return _CANVASES[key]
