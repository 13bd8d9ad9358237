"""Options of the commands that render on this machine (and, with ``--server``, on servers):
the travel, join and extension frame plans, the encoder settings and a travel's delivery (rate,
generation size, retiming, soundtrack).  ``segue plan`` prints the frame plans these describe.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...video_utils.core.constants import (CURVES, DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_EXTEND_FRAMES, DEFAULT_FIT,
                                           DEFAULT_GAP_AUDIO, DEFAULT_JOIN_CONTEXT, DEFAULT_JOIN_GAP, DEFAULT_OVERLAP,
                                           DEFAULT_PRESET, DEFAULT_PREVIEW_METHOD, DEFAULT_RETIME,
                                           DEFAULT_SEGMENT_FRAMES, GENERATION_FPS, MAX_SHARPEN, PRESETS,
                                           PREVIEW_METHODS)
from ...video_utils.core.errors import PlanError
from ...video_utils.core.join_plan import JoinPlan, plan_join
from ...video_utils.core.lengths import DEFAULT_MAX_GENERATION
from ...video_utils.core.retime import RETIME_MODES
from ...video_utils.core.sizes import CONFORM_FIT_MODES
from ...video_utils.core.sound_timeline import GAP_AUDIO_MODES
from ...video_utils.core.travel_plan import MODES, TravelPlan, plan_travel
from .options import Options, one_or_list


RETIME_HELP = ("from the generation rate (16 fps) to --fps: blend = mix neighbouring frames, nearest = repeat/drop "
               "frames (default %(default)s)")
WORK_SIZE_HELP = "generation size, multiples of 16 (default: {default})"


def parse_per_join(text: str | None) -> list[dict]:
    """``--per-join '[{}, {"gap": 21}]'``: a JSON list of override objects, one per join."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanError(f"--per-join {text!r} is not JSON ({e.msg}): write a list like '[{{}}, {{\"gap\": 21}}]'") from None
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise PlanError(f"--per-join {text!r} must be a JSON list of objects, one per join")
    return value


@dataclass(frozen=True)
class TravelPlanOptions(Options):
    frames: list[int] = field(default_factory=lambda: [DEFAULT_SEGMENT_FRAMES])
    overlap: list[int] = field(default_factory=lambda: [DEFAULT_OVERLAP])
    mode: str = "chained"
    exact_keyframes: bool = False
    loop: bool = False

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser, frames_required: bool = True) -> None:
        d = TravelPlanOptions.defaults()
        p.add_argument("--frames", type=int, nargs="+", required=frames_required, default=d["frames"], metavar="F",
                       help="frames between successive keyframes (segment_frames): one value for all segments or one per segment "
                            "(default %(default)s)")
        p.add_argument("--overlap", type=int, nargs="+", default=d["overlap"], metavar="O",
                       help="frames cross-faded at each boundary: one value or one per boundary (default %(default)s)")
        p.add_argument("--mode", choices=MODES, default=d["mode"],
                       help="chained: each segment continues the previous one's last frames (sequential); "
                            "independent: each segment anchored on its own keyframes (parallel)")
        p.add_argument("--exact-keyframes", action="store_true",
                       help="flex each overlap by up to 2 frames so every keyframe lands exactly on its requested frame")
        p.add_argument("--loop", action="store_true",
                       help="a seamless loop: one more segment from the last keyframe back to the first")

    def plan(self, keyframes: int) -> TravelPlan:
        return plan_travel(keyframes, one_or_list(self.frames), one_or_list(self.overlap), self.mode,
                           self.exact_keyframes, loop=self.loop)


@dataclass(frozen=True)
class JoinPlanOptions(Options):
    context: int = DEFAULT_JOIN_CONTEXT
    gap: int = DEFAULT_JOIN_GAP
    replace: bool = False
    blend: int | None = None
    per_join: list[dict] = field(default_factory=list)
    allow_shrink: bool = False
    loop: bool = False

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = JoinPlanOptions.defaults()
        p.add_argument("--context", type=int, default=d["context"], help="frames of each clip around a join kept as context (default %(default)s)")
        p.add_argument("--gap", type=int, default=d["gap"], help="frames generated between the contexts (default %(default)s; absorbs 4n+1 rounding)")
        p.add_argument("--replace", action="store_true",
                       help="replace mode: the gap replaces frames around the cut, total length unchanged (default: insert)")
        p.add_argument("--blend", type=int, default=d["blend"], help="frames cross-faded on each side (default: the whole context)")
        p.add_argument("--per-join", default=None, metavar="JSON",
                       help='per-join overrides as a JSON list, e.g. \'[{}, {"gap": 21, "replace": true}]\'')
        p.add_argument("--allow-shrink", action="store_true",
                       help="shrink context and gap of joins around a too-short clip instead of failing")
        p.add_argument("--loop", action="store_true",
                       help="a seamless loop: also join the last clip back to the first (one clip: to itself)")

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, **overrides: Any) -> "JoinPlanOptions":
        return super().from_namespace(ns, per_join=parse_per_join(ns.per_join), **overrides)

    def plan(self, lengths: list[int], names: list[str] | None = None, output_fps=None) -> JoinPlan:
        return plan_join(lengths, self.context, self.gap, self.replace, self.blend, self.per_join or None,
                         self.allow_shrink, names, loop=self.loop, output_fps=output_fps)


@dataclass(frozen=True)
class ExtendPlanOptions(Options):
    """``segue extend CLIP``: new frames after the clip, optionally landing on ``--to`` images."""

    frames: list[int] = field(default_factory=lambda: [DEFAULT_EXTEND_FRAMES])
    to: list[Path] = field(default_factory=list)
    overlap: int = DEFAULT_OVERLAP
    max_generation: int = DEFAULT_MAX_GENERATION
    blend: int = 0

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = ExtendPlanOptions.defaults()
        p.add_argument("--frames", type=int, nargs="+", required=True, metavar="F",
                       help="new frames after the clip: one total, or one per --to image (plus an optional last "
                            "one for frames after the last image)")
        p.add_argument("--to", type=Path, nargs="+", default=d["to"], metavar="IMAGE",
                       help="images the extension lands on, in order (each leg ends exactly on its image)")
        p.add_argument("--overlap", type=int, default=d["overlap"], metavar="O",
                       help="the video's last frames each new segment continues (default %(default)s)")
        p.add_argument("--max-generation", type=int, default=d["max_generation"], metavar="N",
                       help="longest single generation, overlap included (default %(default)s); longer "
                            "extensions are split into several segments")
        p.add_argument("--blend", type=int, default=d["blend"],
                       help="frames before each segment cross-faded into its re-creation of them (default 0: the "
                            "clip is kept untouched)")


@dataclass(frozen=True)
class RenderOptions(Options):
    out: Path | None = None
    size: str | None = None
    fit: str | None = None            # None: DEFAULT_FIT (travel, join); extend has no fit to choose
    method: str = DEFAULT_PREVIEW_METHOD
    curve: str = DEFAULT_CURVE
    sharpen: float = 0.0
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = RenderOptions.defaults()
        p.add_argument("--out", required=True, type=Path, help="output .mp4 path")
        p.add_argument("--size", default=d["size"], metavar="WxH", help="delivered output size (default: the first input's); generation runs at about "
                       "832x480 at its shape (--work-size)")
        p.add_argument("--fit", choices=CONFORM_FIT_MODES, default=d["fit"],
                       help="how inputs of another shape are brought to the size: crop = centre-crop to the aspect "
                            f"then resize, pad = letterbox with black, stretch = distort (default {DEFAULT_FIT})")
        p.add_argument("--method", choices=PREVIEW_METHODS, default=d["method"],
                       help="preview generator: flow = optical-flow morph, blend = cross-dissolve (default %(default)s)")
        p.add_argument("--curve", choices=CURVES, default=d["curve"], help="cross-fade curve (default %(default)s)")
        p.add_argument("--sharpen", type=float, default=d["sharpen"],
                       help=f"sharpening inside cross-fades, 0..{MAX_SHARPEN:g} (default %(default)s; the original used 0.3)")
        p.add_argument("--crf", type=int, default=d["crf"], help="H.264 quality, lower is better (default %(default)s)")
        p.add_argument("--preset", choices=PRESETS, default=d["preset"], help="H.264 preset (default %(default)s)")


@dataclass(frozen=True)
class TravelDeliveryOptions(Options):
    """How a travel is delivered: rate, generation size, retiming, soundtrack (``--size`` is the
    delivered size, in RenderOptions)."""

    fps: float = float(GENERATION_FPS)
    work_size: str | None = None
    retime: str = DEFAULT_RETIME
    soundtrack: Path | None = None

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = TravelDeliveryOptions.defaults()
        p.add_argument("--fps", type=float, default=d["fps"],
                       help="delivered frame rate (default %(default)s = Wan's own; others retime the 16 fps frames)")
        p.add_argument("--work-size", default=d["work_size"], metavar="WxH",
                       help=WORK_SIZE_HELP.format(default="from --size or the first image, at most about 832x480 "
                                                          "pixels"))
        p.add_argument("--retime", choices=RETIME_MODES, default=d["retime"],
                       help=RETIME_HELP)
        p.add_argument("--soundtrack", type=Path, default=d["soundtrack"], metavar="FILE",
                       help="a sound or video file played under the travel (trimmed or padded to its length)")


@dataclass(frozen=True)
class JoinDeliveryOptions(Options):
    """How a join is delivered: rate, generation size, retiming of the transitions, the sound of
    the generated gaps (``--size`` is the delivered size, in RenderOptions)."""

    fps: float = 0.0
    work_size: str | None = None
    retime: str = DEFAULT_RETIME
    gap_audio: str = DEFAULT_GAP_AUDIO

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = JoinDeliveryOptions.defaults()
        p.add_argument("--fps", type=float, default=d["fps"],
                       help="delivered frame rate (default 0 = the first clip's; clips at other rates keep their "
                            "duration)")
        p.add_argument("--work-size", default=d["work_size"], metavar="WxH",
                       help=WORK_SIZE_HELP.format(default="about 832x480 pixels at the output's aspect"))
        p.add_argument("--retime", choices=RETIME_MODES, default=d["retime"], help=RETIME_HELP)
        p.add_argument("--gap-audio", choices=GAP_AUDIO_MODES, default=d["gap_audio"],
                       help="what the generated transitions sound like: crossfade = the neighbours' sound "
                            "cross-faded, cut = each clip's own sound up to the cut, silence (default %(default)s)")
