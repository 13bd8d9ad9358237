"""Sound in and out of media files: ``AudioClip`` (ComfyUI's AUDIO layout), reading a file's
first audio stream, and the track ``VideoWriter`` muxes alongside its pictures.

Which sound goes where (a join's clips, a travel's soundtrack, fades, one output format) is
``engine.sound`` (planned in ``core.sound_timeline``); this module only moves samples between files and tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import torch

from ..core.errors import PlanError
from ..core.probe import open_media
from ..core.sound_timeline import LAYOUT_CHANNELS

# Channel count -> FFmpeg layout name, for the tracks we write.
_LAYOUTS = {channels: name for name, channels in LAYOUT_CHANNELS.items()}


@dataclass
class AudioClip:
    """Decoded audio in ComfyUI's AUDIO layout: waveform float32 [1, channels, samples]."""

    waveform: torch.Tensor
    sample_rate: int

    def as_comfy(self) -> dict:
        return {"waveform": self.waveform, "sample_rate": self.sample_rate}

    @classmethod
    def from_comfy(cls, d) -> "AudioClip":
        waveform = d["waveform"]
        if waveform.dim() == 2:
            waveform = waveform[None]
        return cls(waveform=waveform.float(), sample_rate=int(d["sample_rate"]))

    @property
    def channels(self) -> int:
        return int(self.waveform.shape[1])

    @property
    def samples(self) -> int:
        return int(self.waveform.shape[-1])


def read_audio(path) -> AudioClip | None:
    """The first audio stream (of a video or an audio file) as float32, or None when there is none."""
    with open_media(path, check_exists=True) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = None
        parts = []
        for frame in container.decode(stream):
            if resampler is None:
                resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=frame.sample_rate)
                rate = frame.sample_rate
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray())
        if resampler is None:
            return None
        for out in resampler.resample(None):
            parts.append(out.to_ndarray())
        waveform = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
        # AAC decodes to whole 1024-sample frames; the container knows the true length.
        # (MP4 records it; Matroska keeps the encoder's padding, up to 1023 samples.)
        if stream.duration and stream.time_base:
            length = round(stream.duration * stream.time_base * rate)
            if 0 < length < waveform.shape[1]:
                waveform = waveform[:, :length]
        return AudioClip(waveform=torch.from_numpy(np.ascontiguousarray(waveform))[None], sample_rate=int(rate))


class AudioTrack:
    """An audio stream fed in step with the video, so packets interleave and the audio ends with it."""

    def __init__(self, container, audio: AudioClip, codec: str):
        waveform = audio.waveform.detach().to("cpu", torch.float32)
        waveform = waveform[0] if waveform.dim() == 3 else waveform
        self.channels = int(waveform.shape[0])
        if self.channels not in _LAYOUTS:
            raise PlanError(f"audio with {self.channels} channels is not supported: use 1 to 8 channels")
        self.rate = int(audio.sample_rate)
        self.samples = np.ascontiguousarray(waveform.numpy())
        self.done = 0
        self.container = container
        self.stream = container.add_stream(codec, rate=self.rate)
        self.stream.layout = _LAYOUTS[self.channels]
        self.stream.time_base = Fraction(1, self.rate)
        if codec == "aac":
            self.stream.bit_rate = 96_000 * min(self.channels, 2) + 64_000 * max(self.channels - 2, 0)

    def write_until(self, seconds: Fraction) -> None:
        """Encode the samples up to ``seconds`` (the video's length so far), never past the clip."""
        upto = min(self.samples.shape[1], int(seconds * self.rate))
        if upto <= self.done:
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(self.samples[:, self.done:upto]),
                                           format="fltp", layout=_LAYOUTS[self.channels])
        frame.sample_rate, frame.pts, frame.time_base = self.rate, self.done, Fraction(1, self.rate)
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.done = upto

    def flush(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
