"""Step nodes: one travel segment or join transition, described, not yet built.

``SegueTravelStep`` / ``SegueJoinStep`` plan the whole travel/join from their settings (the same
planners everywhere) and output a small STEP value: which frames to keep, where they come from
(keyframes, the previous segment's file, the clips' files), length and size.  The encoders and
savers downstream build the guide only while they run, so no full-size guide is ever kept as a
node output (ComfyUI keeps every output of a prompt until it ends).  ``SegueStepGuide`` turns a
step into the classic guide images for hand-wired graphs and templates.
"""

from __future__ import annotations

from ..video_utils.errors import PlanError
from ..video_utils.guides import OverlapAdjust
from ..video_utils.join_plan import JoinPlan, plan_join
from ..video_utils.sizes import FIT_MODES, wan_size
from ..video_utils.step_guides import JoinStep, TravelStep
from ..video_utils.video_io import probe_video
from ..video_utils.constants import VIDEO_EXTENSIONS
from . import parse
from .api import CATEGORY, STEP, folders, io
from .guide_nodes import (adjust_inputs, first_video_input, guide_outputs, join_core_inputs, travel_plan_from,
                          travel_settings_checks, travel_settings_inputs)
from .io_nodes import size_inputs
from .paths import resolve_input
from .video_adapters import source_path

STEP_HELP = "The segment/transition to generate: connect to Segue VACE Encode, Segue Preview Step or Segue Step Guide."


def join_setting_inputs() -> list:
    """Join settings shared by SegueJoinStep, SegueJoinAssembleFiles and SegueJoinClips."""
    return [
        *join_core_inputs(),
        io.Int.Input("blend", default=-1, min=-1, max=1000,
                     tooltip="Frames cross-faded on each side of a transition; -1 = the whole context."),
        io.String.Input("per_join", multiline=True, default="",
                        tooltip='Optional JSON list of per-join overrides (context, gap, replace, blend), e.g. '
                                '[{"gap": 33}, null, {"replace": true}]. Empty = none.'),
    ]


def per_join_check(per_join=None):
    return lambda: per_join is None or parse.per_join_overrides(per_join)


def clip_paths(clip_files: str, what: str = "clip_files") -> tuple[list[str], list[str]]:
    """(annotated names, real paths) of a multiline clip list, confined to ComfyUI's folders."""
    names = parse.lines(clip_files, what)
    return names, [resolve_input(n, folders(), what, extensions=VIDEO_EXTENSIONS) for n in names]


def join_plan_from(paths: list[str], names: list[str], context, gap, replace, blend, per_join,
                   loop=False) -> JoinPlan:
    """The join plan of these clip files (frame counts probed): SegueJoinStep and
    SegueJoinAssembleFiles plan with this, so transitions and assembly always agree."""
    return plan_join([probe_video(p).frame_count for p in paths], context=int(context), gap=int(gap),
                     replace=bool(replace), blend=None if int(blend) < 0 else int(blend),
                     per_join=parse.per_join_overrides(per_join), clip_names=names, loop=bool(loop))


def loop_input() -> io.Input:
    return io.Boolean.Input("loop", default=False, optional=True,
                            tooltip="Seamless loop: also join the last clip back to the first, so the result "
                                    "plays round with no jump (one more transition).")


def file_of(video, name: str) -> str | None:
    """The file behind a VIDEO input (None when not connected)."""
    if video is None:
        return None
    path = source_path(video)
    if path is None:
        raise PlanError(f"{name} is an in-memory VIDEO: connect a saved segment's video (Segue Save Step / "
                        f"Segue Load Video)")
    return path


class SegueTravelStep(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueTravelStep",
            display_name="Segue Travel Step",
            category=CATEGORY,
            description="One travel segment (keyframe i -> i+1) as a step for the encoders: what to keep and where "
                        "it comes from, without building the guide frames yet (bounded memory).",
            inputs=[
                io.Image.Input("keyframes", tooltip="All keyframes as one batch (Segue Load Images), at the "
                                                    "generation size."),
                io.Int.Input("segment_index", default=0, min=0, max=10_000,
                             tooltip="Which segment: 0 = keyframe 0 -> 1, 1 = keyframe 1 -> 2, ..."),
                *travel_settings_inputs(),
                io.Video.Input("previous_video", optional=True,
                               tooltip="Chained segments after the first: the previous segment's video (its saved "
                                       "file; only its last overlap frames are read)."),
                first_video_input(),
                *adjust_inputs(),
            ],
            outputs=[STEP.Output(display_name="step", tooltip=STEP_HELP)],
        )

    @classmethod
    def validate_inputs(cls, segment_frames=None, overlap=None, mode=None):
        return parse.validated(*travel_settings_checks(segment_frames, overlap, mode))

    @classmethod
    def execute(cls, keyframes, segment_index, segment_frames, overlap, mode, exact_keyframes, loop=False,
                previous_video=None, first_video=None, strength=1.0, desaturate=0.0, darken=0.0) -> io.NodeOutput:
        plan = travel_plan_from(int(keyframes.shape[0]), segment_frames, overlap, mode, exact_keyframes, loop)
        step = TravelStep(plan, int(segment_index), keyframes, file_of(previous_video, "previous_video"),
                          OverlapAdjust(float(strength), float(desaturate), float(darken)),
                          first_path=file_of(first_video, "first_video"))
        return io.NodeOutput(step)


class SegueJoinStep(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueJoinStep",
            display_name="Segue Join Step",
            category=CATEGORY,
            description="One join's transition as a step for the encoders: the context windows of the two clips "
                        "are read from their files only when the transition is generated (bounded memory).",
            inputs=[
                io.String.Input("clip_files", multiline=True, default="",
                                tooltip="All clips in order, one per line, relative to input/ or with ' [output]' / "
                                        "' [temp]'."),
                io.Int.Input("join_index", default=0, min=0, max=10_000,
                             tooltip="Which join: 0 = clip 1 -> clip 2, 1 = clip 2 -> clip 3, ..."),
                *join_setting_inputs(),
                io.Boolean.Input("bridging", default=False,
                                 tooltip="Also keep A's last and B's first frame at 1/3 and 2/3 of long gaps."),
                *size_inputs("clip"),
                loop_input(),
            ],
            outputs=[STEP.Output(display_name="step", tooltip=STEP_HELP)],
        )

    @classmethod
    def validate_inputs(cls, per_join=None, fit=None):
        return parse.validated(per_join_check(per_join),
                               lambda: fit is None or parse.check_choice(fit, FIT_MODES, "fit"))

    @classmethod
    def execute(cls, clip_files, join_index, context, gap, replace, blend, per_join, bridging, width, height,
                fit, loop=False) -> io.NodeOutput:
        parse.check_choice(fit, FIT_MODES, "fit")
        if bool(width) != bool(height):
            raise PlanError(f"width={width}, height={height}: give both, or 0 for both to use the first clip's size")
        names, paths = clip_paths(clip_files)
        plan = join_plan_from(paths, names, context, gap, replace, blend, per_join, loop)
        if width:
            w, h = wan_size(width, height)
        else:
            first = probe_video(paths[0])
            w, h = wan_size(first.width, first.height)
        return io.NodeOutput(JoinStep(plan, int(join_index), paths, w, h, fit, bool(bridging)))


class SegueStepGuide(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueStepGuide",
            display_name="Segue Step Guide",
            category=CATEGORY,
            description="A step's guide as images for your own graph: control video, mask, length and size for "
                        "core WanVaceToVideo (what a template's SegueGuideSlot is replaced by).",
            inputs=[STEP.Input("step", tooltip="A Segue Travel Step / Join Step.")],
            outputs=[*guide_outputs(),
                     io.Int.Output(display_name="trim_start",
                                   tooltip="Leading generated frames the plan drops (Segue Save Step does it).")],
        )

    @classmethod
    def execute(cls, step) -> io.NodeOutput:
        guide, masks = step.guide()
        return io.NodeOutput(guide, masks, int(step.length), int(guide.shape[2]), int(guide.shape[1]),
                             int(step.trim_start))


NODES = [SegueTravelStep, SegueJoinStep, SegueStepGuide]
