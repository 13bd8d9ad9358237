#!/usr/bin/env python3
"""Peak server memory of one-prompt travels and joins in a real ComfyUI (issue 10).

A fresh ComfyUI per measurement (the provisioned test server: ``SEGUE_COMFYUI_DIR``, see the
README's Tests; a fresh one because freed-but-kept heap from an earlier prompt hides growth);
after a warm-up prompt, each travel / join runs as ONE prompt (Segue Travel / Segue Join Clips,
preview generator, 832x480) and its peak resident memory above the memory just before is read
from /proc (the peak counter is reset before the prompt).  The baseline is the ratio to the shortest
run: flat memory means ratios near 1 however long the video.

    SEGUE_COMFYUI_DIR=... .venv/bin/python bench/bench_one_prompt.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from comfyui_harness import ComfyServer, comfyui_install  # noqa: E402
from memory_probe import join_prompt, measure, travel_prompt, write_clips, write_keyframes  # noqa: E402

WIDTH, HEIGHT, SEGMENT_FRAMES, OVERLAP = 832, 480, 32, 8


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2, 5 and 11 segments; a 5-clip join")
    args = ap.parse_args()
    install = comfyui_install()
    if isinstance(install, str):
        print(f"no ComfyUI: {install}")
        return 1
    segments = (2, 5, 11) if args.quick else (2, 5, 11, 20)
    clips = 5 if args.quick else 10
    rows = []
    runs = [("travel", n) for n in segments] + [("join", n) for n in (3, clips)]
    for kind, n in runs:
        with tempfile.TemporaryDirectory(prefix="segue_bench_") as base:
            server = ComfyServer(Path(base)).start()
            try:
                if kind == "travel":
                    names = write_keyframes(server.input_dir / "bench", n + 1, WIDTH, HEIGHT)
                    server.run(travel_prompt(names[:2], 8, 2, tag="warm"))
                    prompt = travel_prompt(names, SEGMENT_FRAMES, OVERLAP, tag=f"t{n}")
                else:
                    names = write_clips(server.input_dir / "benchclips", n, WIDTH, HEIGHT, 40)
                    server.run(join_prompt(names[:2], 4, 5, tag="warm"))
                    prompt = join_prompt(names, tag=f"j{n}")
                started = time.monotonic()
                peak, _ = measure(server, prompt)
                label = f"travel, {n} segments" if kind == "travel" else f"join, {n} clips"
                rows.append((label, peak, time.monotonic() - started))
            finally:
                server.stop()
    print(f"\nOne prompt in a real ComfyUI (preview generator, {WIDTH}x{HEIGHT}, {SEGMENT_FRAMES}-frame segments, "
          f"overlap {OVERLAP}); peak server RSS above the RSS before the prompt:\n")
    print("| run | peak RSS added | vs shortest of its kind | seconds |")
    print("|---|---|---|---|")
    first = {}
    for name, peak, seconds in rows:
        kind = name.split(",")[0]
        first.setdefault(kind, peak)
        print(f"| {name} | {peak / 2**20:,.0f} MiB | {peak / first[kind]:.2f}x | {seconds:.1f} |")
    eleven = next((p for n, p, _ in rows if n == "travel, 11 segments"), None)
    two = rows[0][1]
    if eleven:
        ok = eleven <= 1.3 * two and eleven < 1.5 * 2**30
        print(f"\ntarget: 11 segments within 1.3x of 2 and under +1.5 GB: {'PASS' if ok else 'MISS'} "
              f"({eleven / two:.2f}x, +{eleven / 2**30:.2f} GB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
