"""Step nodes: one travel segment or join transition, described, not yet built.

``SegueTravelStep`` / ``SegueJoinStep`` plan the whole travel/join from their settings (the same
planners everywhere) and output a small STEP value: which frames to keep, where they come from
(keyframes, the previous segment's file, the clips' files), length and size.  The encoders and
savers downstream build the guide only while they run, so no full-size guide is ever kept as a
node output (ComfyUI keeps every output of a prompt until it ends).  ``SegueStepGuide`` turns a
step into the classic guide images for hand-wired graphs and templates.
"""

from __future__ import annotations

from ..video_utils.core.constants import CONFORM_FIT_MODES, GENERATION_FPS
from ..video_utils.core.recipe import check_choice
from ..video_utils.engine.executor import join_step_node, travel_step_node
from .api import CATEGORY, STEP, io, node_context
from .video_adapters import file_of
from .widgets import (STEP_HELP, adjust_inputs, files_input, first_video_input, format_inputs,
                      guide_outputs, join_setting_inputs, loop_input, per_join_check,
                      step_input, travel_segment_inputs, travel_settings_checks,
                      validated)


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
                *travel_segment_inputs(),
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
        return validated(*travel_settings_checks(segment_frames, overlap, mode))

    @classmethod
    def execute(cls, keyframes, segment_index, segment_frames, overlap, mode, exact_keyframes, loop=False,
                previous_video=None, first_video=None, strength=1.0, desaturate=0.0, darken=0.0) -> io.NodeOutput:
        return io.NodeOutput(travel_step_node(
            node_context(), keyframes, segment_index, file_of(previous_video, "previous_video"),
            file_of(first_video, "first_video"), segment_frames=segment_frames, overlap=overlap, mode=mode,
            exact_keyframes=exact_keyframes, loop=loop, strength=strength, desaturate=desaturate, darken=darken))


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
                files_input("clip_files", "All the clips"),
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
        return validated(per_join_check(per_join),
                               lambda: fit is None or check_choice(fit, CONFORM_FIT_MODES, "fit"))

    @classmethod
    def execute(cls, clip_files, join_index, context, gap, replace, blend, per_join, bridging, width, height,
                fit, fps, loop=False, work_width=0, work_height=0, generation_fps=float(GENERATION_FPS)) -> io.NodeOutput:
        return io.NodeOutput(join_step_node(
            node_context(), clip_files, join_index, context=context, gap=gap, replace=replace, blend=blend,
            per_join=per_join, bridging=bridging, width=width, height=height, fit=fit, fps=fps, loop=loop,
            work_width=work_width, work_height=work_height, generation_fps=generation_fps))


class SegueStepGuide(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueStepGuide",
            display_name="Segue Step Guide",
            category=CATEGORY,
            description="A step's guide as images for your own graph: control video, mask, length and size for "
                        "core WanVaceToVideo (what a template's SegueGuideSlot is replaced by).",
            inputs=[step_input("A Segue Travel, Join or Extend Step.")],
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
