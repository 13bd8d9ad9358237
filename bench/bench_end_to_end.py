#!/usr/bin/env python3
"""End to end on the CPU: a 5-keyframe preview travel at 832x480, with the share of time per phase.

What ``segue travel`` without a server runs (``server.local.render_locally``: the run's step
prompts, the same a server receives, run by the engine's executor of Segue's own nodes) is
timed as a whole and per phase: loading the keyframes (every segment's prompt loads them, as on
a server), building the guides (reading the previous segment's tail), the preview generator,
post-processing, writing the lossless segments, and the stitch (decode, cross-fade, H.264
encode).  Phases are measured by wrapping the functions the executor calls.

    .venv/bin/python bench/bench_end_to_end.py [--method flow|blend] [--frames 48]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from segue.orchestration.runs import GeneratorConfig, TravelRun
from segue.orchestration.server.local import render_locally
from segue.video_utils.engine import executor, steps

WIDTH, HEIGHT = 832, 480


def keyframes(folder: Path, count: int) -> list[str]:
    """PNG keyframes: flat colours with a bright square that moves, so the flow has something to follow."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(count):
        image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        image[:] = rng.integers(50, 200, 3)
        image[180:300, 60 + i * 120:180 + i * 120] = 255
        path = folder / f"key_{i}.png"
        cv2.imwrite(str(path), image)
        paths.append(str(path))
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="flow", choices=["flow", "blend"])
    ap.add_argument("--frames", type=int, default=48, help="frames between keyframes")
    args = ap.parse_args()
    spent: dict[str, float] = collections.defaultdict(float)

    def timed(name: str, fn):
        def wrapper(*a, **kw):
            started = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.perf_counter() - started
        return wrapper

    executor.load_image = timed("keyframes (loaded by every step)", executor.load_image)
    executor.preview_generate = timed("preview generator", executor.preview_generate)
    executor.finish_frames = timed("post-processing", executor.finish_frames)
    executor.write_video = timed("lossless segment files", executor.write_video)
    executor.stitch_files = timed("stitch + H.264 encode", executor.stitch_files)
    steps.TravelStep.guide = timed("guides (incl. previous tail read)", steps.TravelStep.guide)

    with tempfile.TemporaryDirectory() as tmp:
        run = TravelRun(images=keyframes(Path(tmp), 5), segment_frames=args.frames, overlap=8,
                        generator=GeneratorConfig.from_name("preview", preview_method=args.method),
                        out=str(Path(tmp) / "travel.mp4"))
        plan = run.validate()
        started = time.perf_counter()
        render_locally(run, plan)
        total = time.perf_counter() - started
    print(f"5-keyframe preview travel ({args.method}), {WIDTH}x{HEIGHT}, {plan.total_frames} frames: "
          f"{total:.2f} s = {plan.total_frames / total:.0f} frames/s\n")
    print("| phase | seconds | share |")
    print("|---|---|---|")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {seconds:.2f} | {seconds / total:.0%} |")
    rest = total - sum(spent.values())
    print(f"| other (step prompts, planning, file names) | {rest:.2f} | {rest / total:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
