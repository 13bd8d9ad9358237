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
from dataclasses import replace
from fractions import Fraction
from typing import Sequence

from ..core.constants import (DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_PRESET)
from ..core.errors import PlanError
from ..core.lengths import as_fps, retime_count, retime_source
from ..core.probe import probe
from ..core.step_settings import EncodeSettings, TravelDelivery
from .conform import conform_frames
from .retimer import Retimer
from .sound import fit_soundtrack
from .stitch import Progress, stitch_length, stitch_segment_files, stitch_stream
from .video_read import iter_frames
from .video_write import VideoWriter


def deliver_segments(paths: Sequence[str | os.PathLike], overlaps: Sequence[int], out_path, *, fps,
                     output: TravelDelivery = TravelDelivery(), soundtrack: str | os.PathLike | None = None,
                     curve: str = DEFAULT_CURVE,
                     sharpen: float = 0.0, crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET, chunk: int = 16,
                     progress: Progress | None = None) -> int:
    """Stitch the segment files (at ``fps``, the generation rate) into ``out_path`` delivered as
    ``output`` says (its rate, size, retiming, loop and fit; its ``soundtrack`` name is the
    node's: the file is ``soundtrack``, a sound or video file trimmed or padded with silence to
    the video); returns the frames written (``lengths.retime_count`` of the stitch).

    ``output.fit``: how the generated frames reach an output size of another shape (crop, pad or
    stretch), the travel's own fit, so a run that crops its keyframes never stretches its video.
    At the generated frames' aspect every fit is the same plain resize."""
    output.check()
    paths = [os.fspath(p) for p in paths]
    infos = [probe(p) for p in paths]
    src = as_fps(fps)
    rate = as_fps(output.output_fps, "output_fps") if output.output_fps else src
    width, height = (output.width, output.height) if output.width else infos[0].stored_size
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


def stitch_files(paths: Sequence[str | os.PathLike], overlaps: Sequence[int], out_path, *, fps, trim_start: int = 0,
                 encode: EncodeSettings = EncodeSettings(), delivery: TravelDelivery = TravelDelivery(),
                 soundtrack: str | os.PathLike | None = None, progress: Progress | None = None) -> int:
    """A travel's final video (``SegueStitchFiles``): the segment files at ``fps`` cross-faded
    (``encode``'s curve and sharpening) and delivered.  ``trim_start`` drops a first segment's
    lead-in that was not trimmed when it was saved; it cannot be combined with a delivery."""
    if trim_start:
        if replace(delivery, soundtrack="") != TravelDelivery() or soundtrack:
            raise PlanError(f"trim_start={trim_start} cannot be combined with output_fps/size/soundtrack: trim the "
                            f"first segment when it is saved (Segue Save Step does) and leave trim_start at 0")
        return stitch_segment_files(paths, overlaps, out_path, fps=as_fps(fps), trim_start=int(trim_start),
                                    curve=encode.curve, sharpen=encode.sharpen, crf=encode.crf, preset=encode.preset,
                                    progress=progress)
    return deliver_segments(paths, overlaps, out_path, fps=as_fps(fps), output=delivery, soundtrack=soundtrack,
                            curve=encode.curve, sharpen=encode.sharpen, crf=encode.crf, preset=encode.preset,
                            progress=progress)
