"""Real test media written with PyAV: clips of any size, rate (constant or variable), rotation
and sound, plus the exact pictures and tones they were made from.

A plain module (not a conftest): tests import it with ``sys.path`` pointing at ``tests/``, as
``conftest.py`` does. Pictures are deterministic functions of (frame index, size), so a test can
rebuild the source of any frame and compare it with what was decoded or conformed.
"""

from __future__ import annotations

import functools
import struct
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter

_BT709 = 1  # AVCOL_SPC / PRI / TRC value
_MPEG_RANGE = 1


@functools.lru_cache(maxsize=8)
def _background(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = 40 + 150 * x / max(1, width - 1)
    img[..., 1] = 40 + 150 * y / max(1, height - 1)
    img[..., 2] = 110 + 40 * np.sin(2 * np.pi * (x + y) / max(width, height))
    mw, mh = max(1, width // 8), max(1, height // 8)
    img[:mh, :mw] = (255, 0, 0)        # top left red
    img[:mh, -mw:] = (0, 255, 0)       # top right green
    img[-mh:, :mw] = (0, 0, 255)       # bottom left blue
    img[-mh:, -mw:] = (255, 255, 255)  # bottom right white
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out


def picture(index: int, width: int, height: int) -> np.ndarray:
    """uint8 [height, width, 3]: smooth colour ramps, four coloured corner marks (top left red,
    top right green, bottom left blue, bottom right white) and a yellow square that moves 1/20
    of the width per frame (so neighbouring frames differ clearly)."""
    img = _background(width, height).copy()
    side = max(2, min(width, height) // 5)
    x0 = (index * max(1, width // 20)) % max(1, width - side)
    y0 = (height - side) // 2
    img[y0:y0 + side, x0:x0 + side] = (250, 250, 40)
    return img


def tone(frequency: float, seconds: float, rate: int, channels: int, level: float = 0.5) -> np.ndarray:
    """float32 [channels, samples] sine (the same in every channel)."""
    t = np.arange(round(seconds * rate)) / rate
    wave = (level * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.tile(wave, (channels, 1))


def write_clip(path, width: int, height: int, fps=24, frames: int = 24, *, times: Sequence[float] | None = None,
               rotation: float | None = None, hflip: bool = False, audio: tuple | None = None,
               crf: int = 12, preset: str = "ultrafast", sample_aspect: Fraction | None = None) -> Path:
    """Write an H.264 clip (yuv420p) of ``picture(i, width, height)`` frames.

    ``times``: presentation seconds per frame (a variable-rate clip, 1/1000 s ticks); default
    ``i / fps``. ``rotation``: display-matrix rotation, counter-clockwise degrees (as phones
    write portrait clips). ``audio``: ``(frequency, sample_rate, layout)`` of a sine as long as
    the video, AAC (or an array [channels, n] of samples instead of the frequency).
    ``sample_aspect``: non-square pixels.
    """
    path = Path(path)
    fps = Fraction(fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        if times is not None:
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
        else:
            stream.time_base = 1 / fps
        # Tagged BT.709 limited range and converted that way, so a reader that honours the tags
        # (video_read) gets the pictures back without a matrix mismatch.
        ctx = stream.codec_context
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = _BT709
        ctx.color_range = _MPEG_RANGE
        reformatter = VideoReformatter()
        if sample_aspect is not None:
            stream.codec_context.sample_aspect_ratio = sample_aspect
        if rotation is not None or hflip:
            stream.set_display_rotation(rotation or 0, hflip=hflip)
        sound = None
        if audio is not None:
            frequency, rate, layout = audio
            sound = container.add_stream("aac", rate=rate)
            sound.layout = layout
        ticks = [round(t * 1000) for t in times] if times is not None else list(range(frames))
        for i, pts in enumerate(ticks):
            rgb = av.VideoFrame.from_ndarray(picture(i, width, height), format="rgb24")
            frame = reformatter.reformat(rgb, format="yuv420p", dst_colorspace=Colorspace.ITU709,
                                         src_color_range=ColorRange.JPEG, dst_color_range=ColorRange.MPEG,
                                         interpolation=Interpolation.BICUBIC | Interpolation.ACCURATE_RND)
            frame.pts = pts
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            seconds = (times[-1] + float(np.median(np.diff(times)))) if times is not None else frames / fps
            channels = 1 if layout == "mono" else 2
            if isinstance(frequency, np.ndarray):  # the samples themselves, [channels, n]
                samples = np.ascontiguousarray(frequency, np.float32)
            else:
                samples = tone(frequency, float(seconds), rate, channels)
            chunk = 1024
            for start in range(0, samples.shape[1], chunk):
                piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + chunk]),
                                                   format="fltp", layout=layout)
                piece.sample_rate, piece.pts = rate, start
                for packet in sound.encode(piece):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return path


def write_sound(path, frequency: float, seconds: float, rate: int = 44_100, layout: str = "mono") -> Path:
    """A sound-only file (WAV, PCM) holding one sine: a travel soundtrack, or an audio-only input."""
    path = Path(path)
    channels = 1 if layout == "mono" else 2
    samples = tone(frequency, seconds, rate, channels)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate)
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def jpeg_with_orientation(path, rgb: np.ndarray, orientation: int) -> Path:
    """A JPEG of ``rgb`` carrying an EXIF Orientation tag (1..8), as phone cameras save."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    data = encoded.tobytes()
    tiff = (b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
            + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0))
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    Path(path).write_bytes(data[:2] + app1 + data[2:])
    return Path(path)


def psnr(a, b) -> float:
    """PSNR in dB of two pictures in 0..1 (float arrays or tensors)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency (Hz) of the strongest component of a 1-D signal (Hann window)."""
    samples = np.asarray(samples, np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    spectrum[0] = 0
    return float(np.argmax(spectrum) * rate / samples.size)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(samples, np.float64) ** 2))) if samples.size else 0.0
