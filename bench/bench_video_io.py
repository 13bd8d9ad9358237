"""Benchmark of video_utils.video_io: encode/decode speed, lossless intermediates, tail reads, drift.

Run: ``python bench/bench_video_io.py`` (under a minute on 2 cores). Prints figures measured in
this one run; compare the ratios, not the absolute numbers, between machines.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from segue.video_utils import video_io as vio


def natural_frames(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth, textured, moving RGB frames (uint8), closer to generated video than noise is."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.random((height // 16 + 4, width // 16 + 4, 3), dtype=np.float32),
                      (width + 256, height + 256), interpolation=cv2.INTER_CUBIC)
    base = cv2.GaussianBlur(base, (0, 0), 6)
    texture = cv2.GaussianBlur(rng.random((height + 256, width + 256, 3), dtype=np.float32), (0, 0), 1.2)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        ox, oy = (2 * t) % 200, t % 120
        frame = base[oy:oy + height, ox:ox + width] * 0.75 + texture[oy:oy + height, ox:ox + width] * 0.25
        cx, cy = width * (0.3 + 0.4 * np.sin(t / 20)), height * (0.5 + 0.3 * np.cos(t / 15))
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (height / 8) ** 2))[..., None]
        frame = frame * (1 - blob) + blob * np.array([0.9, 0.6, 0.2], np.float32)
        frame += rng.normal(0, 0.004, frame.shape).astype(np.float32)
        out[t] = np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--size", default="832x480")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    torch.set_num_threads(1)
    frames_u8 = natural_frames(args.frames, height, width)
    frames = torch.from_numpy(frames_u8).float().div_(255)
    n, raw_bytes = args.frames, frames_u8.nbytes
    fps = Fraction(16)
    print(f"{n} frames {width}x{height}, PyAV {av.__version__}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("\n-- H.264 (float32 frames in, libx264 yuv420p crf 19, accurate conversion)")
        h264 = tmp / "a.mp4"
        for preset in ("veryfast", "medium"):
            secs, _ = timed(lambda: vio.write_video(h264, frames, fps, preset=preset))
            print(f"encode {preset:9s} {n / secs:7.1f} fps   size {h264.stat().st_size / raw_bytes:.3f} x raw")
        secs, decoded = timed(lambda: vio.read_frames(h264))
        decode_fps = n / secs

        def default_decode():
            with av.open(str(h264)) as c:
                c.streams.video[0].thread_type = "AUTO"
                return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

        secs_default, _ = timed(default_decode)
        print(f"read_frames        {decode_fps:7.1f} fps (float32 out)   PyAV default to uint8 {n / secs_default:7.1f} fps")
        err = decoded * 255 - frames * 255
        print(f"one generation: mean abs error {err.abs().mean():.2f} levels, mean {err.mean():+.3f}")

        print("\n-- lossless intermediates")
        for suffix in (vio.LOSSLESS_SUFFIX, ".avi"):
            path = tmp / f"l{suffix}"
            w_secs, _ = timed(lambda: vio.write_video(path, frames, fps, codec=vio.LOSSLESS_CODEC))
            r_secs, back = timed(lambda: vio.read_frames(path))
            exact = torch.equal((back * 255).round().to(torch.uint8), torch.from_numpy(frames_u8))
            print(f"{suffix:5s} {vio.probe_video(path).codec:10s} write {n / w_secs:6.1f} fps  read {n / r_secs:6.1f} fps  "
                  f"size {path.stat().st_size / raw_bytes:.3f} x raw  bit-exact={exact}")
        raw_path = tmp / "raw.npy"
        secs, _ = timed(lambda: np.save(raw_path, frames_u8))
        print(f"raw .npy write {n / secs:6.0f} fps (reference)")

        print("\n-- colour drift over 5 H.264 generations (encode + decode each, first 24 frames)")
        original = frames[:24]
        current = original
        for gen in range(1, 6):
            vio.write_video(h264, current, fps, preset="veryfast")
            current = vio.read_frames(h264)
            diff = (current - original) * 255
            print(f"gen {gen}: mean abs error {diff.abs().mean():.2f}, mean {diff.mean():+.3f} levels")

        print("\n-- read_last_frames(8) vs decoding everything (500 frames 320x192, H.264 GOP 250)")
        long_frames = torch.from_numpy(natural_frames(500, 192, 320)).float().div_(255)
        long_path = tmp / "long.mp4"
        vio.write_video(long_path, long_frames, fps, preset="ultrafast")
        before = vio.decoded_frame_count()
        full_secs, full = timed(lambda: vio.read_frames(long_path))
        full_decoded = vio.decoded_frame_count() - before
        before = vio.decoded_frame_count()
        tail_secs, tail = timed(lambda: vio.read_last_frames(long_path, 8))
        tail_decoded = vio.decoded_frame_count() - before
        assert torch.equal(tail, full[-8:])
        print(f"full decode {full_secs:.3f} s ({full_decoded} frames); read_last_frames {tail_secs:.3f} s "
              f"({tail_decoded} frames): {full_secs / tail_secs:.1f}x faster")


if __name__ == "__main__":
    main()
