"""Guide builders that plug straight into core WanVaceToVideo, and the template slot markers.

The guide nodes output ``control_video`` / ``control_masks`` at the exact generation size and
4n+1 length plus the ``length``, ``width`` and ``height`` to wire into WanVaceToVideo, so nothing
is resampled or padded on the way (video_utils.engine.guides holds the maths).
"""

from __future__ import annotations

from ..video_utils.core.errors import PlanError
from ..video_utils.core.join_plan import plan_join
from ..video_utils.core.lengths import item_index
from ..video_utils.core.step_settings import TravelStepSettings
from ..video_utils.engine.guides import OverlapAdjust, join_contexts, join_transition_guide, travel_segment_guide
from .api import CATEGORY, io
from .video_adapters import read_range, read_tail, video_info
from .widgets import (adjust_inputs, first_video_input, guide_outputs, join_core_inputs,
                      travel_segment_inputs, travel_settings_checks,
                      validated)


class SegueTravelGuide(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueTravelGuide",
            display_name="Segue Travel Guide",
            category=CATEGORY,
            description="Guide video + mask for one travel segment (keyframe i -> i+1), ready for WanVaceToVideo.",
            inputs=[
                *travel_segment_inputs(),
                io.Image.Input("previous_segment", optional=True,
                               tooltip="Chained segments >= 1: the previous segment's frames (its last overlap frames "
                                       "are enough, e.g. SegueLoadVideo with last_frames)."),
                io.Video.Input("previous_video", optional=True,
                               tooltip="Chained segments >= 1, instead of previous_segment: the previous segment's "
                                       "VIDEO (SegueSaveSegment); only its last overlap frames are read."),
                first_video_input(),
                *adjust_inputs(),
            ],
            outputs=[*guide_outputs(),
                     io.Int.Output(display_name="trim_start",
                                   tooltip="Leading generated frames to drop (SegueSaveSegment.trim_start).")],
        )

    @classmethod
    def validate_inputs(cls, segment_frames=None, overlap=None, mode=None):
        return validated(*travel_settings_checks(segment_frames, overlap, mode))

    @classmethod
    def execute(cls, keyframes, segment_index, segment_frames, overlap, mode, exact_keyframes, loop=False,
                previous_segment=None, previous_video=None, first_video=None, strength=1.0, desaturate=0.0,
                darken=0.0) -> io.NodeOutput:
        settings = TravelStepSettings(segment_frames, overlap, mode, exact_keyframes, loop=loop)
        plan = settings.plan(int(keyframes.shape[0]))
        if previous_segment is not None and previous_video is not None:
            raise PlanError("previous_segment and previous_video are both connected: connect only one")
        item_index(segment_index, len(plan.segments), "segment_index", f"{keyframes.shape[0]} keyframes make segments")
        seg = plan.segments[segment_index]
        previous = previous_segment
        if previous_video is not None:
            if not seg.context_frames:
                raise PlanError(
                    f"previous_video was given for segment {segment_index}, which has no context frames "
                    f"(mode {mode}{', first segment' if segment_index == 0 else ''}): disconnect it"
                )
            have = video_info(previous_video).frame_count
            if have < seg.context_frames:
                raise PlanError(
                    f"previous_video has {have} frames but segment {segment_index} needs its last "
                    f"{seg.context_frames}: connect the whole previous segment"
                )
            previous = read_tail(previous_video, seg.context_frames)
        first = read_range(first_video, 0, seg.end_context_frames) if first_video is not None and \
            seg.end_context_frames else None
        adjust = OverlapAdjust(strength=float(strength), desaturate=float(desaturate), darken=float(darken))
        guide, masks = travel_segment_guide(plan, segment_index, keyframes[..., :3], previous, adjust, first)
        return io.NodeOutput(guide, masks, int(seg.generate_frames), int(guide.shape[2]), int(guide.shape[1]),
                             int(seg.trim_start))


class SegueJoinGuide(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueJoinGuide",
            display_name="Segue Join Guide",
            category=CATEGORY,
            description="Guide video + mask for the transition between two clips: [A's last context | gap | "
                        "B's first context], ready for WanVaceToVideo.",
            inputs=[
                io.Image.Input("clip_a", tooltip="The earlier clip (or at least its last context (+ replaced) frames), "
                                                 "multiples of 16."),
                io.Image.Input("clip_b", tooltip="The later clip (or at least its first (replaced +) context frames), "
                                                 "same size as clip_a."),
                *join_core_inputs(),
                io.Boolean.Input("bridging", default=False,
                                 tooltip="Also keep A's last and B's first frame at 1/3 and 2/3 of a long gap, so it "
                                         "does not wander off."),
            ],
            outputs=guide_outputs(),
        )

    @classmethod
    def execute(cls, clip_a, clip_b, context, gap, replace, bridging) -> io.NodeOutput:
        a, b = clip_a[..., :3], clip_b[..., :3]
        plan = plan_join([int(a.shape[0]), int(b.shape[0])], context=int(context), gap=int(gap),
                         replace=bool(replace), clip_names=["clip_a", "clip_b"])
        spec = plan.joins[0]
        context_a, context_b = join_contexts(spec, a, b)
        guide, masks = join_transition_guide(spec, context_a, context_b, bridging=bool(bridging))
        return io.NodeOutput(guide, masks, int(spec.transition_frames), int(guide.shape[2]), int(guide.shape[1]))


SLOT_ERROR = ("{node} is a placeholder in a sampler template (a Segue Recipe's template, or segue --generator "
              "TEMPLATE.json): it marks where {what} and is replaced when the template is used, so it cannot run "
              "by itself. Save the graph as an API-format template for a recipe, or connect {instead} instead.")


class SegueGuideSlot(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueGuideSlot",
            display_name="Segue Guide Slot (template)",
            category=CATEGORY,
            description="Template marker: where a template is used (a Segue Recipe's template, the orchestrator), "
                        "its outputs are replaced by the step's guide (SegueStepGuide). It cannot run by itself.",
            inputs=[],
            outputs=guide_outputs(),
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        raise PlanError(SLOT_ERROR.format(node="SegueGuideSlot", what="the guide enters",
                                          instead="SegueStepGuide (or SegueTravelGuide / SegueJoinGuide)"))


class SegueFramesSlot(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="SegueFramesSlot",
            display_name="Segue Frames Slot (template)",
            category=CATEGORY,
            description="Template marker: where a template is used, its input is rewired into the step's "
                        "saver (SegueSaveStep). It cannot run by itself.",
            inputs=[io.Image.Input("images", lazy=True,
                                   tooltip="The generated frames (e.g. VAEDecode's output).")],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def check_lazy_status(cls, images=None):
        return []  # fail at once instead of running the sampler chain first

    @classmethod
    def execute(cls, images=None) -> io.NodeOutput:
        raise PlanError(SLOT_ERROR.format(node="SegueFramesSlot", what="the generated frames leave",
                                          instead="SegueSaveStep or SegueSaveVideo"))


NODES = [SegueTravelGuide, SegueJoinGuide, SegueGuideSlot, SegueFramesSlot]
