"""Rendering a soundtrack timeline (``core.sound_timeline``) into one track, one output format.

* every source is converted to one format (48 kHz stereo by default; PyAV's resampler, mono
  is copied to both channels at full level rather than swresample's -3 dB pan);
* spans are mixed where they overlap (cross-fades), with equal-power (default) or linear fades,
  and a few milliseconds of fade at every cut so no span starts or ends with a click;
* a source without sound (``None``, or a file with no audio stream) gives silence, never
  another clip's sound; a span past the end of its source's sound is silent there;
* the result lasts exactly ``duration`` (the video's length, to the sample).

Memory: sources are decoded and resampled in the decoder's frames, straight into the output
buffer, so only the result (0.37 MB per second at 48 kHz stereo) is held; a source is decoded
from its start up to the last second a span needs (audio decodes far faster than real time).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import av
import numpy as np
import torch

from ..core.errors import PlanError
from ..core.probe import open_media
from ..core.sound_timeline import (FADE_CURVES, LAYOUT_CHANNELS, OUTPUT_LAYOUT, OUTPUT_SAMPLE_RATE, AudioSpan,
                                   soundtrack_timeline)
from .audio_io import AudioClip

_MEMORY_CHUNK = 48_000  # samples of an in-memory source fed to the resampler at once

def assemble_soundtrack(sources: Sequence, spans: Sequence[AudioSpan], duration, *,
                        sample_rate: int = OUTPUT_SAMPLE_RATE, layout: str = OUTPUT_LAYOUT,
                        curve: str = "equal_power"):
    """Render ``spans`` into one ``audio_io.AudioClip`` of exactly ``duration`` seconds.

    ``sources[i]``: a file path (a video, or a sound file for a soundtrack), a
    ``audio_io.AudioClip`` (e.g. ComfyUI AUDIO), or ``None`` for a clip without sound.
    """
    if layout not in LAYOUT_CHANNELS:
        raise PlanError(f"layout={layout!r} is not an output layout: use one of {', '.join(LAYOUT_CHANNELS)}")
    if curve not in FADE_CURVES:
        raise PlanError(f"curve={curve!r} is not a fade curve: use one of {', '.join(FADE_CURVES)}")
    if int(sample_rate) < 1:
        raise PlanError(f"sample_rate={sample_rate} is not a sample rate: use e.g. 48000")
    rate = int(sample_rate)
    total = round(Fraction(duration) * rate)
    if total < 1:
        raise PlanError(f"duration={float(duration)} s is too short for a soundtrack: the video needs at least a frame")
    out = np.zeros((LAYOUT_CHANNELS[layout], total), np.float32)
    by_source: dict[int, list[AudioSpan]] = {}
    for span in spans:
        if not 0 <= span.source < len(sources):
            raise PlanError(f"audio span {span} names source {span.source}, but there are {len(sources)} sources")
        if span.source_end > span.source_start:
            by_source.setdefault(span.source, []).append(span)
    for index, source_spans in by_source.items():
        if sources[index] is None:
            continue
        needed_until = max(s.source_end for s in source_spans)
        mixers = [_SpanMixer(s, rate, total, curve) for s in source_spans]
        for position, block in _decode(sources[index], rate, layout, needed_until):
            for mixer in mixers:
                mixer.add(out, position, block)
    return AudioClip(waveform=torch.from_numpy(out)[None], sample_rate=rate)


def fit_soundtrack(source, video_duration, *, offset: float = 0.0, fade_out: float = 0.0,
                   sample_rate: int = OUTPUT_SAMPLE_RATE, layout: str = OUTPUT_LAYOUT):
    """A soundtrack file (or AudioClip) trimmed / padded with silence to the video's length."""
    if isinstance(source, (str, Path)):
        check_soundtrack(source)
    spans = soundtrack_timeline(float(video_duration), offset, fade_out)
    return assemble_soundtrack([source], spans, video_duration, sample_rate=sample_rate, layout=layout)


def check_soundtrack(path) -> None:
    """A soundtrack file must hold sound.  A clip without sound is silence where it is joined, but
    a soundtrack without any (a picture, a silent video) is a mistake: refuse it by name, before
    any frame is generated or written."""
    with open_media(path, "soundtrack", "give a sound file or a video with sound", check_exists=True) as container:
        if not container.streams.audio:
            raise PlanError(f"soundtrack {str(path)!r} has no sound: give a sound file or a video with sound")


class _SpanMixer:
    """Adds one span's samples, with its fades, into the output as source blocks arrive."""

    def __init__(self, span: AudioSpan, rate: int, total: int, curve: str):
        self.src0 = round(span.source_start * rate)
        self.src1 = round(span.source_end * rate)
        self.out0 = round(span.out_start * rate)
        length = self.src1 - self.src0
        self.fade_in = min(length, round(span.fade_in * rate))
        self.fade_out = min(length, round(span.fade_out * rate))
        self.length, self.total, self.curve = length, total, curve

    def add(self, out: np.ndarray, position: int, block: np.ndarray) -> None:
        """``block`` holds source samples ``[position, position + n)`` (clip time, output rate)."""
        lo = max(position, self.src0, self.src0 - self.out0)  # not before the output's start
        hi = min(position + block.shape[1], self.src1, self.src0 + self.total - self.out0)
        if hi <= lo:
            return
        u = np.arange(lo - self.src0, hi - self.src0, dtype=np.float64)  # sample within the span
        gain = np.ones_like(u)
        if self.fade_in:
            gain = np.minimum(gain, (u + 0.5) / self.fade_in)
        if self.fade_out:
            gain = np.minimum(gain, (self.length - u - 0.5) / self.fade_out)
        gain = np.clip(gain, 0.0, 1.0)
        if self.curve == "equal_power":
            gain = np.sin(gain * (math.pi / 2))
        o = self.out0 + lo - self.src0
        out[:, o:o + (hi - lo)] += block[:, lo - position:hi - position] * gain.astype(np.float32)


def _decode(source, rate: int, layout: str, until: float) -> Iterator[tuple[int, np.ndarray]]:
    """(first sample's position in clip time at ``rate``, [channels, n] float32) blocks."""
    if isinstance(source, (str, Path)):
        yield from _decode_file(Path(source), rate, layout, until)
    else:
        yield from _decode_clip(source, rate, layout)


def _to_output(resampled, mono_to_stereo: bool) -> np.ndarray:
    block = resampled.to_ndarray().astype(np.float32, copy=False)
    return np.repeat(block, 2, axis=0) if mono_to_stereo else block


def _resampler(src_channels: int, rate: int, layout: str):
    duplicate = src_channels == 1 and layout == "stereo"
    return av.AudioResampler(format="fltp", layout="mono" if duplicate else layout, rate=rate), duplicate


def _decode_file(path: Path, rate: int, layout: str, until: float) -> Iterator[tuple[int, np.ndarray]]:
    with open_media(path, "sound source", "give a video or sound file", check_exists=True) as container:
        if not container.streams.audio:
            return  # a clip without sound: silence
        stream = container.streams.audio[0]
        video = container.streams.video[0] if container.streams.video else None
        video_start = Fraction(0)
        if video is not None and video.time_base:
            video_start = Fraction(video.start_time or 0) * Fraction(video.time_base)
        resampler, duplicate = _resampler(stream.codec_context.layout.nb_channels, rate, layout)
        position = None
        limit = math.ceil(until * rate) + rate // 10
        try:
            for frame in container.decode(stream):
                if position is None:  # sync: where the first decoded sample sits in clip time
                    first = Fraction(frame.pts) * Fraction(frame.time_base) if frame.pts is not None else Fraction(0)
                    position = round((first - video_start) * rate)
                for resampled in resampler.resample(frame):
                    block = _to_output(resampled, duplicate)
                    yield position, block
                    position += block.shape[1]
                if position > limit:
                    return
            for resampled in resampler.resample(None):
                block = _to_output(resampled, duplicate)
                yield position, block
                position += block.shape[1]
        except av.FFmpegError as exc:
            raise PlanError(f"the sound of {str(path)!r} cannot be decoded ({exc.strerror or exc}): "
                            f"the file is damaged; re-export it") from None


def _decode_clip(clip, rate: int, layout: str) -> Iterator[tuple[int, np.ndarray]]:
    waveform = clip.waveform.detach().cpu()
    waveform = (waveform[0] if waveform.dim() == 3 else waveform).float().numpy()
    channels = int(waveform.shape[0])
    names = {v: k for k, v in LAYOUT_CHANNELS.items()}
    if channels not in names:
        raise PlanError(f"audio with {channels} channels is not supported: use 1 to 8 channels")
    resampler, duplicate = _resampler(channels, rate, layout)
    position = 0
    for start in range(0, waveform.shape[1], _MEMORY_CHUNK):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(waveform[:, start:start + _MEMORY_CHUNK]),
                                           format="fltp", layout=names[channels])
        frame.sample_rate = int(clip.sample_rate)
        for resampled in resampler.resample(frame):
            block = _to_output(resampled, duplicate)
            yield position, block
            position += block.shape[1]
    for resampled in resampler.resample(None):
        block = _to_output(resampled, duplicate)
        yield position, block
        position += block.shape[1]
