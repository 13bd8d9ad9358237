"""Step nodes: one travel segment or join transition, described, not yet built.

``SegueTravelStep`` / ``SegueJoinStep`` plan the whole travel/join from their settings (the same
planners everywhere) and output a small STEP value: which frames to keep, where they come from
(keyframes, the previous segment's file, the clips' files), length and size.  The encoders and
savers downstream build the guide only while they run, so no full-size guide is ever kept as a
node output (ComfyUI keeps every output of a prompt until it ends).  ``SegueStepGuide`` turns a
step into the classic guide images for hand-wired graphs and templates.
"""

from __future__ import annotations

from ..video_utils.guides import OverlapAdjust
from ..video_utils.join_plan import JoinPlan, plan_join
from ..video_utils.conform import OutputFormat, output_format
from ..video_utils.constants import GENERATION_FPS
from ..video_utils.retime import conformed_frame_count
from ..video_utils.constants import DEFAULT_FIT
from ..video_utils.sizes import CONFORM_FIT_MODES
from ..video_utils.step_guides import JoinStep, TravelStep
from ..video_utils.constants import VIDEO_EXTENSIONS
from . import parse
from .api import CATEGORY, STEP, advanced, folders, io
from .expansion import check_step
from .guide_nodes import (adjust_inputs, first_video_input, guide_outputs, join_core_inputs, travel_plan_from,
                          travel_settings_checks, travel_settings_inputs)
from .paths import resolve_input
from .video_adapters import video_file_path

STEP_HELP = "The segment/transition to generate: connect to Segue VACE Encode, Segue Preview Step or Segue Step Guide."


def join_setting_inputs() -> list:
    """Join settings shared by SegueJoinStep, SegueJoinAssembleFiles and SegueJoinClips."""
    return advanced([
        *join_core_inputs(),
        io.Int.Input("blend", default=-1, min=-1, max=1000,
                     tooltip="Frames cross-faded on each side of a transition; -1 = the whole context."),
        io.String.Input("per_join", multiline=True, default="",
                        tooltip='Optional JSON list of per-join overrides (context, gap, replace, blend), e.g. '
                                '[{"gap": 33}, null, {"replace": true}]. Empty = none.'),
    ], "blend", "per_join")


def per_join_check(per_join=None):
    return lambda: per_join is None or parse.per_join_overrides(per_join)


def clip_paths(clip_files: str, what: str = "clip_files") -> tuple[list[str], list[str]]:
    """(annotated names, real paths) of a multiline clip list, confined to ComfyUI's folders."""
    names = parse.lines(clip_files, what)
    return names, [resolve_input(n, folders(), what, extensions=VIDEO_EXTENSIONS) for n in names]


def join_plan_from(paths: list[str], names: list[str], context, gap, replace, blend, per_join, loop,
                   fmt: OutputFormat) -> JoinPlan:
    """The join plan of these clip files at ``fmt``'s output rate (their frame counts after the
    conform): SegueJoinStep and SegueJoinAssembleFiles plan with this, so transitions and the
    assembly always agree."""
    return plan_join([conformed_frame_count(p, fmt.fps) for p in paths], context=int(context), gap=int(gap),
                     replace=bool(replace), blend=None if int(blend) < 0 else int(blend),
                     per_join=parse.per_join_overrides(per_join), clip_names=names, loop=bool(loop),
                     generation_fps=fmt.generation_fps, output_fps=fmt.fps)


def format_inputs(what: str = "clip", working: bool = True) -> list:
    """Output size, fit and frame rate, and the model's working size (``working``) and rate."""
    inputs = [
        io.Int.Input("width", default=0, min=0, max=8192,
                     tooltip=f"Output width; 0 = the first {what}'s (as displayed: phone rotation applied)."),
        io.Int.Input("height", default=0, min=0, max=8192,
                     tooltip=f"Output height; 0 = the first {what}'s."),
        io.Combo.Input("fit", options=list(CONFORM_FIT_MODES), default=DEFAULT_FIT,
                       tooltip="How other shapes fit the output (and the working size): crop = fill and cut the "
                               "edges, pad = show all with black bars, stretch = distort to fit."),
        io.Float.Input("fps", default=0.0, min=0.0, max=1000.0, step=0.001,
                       tooltip=f"Output frame rate; 0 = the first {what}'s. Clips at other rates keep their "
                               f"duration (frames repeated or dropped, never interpolated)."),
        io.Int.Input("work_width", default=0, min=0, max=4096, step=16, optional=True,
                     tooltip="Size the model generates at; 0 = about 832x480 pixels at the output's shape "
                             "(Wan's training size). Generated frames are brought to the output size with the "
                             "same fit."),
        io.Int.Input("work_height", default=0, min=0, max=4096, step=16, optional=True,
                     tooltip="Height the model generates at; 0 = automatic (see work_width)."),
        io.Float.Input("generation_fps", default=float(GENERATION_FPS), min=1.0, max=120.0, step=1.0, optional=True,
                       tooltip="The model's frame rate (Wan: 16). Transitions are generated at it and retimed to "
                               "the output rate."),
    ]
    advanced(inputs, "work_width", "work_height", "generation_fps")
    return inputs if working else [i for i in inputs if i.id not in ("work_width", "work_height")]


def join_format(paths: list[str], width, height, fps, work_width=0, work_height=0,
                generation_fps=GENERATION_FPS) -> OutputFormat:
    return output_format(paths[0], width=int(width), height=int(height), fps=float(fps),
                         work_width=int(work_width), work_height=int(work_height), generation_fps=float(generation_fps))


def loop_input() -> io.Input:
    return io.Boolean.Input("loop", default=False, optional=True,
                            tooltip="Seamless loop: also join the last clip back to the first, so the result "
                                    "plays round with no jump (one more transition).")


def file_of(video, name: str) -> str | None:
    """A file holding exactly a VIDEO input's frames (None when not connected): its own file, or a
    copy of a trimmed or in-memory VIDEO."""
    if video is None:
        return None
    return video_file_path(video, name)


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
        return io.NodeOutput(check_step(step))


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
                *format_inputs("clip"),
                loop_input(),
            ],
            outputs=[STEP.Output(display_name="step", tooltip=STEP_HELP)],
        )

    @classmethod
    def validate_inputs(cls, per_join=None, fit=None):
        return parse.validated(per_join_check(per_join),
                               lambda: fit is None or parse.check_choice(fit, CONFORM_FIT_MODES, "fit"))

    @classmethod
    def execute(cls, clip_files, join_index, context, gap, replace, blend, per_join, bridging, width, height,
                fit, fps, loop=False, work_width=0, work_height=0, generation_fps=float(GENERATION_FPS)) -> io.NodeOutput:
        parse.check_choice(fit, CONFORM_FIT_MODES, "fit")
        names, paths = clip_paths(clip_files)
        fmt = join_format(paths, width, height, fps, work_width, work_height, generation_fps)
        plan = join_plan_from(paths, names, context, gap, replace, blend, per_join, loop, fmt)
        return io.NodeOutput(check_step(JoinStep(plan, int(join_index), paths, fmt.work_width, fmt.work_height, fit,
                                                 bool(bridging), fmt.generation_fps)))


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
