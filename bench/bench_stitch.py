"""In-memory vs streamed cross-fade stitch: frames/s and peak RAM, ratios from one run.

    python bench/bench_stitch.py [--segments 4] [--frames 49] [--overlap 8] [--size 832x480]

1. kernel: ``stitch_segments`` on segments already in RAM vs ``stitch_stream`` from the same
   tensors into a sink that drops the frames (pure blend/copy cost, GB/s of output).
2. files: segments written once as lossless intermediates, then stitched to H.264 either by
   decoding everything + ``stitch_segments`` + ``write_video`` ("memory") or by
   ``stitch_segment_files`` ("streamed").  Peak RSS is measured above the RSS before each phase
   (Linux: VmHWM reset through /proc/self/clear_refs).  Takes well under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import torch

from segue.video_utils.stitch import stitch_segment_files, stitch_segments, stitch_stream


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


class PeakRSS:
    """Peak resident memory above the level at entry, in bytes."""

    def __enter__(self):
        self.base = _status("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")                      # resets VmHWM to the current RSS
            self.sampler = None
        except OSError:                           # fall back to sampling
            self.peak, self.stop = self.base, threading.Event()
            self.sampler = threading.Thread(target=self._sample, daemon=True)
            self.sampler.start()
        return self

    def _sample(self):
        while not self.stop.wait(0.002):
            self.peak = max(self.peak, _status("VmRSS"))

    def __exit__(self, *exc):
        if self.sampler is None:
            self.peak = _status("VmHWM")
        else:
            self.stop.set()
            self.sampler.join()
        self.delta = max(0, self.peak - self.base)


def timed(fn):
    with PeakRSS() as rss:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    return result, seconds, rss.delta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--overlap", type=int, default=8)
    parser.add_argument("--size", default="832x480")
    parser.add_argument("--preset", default="veryfast", help="x264 preset of the final encode")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    torch.set_num_threads(min(2, os.cpu_count() or 1))

    g = torch.Generator().manual_seed(0)
    segments = []
    for _ in range(args.segments):
        base = torch.rand(1, height, width, 3, generator=g)
        drift = torch.linspace(0, 0.25, args.frames).view(-1, 1, 1, 1)
        segments.append((base + drift) % 1.0)
    overlaps = [args.overlap] * (args.segments - 1)
    total = args.segments * args.frames - sum(overlaps)
    frame_bytes = height * width * 3 * 4
    print(f"{args.segments} segments x {args.frames} frames {width}x{height}, overlap {args.overlap} "
          f"-> {total} frames ({total * frame_bytes / 2**30:.2f} GiB float32)")

    runs = {"memory": [], "stream": []}
    for _ in range(3):        # the first big allocation of a process is the slowest: report medians
        runs["memory"].append(timed(lambda: stitch_segments(segments, overlaps).shape)[1:])
        runs["stream"].append(timed(lambda: stitch_stream(segments, overlaps, lambda f: None))[1:])
    (t_mem, rss_mem), (t_stream, rss_stream) = (sorted(runs[k])[1] for k in ("memory", "stream"))
    print(f"kernel   in-memory runs: {', '.join(f'{total / t:.0f}' for t, _ in runs['memory'])} frames/s")
    print(f"kernel   in-memory : {total / t_mem:8.0f} frames/s  {total * frame_bytes / t_mem / 1e9:5.1f} GB/s  "
          f"peak RSS +{rss_mem / 2**20:7.0f} MiB")
    print(f"kernel   streamed  : {total / t_stream:8.0f} frames/s  {total * frame_bytes / t_stream / 1e9:5.1f} GB/s  "
          f"peak RSS +{rss_stream / 2**20:7.0f} MiB")
    print(f"kernel   ratio streamed/in-memory: speed {t_mem / t_stream:.2f}x, "
          f"peak RAM {rss_stream / max(rss_mem, 1):.3f}x")

    from segue.video_utils.video_io import LOSSLESS_CODEC, LOSSLESS_SUFFIX, read_frames, write_video

    with tempfile.TemporaryDirectory(prefix="segue-bench-") as tmp:
        paths = []
        for i, seg in enumerate(segments):
            path = Path(tmp) / f"seg{i}{LOSSLESS_SUFFIX}"
            write_video(path, seg, 16, codec=LOSSLESS_CODEC)
            paths.append(path)
        del segments, seg

        def in_memory():
            decoded = [read_frames(p) for p in paths]
            video = stitch_segments(decoded, overlaps)
            del decoded
            write_video(Path(tmp) / "memory.mp4", video, 16, preset=args.preset)
            return video.shape[0]

        def streamed():
            return stitch_segment_files(paths, overlaps, Path(tmp) / "streamed.mp4", fps=16, preset=args.preset)

        n_mem, t_fmem, rss_fmem = timed(in_memory)
        n_str, t_fstr, rss_fstr = timed(streamed)
        assert n_mem == n_str == total
    print(f"files    in-memory : {total / t_fmem:8.1f} frames/s  peak RSS +{rss_fmem / 2**20:7.0f} MiB "
          f"(decode all + stitch + encode {args.preset})")
    print(f"files    streamed  : {total / t_fstr:8.1f} frames/s  peak RSS +{rss_fstr / 2**20:7.0f} MiB "
          f"(stitch_segment_files)")
    print(f"files    ratio streamed/in-memory: speed {t_fmem / t_fstr:.2f}x, "
          f"peak RAM {rss_fstr / max(rss_fmem, 1):.3f}x")


if __name__ == "__main__":
    main()
