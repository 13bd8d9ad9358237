"""The last stage of a travel: its segments stitched at the generation rate, delivered at the
output rate and size, with an optional soundtrack.

Wan generates at 16 fps.  A travel is planned, generated and cross-faded at that rate (every
frame count of the plan is a generation-rate count); the stitched stream is then retimed to the
output rate (``retime.Retimer``: ``blend`` mixes the two neighbouring frames by time, ``nearest``
repeats or drops them; a loop keeps its period), brought to the output size with the run's
``fit`` (the one its keyframes were conformed with) and encoded, one chunk at a time.  At equal
rates and sizes nothing is resampled and the result is the plain stitch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from ..core.constants import (CONFORM_FIT_MODES, DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_FIT, DEFAULT_PRESET,
                              DEFAULT_RETIME, RETIME_MODES)
from ..core.errors import PlanError
from ..core.lengths import as_fps, retime_count, retime_source
from ..core.probe import probe
from ..core.sizes import check_fit
from .conform import conform_frames
from .retimer import Retimer
from .sound import fit_soundtrack
from .stitch import Progress, stitch_length, stitch_segment_files, stitch_stream
from .video_read import iter_frames
from .video_write import VideoWriter


@dataclass(frozen=True)
class Output:
    """How a stitched travel is delivered (0 = as the segments: their rate / size)."""

    fps: Fraction | float = 0
    width: int = 0
    height: int = 0
    retime: str = DEFAULT_RETIME
    loop: bool = False
    fit: str = DEFAULT_FIT       # how generated frames reach a size of another shape (the travel's fit)


def deliver_segments(paths: Sequence[str | os.PathLike], overlaps: Sequence[int], out_path, *, fps,
                     output: Output = Output(), soundtrack: str | os.PathLike | None = None, curve: str = DEFAULT_CURVE,
                     sharpen: float = 0.0, crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET, chunk: int = 16,
                     progress: Progress | None = None) -> int:
    """Stitch the segment files (at ``fps``, the generation rate) into ``out_path`` delivered as
    ``output`` says, with ``soundtrack`` (a sound or video file: trimmed or padded with silence to
    the video); returns the frames written (``lengths.retime_count`` of the stitch).

    ``output.fit``: how the generated frames reach an output size of another shape (crop, pad or
    stretch), the travel's own fit, so a run that crops its keyframes never stretches its video.
    At the generated frames' aspect every fit is the same plain resize."""
    check_fit(output.fit, CONFORM_FIT_MODES)
    if output.retime not in RETIME_MODES:
        raise PlanError(f"retime={output.retime!r} is not a retime mode: use one of {', '.join(RETIME_MODES)}")
    paths = [os.fspath(p) for p in paths]
    infos = [probe(p) for p in paths]
    src = as_fps(fps)
    rate = as_fps(output.fps) if output.fps else src
    width, height = (output.width, output.height) if output.width else infos[0].stored_size
    if bool(output.width) != bool(output.height):
        raise PlanError(f"output size {output.width}x{output.height}: give both sides, or 0 for the segments' size")
    lengths = [i.frame_count for i in infos]
    total = stitch_length(lengths, overlaps)
    count = retime_count(total, src, rate, output.loop)
    audio = fit_soundtrack(os.fspath(soundtrack), Fraction(count) / rate) if soundtrack else None
    if rate == src and (width, height) == infos[0].stored_size:
        return stitch_segment_files(paths, overlaps, out_path, fps=src, curve=curve, sharpen=sharpen, crf=crf,
                                    preset=preset, audio=audio, chunk=chunk, progress=progress)
    if any(i.stored_size != infos[0].stored_size for i in infos):
        raise PlanError(f"the segments differ in size ({', '.join(f'{i.stored_width}x{i.stored_height}' for i in infos)}): all "
                        f"segments of a travel must have one size")
    positions = [retime_source(k, total, src, rate, output.loop) for k in range(count)]
    sources = [_file(p, chunk) for p in paths]
    with VideoWriter(out_path, rate, width, height, crf=crf, preset=preset, audio=audio) as writer:
        def emit(frames):
            writer.write(frames if frames.shape[1:3] == (height, width) else
                         conform_frames(frames, width, height, output.fit))

        retimer = Retimer(positions, emit, output.retime, loop=output.loop, chunk=chunk)
        stitch_stream(sources, overlaps, retimer.push, lengths=lengths, curve=curve, sharpen=sharpen,
                      progress=progress)
        return retimer.close()


def _file(path: str, chunk: int):
    return lambda: iter_frames(path, chunk=chunk)
