"""What the step nodes' widgets hold, both ways: the graph builder writes these settings into
every prompt (``inputs()``), and the nodes and the local executor read them back into plans
(``plan()``), so a step prompt means the same thing wherever it runs.

``TravelStepSettings`` / ``JoinStepSettings`` / ``ExtendStepSettings`` are the settings every
segment / transition / extension segment of a run shares (``SegueTravelStep``, ``SegueJoinStep``
and the join assembly, ``SegueExtendStep`` and the extension assembly); ``EncodeSettings`` the
final H.264 video's; ``TravelDelivery`` how a stitched travel is delivered; ``PostSettings``
what happens to a step's generated frames before they are saved.  Widget values arrive as the
nodes take them (text lists like ``"48, 64"``, JSON text for per-join overrides) and are parsed
here with the messages every path shows.  Pure Python, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Mapping, Sequence

from .constants import (COLOUR_MATCH_MODES, COLOUR_METHODS, CONFORM_FIT_MODES, CURVES, DEFAULT_COLOUR_MATCH,
                        DEFAULT_COLOUR_METHOD, DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_EXTEND_FRAMES, DEFAULT_FIT,
                        DEFAULT_GAP_AUDIO, DEFAULT_JOIN_CONTEXT, DEFAULT_JOIN_GAP, DEFAULT_OVERLAP, DEFAULT_PRESET,
                        DEFAULT_RETIME, DEFAULT_SEGMENT_FRAMES, DEFAULT_TRAVEL_MODE, GENERATION_FPS, MAX_SHARPEN,
                        PRESETS, RETIME_MODES, TRAVEL_MODES)
from .errors import PlanError
from .extend_plan import ExtendPlan, plan_extend
from .join_plan import JoinPlan, plan_join
from .lengths import DEFAULT_MAX_GENERATION, as_fps
from .output_format import OutputFormat, extend_format, output_format
from .parse import int_list, one_or_list, per_join_overrides
from .recipe import check_choice, finite
from .retime import conformed_frame_count
from .travel_plan import TravelPlan, plan_travel


class _Settings:
    """Built from a node's (or a prompt's) inputs: the fields named like them."""

    @classmethod
    def from_inputs(cls, inputs: Mapping):
        return cls(**{f.name: inputs[f.name] for f in fields(cls) if f.name in inputs})


@dataclass(frozen=True)
class TravelStepSettings(_Settings):
    """``SegueTravelStep``'s settings shared by every segment (its widget values)."""

    segment_frames: str = str(DEFAULT_SEGMENT_FRAMES)
    overlap: str = str(DEFAULT_OVERLAP)
    mode: str = DEFAULT_TRAVEL_MODE
    exact_keyframes: bool = False
    strength: float = 1.0
    desaturate: float = 0.0
    darken: float = 0.0
    loop: bool = False

    def inputs(self) -> dict:
        return {"segment_frames": str(self.segment_frames), "overlap": str(self.overlap), "mode": self.mode,
                "exact_keyframes": bool(self.exact_keyframes), "loop": bool(self.loop),
                "strength": float(self.strength), "desaturate": float(self.desaturate), "darken": float(self.darken)}

    def plan(self, keyframe_count: int) -> TravelPlan:
        """The travel through ``keyframe_count`` keyframes these widgets describe."""
        check_choice(self.mode, TRAVEL_MODES, "mode")
        return plan_travel(keyframe_count, one_or_list(int_list(self.segment_frames, "segment_frames")),
                           one_or_list(int_list(self.overlap, "overlap")), self.mode, bool(self.exact_keyframes),
                           loop=bool(self.loop))


@dataclass(frozen=True)
class JoinStepSettings(_Settings):
    """``SegueJoinStep``'s settings shared by every join (its widget values); the assembly
    re-plans with the same ones."""

    context: int = DEFAULT_JOIN_CONTEXT
    gap: int = DEFAULT_JOIN_GAP
    replace: bool = False
    blend: int = -1
    per_join: str = ""
    bridging: bool = False
    width: int = 0               # output size; 0 = the first clip's as displayed
    height: int = 0
    fit: str = DEFAULT_FIT
    loop: bool = False
    fps: float = 0.0             # output rate; 0 = the first clip's
    work_width: int = 0          # generation size; 0 = about 832x480 at the output's aspect
    work_height: int = 0
    generation_fps: float = float(GENERATION_FPS)
    retime: str = DEFAULT_RETIME         # transitions from the generation rate to the output rate
    gap_audio: str = DEFAULT_GAP_AUDIO

    def inputs(self) -> dict:
        """SegueJoinStep's inputs."""
        return {"context": int(self.context), "gap": int(self.gap), "replace": bool(self.replace),
                "blend": int(self.blend), "per_join": str(self.per_join), "bridging": bool(self.bridging),
                "width": int(self.width), "height": int(self.height), "fit": self.fit, "loop": bool(self.loop),
                "fps": float(self.fps), "work_width": int(self.work_width), "work_height": int(self.work_height),
                "generation_fps": float(self.generation_fps)}

    def assembly_inputs(self) -> dict:
        """SegueJoinAssembleFiles' inputs: it re-plans the same joins (it never generates)."""
        inputs = {k: v for k, v in self.inputs().items() if k not in ("bridging", "work_width", "work_height")}
        return {**inputs, "retime": self.retime, "gap_audio": self.gap_audio}

    def format(self, clip_paths: Sequence[str]) -> OutputFormat:
        """The output and working size and rate for these clip files."""
        check_choice(self.fit, CONFORM_FIT_MODES, "fit")
        return output_format(clip_paths[0], width=int(self.width), height=int(self.height), fps=float(self.fps),
                             work_width=int(self.work_width), work_height=int(self.work_height),
                             generation_fps=float(self.generation_fps))

    def plan(self, clip_paths: Sequence[str], names: Sequence[str], fmt: OutputFormat | None = None) -> JoinPlan:
        """The join plan of these clip files at the output rate (their frame counts after the
        conform): the transitions and the assembly plan with this, so they always agree."""
        fmt = fmt or self.format(clip_paths)
        return plan_join([conformed_frame_count(p, fmt.fps) for p in clip_paths], context=int(self.context),
                         gap=int(self.gap), replace=bool(self.replace),
                         blend=None if int(self.blend) < 0 else int(self.blend),
                         per_join=per_join_overrides(self.per_join), clip_names=list(names), loop=bool(self.loop),
                         generation_fps=fmt.generation_fps, output_fps=fmt.fps)


@dataclass(frozen=True)
class ExtendStepSettings(_Settings):
    """``SegueExtendStep``'s settings shared by every segment (its widget values); the assembly
    re-plans with the same ones."""

    frames: str = str(DEFAULT_EXTEND_FRAMES)   # new frames: one total, or one per leg ("48, 32")
    overlap: int = DEFAULT_OVERLAP
    max_generation: int = DEFAULT_MAX_GENERATION
    blend: int = 0
    strength: float = 1.0
    desaturate: float = 0.0
    darken: float = 0.0

    def plan_inputs(self) -> dict:
        return {"frames": str(self.frames), "overlap": int(self.overlap), "max_generation": int(self.max_generation),
                "blend": int(self.blend)}

    def inputs(self) -> dict:
        return {**self.plan_inputs(), "strength": float(self.strength), "desaturate": float(self.desaturate),
                "darken": float(self.darken)}

    def plan(self, clip_path: str, keyframe_count: int) -> ExtendPlan:
        """The extension of the clip file ``clip_path`` at its output rate (``extend_format``)."""
        legs = one_or_list(int_list(self.frames, "frames", minimum=1))
        fmt = extend_format(clip_path)
        return plan_extend(conformed_frame_count(clip_path, fmt.fps), legs, overlap=int(self.overlap),
                           keyframe_count=int(keyframe_count), max_generation=int(self.max_generation),
                           blend=int(self.blend), generation_fps=fmt.generation_fps, output_fps=fmt.fps)


@dataclass(frozen=True)
class EncodeSettings(_Settings):
    """The final H.264 video: cross-fade and encoder settings, and where it goes."""

    curve: str = DEFAULT_CURVE
    sharpen: float = 0.0
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    filename: str = ""           # exact annotated path without extension ...
    filename_prefix: str = ""    # ... or a counter-suffixed name under output/

    def inputs(self) -> dict:
        return {"curve": self.curve, "sharpen": float(self.sharpen), "crf": int(self.crf), "preset": self.preset,
                "filename": self.filename, "filename_prefix": self.filename_prefix}

    def check(self) -> "EncodeSettings":
        check_choice(self.preset, PRESETS, "preset")
        check_blend(self.curve, self.sharpen)
        return self


def check_blend(curve: str, sharpen) -> float:
    """A cross-fade's curve and sharpening (0..MAX_SHARPEN; NaN passes ComfyUI's range check),
    refused before any work on every path."""
    check_choice(curve, CURVES, "curve")
    if isinstance(sharpen, bool) or not isinstance(sharpen, (int, float)):
        raise PlanError(f"sharpen={sharpen!r} must be a number")
    if not math.isfinite(sharpen) or not 0 <= sharpen <= MAX_SHARPEN:
        raise PlanError(f"sharpen={sharpen:g} is outside 0..{MAX_SHARPEN:g}: use a sharpening from 0 (off) to "
                        f"{MAX_SHARPEN:g} (the original used 0.3)")
    return float(sharpen)


@dataclass(frozen=True)
class TravelDelivery(_Settings):
    """How a stitched travel is delivered (``SegueStitchFiles``): output rate (0 = the generation
    rate), size (0 = the segments' size), retiming, loop, soundtrack (an annotated name for the
    node; the engine takes the file), and the fit of the generated frames to a delivered size of
    another shape (the travel's own fit, so a run that crops its keyframes never stretches)."""

    output_fps: float = 0.0
    width: int = 0
    height: int = 0
    retime: str = DEFAULT_RETIME
    loop: bool = False
    soundtrack: str = ""
    fit: str = DEFAULT_FIT

    def inputs(self) -> dict:
        return {"output_fps": float(self.output_fps), "width": int(self.width), "height": int(self.height),
                "retime": self.retime, "loop": bool(self.loop), "soundtrack": self.soundtrack, "fit": self.fit}

    def check(self) -> "TravelDelivery":
        if self.output_fps:                  # NaN too: it must fail here, before any segment runs
            as_fps(self.output_fps, "output_fps")
        check_choice(self.retime, RETIME_MODES, "retime")
        check_choice(self.fit, CONFORM_FIT_MODES, "fit")
        if bool(self.width) != bool(self.height):
            raise PlanError(f"width={self.width}, height={self.height}: give both, or 0 for both to keep the "
                            f"segments' size")
        return self


@dataclass(frozen=True)
class PostSettings(_Settings):
    """What happens to a step's generated frames before they are saved (``SegueSaveStep`` /
    ``SeguePreviewStep``): colour match toward what they continue, saturation, brightness."""

    colour_match: str = DEFAULT_COLOUR_MATCH
    colour_method: str = DEFAULT_COLOUR_METHOD
    colour_strength: float = 1.0
    saturation: float = 1.0
    brightness: float = 0.0

    def __post_init__(self) -> None:
        if self.colour_match not in COLOUR_MATCH_MODES:
            raise PlanError(f"colour_match={self.colour_match!r} is not one of {', '.join(COLOUR_MATCH_MODES)}")
        if self.colour_method not in COLOUR_METHODS:
            raise PlanError(f"colour_method={self.colour_method!r} is not one of {', '.join(COLOUR_METHODS)}")
        finite(self.colour_strength, "colour_strength", 0.0, 1.0)
        finite(self.saturation, "saturation", 0.0, 4.0)
        finite(self.brightness, "brightness", -1.0, 1.0)

    def inputs(self) -> dict:
        return {"colour_match": self.colour_match, "colour_method": self.colour_method,
                "colour_strength": float(self.colour_strength), "saturation": float(self.saturation),
                "brightness": float(self.brightness)}
