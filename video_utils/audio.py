"""Sound for joins and travels: every clip's sound under its own pictures, one output format.

Today's joins kept only the first clip's sound (cut short, the last clip's speech lost). Here
the planner side describes the soundtrack as a **timeline**: a list of ``AudioSpan`` (which
source, which seconds of it, where in the output, fades), and ``assemble_soundtrack`` renders
it into one ``audio_io.AudioClip`` that ``VideoWriter(audio=...)`` muxes:

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

``join_timeline`` builds the timeline of a join from clip durations, kept ranges and gap
lengths in seconds; ``soundtrack_timeline`` that of a travel's soundtrack file. Times are
seconds from a clip's first video frame (the audio stream's own start offset is honoured).

The timeline part imports neither torch nor PyAV, so the orchestrator can build and store
timelines; ``assemble_soundtrack`` imports them when called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import PlanError

OUTPUT_SAMPLE_RATE = 48_000
OUTPUT_LAYOUT = "stereo"
GAP_AUDIO_MODES = ("crossfade", "cut", "silence")
FADE_CURVES = ("equal_power", "linear")
EDGE_FADE = 0.005  # seconds of fade at every cut: removes the click, too short to hear as a fade

# FFmpeg channel layouts Segue reads and writes (also the tracks ``audio_io`` muxes) -> channels.
LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "3.0": 3, "quad": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}
_MEMORY_CHUNK = 48_000  # samples of an in-memory source fed to the resampler at once


@dataclass(frozen=True)
class AudioSpan:
    """Seconds ``[source_start, source_end)`` of source ``source`` play from ``out_start`` on,
    fading in over their first ``fade_in`` and out over their last ``fade_out`` seconds."""

    source: int
    source_start: float
    source_end: float
    out_start: float
    fade_in: float = 0.0
    fade_out: float = 0.0

    @property
    def out_end(self) -> float:
        return self.out_start + self.source_end - self.source_start

    def to_dict(self) -> dict:
        return {"source": self.source, "source_start": self.source_start, "source_end": self.source_end,
                "out_start": self.out_start, "fade_in": self.fade_in, "fade_out": self.fade_out}


# --------------------------------------------------------------------------------------------
# Timelines (pure)


def join_timeline(durations: Sequence[float], kept: Sequence[tuple[float, float]], gaps: Sequence[float], *,
                  gap_audio: str = "crossfade", edge_fade: float = EDGE_FADE) -> list[AudioSpan]:
    """The soundtrack of a join: clip k's kept seconds ``kept[k]`` under its kept pictures, and
    ``gaps[j]`` seconds of generated transition between clips j and j+1 (output: clip 0 from 0,
    then each clip right after the previous clip's kept part and the gap).

    What the gap sounds like (``gap_audio``):

    * ``crossfade``: an equal-power cross-fade over the whole gap from clip j's sound to clip
      j+1's. Each side uses its own sound beyond its kept range (replace mode: the sound of the
      replaced frames, in step with them); where that is shorter than the gap, the side's sound
      slides back into what it just played (insert mode: clip j's last / clip j+1's first gap
      seconds) just enough to cover it.
    * ``cut``: each side's own sound beyond its kept range plays in step, nothing repeated
      (replace: the clips' original cut, moved to where the replaced frames met; insert: silence).
    * ``silence``: the gap is silent.
    """
    n = len(durations)
    if gap_audio not in GAP_AUDIO_MODES:
        raise PlanError(f"gap_audio={gap_audio!r} is not a gap sound: use one of {', '.join(GAP_AUDIO_MODES)}")
    if n < 1 or len(kept) != n or len(gaps) != n - 1:
        raise PlanError(f"a join timeline needs one duration and one kept range per clip and one gap per join: "
                        f"got {n} durations, {len(kept)} kept ranges, {len(gaps)} gaps")
    for k, ((start, end), duration) in enumerate(zip(kept, durations)):
        if not 0 <= start < end <= duration + 1e-9:
            raise PlanError(f"clip {k}'s kept range [{start}, {end}) s is outside its {duration} s: "
                            f"use 0 <= start < end <= duration")
    if any(g < 0 for g in gaps):
        raise PlanError(f"gaps {list(gaps)} must be 0 or more seconds")
    starts = [0.0]
    for k in range(n - 1):
        starts.append(starts[k] + kept[k][1] - kept[k][0] + gaps[k])
    spans: list[AudioSpan] = []
    for k in range(n):
        ks, ke = kept[k]
        left = _extension(durations[k], ks, ke, gaps[k - 1] if k else 0.0, gap_audio, side="left")
        right = _extension(durations[k], ks, ke, gaps[k] if k < n - 1 else 0.0, gap_audio, side="right")
        src_start, fade_in, src_end, fade_out = ks, edge_fade, ke, edge_fade
        if left is not None and left[1] == ks:  # in step with the kept part: one span
            src_start, fade_in, left = left[0], left[2], None
        if right is not None and right[0] == ke:
            src_end, fade_out, right = right[1], right[2], None
        spans.append(AudioSpan(k, src_start, src_end, starts[k] - (ks - src_start), fade_in, fade_out))
        if left is not None:  # slid back: its own span, ending where the gap ends
            a, b, fade = left
            spans.append(AudioSpan(k, a, b, starts[k] - (b - a), fade, edge_fade))
        if right is not None:
            a, b, fade = right
            spans.append(AudioSpan(k, a, b, starts[k] + ke - ks, edge_fade, fade))
    return spans


def _extension(duration: float, ks: float, ke: float, gap: float, mode: str, side: str):
    """(source start, source end, fade) of a clip's sound reaching into the gap on ``side``."""
    if gap <= 0 or mode == "silence":
        return None
    if side == "right":
        if mode == "cut":
            end = min(duration, ke + gap)
            return (ke, end, EDGE_FADE) if end > ke else None
        start = max(0.0, min(ke, duration - gap))
        return start, min(duration, start + gap), gap
    if mode == "cut":
        start = max(0.0, ks - gap)
        return (start, ks, EDGE_FADE) if start < ks else None
    end = min(duration, max(ks, gap))
    return max(0.0, end - gap), end, gap


def soundtrack_timeline(video_duration: float, offset: float = 0.0, fade_out: float = 0.0) -> list[AudioSpan]:
    """A travel's soundtrack file: its seconds ``[offset, offset + video_duration)`` under the
    video, fading out over the last ``fade_out`` seconds; silence where the file is shorter."""
    if video_duration <= 0 or offset < 0 or fade_out < 0:
        raise PlanError(f"soundtrack for a {video_duration} s video from {offset} s with a {fade_out} s fade: "
                        f"durations must be positive, offset and fade 0 or more")
    return [AudioSpan(0, offset, offset + video_duration, 0.0, 0.0, fade_out)]


# --------------------------------------------------------------------------------------------
# Rendering


def assemble_soundtrack(sources: Sequence, spans: Sequence[AudioSpan], duration, *,
                        sample_rate: int = OUTPUT_SAMPLE_RATE, layout: str = OUTPUT_LAYOUT,
                        curve: str = "equal_power"):
    """Render ``spans`` into one ``audio_io.AudioClip`` of exactly ``duration`` seconds.

    ``sources[i]``: a file path (a video, or a sound file for a soundtrack), a
    ``audio_io.AudioClip`` (e.g. ComfyUI AUDIO), or ``None`` for a clip without sound.
    """
    import torch

    from .audio_io import AudioClip

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
    from .probe import open_media

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
    import av

    duplicate = src_channels == 1 and layout == "stereo"
    return av.AudioResampler(format="fltp", layout="mono" if duplicate else layout, rate=rate), duplicate


def _decode_file(path: Path, rate: int, layout: str, until: float) -> Iterator[tuple[int, np.ndarray]]:
    import av

    from .probe import open_media

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
    import av

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
