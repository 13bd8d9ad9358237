"""Video IO: Segue's encoder and tail reader against their baselines, ratios from one run.

    python bench/bench_video_io.py [--quick] [--frames 121] [--size 832x480] [--crf 19]
                                   [--preset medium] [--long-frames 2000] [--rounds 3]

1. encode: the same float32 IMAGE frames to H.264 by
   * ``segue``      ``video_write.VideoWriter`` (PyAV, libx264 yuv420p, crf/preset, BT.709 tagged);
   * ``ffmpeg pipe`` raw rgb24 frames piped to an ``ffmpeg`` CLI subprocess with the arguments
     VideoHelperSuite's "Video Combine" uses for h264-mp4 (input tagged pc/rgb/bt709, ``-c:v
     libx264 -pix_fmt yuv420p -crf N -vf scale=out_color_matrix=bt709``, output tagged tv/bt709;
     VHS passes no preset, i.e. libx264's ``medium``: ``-preset`` is set to the same value here),
     frames converted to bytes per frame in Python as VHS does;
   * ``opencv``     ``cv2.VideoWriter`` (its wheel has no H.264 encoder: MPEG-4 Part 2 ``mp4v``,
     no crf/preset, so quality differs: compare the PSNR column).
   Round-robin ``--rounds`` times, median frames/s; size and PSNR against the source frames.
   Without an ``ffmpeg`` on PATH that row says so (install it, e.g. ``apt-get install ffmpeg``).
2. tail: ``read_last_frames(path, 8)`` against decoding the whole file, on (i) a ``--long-frames``
   H.264 file with a keyframe every 250 frames exactly (crf 19 veryfast, no scene-cut keyframes)
   and (ii) the same frames as Segue's lossless intermediate (``LOSSLESS_CODEC``, .mkv, written
   by ``VideoWriter``).  Full decode = PyAV
   decoding every frame without any conversion (the cheapest way to read them all), and
   ``iter_frames`` to the end (Segue's float32 read, what a reader that cannot seek costs; H.264
   only).
   The tail read is timed cold (a fresh probe, as the first read of a new file) and warm, median
   of 3; the full decode is timed before and after them, the faster run counts (a conservative
   ratio on a shared machine).
3. Segue's own properties: lossless intermediate formats, colour drift over 5 H.264 generations.

Takes 2-4 minutes on 2 cores (``--quick``: under a minute, a 500-frame long file).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
from av.video.reformatter import ColorRange, Colorspace
import cv2
import numpy as np
import torch

import _measure as m
from segue.video_utils.core import probe
from segue.video_utils.engine import video_read as vr, video_write as vw
from segue.video_utils.core.constants import LOSSLESS_SUFFIX

FPS = Fraction(16)


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


# ---- encoders (each writes ``frames`` float32 [N,H,W,3] to ``path``) --------------------------

def encode_segue(frames: torch.Tensor, path: Path, crf: int, preset: str) -> str:
    with vw.VideoWriter(path, FPS, frames.shape[2], frames.shape[1], crf=crf, preset=preset) as w:
        w.write(frames)
    return f"libx264 crf {crf} {preset}"


def vhs_args(ffmpeg: str, width: int, height: int, crf: int, preset: str, path: Path) -> list[str]:
    """VideoHelperSuite's Video Combine command line for h264-mp4 (metadata pass left out)."""
    return [ffmpeg, "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-color_range", "pc", "-colorspace", "rgb", "-color_primaries", "bt709", "-color_trc", "bt709",
            "-s", f"{width}x{height}", "-r", str(FPS), "-i", "-",
            "-n", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), "-preset", preset,
            "-vf", "scale=out_color_matrix=bt709",
            "-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
            str(path)]


def encode_ffmpeg_pipe(frames: torch.Tensor, path: Path, crf: int, preset: str, ffmpeg: str) -> str:
    path.unlink(missing_ok=True)
    args = vhs_args(ffmpeg, frames.shape[2], frames.shape[1], crf, preset, path)
    with subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        for frame in frames:    # VHS: x*255+0.5, clipped, to uint8, to bytes, one frame at a time
            data = np.clip(frame.numpy() * 255 + 0.5, 0, 255).astype(np.uint8)
            proc.stdin.write(data.tobytes())
        proc.stdin.close()
        err = proc.stderr.read()
    if proc.returncode:
        raise RuntimeError(f"ffmpeg failed: {err.decode(errors='replace')}")
    return f"libx264 crf {crf} {preset}"


def encode_opencv(frames: torch.Tensor, path: Path, crf: int, preset: str) -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(FPS),
                             (frames.shape[2], frames.shape[1]))
    if not writer.isOpened():
        raise RuntimeError("cv2.VideoWriter could not open an mp4v writer")
    bgr = np.empty(frames.shape[1:], np.uint8)
    for frame in frames:
        cv2.cvtColor(cv2.convertScaleAbs(frame.numpy(), alpha=255.0), cv2.COLOR_RGB2BGR, dst=bgr)
        writer.write(bgr)
    writer.release()
    return "mp4v (MPEG-4 Part 2), OpenCV defaults"


def x264_core(path: Path) -> str:
    """The libx264 build that wrote ``path`` (from its SEI user data), e.g. 'core 164 r3095'."""
    match = re.search(rb"x264 - core (\d+)( r\d+)?", path.read_bytes()[:200_000])
    return match.group(0)[len(b"x264 - "):].decode() if match else "-"


def psnr(path: Path, reference_u8: np.ndarray) -> float:
    """Mean PSNR (dB, 8-bit RGB) of the decoded file against the source frames."""
    decoded = vr.read_frames(path)
    if decoded.shape[0] != reference_u8.shape[0]:
        return float("nan")
    got = (decoded * 255).round_().to(torch.uint8).numpy()
    return float(np.mean([cv2.PSNR(a, b) for a, b in zip(got, reference_u8)]))


def bench_encode(args, tmp: Path, frames_u8: np.ndarray) -> dict:
    frames = torch.from_numpy(frames_u8).float().div_(255)
    n, h, w = frames.shape[:3]
    ffmpeg = shutil.which("ffmpeg")
    encoders = {"segue": encode_segue, "opencv": encode_opencv}
    if ffmpeg:
        encoders["ffmpeg pipe"] = lambda f, p, c, s: encode_ffmpeg_pipe(f, p, c, s, ffmpeg)
    order = ["segue", "ffmpeg pipe", "opencv"]
    print(f"\n== encode: {n} frames {w}x{h} float32 -> mp4, crf {args.crf}, preset {args.preset}, "
          f"{args.rounds} rounds ==")
    if ffmpeg:
        version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
        print(f"  ffmpeg CLI: {version}")
    else:
        print("  ffmpeg CLI: NOT INSTALLED - the ffmpeg-pipe baseline is skipped (apt-get install ffmpeg)")
    print(f"  PyAV {av.__version__} (FFmpeg {'.'.join(map(str, av.library_versions['libavcodec']))} libavcodec), "
          f"OpenCV {cv2.__version__}")
    times = {name: [] for name in encoders}
    notes = {}
    for _ in range(args.rounds):
        for name in order:
            if name in encoders:
                secs, notes[name] = timed(lambda: encoders[name](frames, tmp / f"enc_{name.split()[0]}.mp4",
                                                                 args.crf, args.preset))
                times[name].append(secs)
    results = {}
    for name in order:
        if name not in encoders:
            results[name] = {"error": "ffmpeg not installed"}
            continue
        path = tmp / f"enc_{name.split()[0]}.mp4"
        secs = statistics.median(times[name])
        results[name] = {"fps": n / secs, "runs": times[name], "size": path.stat().st_size,
                         "psnr": psnr(path, frames_u8), "codec": notes[name], "x264": x264_core(path)}
        r = results[name]
        print(f"  {name:12s} {r['fps']:7.1f} frames/s  {r['size'] / 1e6:6.2f} MB  PSNR {r['psnr']:5.2f} dB  "
              f"{r['codec']} [{r['x264']}]  runs {', '.join(f'{t:.2f}' for t in times[name])} s")
    return {"frames": n, "size": f"{w}x{h}", "results": results}


# ---- tail reads ------------------------------------------------------------------------------

class GopWriter:
    """H.264 with a fixed GOP (keyframe every ``gop`` frames, no scene-cut keyframes), tagged like
    Segue's files; Segue's ``VideoWriter`` keeps libx264's default GOP of 250 but lets scene cuts
    add keyframes, which would make the tail read easier than the target means."""

    def __init__(self, path: Path, width: int, height: int, gop: int = 250, preset: str = "veryfast"):
        self.container = av.open(str(path), "w")
        self.stream = self.container.add_stream("libx264", rate=FPS)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.options = {"crf": "19", "preset": preset,
                               "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:chromaloc=1"}
        ctx = self.stream.codec_context
        ctx.thread_type = "FRAME"
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1   # BT.709
        ctx.color_range = 1                                         # limited
        self.count = 0

    def write(self, frames: np.ndarray) -> None:
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace=Colorspace.ITU709, src_color_range=ColorRange.JPEG,
                dst_color_range=ColorRange.MPEG)
            frame.pts = self.count
            self.count += 1
            for packet in self.stream.encode(frame):
                self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def write_long(h264: Path, lossless: Path, count: int, height: int, width: int) -> None:
    """The same ``count`` natural frames to a GOP-250 H.264 file and to a Segue lossless
    intermediate (generated 100 at a time, never all in RAM)."""
    writers = [GopWriter(h264, width, height),
               vw.VideoWriter(lossless, FPS, width, height, codec=vw.LOSSLESS_CODEC)]
    for a in range(0, count, 100):
        frames = m.natural_frames(min(100, count - a), height, width, seed=7, start=a)
        for w in writers:
            w.write(frames)
    for w in writers:
        w.close()


def keyframe_gaps(path: Path) -> tuple[int, int]:
    """(keyframes, longest distance between keyframes in frames), from the packets."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        pts = sorted((p.pts, p.is_keyframe) for p in c.demux(stream) if p.size)
    keys = [i for i, (_, k) in enumerate(pts) if k]
    gaps = [b - a for a, b in zip(keys, keys[1:] + [len(pts)])]
    return len(keys), max(gaps)


def decode_all_pyav(path: Path) -> int:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in c.decode(stream))


def decode_all_segue(path: Path) -> torch.Tensor:
    last = None
    for chunk in vr.iter_frames(path, chunk=16):
        last = chunk if last is None else torch.cat((last[-8:], chunk))
    return last[-8:]


def tail_cold(path: Path) -> torch.Tensor:
    probe.clear_cache()  # the first read of a file in this process
    return vr.read_last_frames(path, 8)


def bench_tail(label: str, path: Path, rounds: int, with_segue_full: bool) -> dict:
    keys, gap = keyframe_gaps(path)
    info = probe.probe(path)
    full, decoded = timed(lambda: decode_all_pyav(path))
    assert decoded == info.frame_count, (decoded, info.frame_count)
    r = {"label": label, "frames": info.frame_count, "keys": keys, "gap": gap,
         "mb": path.stat().st_size / 1e6, "full": full}
    if with_segue_full:
        r["full_segue"], expected = timed(lambda: decode_all_segue(path))
    else:                                     # a different path to the same frames: seek + count
        expected = vr.read_frames(path, info.frame_count - 8)
    before = vr.decoded_frame_count()
    cold, tail = zip(*(timed(lambda: tail_cold(path)) for _ in range(rounds)))
    r["decoded"] = (vr.decoded_frame_count() - before) // rounds
    probe.probe(path)
    warm = [timed(lambda: vr.read_last_frames(path, 8))[0] for _ in range(rounds)]
    r["cold"], r["warm"] = statistics.median(cold), statistics.median(warm)
    if rounds > 1:                            # the full decode again, after: the faster one counts
        r["full"] = min(r["full"], timed(lambda: decode_all_pyav(path))[0])
    t0 = time.perf_counter()
    probe.clear_cache()
    probe.probe(path)
    r["probe"] = time.perf_counter() - t0
    assert torch.equal(tail[0], expected), "read_last_frames differs from the reference read"
    print(f"  {label}: {r['frames']} frames, {keys} keyframes (longest GOP {gap}), {r['mb']:.0f} MB")
    print(f"    full decode (PyAV, no conversion) {r['full']:6.2f} s"
          + (f"; iter_frames to the end {r['full_segue']:6.2f} s" if with_segue_full else ""))
    print(f"    read_last_frames(8): cold {r['cold'] * 1000:6.1f} ms (of which probe {r['probe'] * 1000:.1f} ms), "
          f"warm {r['warm'] * 1000:6.1f} ms, {r['decoded']} frames decoded -> "
          f"{r['full'] / r['cold']:.1f}x cold, {r['full'] / r['warm']:.1f}x warm")
    return r


# ---- Segue's own properties ------------------------------------------------------------------

def bench_properties(tmp: Path, frames_u8: np.ndarray) -> None:
    frames = torch.from_numpy(frames_u8).float().div_(255)
    n = frames.shape[0]
    print("\n== lossless intermediates (write/read float32 frames) ==")
    for suffix in (LOSSLESS_SUFFIX, ".avi"):
        path = tmp / f"l{suffix}"
        w_secs, _ = timed(lambda: vw.write_video(path, frames, FPS, codec=vw.LOSSLESS_CODEC))
        r_secs, back = timed(lambda: vr.read_frames(path))
        exact = torch.equal((back * 255).round().to(torch.uint8), torch.from_numpy(frames_u8))
        print(f"  {suffix:5s} {probe.probe(path).codec:10s} write {n / w_secs:6.1f} fps  read {n / r_secs:6.1f} fps  "
              f"size {path.stat().st_size / frames_u8.nbytes:.3f} x raw  bit-exact={exact}")
    print("\n== colour drift over 5 H.264 generations (crf 19 veryfast, first 24 frames) ==")
    h264 = tmp / "drift.mp4"
    original = current = frames[:24]
    for gen in range(1, 6):
        vw.write_video(h264, current, FPS, preset="veryfast")
        current = vr.read_frames(h264)
        diff = (current - original) * 255
        print(f"  gen {gen}: mean abs error {diff.abs().mean():.2f}, mean {diff.mean():+.3f} levels")


# ---- report ----------------------------------------------------------------------------------

def report(enc: dict, tails: list[dict], args) -> None:
    print("\n## Video IO benchmark (ratios measured in one run)\n")
    res = enc["results"]
    base = res["ffmpeg pipe"].get("fps")
    rows = []
    for name, r in res.items():
        if "error" in r:
            rows.append([name, r["error"], "", "", "", ""])
            continue
        rel = f"{r['fps'] / base:.2f}x" if base else "-"
        rows.append([name, r["codec"], f"{r['fps']:.1f}", rel, f"{r['size'] / 1e6:.2f} MB", f"{r['psnr']:.2f} dB"])
    print(f"Encode {enc['frames']} float32 frames {enc['size']} to .mp4 (median of {args.rounds} round-robin runs):\n")
    print(m.markdown_table(["encoder", "settings", "frames/s", "vs ffmpeg pipe", "size", "PSNR"], rows))
    print("\nLast 8 frames vs decoding the whole file:\n")
    rows = []
    for t in tails:
        rows.append([t["label"], f"{t['frames']} frames, GOP {t['gap']}", f"{t['full']:.2f} s",
                     f"{t['full_segue']:.2f} s" if "full_segue" in t else "-",
                     f"{t['cold'] * 1000:.0f} ms / {t['warm'] * 1000:.0f} ms",
                     f"{t['full'] / t['cold']:.0f}x / {t['full'] / t['warm']:.0f}x"])
    print(m.markdown_table(["file", "length", "full decode (PyAV)", "iter_frames to end",
                            "read_last_frames cold / warm", "speed-up cold / warm"], rows))

    print("\n### Targets\n")
    rows = []
    seg = res["segue"]
    if base:
        ratio = seg["fps"] / base
        rows.append([f"Segue's encoder >= 1.0x the ffmpeg-CLI pipe (crf {args.crf}, {args.preset})",
                     f"{ratio:.2f}x ({seg['fps']:.1f} vs {base:.1f} frames/s)", m.verdict(ratio >= 1.0)])
    else:
        rows.append(["Segue's encoder >= 1.0x the ffmpeg-CLI pipe", "ffmpeg CLI not installed", "n/a"])
    goals = {"H.264": 5, "lossless": 50}
    for t in tails:
        goal = goals[t["label"].split()[0]]
        ratio = t["full"] / t["cold"]
        full_size = t["frames"] >= 2000
        rows.append([f"last-8 read >= {goal}x a full decode, {t['label']} ({t['frames']} frames)",
                     f"{ratio:.0f}x cold ({t['full'] / t['warm']:.0f}x warm)", m.verdict(ratio >= goal if full_size else None)])
    print(m.markdown_table(["target", "measured", "verdict"], rows))
    print("\n(n/a: not measurable in this run, e.g. --quick's shorter file; 'cold' includes probing the new file)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="49 frames, 1 round, 500-frame long file")
    parser.add_argument("--frames", type=int, default=None, help="frames to encode (default 121)")
    parser.add_argument("--size", default="832x480")
    parser.add_argument("--crf", type=int, default=19)
    parser.add_argument("--preset", default="medium", help="x264 preset (Segue's and libx264's default)")
    parser.add_argument("--long-frames", type=int, default=None, help="frames of the tail-read files (default 2000)")
    parser.add_argument("--rounds", type=int, default=None, help="encode rounds (default 3, 1 with --quick)")
    parser.add_argument("--skip-properties", action="store_true")
    args = parser.parse_args()
    args.frames = args.frames or (49 if args.quick else 121)
    args.long_frames = args.long_frames or (500 if args.quick else 2000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    width, height = (int(v) for v in args.size.split("x"))
    torch.set_num_threads(1)       # per-frame conversions: more threads only contend with the codec
    frames_u8 = m.natural_frames(args.frames, height, width)
    with tempfile.TemporaryDirectory(prefix="segue-bench-") as tmp:
        tmp = Path(tmp)
        enc = bench_encode(args, tmp, frames_u8)
        print(f"\n== tail reads: {args.long_frames} frames {width}x{height} ==")
        h264, lossless = tmp / "long.mp4", tmp / f"long{LOSSLESS_SUFFIX}"
        secs, _ = timed(lambda: write_long(h264, lossless, args.long_frames, height, width))
        print(f"  (generated and wrote both files in {secs:.0f} s)")
        reps = 1 if args.quick else 3
        tails = [bench_tail("H.264 crf 19 veryfast", h264, reps, with_segue_full=True),
                 bench_tail(f"lossless {LOSSLESS_SUFFIX} ({probe.probe(lossless).codec})", lossless, reps,
                            with_segue_full=False)]
        h264.unlink()
        lossless.unlink()
        if not args.skip_properties:
            bench_properties(tmp, frames_u8[:81])
    report(enc, tails, args)


if __name__ == "__main__":
    sys.exit(main())
