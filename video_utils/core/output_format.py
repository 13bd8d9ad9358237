"""What a join or an extension delivers and where it generates: the output size and frame rate
(the clips are conformed to them) and the model's working size and rate.

The one decision, for the nodes, the executor and the orchestrator's run checks: by default the
first clip's size as displayed (made even for H.264) and its frame rate; a working size of about
832x480 pixels at the output's aspect (``sizes.working_size``, multiples of 16).  An extension
keeps its clip's size and generates at ``sizes.generation_size`` of it.  Pure policy (probing
with PyAV only), no pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

from .constants import GENERATION_FPS
from .errors import PlanError
from .lengths import as_fps, check_rates
from .probe import probe
from .sizes import even_size, generation_size, output_size, wan_size, working_size


@dataclass(frozen=True)
class OutputFormat:
    """What a join or extension delivers and where it generates: the output size and frame rate
    (the clips are conformed to them), the working size and rate of the model."""

    width: int
    height: int
    fps: Fraction
    work_width: int
    work_height: int
    generation_fps: Fraction


def decide_format(displayed: tuple[int, int], clip_fps, *, width: int = 0, height: int = 0, fps=0,
                  work_width: int = 0, work_height: int = 0, generation_fps=GENERATION_FPS) -> OutputFormat:
    """The format for a first clip shown at ``displayed`` (width, height) and ``clip_fps``:
    explicit sizes are checked, a working size is snapped to multiples of 16, 0 = the default."""
    if bool(width) != bool(height) or bool(work_width) != bool(work_height):
        raise PlanError(f"width={width}, height={height}, work_width={work_width}, work_height={work_height}: give "
                        f"both sides of a size, or 0 for both to use the default")
    out_w, out_h = even_size(*output_size([displayed], (width, height) if width else None))
    rate = as_fps(fps, "fps") if fps else as_fps(clip_fps, "clip fps")
    gen, rate = check_rates(generation_fps, rate)
    work = wan_size(work_width, work_height) if work_width else working_size(out_w, out_h)
    return OutputFormat(out_w, out_h, rate, work[0], work[1], gen)


def output_format(first_clip, **settings) -> OutputFormat:
    """``decide_format`` for the clip file ``first_clip`` (probed)."""
    info = probe(first_clip)
    return decide_format((info.width, info.height), info.fps, **settings)


def extend_format(clip_path: str | os.PathLike) -> OutputFormat:
    """How an extension of ``clip_path`` is delivered and generated: the clip's size as displayed
    (made even) and its rate; generated at 16 fps at ``sizes.generation_size`` of that size (its
    own size snapped to 16 up to about 832x480)."""
    info = probe(clip_path)
    work = generation_size(*even_size(info.width, info.height))
    return decide_format((info.width, info.height), info.fps, work_width=work[0], work_height=work[1])
