"""The soundtrack of a join or a travel as a timeline: which source plays which seconds where.

Today's joins kept only the first clip's sound (cut short, the last clip's speech lost). Here
the planners describe the soundtrack as a **timeline**: a list of ``AudioSpan`` (which source,
which seconds of it, where in the output, fades), which ``engine.sound.assemble_soundtrack``
renders into one track.  ``join_timeline`` builds the timeline of a join from clip durations,
kept ranges and gap lengths in seconds; ``soundtrack_timeline`` that of a travel's soundtrack
file.  Times are seconds from a clip's first video frame (the audio stream's own start offset
is honoured when rendering).

Pure Python (no torch, no PyAV): the orchestrator can build and store timelines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .constants import DEFAULT_GAP_AUDIO, GAP_AUDIO_MODES
from .errors import PlanError

OUTPUT_SAMPLE_RATE = 48_000
OUTPUT_LAYOUT = "stereo"
FADE_CURVES = ("equal_power", "linear")
EDGE_FADE = 0.005  # seconds of fade at every cut: removes the click, too short to hear as a fade

# FFmpeg channel layouts Segue reads and writes (also the tracks ``audio_io`` muxes) -> channels.
LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "3.0": 3, "quad": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}


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
                  gap_audio: str = DEFAULT_GAP_AUDIO, edge_fade: float = EDGE_FADE) -> list[AudioSpan]:
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
