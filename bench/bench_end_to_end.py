#!/usr/bin/env python3
"""End to end on the CPU: a 5-keyframe preview travel at 832x480, with the share of time per phase.

The local renderer (what ``segue travel`` without a server runs, the same steps as the nodes) is
timed as a whole and per phase: building the guides (reading the previous segment's tail),
the preview generator, post-processing, writing the lossless segments, and the stitch (decode,
cross-fade, H.264 encode).  Phases are measured by wrapping the functions the renderer calls.

    .venv/bin/python bench/bench_end_to_end.py [--method flow|blend] [--frames 48]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

import torch

from segue.video_utils.engine import local_render, steps as step_guides
from segue.video_utils.core.travel_plan import plan_travel

WIDTH, HEIGHT = 832, 480


def keyframes(count: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    base = torch.rand(count, 1, 1, 3, generator=g) * 0.6 + 0.2
    frames = base.expand(count, HEIGHT, WIDTH, 3).clone()
    for i in range(count):   # a bright square that moves, so the flow has something to follow
        x = 60 + i * 120
        frames[i, 180:300, x:x + 120] = 1.0
    return frames


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

    local_render.preview_generate = timed("preview generator", local_render.preview_generate)
    local_render.finish_frames = timed("post-processing", local_render.finish_frames)
    local_render.write_video = timed("lossless segment files", local_render.write_video)
    local_render.deliver_segments = timed("stitch + H.264 encode", local_render.deliver_segments)
    guide = step_guides.TravelStep.guide
    step_guides.TravelStep.guide = timed("guides (incl. previous tail read)", guide)

    plan = plan_travel(5, args.frames, 8)
    keys = keyframes(5)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        local_render.render_travel(keys, plan, Path(tmp) / "travel.mp4", method=args.method, preset="medium")
        total = time.perf_counter() - started
    print(f"5-keyframe preview travel ({args.method}), {WIDTH}x{HEIGHT}, {plan.total_frames} frames: "
          f"{total:.2f} s = {plan.total_frames / total:.0f} frames/s\n")
    print("| phase | seconds | share |")
    print("|---|---|---|")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {seconds:.2f} | {seconds / total:.0%} |")
    rest = total - sum(spent.values())
    print(f"| other (planning, temp files) | {rest:.2f} | {rest / total:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
